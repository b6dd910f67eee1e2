public import COCEvent
import Glibc
import HeraldCBridge
import HeraldWire

// Herald's durable extension, for both flavours (oc_ev_herald_*): 0 or an errno value,
// also stored in errno.

@_cdecl("oc_ev_herald_durable")
public func heraldDurable(
    _ token: UnsafeRawPointer?, _ name: UnsafePointer<CChar>?, _ start: oc_ev_herald_start_t, _ value: UInt64
) -> Int32 {
    do throws(CError) {
        guard let handle = Library.handle(token) else { throw CError(EINVAL) }
        let position: WireStart
        switch start {
        case OC_EV_HERALD_START_NOW: position = .now
        case OC_EV_HERALD_START_OLDEST: position = .oldest
        case OC_EV_HERALD_START_SEQUENCE: position = .sequence(value)
        case OC_EV_HERALD_START_TIME: position = .time(Int64(bitPattern: value))
        case OC_EV_HERALD_START_CURSOR: position = .cursor
        default: throw CError(EINVAL)
        }
        guard let name else {
            // Not durable: only where to start.
            if case .cursor = position { throw CError(EINVAL) }
            try handle.setDurable(EventHandle.Durable(name: "", start: position))
            return 0
        }
        let text = String(cString: name)
        guard !text.isEmpty, text.utf8.count <= 255 else { throw CError(EINVAL) }
        try handle.setDurable(EventHandle.Durable(name: text, start: position))
        return 0
    } catch {
        errno = error.code
        return error.code
    }
}

@_cdecl("oc_ev_herald_event_info")
public func heraldEventInfo(_ cookie: UnsafeRawPointer?, _ info: UnsafeMutablePointer<oc_ev_herald_info_t>?) -> Int32 {
    guard let event = Cookies.event(cookie), let info else {
        errno = EINVAL
        return EINVAL
    }
    info.pointee = oc_ev_herald_info_t(
        i_sequence: event.sequence, i_publish_time: event.publishTime, i_redelivered: event.redelivered ? 1 : 0,
        i_retained: event.retained ? 1 : 0)
    return 0
}

@_cdecl("oc_ev_herald_socket")
public func heraldSocket(_ path: UnsafePointer<CChar>?) -> Int32 {
    let text = path.map { String(cString: $0) }
    if let text, text.isEmpty || text.utf8.count > 107 {
        errno = EINVAL
        return EINVAL
    }
    Library.socketPath.withLock { $0 = text }
    return 0
}
