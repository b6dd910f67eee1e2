/// A request from a client. `frame(correlation:)` encodes it; `init(frame:limits:)` decodes
/// and validates every field against `limits`.
public enum ClientMessage: Hashable, Sendable {
    case hello(WireHello)
    case openChannel(name: [UInt8], flags: UInt8)
    case closeChannel(handle: UInt64)
    case unlinkChannel(name: [UInt8])
    case publish(handle: UInt64, events: [WireEvent])
    /// A publish with an address (multicast, unicast) or answering an event (version 3).
    case publishRouted(handle: UInt64, route: EventRoute, events: [WireEvent])
    /// The latest signed checkpoint of the journal's Merkle tree (version 3).
    case auditCheckpoint
    /// An inclusion proof of the record `sequence` in the tree of `treeSize` leaves (0: the
    /// latest checkpoint's size) (version 3).
    case auditProve(sequence: UInt64, treeSize: UInt64)
    /// A consistency proof between two tree sizes (`second` 0: the latest checkpoint's).
    case auditConsistency(first: UInt64, second: UInt64)
    case subscribe(handle: UInt64, subscription: UInt32, filters: [WireFilter])
    case unsubscribe(handle: UInt64, subscription: UInt32)
    case attach(WireAttach)
    case detach(stream: UInt32)
    /// Acknowledges deliveries of a stream (`callback_done`); no reply.
    case ack(stream: UInt32, sequences: [UInt64])
    case clearRetention(handle: UInt64, eventID: UInt64)
    case listChannels
    case listCursors
    case status
    case ping
    case goodbye
    /// Journals a membership (MEMB) or connectivity (COMM) event on behalf of the node's
    /// cluster layer or an operator; only the daemon's own user and root may.
    case systemEvent(descriptor: UInt32, data: [UInt8])

    public var type: FrameType {
        switch self {
        case .hello: return .hello
        case .openChannel: return .openChannel
        case .closeChannel: return .closeChannel
        case .unlinkChannel: return .unlinkChannel
        case .publish: return .publish
        case .publishRouted: return .publishRouted
        case .auditCheckpoint: return .auditCheckpoint
        case .auditProve: return .auditProve
        case .auditConsistency: return .auditConsistency
        case .subscribe: return .subscribe
        case .unsubscribe: return .unsubscribe
        case .attach: return .attach
        case .detach: return .detach
        case .ack: return .ack
        case .clearRetention: return .clearRetention
        case .listChannels: return .listChannels
        case .listCursors: return .listCursors
        case .status: return .status
        case .ping: return .ping
        case .goodbye: return .goodbye
        case .systemEvent: return .systemEvent
        }
    }

    public func frame(correlation: UInt32) -> WireFrame {
        var writer = WireWriter()
        writePayload(into: &writer)
        return WireFrame(type: type, correlation: correlation, payload: writer.bytes)
    }

    /// The whole frame's bytes (header included) written once into one buffer: what
    /// `frame(correlation:).encoded` gives, without the payload's intermediate copy.
    public func encodedFrame(correlation: UInt32) -> [UInt8] {
        var capacity = 64
        if case .ack(_, let sequences) = self { capacity = WireFrame.headerBytes + 8 + 8 * sequences.count }
        return WireFrame.encode(type: type, correlation: correlation, capacity: capacity) { writePayload(into: &$0) }
    }

