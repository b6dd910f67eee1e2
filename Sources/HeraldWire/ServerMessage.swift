/// A reply or push from the server. Replies carry the request's correlation id; pushes
/// (`deliveries`, `streamEnded`) carry 0.
public enum ServerMessage: Hashable, Sendable {
    case welcome(WireWelcome)
    case ok
    /// `code` is an SaAisErrorT value (docs/protocol.md has the table).
    case error(code: UInt32, message: String)
    case channelOpened(handle: UInt64, channel: UInt32)
    /// Event ids of a publish: consecutive, `first` ..< `first + count`.
    case published(first: UInt64, count: UInt32)
    case attached(stream: UInt32)
    case channels([WireChannelInfo])
    case cursors([WireCursor])
    case status(WireStatus)
    case pong
    case deliveries(stream: UInt32, [WireDelivery])
    /// The stream will deliver nothing more (`code` 0: detached or channel closed). Version 4
    /// adds why, when heraldd ended it (a damaged segment names its file, offset and
    /// sequence); the message is empty for older sessions, and then not encoded.
    case streamEnded(stream: UInt32, code: UInt32, message: String = "")
    /// The latest signed checkpoint (a C2SP signed note).
    case checkpoint(note: String)
    case inclusionProof(WireInclusionProof)
    case consistencyProof(WireConsistencyProof)

    public var type: FrameType {
        switch self {
        case .welcome: return .welcome
        case .ok: return .ok
        case .error: return .error
        case .channelOpened: return .channelOpened
        case .published: return .published
        case .attached: return .attached
        case .channels: return .channels
        case .cursors: return .cursors
        case .status: return .statusReply
        case .pong: return .pong
        case .deliveries: return .deliveries
        case .streamEnded: return .streamEnded
        case .checkpoint: return .checkpoint
        case .inclusionProof: return .inclusionProof
        case .consistencyProof: return .consistencyProof
        }
    }

    public func frame(correlation: UInt32) -> WireFrame {
        var writer = WireWriter()
        writePayload(into: &writer)
        return WireFrame(type: type, correlation: correlation, payload: writer.bytes)
    }

    /// The whole frame's bytes (header included) written once into one buffer: what
    /// `frame(correlation:).encoded` gives, without the payload's intermediate copy.
    /// `capacity` is a hint (a `deliveries` frame is sized from its events).
    public func encodedFrame(correlation: UInt32, capacity: Int? = nil) -> [UInt8] {
        WireFrame.encode(type: type, correlation: correlation, capacity: capacity ?? estimatedBytes) {
            writePayload(into: &$0)
        }
    }

    private var estimatedBytes: Int {
        guard case .deliveries(_, let deliveries) = self else { return 64 }
        var bytes = WireFrame.headerBytes + 8
        for delivery in deliveries {
            bytes += 96 + delivery.event.data.count + delivery.event.publisherName.count
            for pattern in delivery.event.patterns { bytes += 2 + pattern.count }
        }
        return bytes
    }

