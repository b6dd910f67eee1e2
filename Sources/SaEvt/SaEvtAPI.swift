public import CSaEvt
import HeraldCBridge
import HeraldClient
import HeraldWire

// The SaEvt functions of include/saEvt.h (B.01.01 + B.03.01). Each validates its
// arguments and handles, then talks to heraldd through HeraldClient; errors are
// SaAisErrorT values (heraldd's refusals arrive as such).

/// SA_AIS_OK, or the error `body` threw.
func result(_ body: () throws(AisError) -> Void) -> SaAisErrorT {
    do {
        try body()
        return SA_AIS_OK
    } catch {
        return SaAisErrorT(rawValue: error.code)
    }
}

/// The channel name of a SaNameT (at most SA_MAX_NAME_LENGTH bytes).
private func name(_ pointer: UnsafePointer<SaNameT>?) throws(AisError) -> [UInt8] {
    guard let pointer else { throw .invalidParameter }
    let length = Int(pointer.pointee.length)
    guard length > 0, length <= Int(SA_MAX_NAME_LENGTH) else { throw .invalidParameter }
    return withUnsafeBytes(of: pointer.pointee.value) { Array($0.prefix(length)) }
}

// MARK: Library life cycle

@_cdecl("saEvtInitialize")
public func saEvtInitialize(
    _ handle: UnsafeMutablePointer<SaEvtHandleT>?, _ callbacks: UnsafePointer<SaEvtCallbacksT>?,
    _ version: UnsafeMutablePointer<SaVersionT>?
) -> SaAisErrorT {
    result { () throws(AisError) in
        guard let version, let handle else { throw .invalidParameter }
        let requested = version.pointee
        // B.01.01 and B.03.01; the answer is the highest version this library implements.
        version.pointee = SaVersionT(releaseCode: UInt8(ascii: "B"), majorVersion: 3, minorVersion: 1)
        guard requested.releaseCode == UInt8(ascii: "B"), [1, 3].contains(requested.majorVersion) else {
            throw .version
        }
        handle.pointee = try SaEvtLibrary.initialize(callbacks?.pointee)
    }
}

@_cdecl("saEvtSelectionObjectGet")
public func saEvtSelectionObjectGet(
    _ handle: SaEvtHandleT, _ selection: UnsafeMutablePointer<SaSelectionObjectT>?
) -> SaAisErrorT {
    result { () throws(AisError) in
        let service = try Handles.service(handle)
        guard let selection else { throw .invalidParameter }
        selection.pointee = SaSelectionObjectT(service.notifier.readFD)
    }
}

@_cdecl("saEvtDispatch")
public func saEvtDispatch(_ handle: SaEvtHandleT, _ flags: SaDispatchFlagsT) -> SaAisErrorT {
    result { () throws(AisError) in
        let service = try Handles.service(handle)
        guard [SA_DISPATCH_ONE, SA_DISPATCH_ALL, SA_DISPATCH_BLOCKING].contains(flags) else {
            throw .invalidParameter
        }
        try service.dispatch(flags)
    }
}

@_cdecl("saEvtFinalize")
public func saEvtFinalize(_ handle: SaEvtHandleT) -> SaAisErrorT {
    result { () throws(AisError) in try Handles.service(handle).finalize() }
}

@_cdecl("saEvtLimitGet")
public func saEvtLimitGet(
    _ handle: SaEvtHandleT, _ limit: SaEvtLimitIdT, _ value: UnsafeMutablePointer<SaLimitValueT>?
) -> SaAisErrorT {
    result { () throws(AisError) in
        let welcome = try Handles.service(handle).client.welcome
        guard let value else { throw .invalidParameter }
        var answer = SaLimitValueT()
        switch limit {
        case SA_EVT_MAX_NUM_CHANNELS_ID: answer.uint64Value = SaUint64T(welcome.channelsMax)
        case SA_EVT_MAX_EVT_SIZE_ID: answer.uint64Value = SaUint64T(welcome.dataBytesMax)
        case SA_EVT_MAX_PATTERN_SIZE_ID: answer.uint64Value = SaUint64T(welcome.patternBytesMax)
        case SA_EVT_MAX_NUM_PATTERNS_ID: answer.uint64Value = SaUint64T(welcome.patternsMax)
        case SA_EVT_MAX_RETENTION_DURATION_ID: answer.timeValue = welcome.retentionMax
        default: throw .invalidParameter
        }
        value.pointee = answer
    }
}

// MARK: Channels

@_cdecl("saEvtChannelOpen")
public func saEvtChannelOpen(
    _ handle: SaEvtHandleT, _ channelName: UnsafePointer<SaNameT>?, _ flags: SaEvtChannelOpenFlagsT,
    _ timeout: SaTimeT, _ channel: UnsafeMutablePointer<SaEvtChannelHandleT>?
) -> SaAisErrorT {
    result { () throws(AisError) in
        let service = try Handles.service(handle)
        let name = try name(channelName)
        guard let channel else { throw .invalidParameter }
        guard flags & ~0x7 == 0 else { throw .badFlags }
        guard timeout >= 0 else { throw .invalidParameter }
        guard timeout > 0 else { throw .timeout }
        channel.pointee = try SaEvtLibrary.open(service, name, flags, timeout: UInt64(timeout))
    }
}

