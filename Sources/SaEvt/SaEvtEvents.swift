public import CSaEvt
import HeraldCBridge
import HeraldClient
import HeraldWire

// Events: allocate, attributes, data, publish, free (and B.03.01's pattern free).

@_cdecl("saEvtEventAllocate")
public func saEvtEventAllocate(
    _ channelHandle: SaEvtChannelHandleT, _ eventHandle: UnsafeMutablePointer<SaEvtEventHandleT>?
) -> SaAisErrorT {
    result { () throws(AisError) in
        guard let eventHandle else {
            _ = try Handles.channel(channelHandle)
            throw .invalidParameter
        }
        eventHandle.pointee = try Handles.tables.withLock { tables throws(AisError) -> UInt64 in
            guard let channel = tables.channels[channelHandle] else { throw .badHandle }
            let handle = tables.issue()
            tables.events[handle] = Handles.Event(service: channel.service, channel: channelHandle, delivered: false)
            return handle
        }
    }
}

@_cdecl("saEvtEventFree")
public func saEvtEventFree(_ eventHandle: SaEvtEventHandleT) -> SaAisErrorT {
    result { () throws(AisError) in
        guard let event = Handles.tables.withLock({ $0.events.removeValue(forKey: eventHandle) }) else {
            throw .badHandle
        }
        event.freeAllocations()
    }
}

@_cdecl("saEvtEventAttributesSet")
public func saEvtEventAttributesSet(
    _ eventHandle: SaEvtEventHandleT, _ patternArray: UnsafePointer<SaEvtEventPatternArrayT>?,
    _ priority: SaEvtEventPriorityT, _ retention: SaTimeT, _ publisherName: UnsafePointer<SaNameT>?
) -> SaAisErrorT {
    result { () throws(AisError) in
        // Read the caller's memory before taking the lock.
        var patterns: [[UInt8]]?
        if let array = patternArray?.pointee {
            let count = Int(array.patternsNumber)
            guard count <= Int(UInt16.max), count == 0 || array.patterns != nil else { throw .invalidParameter }
            patterns = []
            for index in 0..<count { patterns!.append(try bytes(of: array.patterns[index])) }
        }
        var publisher: [UInt8]?
        if let publisherName {
            let length = Int(publisherName.pointee.length)
            guard length <= Int(SA_MAX_NAME_LENGTH) else { throw .invalidParameter }
            publisher = withUnsafeBytes(of: publisherName.pointee.value) { Array($0.prefix(length)) }
        }
        try Handles.withEvent(eventHandle) { event throws(AisError) in
            guard !event.delivered else { throw .access }
            guard priority <= SaEvtEventPriorityT(SA_EVT_LOWEST_PRIORITY), retention >= 0 else {
                throw .invalidParameter
            }
            if let patterns { event.patterns = patterns }
            if let publisher { event.publisherName = publisher }
            event.priority = priority
            event.retention = retention
        }
    }
}

@_cdecl("saEvtEventAttributesGet")
public func saEvtEventAttributesGet(
    _ eventHandle: SaEvtEventHandleT, _ patternArray: UnsafeMutablePointer<SaEvtEventPatternArrayT>?,
    _ priority: UnsafeMutablePointer<SaEvtEventPriorityT>?, _ retention: UnsafeMutablePointer<SaTimeT>?,
    _ publisherName: UnsafeMutablePointer<SaNameT>?, _ publishTime: UnsafeMutablePointer<SaTimeT>?,
    _ eventID: UnsafeMutablePointer<SaEvtEventIdT>?
) -> SaAisErrorT {
    result { () throws(AisError) in
        let event = try Handles.withEvent(eventHandle) { event throws(AisError) in event }
        priority?.pointee = event.priority
        retention?.pointee = event.retention
        publishTime?.pointee = event.publishTime
        eventID?.pointee = event.eventID
        if let publisherName {
            var name = SaNameT()
            name.length = SaUint16T(event.publisherName.count)
            withUnsafeMutableBytes(of: &name.value) { raw in
                for (index, byte) in event.publisherName.prefix(raw.count).enumerated() { raw[index] = byte }
            }
            publisherName.pointee = name
        }
        guard let patternArray else { return }
        if patternArray.pointee.patterns == nil {
            try allocatePatterns(event.patterns, into: patternArray, for: eventHandle)
        } else {
            try copyPatterns(event.patterns, into: patternArray)
        }
    }
}

