public import COCEvent
import Glibc
import HeraldCBridge

// The OCF draft 0.1 API (include/ocf/oc_event.h without OC_EV_API_HEARTBEAT): OC_SUCCESS
// or OC_FAILURE with errno set.

private func draftResult(_ body: () throws(CError) -> Void) -> Int32 {
    do {
        try body()
        return OC_SUCCESS
    } catch {
        errno = error.code
        return OC_FAILURE
    }
}

@_cdecl("oc_ev_register")
public func draftRegister() -> OpaquePointer? {
    do {
        return OpaquePointer(bitPattern: try Library.register(.draft).token)
    } catch {
        errno = error.code
        return nil
    }
}

@_cdecl("oc_ev_set_callback")
public func draftSetCallback(
    _ handle: OpaquePointer?, _ priority: oc_ev_prio_t, _ eventClass: oc_ev_class_t, _ function: UnsafeRawPointer?
) -> Int32 {
    // The function arrives as a plain pointer (oc_ev_callback_t *) and is called through
    // EventHandle.Callback.
    draftResult { () throws(CError) in
        guard let handle = Library.handle(UnsafeRawPointer(handle)) else { throw CError(EINVAL) }
        _ = try handle.setCallback(eventClass.rawValue, priority: priority, function: function)
    }
}

@_cdecl("oc_ev_activate")
public func draftActivate(_ handle: OpaquePointer?, _ style: oc_ev_as_t, _ argument: UnsafeMutableRawPointer?) -> Int32
{
    draftResult { () throws(CError) in
        guard let handle = Library.handle(UnsafeRawPointer(handle)) else { throw CError(EINVAL) }
        switch style {
        case OC_EV_AS_NORETURN:
            try handle.activate(noReturn: true)
        case OC_EV_AS_GET_FD:
            guard let argument else { throw CError(EINVAL) }
            try handle.activate()
            argument.storeBytes(of: handle.notifier.readFD, as: Int32.self)
        case OC_EV_AS_SIGNAL:
            // *(int *)arg, or (as the draft's own example does) the number itself.
            guard let argument else { throw CError(EINVAL) }
            let address = UInt(bitPattern: argument)
            let signal = address < 65 ? Int32(address) : argument.load(as: Int32.self)
            guard (1...64).contains(signal) else { throw CError(EINVAL) }
            try handle.notifier.enableSignal(signal)
            try handle.activate()
        default:
            throw CError(EINVAL)
        }
    }
}

@_cdecl("oc_ev_handle_event")
public func draftHandleEvent(_ handle: OpaquePointer?) -> Int32 {
    draftResult { () throws(CError) in
        guard let handle = Library.handle(UnsafeRawPointer(handle)) else { throw CError(EINVAL) }
        let noReturn = handle.state.withLock { $0.noReturn }
        let code = handle.handleEvents(untilUnregistered: noReturn)
        if code != 0 { throw CError(code) }
    }
}

@_cdecl("oc_ev_callback_done")
public func draftCallbackDone(_ cookie: UnsafePointer<UInt32>?) {
    if !EventHandle.complete(UnsafeRawPointer(cookie)) { errno = EINVAL }
}

@_cdecl("oc_ev_get_version")
public func draftGetVersion(_ handle: OpaquePointer?, _ version: UnsafeMutablePointer<oc_ver_t>?) -> Int32 {
    draftResult { () throws(CError) in
        guard Library.handle(UnsafeRawPointer(handle)) != nil, let version else { throw CError(EINVAL) }
        version.pointee = oc_ver_t(major: OC_EV_VERSION_MAJOR, minor: OC_EV_VERSION_MINOR)
    }
}

@_cdecl("oc_ev_unregister")
public func draftUnregister(_ handle: OpaquePointer?) -> Int32 {
    draftResult { () throws(CError) in
        guard Library.unregister(UnsafeRawPointer(handle)) else { throw CError(EINVAL) }
    }
}