    private func writePayload(into writer: inout WireWriter) {
        switch self {
        case .welcome(let welcome):
            writer.u16(welcome.version)
            writer.string(welcome.serverName)
            writer.string(welcome.nodeName)
            writer.origin(welcome.peer)
            writer.u32(welcome.frameBytesMax)
            writer.u32(welcome.dataBytesMax)
            writer.u16(welcome.patternsMax)
            writer.u16(welcome.patternBytesMax)
            writer.u32(welcome.batchMax)
            writer.u16(welcome.streamsMax)
            writer.u32(welcome.channelsMax)
            writer.i64(welcome.retentionMax)
        case .ok, .pong:
            break
        case .error(let code, let message):
            writer.u32(code)
            writer.bytes16(Array(message.utf8.prefix(4096)))
        case .channelOpened(let handle, let channel):
            writer.u64(handle)
            writer.u32(channel)
        case .published(let first, let count):
            writer.u64(first)
            writer.u32(count)
        case .attached(let stream):
            writer.u32(stream)
        case .channels(let rows):
            writer.u32(UInt32(rows.count))
            for row in rows {
                writer.u32(row.id)
                writer.bytes16(row.name)
                writer.u8(row.linked ? 1 : 0)
                writer.u32(row.openers)
                writer.u32(row.retained)
            }
        case .cursors(let rows):
            writer.u32(UInt32(rows.count))
            for row in rows {
                writer.string(row.name)
                writer.u64(row.acknowledged)
                writer.u64(row.deliveredThrough)
                writer.i64(row.updated)
            }
        case .status(let status):
            writer.u64(status.headSequence)
            writer.u64(status.oldestSequence)
            writer.i64(status.headTime)
            writer.string(status.headChain)
            writer.u32(status.segments)
            writer.u32(status.connections)
        case .deliveries(let stream, let deliveries):
            writer.u32(stream)
            writer.u32(UInt32(deliveries.count))
            for delivery in deliveries {
                writer.delivery(
                    sequence: delivery.sequence, eventID: delivery.eventID, descriptor: delivery.descriptor,
                    channelID: delivery.channelID, subscriptionID: delivery.subscriptionID, flags: delivery.flags,
                    publishTime: delivery.publishTime,
                    origin: delivery.flags.contains(.hasOrigin) ? delivery.origin : nil,
                    route: delivery.flags.contains(.routed) ? delivery.route : nil,
                    priority: delivery.event.priority, retention: delivery.event.retention,
                    publisherName: delivery.event.publisherName, patterns: delivery.event.patterns,
                    data: delivery.event.data)
            }
        case .streamEnded(let stream, let code, let message):
            writer.u32(stream)
            writer.u32(code)
            if !message.isEmpty { writer.bytes16(Array(message.utf8.prefix(4096))) }
        case .checkpoint(let note):
            writer.bytes16(Array(note.utf8))
        case .inclusionProof(let proof):
            writer.u64(proof.leafIndex)
            writer.u64(proof.treeSize)
            writer.bytes32(proof.leaf)
            writer.raw(proof.rootHash)
            writer.hashes(proof.auditPath)
        case .consistencyProof(let proof):
            writer.u64(proof.first)
            writer.u64(proof.second)
            writer.raw(proof.firstRoot)
            writer.raw(proof.secondRoot)
            writer.hashes(proof.proof)
        }
    }