/// Into the caller's buffers: NO_SPACE when the array or a pattern buffer is too small,
/// with `patternsNumber` and each `patternSize` set all the same.
private func copyPatterns(_ patterns: [[UInt8]], into array: UnsafeMutablePointer<SaEvtEventPatternArrayT>)
    throws(AisError)
{
    array.pointee.patternsNumber = SaSizeT(patterns.count)
    var space = patterns.count <= Int(array.pointee.allocatedNumber)
    for (index, pattern) in patterns.prefix(Int(array.pointee.allocatedNumber)).enumerated() {
        let slot = array.pointee.patterns + index
        slot.pointee.patternSize = SaSizeT(pattern.count)
        guard Int(slot.pointee.allocatedSize) >= pattern.count, pattern.isEmpty || slot.pointee.pattern != nil else {
            space = false
            continue
        }
        if !pattern.isEmpty {
            pattern.withUnsafeBufferPointer { slot.pointee.pattern.update(from: $0.baseAddress!, count: pattern.count) }
        }
    }
    if !space { throw .noSpace }
}

/// Library-allocated (the caller passed `patterns` NULL): freed by saEvtEventPatternFree,
/// or with the event.
private func allocatePatterns(
    _ patterns: [[UInt8]], into array: UnsafeMutablePointer<SaEvtEventPatternArrayT>, for eventHandle: UInt64
) throws(AisError) {
    let stride = MemoryLayout<SaEvtEventPatternT>.stride
    let block = UnsafeMutableRawPointer.allocate(
        byteCount: Swift.max(1, patterns.count) * stride, alignment: MemoryLayout<SaEvtEventPatternT>.alignment)
    let slots = block.bindMemory(to: SaEvtEventPatternT.self, capacity: Swift.max(1, patterns.count))
    var buffers: [UnsafeMutableRawPointer] = []
    for (index, pattern) in patterns.enumerated() {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(1, pattern.count), alignment: 1)
        if !pattern.isEmpty {
            pattern.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: pattern.count) }
        }
        buffers.append(buffer)
        (slots + index).initialize(
            to: SaEvtEventPatternT(
                allocatedSize: SaSizeT(pattern.count), patternSize: SaSizeT(pattern.count),
                pattern: buffer.assumingMemoryBound(to: SaUint8T.self)))
    }
    do {
        try Handles.withEvent(eventHandle) { event throws(AisError) in
            event.allocations[UInt(bitPattern: block)] = buffers
        }
    } catch {
        for buffer in buffers { buffer.deallocate() }
        block.deallocate()
        throw error
    }
    array.pointee.allocatedNumber = SaSizeT(patterns.count)
    array.pointee.patternsNumber = SaSizeT(patterns.count)
    array.pointee.patterns = slots
}

@_cdecl("saEvtEventPatternFree")
public func saEvtEventPatternFree(
    _ eventHandle: SaEvtEventHandleT, _ patterns: UnsafeMutablePointer<SaEvtEventPatternT>?
)
    -> SaAisErrorT
{
    result { () throws(AisError) in
        let key = UInt(bitPattern: patterns)
        let buffers = try Handles.withEvent(eventHandle) { event throws(AisError) -> [UnsafeMutableRawPointer] in
            guard key != 0, let buffers = event.allocations.removeValue(forKey: key) else { throw .invalidParameter }
            return buffers
        }
        for buffer in buffers { buffer.deallocate() }
        UnsafeMutableRawPointer(bitPattern: key)?.deallocate()
    }
}

@_cdecl("saEvtEventDataGet")
public func saEvtEventDataGet(
    _ eventHandle: SaEvtEventHandleT, _ buffer: UnsafeMutableRawPointer?, _ size: UnsafeMutablePointer<SaSizeT>?
) -> SaAisErrorT {
    result { () throws(AisError) in
        let event = try Handles.withEvent(eventHandle) { event throws(AisError) -> Handles.Event in
            guard event.delivered else { throw .badHandle }
            return event
        }
        guard let size else { throw .invalidParameter }
        let count = event.dataCount
        guard let buffer, Int(size.pointee) >= count else {
            size.pointee = SaSizeT(count)
            throw .noSpace
        }
        if count > 0 { event.withData { buffer.copyMemory(from: $0.baseAddress!, byteCount: count) } }
        size.pointee = SaSizeT(count)
    }
}