    private func writePayload(into writer: inout WireWriter) {
        switch self {
        case .hello(let hello):
            writer.raw(WireHello.magic)
            writer.u16(hello.versionMin)
            writer.u16(hello.versionMax)
            writer.u32(hello.pid)
            writer.string(hello.clientName)
        case .openChannel(let name, let flags):
            writer.bytes16(name)
            writer.u8(flags)
        case .closeChannel(let handle):
            writer.u64(handle)
        case .unlinkChannel(let name):
            writer.bytes16(name)
        case .publish(let handle, let events):
            writer.u64(handle)
            writer.u32(UInt32(events.count))
            for event in events { writer.event(event) }
        case .publishRouted(let handle, let route, let events):
            writer.u64(handle)
            writer.route(route)
            writer.u32(UInt32(events.count))
            for event in events { writer.event(event) }
        case .subscribe(let handle, let subscription, let filters):
            writer.u64(handle)
            writer.u32(subscription)
            writer.u16(UInt16(filters.count))
            for filter in filters {
                writer.u8(filter.type)
                writer.bytes16(filter.pattern)
            }
        case .unsubscribe(let handle, let subscription):
            writer.u64(handle)
            writer.u32(subscription)
        case .attach(let attach):
            writer.attach(attach)
        case .detach(let stream):
            writer.u32(stream)
        case .ack(let stream, let sequences):
            writer.u32(stream)
            writer.u32(UInt32(sequences.count))
            for sequence in sequences { writer.u64(sequence) }
        case .clearRetention(let handle, let eventID):
            writer.u64(handle)
            writer.u64(eventID)
        case .systemEvent(let descriptor, let data):
            writer.u32(descriptor)
            writer.bytes32(data)
        case .auditProve(let sequence, let treeSize):
            writer.u64(sequence)
            writer.u64(treeSize)
        case .auditConsistency(let first, let second):
            writer.u64(first)
            writer.u64(second)
        case .listChannels, .listCursors, .status, .ping, .goodbye, .auditCheckpoint:
            break
        }
    }

    public init(frame: WireFrame, limits: WireLimits = WireLimits()) throws(WireError) {
        var reader = WireReader(frame.payload[...])
        switch frame.type {
        case .hello:
            guard try reader.raw(4, field: "magic") == WireHello.magic else { throw .handshake("bad magic") }
            let versionMin = try reader.u16("version min")
            let versionMax = try reader.u16("version max")
            let pid = try reader.u32("pid")
            let name = try reader.string("client name", max: limits.nameBytesMax)
            self = .hello(WireHello(versionMin: versionMin, versionMax: versionMax, pid: pid, clientName: name))
        case .openChannel:
            let name = try reader.bytes16("channel name", max: limits.nameBytesMax)
            self = .openChannel(name: name, flags: try reader.u8("open flags"))
        case .closeChannel:
            self = .closeChannel(handle: try reader.u64("handle"))
        case .unlinkChannel:
            self = .unlinkChannel(name: try reader.bytes16("channel name", max: limits.nameBytesMax))
        case .publish:
            let handle = try reader.u64("handle")
            let count = try reader.count32(
                "event count", max: limits.batchMax, elementBytesMin: WireReader.eventBytesMin)
            var events: [WireEvent] = []
            events.reserveCapacity(count)
            for _ in 0..<count { events.append(try reader.event(limits: limits)) }
            self = .publish(handle: handle, events: events)
        case .publishRouted:
            let handle = try reader.u64("handle")
            let route = try reader.route()
            let count = try reader.count32(
                "event count", max: limits.batchMax, elementBytesMin: WireReader.eventBytesMin)
            var events: [WireEvent] = []
            events.reserveCapacity(count)
            for _ in 0..<count { events.append(try reader.event(limits: limits)) }
            self = .publishRouted(handle: handle, route: route, events: events)
        case .subscribe:
            let handle = try reader.u64("handle")
            let subscription = try reader.u32("subscription id")
            let count = try reader.count16("filter count", max: limits.filtersMax, elementBytesMin: 3)
            var filters: [WireFilter] = []
            filters.reserveCapacity(count)
            for _ in 0..<count {
                let type = try reader.u8("filter type")
                guard (1...4).contains(type) else { throw .badValue(field: "filter type", value: UInt64(type)) }
                filters.append(
                    WireFilter(type: type, pattern: try reader.bytes16("filter", max: limits.patternBytesMax)))
            }
            self = .subscribe(handle: handle, subscription: subscription, filters: filters)
        case .unsubscribe:
            self = .unsubscribe(handle: try reader.u64("handle"), subscription: try reader.u32("subscription id"))
        case .attach:
            self = .attach(try reader.attach(limits: limits))
        case .detach:
            self = .detach(stream: try reader.u32("stream"))
        case .ack:
            let stream = try reader.u32("stream")
            let count = try reader.count32("ack count", max: limits.acksMax, elementBytesMin: 8)
            var sequences: [UInt64] = []
            sequences.reserveCapacity(count)
            for _ in 0..<count { sequences.append(try reader.u64("sequence")) }
            self = .ack(stream: stream, sequences: sequences)
        case .clearRetention:
            self = .clearRetention(handle: try reader.u64("handle"), eventID: try reader.u64("event id"))
        case .auditCheckpoint: self = .auditCheckpoint
        case .auditProve:
            self = .auditProve(sequence: try reader.u64("sequence"), treeSize: try reader.u64("tree size"))
        case .auditConsistency:
            self = .auditConsistency(first: try reader.u64("first"), second: try reader.u64("second"))
        case .listChannels: self = .listChannels
        case .listCursors: self = .listCursors
        case .status: self = .status
        case .ping: self = .ping
        case .goodbye: self = .goodbye
        case .systemEvent:
            let descriptor = try reader.u32("descriptor")
            self = .systemEvent(
                descriptor: descriptor, data: try reader.bytes32("event data", max: limits.dataBytesMax))
        default:
            throw .outOfSequence("a server frame (\(frame.type)) sent by a client")
        }
        try reader.finish()
    }
}

