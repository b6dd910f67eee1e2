/// One frame on the wire:
///
///     u32 length   bytes after this field (type + correlation + payload), 5...frameBytesMax
///     u8  type     a `FrameType`
///     u32 correlation   chosen by the client per request, echoed by the reply; 0 = no reply wanted
///     payload      length - 5 bytes, the type's fields (docs/protocol.md)
///
/// All integers are little-endian.
public struct WireFrame: Hashable, Sendable {
    public static let headerBytes = 9
    /// length field (4) is not counted in `length`; type (1) + correlation (4) are.
    public static let lengthMin: UInt32 = 5

    public var type: FrameType
    public var correlation: UInt32
    public var payload: [UInt8]

    public init(type: FrameType, correlation: UInt32, payload: [UInt8]) {
        self.type = type
        self.correlation = correlation
        self.payload = payload
    }

    /// A frame written whole into one buffer: the header, then what `payload` writes, the
    /// length patched in at the end (no payload array copied into a frame).
    static func encode(
        type: FrameType, correlation: UInt32, capacity: Int, payload: (inout WireWriter) -> Void
    ) -> [UInt8] {
        var writer = WireWriter(capacity: capacity)
        writer.u32(0)  // the length, patched below
        writer.u8(type.rawValue)
        writer.u32(correlation)
        payload(&writer)
        writer.patch(u32: UInt32(writer.bytes.count - 4), at: 0)
        return writer.bytes
    }

    /// The frame's bytes, header included.
    public var encoded: [UInt8] {
        var writer = WireWriter(capacity: Self.headerBytes + payload.count)
        writer.u32(UInt32(payload.count) + Self.lengthMin)
        writer.u8(type.rawValue)
        writer.u32(correlation)
        writer.raw(payload)
        return writer.bytes
    }
}

/// The frame types of protocol version 1. Requests (client → server) are below 0x80,
/// replies and pushes (server → client) from 0x80.
public enum FrameType: UInt8, Hashable, Sendable, CaseIterable {
    // Client → server.
    case hello = 0x01
    case openChannel = 0x10
    case closeChannel = 0x11
    case unlinkChannel = 0x12
    case publish = 0x13
    case subscribe = 0x14
    case unsubscribe = 0x15
    case attach = 0x16
    case detach = 0x17
    case ack = 0x18
    case clearRetention = 0x19
    case listChannels = 0x1A
    case listCursors = 0x1B
    case status = 0x1C
    case ping = 0x1D
    case goodbye = 0x1E
    case systemEvent = 0x1F
    case publishRouted = 0x20
    case auditCheckpoint = 0x21
    case auditProve = 0x22
    case auditConsistency = 0x23
    // Server → client.
    case ok = 0x80
    case welcome = 0x81
    case channelOpened = 0x82
    case published = 0x83
    case attached = 0x84
    case channels = 0x85
    case cursors = 0x86
    case statusReply = 0x87
    case pong = 0x88
    case checkpoint = 0x89
    case inclusionProof = 0x8A
    case consistencyProof = 0x8B
    case deliveries = 0xA0
    case streamEnded = 0xA1
    case error = 0xFF

    public var isRequest: Bool { rawValue < 0x80 }
}

/// Limits both sides enforce while decoding, before allocating. The server sends its own
/// in the welcome; a client should not exceed them.
public struct WireLimits: Hashable, Sendable {
    /// The largest `length` field accepted.
    public var frameBytesMax = 8 << 20
    public var nameBytesMax = 256
    public var patternsMax = 10
    public var patternBytesMax = 255
    public var dataBytesMax = 65_536
    public var publisherNameBytesMax = 256
    /// Events in one publish frame or one deliveries frame.
    public var batchMax = 4096
    public var filtersMax = 32
    /// Sequence numbers in one ack frame.
    public var acksMax = 65_536
    /// Attached streams (subscribers) per connection.
    public var streamsMax = 64
    /// Channel opens held by one connection.
    public var opensMax = 1024
    /// Rows in one list reply.
    public var rowsMax = 100_000

    public init() {}
}
