/// Where a published event goes and what it answers: OCF group messaging (broadcast,
/// multicast to nodes, unicast to one subscriber, replies). It travels with the event's
/// journal record, so every node of a cluster applies the same addressing, and auditors see
/// who sent what to whom.
public struct EventRoute: Hashable, Sendable {
    public enum Target: Hashable, Sendable {
        /// Every subscriber of the channel (a broadcast: what a plain publish is).
        case everyone
        /// The subscribers on these nodes (a multicast; node ids as in the membership).
        case nodes([UInt32])
        /// The durable subscriber of this name, wherever and whenever it attaches (unicast).
        case name([UInt8])
        /// The subscribers of the client session that made this channel open (unicast; the
        /// open's id is the `g_event_id` of its GROUP join event).
        case session(UInt64)
        /// A reply: the requester's session while it is connected, or its durable name.
        /// heraldd fills it in from the answered event; clients give `replyTo` instead.
        case requester(session: UInt64, name: [UInt8])
    }

    /// How the OCF group payload names the kind of cast (`g_cast`).
    public enum Cast: UInt8, Hashable, Sendable {
        case broadcast = 0
        case multicast = 1
        case unicast = 2
    }

    public var target: Target
    /// The event id this event answers (0: not a reply).
    public var replyTo: UInt64
    /// The session (channel open id) that published the event; 0 when unknown.
    public var sender: UInt64
    /// The durable name the event was published under (empty: none): replies to it reach a
    /// restarted requester that attaches under that name.
    public var senderName: [UInt8]

    public init(target: Target = .everyone, replyTo: UInt64 = 0, sender: UInt64 = 0, senderName: [UInt8] = []) {
        self.target = target
        self.replyTo = replyTo
        self.sender = sender
        self.senderName = senderName
    }

    public var cast: Cast {
        switch target {
        case .everyone: return .broadcast
        case .nodes: return .multicast
        case .name, .session, .requester: return .unicast
        }
    }

    /// The bytes a name, a node list or a sender name may have at most.
    public static let nameBytesMax = 255
    public static let nodesMax = 1024

    var targetKind: UInt8 {
        switch target {
        case .everyone: return 0
        case .nodes: return 1
        case .name: return 2
        case .session: return 3
        case .requester: return 4
        }
    }
}

// MARK: The record's route block

extension EventRoute {
    /// The block a publish record's publisher field carries after the origin (record flag
    /// 0x20):
    ///
    /// ```
    /// u16 block length (this field included)   u8 target kind (0 everyone, 1 nodes, 2 name,
    /// 3 session, 4 requester)   u64 sender   u8 sender name length, bytes
    /// target: nodes: u16 count, count × u32; name: u8 length, bytes; session: u64;
    ///         requester: u64 reply-to event id, u64 session, u8 name length, bytes
    /// ```
    ///
    /// A broadcast's block is 12 bytes (the sender, for replies).
    public var recordBlock: [UInt8] {
        var writer = WireWriter(capacity: 32)
        writer.u16(0)  // the length, patched below
        writer.u8(targetKind)
        writer.u64(sender)
        writer.name8(senderName)
        switch target {
        case .everyone: break
        case .nodes(let nodes):
            writer.u16(UInt16(nodes.count))
            for node in nodes { writer.u32(node) }
        case .name(let name): writer.name8(name)
        case .session(let session): writer.u64(session)
        case .requester(let session, let name):
            writer.u64(replyTo)
            writer.u64(session)
            writer.name8(name)
        }
        var bytes = writer.bytes
        let length = UInt16(bytes.count)
        bytes[0] = UInt8(truncatingIfNeeded: length)
        bytes[1] = UInt8(truncatingIfNeeded: length >> 8)
        return bytes
    }

    /// The route in a record block (`bytes` starts with the block's length); nil if it is
    /// not a well-formed block.
    public init?<Bytes: Collection<UInt8>>(recordBlock bytes: Bytes) where Bytes.Index == Int {
        var reader = WireReader(ArraySlice(bytes))
        do throws(WireError) {
            let length = Int(try reader.u16("route length"))
            guard length == bytes.count else { return nil }
            let kind = try reader.u8("route target")
            sender = try reader.u64("sender")
            senderName = try reader.name8()
            replyTo = 0
            switch kind {
            case 0: target = .everyone
            case 1:
                let count = try reader.count16("nodes", max: Self.nodesMax, elementBytesMin: 4)
                var nodes: [UInt32] = []
                for _ in 0..<count { nodes.append(try reader.u32("node")) }
                target = .nodes(nodes)
            case 2: target = .name(try reader.name8())
            case 3: target = .session(try reader.u64("session"))
            case 4:
                replyTo = try reader.u64("reply to")
                target = .requester(session: try reader.u64("session"), name: try reader.name8())
            default: return nil
            }
            try reader.finish()
        } catch {
            return nil
        }
    }

    /// The length of the route block at the start of `bytes` (its first two bytes), if it
    /// fits in them.
    public static func recordBlockLength(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard bytes.count >= 2 else { return nil }
        let length = Int(bytes[0]) | Int(bytes[1]) << 8
        return length >= 2 && length <= bytes.count ? length : nil
    }

    /// Whether a record block addresses everyone (read without decoding the block).
    public static func isBroadcast<Bytes: Collection<UInt8>>(recordBlock bytes: Bytes) -> Bool
    where Bytes.Index == Int {
        bytes.count > 2 && bytes[bytes.startIndex + 2] == 0
    }
}

// MARK: On the wire

extension WireWriter {
    /// A route as a `publishRouted` request carries it: `u8` target kind (0 everyone,
    /// 1 nodes, 2 name, 3 session), target (nodes: `u16` count × `u32`; name: `u8` length,
    /// bytes; session: `u64`), `u64` reply-to event id, `u8` sender name length, bytes. The
    /// sender session is the server's to fill in; a requester target is never sent.
    mutating func route(_ route: EventRoute) {
        u8(route.targetKind)
        switch route.target {
        case .everyone, .requester: break
        case .nodes(let nodes):
            u16(UInt16(nodes.count))
            for node in nodes { u32(node) }
        case .name(let name): name8(name)
        case .session(let session): u64(session)
        }
        u64(route.replyTo)
        name8(route.senderName)
    }

    mutating func name8(_ name: [UInt8]) {
        precondition(name.count <= EventRoute.nameBytesMax, "route name of \(name.count) bytes")
        u8(UInt8(name.count))
        raw(name)
    }
}

extension WireReader {
    mutating func route() throws(WireError) -> EventRoute {
        let kind = try u8("route target")
        var route = EventRoute()
        switch kind {
        case 0: route.target = .everyone
        case 1:
            let count = try count16("nodes", max: EventRoute.nodesMax, elementBytesMin: 4)
            guard count > 0 else { throw .badValue(field: "node count", value: 0) }
            var nodes: [UInt32] = []
            nodes.reserveCapacity(count)
            for _ in 0..<count { nodes.append(try u32("node")) }
            route.target = .nodes(nodes)
        case 2:
            let name = try name8()
            guard !name.isEmpty else { throw .badValue(field: "route name length", value: 0) }
            route.target = .name(name)
        case 3: route.target = .session(try u64("session"))
        default: throw .badValue(field: "route target", value: UInt64(kind))
        }
        route.replyTo = try u64("reply to")
        route.senderName = try name8()
        return route
    }

    mutating func name8() throws(WireError) -> [UInt8] {
        let count = Int(try u8("name length"))
        return try raw(count, field: "name")
    }
}