@_cdecl("saEvtChannelOpenAsync")
public func saEvtChannelOpenAsync(
    _ handle: SaEvtHandleT, _ invocation: SaInvocationT, _ channelName: UnsafePointer<SaNameT>?,
    _ flags: SaEvtChannelOpenFlagsT
) -> SaAisErrorT {
    result { () throws(AisError) in
        let service = try Handles.service(handle)
        guard service.openCallback != nil else { throw .initialization }
        let name = try name(channelName)
        guard flags & ~0x7 == 0 else { throw .badFlags }
        Task.detached {
            do {
                let opened = try await service.client.openChannel(name, flags: .init(rawValue: flags))
                let channel = SaEvtLibrary.register(service, opened, flags)
                service.enqueue(.opened(invocation: invocation, channel: channel, error: SA_AIS_OK.rawValue))
            } catch {
                service.enqueue(.opened(invocation: invocation, channel: 0, error: AisError(error).code))
            }
        }
    }
}

@_cdecl("saEvtChannelClose")
public func saEvtChannelClose(_ channelHandle: SaEvtChannelHandleT) -> SaAisErrorT {
    result { () throws(AisError) in
        guard let channel = Handles.tables.withLock({ $0.removeChannel(channelHandle) }),
            let service = Handles.tables.withLock({ $0.services[channel.service] })
        else { throw .badHandle }
        let client = service.client
        do {
            try client.closeChannelBlocking(channel.open)
        } catch {
            throw AisError(error)
        }
    }
}

@_cdecl("saEvtChannelUnlink")
public func saEvtChannelUnlink(_ handle: SaEvtHandleT, _ channelName: UnsafePointer<SaNameT>?) -> SaAisErrorT {
    result { () throws(AisError) in
        let client = try Handles.service(handle).client
        let name = try name(channelName)
        do {
            try client.unlinkChannelBlocking(name)
        } catch {
            throw AisError(error)
        }
    }
}

// MARK: Subscriptions

@_cdecl("saEvtEventSubscribe")
public func saEvtEventSubscribe(
    _ channelHandle: SaEvtChannelHandleT, _ filters: UnsafePointer<SaEvtEventFilterArrayT>?,
    _ subscription: SaEvtSubscriptionIdT
) -> SaAisErrorT {
    result { () throws(AisError) in
        let (channel, service) = try Handles.channel(channelHandle)
        guard let filters else { throw .invalidParameter }
        guard service.deliverCallback != nil else { throw .initialization }
        guard channel.flags & 0x2 != 0 else { throw .access }
        let count = Int(filters.pointee.filtersNumber)
        guard count <= Int(UInt16.max), count == 0 || filters.pointee.filters != nil else {
            throw .invalidParameter
        }
        var wire: [WireFilter] = []
        for index in 0..<count {
            let filter = filters.pointee.filters[index]
            guard (1...4).contains(filter.filterType.rawValue) else { throw .invalidParameter }
            wire.append(WireFilter(type: UInt8(filter.filterType.rawValue), pattern: try bytes(of: filter.filter)))
        }
        try SaEvtLibrary.subscribe(channelHandle, channel, service, subscription, wire)
    }
}

@_cdecl("saEvtEventUnsubscribe")
public func saEvtEventUnsubscribe(
    _ channelHandle: SaEvtChannelHandleT, _ subscription: SaEvtSubscriptionIdT
) -> SaAisErrorT {
    result { () throws(AisError) in
        let (channel, service) = try Handles.channel(channelHandle)
        let client = service.client
        do {
            try client.unsubscribeBlocking(channel.open, id: subscription)
        } catch {
            throw AisError(error)
        }
        // Every batch heraldd sent before it took the unsubscribe is queued on the stream by now.
        let ended = Handles.tables.withLock { tables -> (Int, [UInt32: [WireFilter]])? in
            guard tables.channels[channelHandle]?.subscriptions.removeValue(forKey: subscription) != nil,
                let open = tables.channels[channelHandle]
            else { return nil }
            return (open.stream?.batchesQueued ?? 0, open.subscriptions)
        }
        if let (through, remaining) = ended {
            service.ended(subscription: subscription, channel: channelHandle, remaining: remaining, through: through)
        }
    }
}

@_cdecl("saEvtEventRetentionTimeClear")
public func saEvtEventRetentionTimeClear(_ channelHandle: SaEvtChannelHandleT, _ eventID: SaEvtEventIdT)
    -> SaAisErrorT
{
    result { () throws(AisError) in
        let (channel, service) = try Handles.channel(channelHandle)
        guard eventID > 1000 else { throw .invalidParameter }
        let client = service.client
        do {
            try client.clearRetentionBlocking(channel.open, eventID: eventID)
        } catch {
            throw AisError(error)
        }
    }
}

/// The bytes of a pattern or filter (NULL with a size is an error).
func bytes(of pattern: SaEvtEventPatternT) throws(AisError) -> [UInt8] {
    let size = Int(pattern.patternSize)
    guard size >= 0, size <= Int(UInt16.max) else { throw .invalidParameter }
    guard size > 0 else { return [] }
    guard let pointer = pattern.pattern else { throw .invalidParameter }
    return Array(UnsafeBufferPointer(start: pointer, count: size))
}
