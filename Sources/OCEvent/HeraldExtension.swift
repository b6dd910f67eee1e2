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

@_cdecl("oc_ev_herald_cast")
public func heraldCast(
    _ token: UnsafeRawPointer?, _ channel: UnsafePointer<CChar>?, _ to: UnsafePointer<oc_ev_herald_address_t>?,
    _ replyTo: UInt64, _ data: UnsafeRawPointer?, _ size: Int, _ eventID: UnsafeMutablePointer<UInt64>?
) -> Int32 {
    do throws(CError) {
        guard let handle = Library.handle(token), let channel, size >= 0, size == 0 || data != nil else {
            throw CError(EINVAL)
        }
        let name = Array(String(cString: channel).utf8)
        guard !name.isEmpty else { throw CError(EINVAL) }
        var route = EventRoute(replyTo: replyTo)
        if let address = to?.pointee {
            guard replyTo == 0 else { throw CError(EINVAL) }
            route.target = try target(address)
        }
        let bytes = size == 0 ? [] : [UInt8](UnsafeRawBufferPointer(start: data, count: size))
        let id = try handle.cast(channel: name, route: route, data: bytes)
        eventID?.pointee = id
        return 0
    } catch {
        errno = error.code
        return error.code
    }
}

/// The route target an `oc_ev_herald_address_t` asks for.
private func target(_ address: oc_ev_herald_address_t) throws(CError) -> EventRoute.Target {
    switch address.a_to {
    case OC_EV_HERALD_TO_ALL: return .everyone
    case OC_EV_HERALD_TO_NODES:
        guard address.a_n_nodes > 0, address.a_n_nodes <= UInt32(EventRoute.nodesMax), let nodes = address.a_nodes
        else { throw CError(EINVAL) }
        return .nodes(Array(UnsafeBufferPointer(start: nodes, count: Int(address.a_n_nodes))))
    case OC_EV_HERALD_TO_NAME:
        guard let name = address.a_name else { throw CError(EINVAL) }
        let bytes = Array(String(cString: name).utf8)
        guard !bytes.isEmpty, bytes.count <= EventRoute.nameBytesMax else { throw CError(EINVAL) }
        return .name(bytes)
    case OC_EV_HERALD_TO_SESSION: return .session(address.a_session)
    default: throw CError(EINVAL)
    }
}