    public init(frame: WireFrame, limits: WireLimits = WireLimits()) throws(WireError) {
        var reader = WireReader(frame.payload[...])
        switch frame.type {
        case .welcome:
            let version = try reader.u16("version")
            let server = try reader.string("server name", max: limits.nameBytesMax)
            let node = try reader.string("node name", max: limits.nameBytesMax)
            let peer = try reader.origin()
            var welcome = WireWelcome(version: version, serverName: server, nodeName: node, peer: peer, limits: limits)
            welcome.frameBytesMax = try reader.u32("frame bytes max")
            welcome.dataBytesMax = try reader.u32("data bytes max")
            welcome.patternsMax = try reader.u16("patterns max")
            welcome.patternBytesMax = try reader.u16("pattern bytes max")
            welcome.batchMax = try reader.u32("batch max")
            welcome.streamsMax = try reader.u16("streams max")
            welcome.channelsMax = try reader.u32("channels max")
            welcome.retentionMax = try reader.i64("retention max")
            self = .welcome(welcome)
        case .ok: self = .ok
        case .pong: self = .pong
        case .error:
            let code = try reader.u32("error code")
            let raw = try reader.bytes16("error message", max: 4096)
            self = .error(code: code, message: String(decoding: raw, as: UTF8.self))
        case .channelOpened:
            self = .channelOpened(handle: try reader.u64("handle"), channel: try reader.u32("channel"))
        case .published:
            self = .published(first: try reader.u64("first event id"), count: try reader.u32("count"))
        case .attached:
            self = .attached(stream: try reader.u32("stream"))
        case .channels:
            let count = try reader.count32("channel count", max: limits.rowsMax, elementBytesMin: 15)
            var rows: [WireChannelInfo] = []
            rows.reserveCapacity(count)
            for _ in 0..<count {
                rows.append(
                    WireChannelInfo(
                        id: try reader.u32("channel id"),
                        name: try reader.bytes16("channel name", max: limits.nameBytesMax),
                        linked: try reader.u8("linked") != 0, openers: try reader.u32("openers"),
                        retained: try reader.u32("retained")))
            }
            self = .channels(rows)
        case .cursors:
            let count = try reader.count32("cursor count", max: limits.rowsMax, elementBytesMin: 26)
            var rows: [WireCursor] = []
            rows.reserveCapacity(count)
            for _ in 0..<count {
                rows.append(
                    WireCursor(
                        name: try reader.string("cursor name", max: limits.nameBytesMax),
                        acknowledged: try reader.u64("acknowledged"), deliveredThrough: try reader.u64("delivered"),
                        updated: try reader.i64("updated")))
            }
            self = .cursors(rows)
        case .statusReply:
            self = .status(
                WireStatus(
                    headSequence: try reader.u64("head"), oldestSequence: try reader.u64("oldest"),
                    headTime: try reader.i64("head time"), headChain: try reader.string("chain", max: 128),
                    segments: try reader.u32("segments"), connections: try reader.u32("connections")))
        case .deliveries:
            // One decoder for deliveries: the client's in-place views, copied out here.
            let (stream, views) = try WireDeliveryView.parse(frame, limits: limits)
            self = .deliveries(stream: stream, views.map(\.delivery))
            return
        case .streamEnded:
            let stream = try reader.u32("stream")
            let code = try reader.u32("code")
            // Version 4: a message may follow; a version-3 frame ends here.
            let message =
                reader.remaining == 0 ? "" : String(decoding: try reader.bytes16("message", max: 4096), as: UTF8.self)
            self = .streamEnded(stream: stream, code: code, message: message)
        case .checkpoint:
            self = .checkpoint(note: String(decoding: try reader.bytes16("checkpoint", max: 65_535), as: UTF8.self))
        case .inclusionProof:
            self = .inclusionProof(
                WireInclusionProof(
                    leafIndex: try reader.u64("leaf index"), treeSize: try reader.u64("tree size"),
                    leaf: try reader.bytes32("leaf", max: 1 << 27), rootHash: try reader.raw(32, field: "root hash"),
                    auditPath: try reader.hashes("audit path")))
        case .consistencyProof:
            self = .consistencyProof(
                WireConsistencyProof(
                    first: try reader.u64("first"), second: try reader.u64("second"),
                    firstRoot: try reader.raw(32, field: "first root"),
                    secondRoot: try reader.raw(32, field: "second root"), proof: try reader.hashes("proof")))
        default:
            throw .outOfSequence("a client frame (\(frame.type)) sent by the server")
        }
        try reader.finish()
    }
}

/// Writes a `deliveries` frame straight into memory the caller provides (heraldd: the
/// socket's `ByteBuffer`): no intermediate array, every field stored in place, each data and
/// pattern copied once. The bytes are exactly `ServerMessage.deliveries`' encoding
/// (`WireWriter.delivery`); the caller sizes the memory with `frameHeaderBytes` and `deliveryBytes`.
public struct DeliveriesFrameEncoder {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    private var offset: Int
    private var count: UInt32 = 0

    /// Bytes one delivery takes in a frame, but for its variable fields.
    public static let deliveryFixedBytes = 8 + 8 + 4 + 4 + 4 + 1 + 8 + 12 + 1 + 8 + 2 + 2 + 4
    /// A frame's bytes before its deliveries (length, type, correlation, stream, count).
    public static let frameHeaderBytes = WireFrame.headerBytes + 8