extension WireWriter {
    mutating func event(_ event: WireEvent) {
        u8(event.priority)
        i64(event.retention)
        bytes16(event.publisherName)
        u16(UInt16(event.patterns.count))
        for pattern in event.patterns { bytes16(pattern) }
        bytes32(event.data)
    }

    mutating func attach(_ attach: WireAttach) {
        switch attach.target {
        case .channel(let handle):
            u8(0)
            u64(handle)
        case .classes(let mask):
            u8(1)
            u64(UInt64(mask))
        }
        switch attach.start {
        case .oldest: u8(0); u64(0)
        case .sequence(let sequence): u8(1); u64(sequence)
        case .time(let time): u8(2); i64(time)
        case .cursor: u8(3); u64(0)
        case .now: u8(4); u64(0)
        }
        string(attach.durableName)
        u32(attach.window)
        u64(attach.lagMax)
    }
}

extension WireReader {
    /// priority + retention + publisher length + pattern count + data length.
    static let eventBytesMin = 1 + 8 + 2 + 2 + 4

    mutating func event(limits: WireLimits) throws(WireError) -> WireEvent {
        let priority = try u8("priority")
        let retention = try i64("retention")
        let publisher = try bytes16("publisher name", max: limits.publisherNameBytesMax)
        let count = try count16("pattern count", max: limits.patternsMax, elementBytesMin: 2)
        var patterns: [[UInt8]] = []
        patterns.reserveCapacity(count)
        for _ in 0..<count { patterns.append(try bytes16("pattern", max: limits.patternBytesMax)) }
        let data = try bytes32("event data", max: limits.dataBytesMax)
        return WireEvent(
            priority: priority, retention: retention, publisherName: publisher, patterns: patterns, data: data)
    }

    mutating func attach(limits: WireLimits) throws(WireError) -> WireAttach {
        let targetKind = try u8("target kind")
        let targetValue = try u64("target")
        let target: WireTarget
        switch targetKind {
        case 0: target = .channel(handle: targetValue)
        case 1:
            guard targetValue > 0, targetValue <= 7 else { throw .badValue(field: "class mask", value: targetValue) }
            target = .classes(UInt8(targetValue))
        default: throw .badValue(field: "target kind", value: UInt64(targetKind))
        }
        let startKind = try u8("start kind")
        let startValue = try u64("start")
        let start: WireStart
        switch startKind {
        case 0: start = .oldest
        case 1: start = .sequence(startValue)
        case 2: start = .time(Int64(bitPattern: startValue))
        case 3: start = .cursor
        case 4: start = .now
        default: throw .badValue(field: "start kind", value: UInt64(startKind))
        }
        let name = try string("durable name", max: limits.nameBytesMax)
        let window = try u32("window")
        let lagMax = try u64("lag max")
        return WireAttach(target: target, start: start, durableName: name, window: window, lagMax: lagMax)
    }
}