@_cdecl("saEvtEventPublish")
public func saEvtEventPublish(
    _ eventHandle: SaEvtEventHandleT, _ data: UnsafeRawPointer?, _ size: SaSizeT,
    _ eventID: UnsafeMutablePointer<SaEvtEventIdT>?
) -> SaAisErrorT {
    result { () throws(AisError) in
        let (event, channelHandle) = try Handles.withEvent(eventHandle) { event throws(AisError) in
            (event, event.channel)
        }
        let routed = event.route != EventRoute()
        let (channel, service) = try Handles.channel(channelHandle)
        guard let eventID, size == 0 || data != nil else { throw .invalidParameter }
        guard channel.flags & 0x1 != 0 else { throw .access }
        guard size <= SaSizeT(service.client.welcome.dataBytesMax) else { throw .tooBig }
        let bytes = size == 0 ? [] : Array(UnsafeRawBufferPointer(start: data, count: Int(size)))
        let wire = WireEvent(
            priority: event.priority, retention: event.retention, publisherName: event.publisherName,
            patterns: event.patterns, data: bytes)
        let client = service.client
        let open = channel.open
        let route = routed ? event.route : nil
        let id: UInt64
        do {
            id = try client.publishBlocking(open, wire, route: route)
        } catch {
            throw AisError(error)
        }
        eventID.pointee = id
        let now = ProcessFacts.wallClockNanoseconds()
        _ = try? Handles.withEvent(eventHandle) { event throws(AisError) in
            event.eventID = id
            event.publishTime = now
        }
    }
}

// Herald's group messaging (herald_saevt.h).

@_cdecl("herald_saevt_event_address")
public func heraldSaEvtEventAddress(
    _ eventHandle: SaEvtEventHandleT, _ address: UnsafePointer<herald_saevt_address_t>?
) -> SaAisErrorT {
    result { () throws(AisError) in
        // Read the caller's memory before taking the lock.
        let target: EventRoute.Target
        if let address = address?.pointee {
            switch address.to {
            case HERALD_SAEVT_TO_ALL: target = .everyone
            case HERALD_SAEVT_TO_NODES:
                guard address.n_nodes > 0, address.n_nodes <= UInt32(EventRoute.nodesMax), let nodes = address.nodes
                else { throw .invalidParameter }
                target = .nodes(Array(UnsafeBufferPointer(start: nodes, count: Int(address.n_nodes))))
            case HERALD_SAEVT_TO_NAME:
                guard let name = address.name else { throw .invalidParameter }
                let bytes = Array(String(cString: name).utf8)
                guard !bytes.isEmpty, bytes.count <= EventRoute.nameBytesMax else { throw .invalidParameter }
                target = .name(bytes)
            case HERALD_SAEVT_TO_SESSION: target = .session(address.session)
            default: throw .invalidParameter
            }
        } else {
            target = .everyone
        }
        try Handles.withEvent(eventHandle) { event throws(AisError) in
            guard !event.delivered else { throw .access }
            event.route.target = target
        }
    }
}

@_cdecl("herald_saevt_event_reply_to")
public func heraldSaEvtEventReplyTo(_ eventHandle: SaEvtEventHandleT, _ request: SaEvtEventIdT) -> SaAisErrorT {
    result { () throws(AisError) in
        try Handles.withEvent(eventHandle) { event throws(AisError) in
            guard !event.delivered else { throw .access }
            event.route.replyTo = request
        }
    }
}

@_cdecl("herald_saevt_event_route")
public func heraldSaEvtEventRoute(
    _ eventHandle: SaEvtEventHandleT, _ route: UnsafeMutablePointer<herald_saevt_route_t>?
) -> SaAisErrorT {
    result { () throws(AisError) in
        let delivered = try Handles.withEvent(eventHandle) { event throws(AisError) in event.deliveredRoute }
        guard let route else { throw .invalidParameter }
        route.pointee = herald_saevt_route_t(
            cast: UInt32(delivered.cast.rawValue), reserved: 0, reply_to: delivered.replyTo, sender: delivered.sender)
    }
}