    /// Bytes of one delivery with these variable fields.
    @inlinable
    public static func deliveryBytes(
        publisherName: [UInt8], patterns: [[UInt8]], data: [UInt8], routed: Bool = false
    ) -> Int {
        var bytes = deliveryFixedBytes + publisherName.count + data.count
        if routed { bytes += DeliveryRoute.encodedBytes }
        for pattern in patterns { bytes += 2 + pattern.count }
        return bytes
    }

    /// Starts a frame for `stream` at the start of `buffer`, which must hold
    /// `frameHeaderBytes` plus the `deliveryBytes` of everything appended.
    public init(stream: UInt32, into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= Self.frameHeaderBytes, "deliveries frame buffer too small")
        base = buffer.baseAddress!
        capacity = buffer.count
        offset = 0
        store(UInt32(0))  // the frame's length, patched by `finish`
        store(FrameType.deliveries.rawValue)
        store(UInt32(0))  // correlation: pushed, not a reply
        store(stream)
        store(UInt32(0))  // the count, patched by `finish`
    }

    /// A whole frame as an array (tests, and callers without a buffer of their own).
    public static func encode(stream: UInt32, bytes: Int, _ body: (inout DeliveriesFrameEncoder) -> Void) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: bytes) { buffer, initialized in
            var encoder = DeliveriesFrameEncoder(stream: stream, into: UnsafeMutableRawBufferPointer(buffer))
            body(&encoder)
            initialized = encoder.finish()
        }
    }

    public mutating func append(
        sequence: UInt64, eventID: UInt64, descriptor: UInt32, channelID: UInt32, subscriptionID: UInt32,
        flags: WireDelivery.Flags, publishTime: Int64, origin: WireOrigin?, route: DeliveryRoute? = nil,
        priority: UInt8, retention: Int64, publisherName: [UInt8], patterns: [[UInt8]], data: [UInt8]
    ) {
        let size = Self.deliveryBytes(
            publisherName: publisherName, patterns: patterns, data: data, routed: route != nil)
        precondition(offset + size <= capacity, "deliveries frame buffer too small")
        precondition(publisherName.count <= Int(UInt16.max) && patterns.count <= Int(UInt16.max))
        store(sequence)
        store(eventID)
        store(descriptor)
        store(channelID)
        store(subscriptionID)
        store(WireDelivery.Flags(flags, origin: origin, route: route).rawValue)
        store(UInt64(bitPattern: publishTime))
        let origin = origin ?? WireOrigin(uid: 0, gid: 0, pid: 0)
        store(origin.uid)
        store(origin.gid)
        store(origin.pid)
        if let route {
            store(route.cast.rawValue)
            store(route.replyTo)
            store(route.sender)
        }
        store(priority)
        store(UInt64(bitPattern: retention))
        store(UInt16(publisherName.count))
        copy(publisherName)
        store(UInt16(patterns.count))
        for pattern in patterns {
            precondition(pattern.count <= Int(UInt16.max))
            store(UInt16(pattern.count))
            copy(pattern)
        }
        store(UInt32(data.count))
        copy(data)
        count += 1
    }

    /// Patches the length and count; returns the frame's size in bytes.
    public mutating func finish() -> Int {
        base.storeBytes(of: UInt32(offset - 4).littleEndian, toByteOffset: 0, as: UInt32.self)
        base.storeBytes(of: count.littleEndian, toByteOffset: WireFrame.headerBytes + 4, as: UInt32.self)
        return offset
    }

    @inline(__always)
    private mutating func store<T: FixedWidthInteger>(_ value: T) {
        base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
    }

    @inline(__always)
    private mutating func copy(_ bytes: [UInt8]) {
        let count = bytes.count
        guard count > 0 else { return }
        bytes.withUnsafeBytes { (base + offset).copyMemory(from: $0.baseAddress!, byteCount: count) }
        offset += count
    }
}

