/// One delivery of a `deliveries` frame, read in place: the fixed fields decoded, the
/// variable ones (publisher name, patterns, data) left in the frame's payload, which every
/// delivery of the frame shares (one reference each, no allocation per field). The client
/// decodes frames into these on its event loop; a field is copied out only when asked for.
/// Validation is `ServerMessage.deliveries`' exactly (same limits, same errors): a frame
/// either parses into views or into nothing.
public struct WireDeliveryView: Sendable {
    public let sequence: UInt64
    public let eventID: UInt64
    public let descriptor: UInt32
    public let channelID: UInt32
    public let subscriptionID: UInt32
    public let flags: WireDelivery.Flags
    public let publishTime: Int64
    /// The publisher's origin, meaningful with `.hasOrigin` (zeros otherwise).
    public let origin: WireOrigin
    /// The event's route, meaningful with `.routed` (a broadcast otherwise).
    public let route: DeliveryRoute
    public let priority: UInt8
    public let retention: Int64
    /// The frame's payload and where this delivery's variable fields are in it.
    let payload: [UInt8]
    let publisherRange: Range<Int>
    /// The first pattern's length prefix.
    let patternsStart: Int
    public let patternCount: Int
    let dataRange: Range<Int>

    public var data: [UInt8] { Array(payload[dataRange]) }
    public var dataCount: Int { dataRange.count }
    public var publisherName: [UInt8] { Array(payload[publisherRange]) }

    public var patterns: [[UInt8]] {
        var result: [[UInt8]] = []
        result.reserveCapacity(patternCount)
        var offset = patternsStart
        for _ in 0..<patternCount {
            let count = Int(payload[offset]) | Int(payload[offset + 1]) << 8
            result.append(Array(payload[offset + 2..<offset + 2 + count]))
            offset += 2 + count
        }
        return result
    }

    /// The data's bytes without a copy, for as long as `body` runs.
    public func withData<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try payload.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[dataRange])) }
    }

    /// The frame's bytes this delivery is read from (shared with the frame's other deliveries).
    public func withPayload<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try payload.withUnsafeBytes(body)
    }

    /// The same delivery over a copy of its own variable bytes (publisher name, patterns and
    /// data: contiguous in the frame) instead of the whole frame's: one allocation, for a
    /// delivery kept after its frame (a C library's event handle), so that it does not keep
    /// the frame's other deliveries alive.
    public func compacted() -> WireDeliveryView {
        let base = publisherRange.lowerBound
        let bytes = Array(payload[base..<dataRange.upperBound])
        return WireDeliveryView(
            sequence: sequence, eventID: eventID, descriptor: descriptor, channelID: channelID,
            subscriptionID: subscriptionID, flags: flags, publishTime: publishTime, origin: origin, route: route,
            priority: priority, retention: retention, payload: bytes,
            publisherRange: publisherRange.lowerBound - base..<publisherRange.upperBound - base,
            patternsStart: patternsStart - base, patternCount: patternCount,
            dataRange: dataRange.lowerBound - base..<dataRange.upperBound - base)
    }

    /// The whole delivery as a value (copies every field).
    public var delivery: WireDelivery {
        WireDelivery(
            sequence: sequence, eventID: eventID, descriptor: descriptor, channelID: channelID,
            subscriptionID: subscriptionID, flags: flags, publishTime: publishTime,
            origin: flags.contains(.hasOrigin) ? origin : nil, route: flags.contains(.routed) ? route : nil,
            event: WireEvent(
                priority: priority, retention: retention, publisherName: publisherName, patterns: patterns, data: data))
    }

    /// The stream and deliveries of a `deliveries` frame (a frame of another type throws
    /// `outOfSequence`).
    public static func parse(_ frame: WireFrame, limits: WireLimits = WireLimits()) throws(WireError) -> (
        stream: UInt32, deliveries: [WireDeliveryView]
    ) {
        guard frame.type == .deliveries else { throw .outOfSequence("not a deliveries frame (\(frame.type))") }
        let payload = frame.payload
        var reader = WireReader(payload[...])
        let stream = try reader.u32("stream")
        let count = try reader.count32(
            "delivery count", max: limits.batchMax, elementBytesMin: 45 + WireReader.eventBytesMin)
        var deliveries: [WireDeliveryView] = []
        deliveries.reserveCapacity(count)
        for _ in 0..<count {
            let sequence = try reader.u64("sequence")
            let eventID = try reader.u64("event id")
            let descriptor = try reader.u32("descriptor")
            let channelID = try reader.u32("channel id")
            let subscription = try reader.u32("subscription id")
            let rawFlags = try reader.u8("delivery flags")
            let flags = WireDelivery.Flags(rawValue: rawFlags)
            guard flags.isSubset(of: .known) else { throw .badValue(field: "delivery flags", value: UInt64(rawFlags)) }
            let time = try reader.i64("publish time")
            let origin = try reader.origin()
            let route = flags.contains(.routed) ? try reader.deliveryRoute() : DeliveryRoute()
            // The event, checked as `WireReader.event(limits:)` checks it.
            let priority = try reader.u8("priority")
            let retention = try reader.i64("retention")
            let publisher = try reader.skipBytes16("publisher name", max: limits.publisherNameBytesMax)
            let patternCount = try reader.count16("pattern count", max: limits.patternsMax, elementBytesMin: 2)
            let patternsStart = reader.index
            for _ in 0..<patternCount { _ = try reader.skipBytes16("pattern", max: limits.patternBytesMax) }
            let data = try reader.skipBytes32("event data", max: limits.dataBytesMax)
            deliveries.append(
                WireDeliveryView(
                    sequence: sequence, eventID: eventID, descriptor: descriptor, channelID: channelID,
                    subscriptionID: subscription, flags: flags, publishTime: time, origin: origin, route: route,
                    priority: priority,
                    retention: retention, payload: payload, publisherRange: publisher, patternsStart: patternsStart,
                    patternCount: patternCount, dataRange: data))
        }
        try reader.finish()
        return (stream, deliveries)
    }
}
