public import COCEvent
import Glibc
import HeraldCBridge

// The Linux-HA heartbeat ABI (include/ocf/oc_event.h with OC_EV_API_HEARTBEAT): the header
// maps oc_ev_register & co. to these oc_ev_hb_* symbols. 0 or an errno value.

private func heartbeatResult(_ body: () throws(CError) -> Void) -> Int32 {
    do {
        try body()
        return 0
    } catch {
        return error.code
    }
}

private func heartbeatHandle(_ token: UnsafeRawPointer?) throws(CError) -> EventHandle {
    guard let handle = Library.handle(token), handle.flavour == .heartbeat else { throw CError(EINVAL) }
    return handle
}

@_cdecl("oc_ev_hb_register")
public func heartbeatRegister(_ token: UnsafeMutablePointer<UnsafeMutablePointer<Int32>?>?) -> Int32 {
    heartbeatResult { () throws(CError) in
        guard let token else { throw CError(EINVAL) }
        token.pointee = UnsafeMutablePointer(bitPattern: try Library.register(.heartbeat).token)
    }
}

@_cdecl("oc_ev_hb_unregister")
public func heartbeatUnregister(_ token: UnsafeMutablePointer<Int32>?) -> Int32 {
    heartbeatResult { () throws(CError) in
        _ = try heartbeatHandle(token)
        guard Library.unregister(token) else { throw CError(EINVAL) }
    }
}

@_cdecl("oc_ev_hb_set_callback")
public func heartbeatSetCallback(
    _ token: UnsafePointer<Int32>?, _ eventClass: oc_ev_class_t, _ function: UnsafeRawPointer?,
    _ previous: UnsafeMutablePointer<UnsafeRawPointer?>?
) -> Int32 {
    heartbeatResult { () throws(CError) in
        let replaced = try heartbeatHandle(token).setCallback(eventClass.rawValue, priority: 0, function: function)
        previous?.pointee = replaced
    }
}

@_cdecl("oc_ev_hb_activate")
public func heartbeatActivate(_ token: UnsafePointer<Int32>?, _ descriptor: UnsafeMutablePointer<Int32>?) -> Int32 {
    heartbeatResult { () throws(CError) in
        let handle = try heartbeatHandle(token)
        guard let descriptor else { throw CError(EINVAL) }
        try handle.activate()
        descriptor.pointee = handle.notifier.readFD
    }
}

@_cdecl("oc_ev_hb_handle_event")
public func heartbeatHandleEvent(_ token: UnsafePointer<Int32>?) -> Int32 {
    heartbeatResult { () throws(CError) in
        let code = try heartbeatHandle(token).handleEvents(untilUnregistered: false)
        if code != 0 { throw CError(code) }
    }
}

@_cdecl("oc_ev_hb_callback_done")
public func heartbeatCallbackDone(_ cookie: UnsafeMutableRawPointer?) -> Int32 {
    EventHandle.complete(cookie) ? 0 : EINVAL
}

@_cdecl("oc_ev_is_my_nodeid")
public func heartbeatIsMyNodeID(_ token: UnsafePointer<Int32>?, _ node: UnsafePointer<oc_node_t>?) -> Int32 {
    guard let handle = Library.handle(token), let node else { return 0 }
    let name = node.pointee.node_uname.map { String(cString: $0) }
    return handle.isLocal(nodeID: node.pointee.node_id, name: name) ? 1 : 0
}

@_cdecl("oc_ev_special")
public func heartbeatSpecial(_ token: UnsafePointer<Int32>?, _ eventClass: oc_ev_class_t, _ type: Int32) {
    Library.handle(token)?.special(eventClass.rawValue)
}