extension WireWriter {
    /// One delivery of a `deliveries` frame (the only encoding of it: `ServerMessage` and
    /// `DeliveriesFrameEncoder` both use this).
    mutating func delivery(
        sequence: UInt64, eventID: UInt64, descriptor: UInt32, channelID: UInt32, subscriptionID: UInt32,
        flags: WireDelivery.Flags, publishTime: Int64, origin: WireOrigin?, route: DeliveryRoute?, priority: UInt8,
        retention: Int64, publisherName: [UInt8], patterns: [[UInt8]], data: [UInt8]
    ) {
        u64(sequence)
        u64(eventID)
        u32(descriptor)
        u32(channelID)
        u32(subscriptionID)
        u8(WireDelivery.Flags(flags, origin: origin, route: route).rawValue)
        i64(publishTime)
        self.origin(origin ?? WireOrigin(uid: 0, gid: 0, pid: 0))
        if let route {
            u8(route.cast.rawValue)
            u64(route.replyTo)
            u64(route.sender)
        }
        u8(priority)
        i64(retention)
        bytes16(publisherName)
        u16(UInt16(patterns.count))
        for pattern in patterns { bytes16(pattern) }
        bytes32(data)
    }

    mutating func origin(_ origin: WireOrigin) {
        u32(origin.uid)
        u32(origin.gid)
        u32(origin.pid)
    }
}

extension WireDelivery.Flags {
    /// `flags` with `.hasOrigin` and `.routed` saying whether those fields follow.
    init(_ flags: Self, origin: WireOrigin?, route: DeliveryRoute?) {
        var result = flags.subtracting([.hasOrigin, .routed])
        if origin != nil { result.insert(.hasOrigin) }
        if route != nil { result.insert(.routed) }
        self = result
    }
}

extension WireReader {
    mutating func deliveryRoute() throws(WireError) -> DeliveryRoute {
        let raw = try u8("cast")
        guard let cast = EventRoute.Cast(rawValue: raw) else { throw .badValue(field: "cast", value: UInt64(raw)) }
        return DeliveryRoute(cast: cast, replyTo: try u64("reply to"), sender: try u64("sender"))
    }

    mutating func origin() throws(WireError) -> WireOrigin {
        WireOrigin(uid: try u32("uid"), gid: try u32("gid"), pid: try u32("pid"))
    }
}

/// An inclusion proof (RFC 9162) as `herald audit prove` prints it; hashes are 32 bytes.
public struct WireInclusionProof: Hashable, Sendable {
    public var leafIndex: UInt64
    public var treeSize: UInt64
    /// The record's exact bytes (the leaf).
    public var leaf: [UInt8]
    public var rootHash: [UInt8]
    public var auditPath: [[UInt8]]

    public init(leafIndex: UInt64, treeSize: UInt64, leaf: [UInt8], rootHash: [UInt8], auditPath: [[UInt8]]) {
        self.leafIndex = leafIndex
        self.treeSize = treeSize
        self.leaf = leaf
        self.rootHash = rootHash
        self.auditPath = auditPath
    }
}

/// A consistency proof (RFC 9162) between two tree sizes.
public struct WireConsistencyProof: Hashable, Sendable {
    public var first: UInt64
    public var second: UInt64
    public var firstRoot: [UInt8]
    public var secondRoot: [UInt8]
    public var proof: [[UInt8]]

    public init(first: UInt64, second: UInt64, firstRoot: [UInt8], secondRoot: [UInt8], proof: [[UInt8]]) {
        self.first = first
        self.second = second
        self.firstRoot = firstRoot
        self.secondRoot = secondRoot
        self.proof = proof
    }
}

extension WireWriter {
    /// `u16` count, count × 32-byte hash.
    mutating func hashes(_ hashes: [[UInt8]]) {
        u16(UInt16(hashes.count))
        for hash in hashes {
            precondition(hash.count == 32, "a hash of \(hash.count) bytes")
            raw(hash)
        }
    }
}

extension WireReader {
    mutating func hashes(_ field: String) throws(WireError) -> [[UInt8]] {
        let count = try count16(field, max: 128, elementBytesMin: 32)
        var out: [[UInt8]] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append(try raw(32, field: field)) }
        return out
    }
}
