public import HeraldJournal
import HeraldWire

/// What heraldd nodes multicast to one another through the CPG group, in Corosync's agreed
/// order. Little-endian, bounds-checked; a message that does not decode is dropped by every
/// node alike (they all receive the same bytes), so it cannot make journals diverge.
public enum ClusterMessage: Equatable, Sendable {
    /// Records to append, from `origin`'s local requests: every node appends all of them
    /// as one append (one frame), in delivery order.
    case entries(origin: UInt32, requests: [Request])
    /// A member's journal at a configuration change: the state exchange.
    case state(node: UInt32, head: UInt64, chain: ChainHash, oldest: UInt64)
    /// Whole frames from the node with the longest journal, for members that are behind:
    /// `anchorChain` is the chain value after sequence `anchor` (where the first frame
    /// continues), each frame carries its chain value after it.
    case frames(anchor: UInt64, anchorChain: ChainHash, frames: [Frame])
    /// The sender has sent every frame up to `head`; members append the membership record.
    case syncDone(head: UInt64, chain: ChainHash)

    public struct Request: Equatable, Sendable {
        public var id: UInt64
        public var entries: [JournalEntry]
        public init(id: UInt64, entries: [JournalEntry]) {
            self.id = id
            self.entries = entries
        }
    }

    public struct Frame: Equatable, Sendable {
        public var chain: ChainHash
        public var entries: [JournalEntry]
        public init(chain: ChainHash, entries: [JournalEntry]) {
            self.chain = chain
            self.entries = entries
        }
    }

    static let magic: UInt32 = 0x4843_4C31  // "HCL1"

    public func encoded() -> [UInt8] {
        var writer = WireWriter(capacity: 256)
        writer.u32(Self.magic)
        switch self {
        case .entries(let origin, let requests):
            writer.u8(1)
            writer.u32(origin)
            writer.u32(UInt32(requests.count))
            for request in requests {
                writer.u64(request.id)
                Self.encode(request.entries, into: &writer)
            }
        case .state(let node, let head, let chain, let oldest):
            writer.u8(2)
            writer.u32(node)
            writer.u64(head)
            writer.raw(chain.bytes)
            writer.u64(oldest)
        case .frames(let anchor, let anchorChain, let frames):
            writer.u8(3)
            writer.u64(anchor)
            writer.raw(anchorChain.bytes)
            writer.u32(UInt32(frames.count))
            for frame in frames {
                writer.raw(frame.chain.bytes)
                Self.encode(frame.entries, into: &writer)
            }
        case .syncDone(let head, let chain):
            writer.u8(4)
            writer.u64(head)
            writer.raw(chain.bytes)
        }
        return writer.bytes
    }

    /// Bytes one entry takes in a message.
    public static func encodedSize(_ entry: JournalEntry) -> Int {
        40 + entry.publisher.count + entry.data.count + entry.patterns.reduce(0) { $0 + 4 + $1.count }
    }

    private static func encode(_ entries: [JournalEntry], into writer: inout WireWriter) {
        writer.u32(UInt32(entries.count))
        for entry in entries {
            writer.i64(entry.time ?? 0)
            writer.u32(entry.descriptor)
            writer.u32(entry.channel)
            writer.u8(entry.priority)
            writer.u8(entry.flags)
            writer.i64(entry.retention)
            writer.bytes32(entry.publisher)
            writer.u16(UInt16(entry.patterns.count))
            for pattern in entry.patterns { writer.bytes32(pattern) }
            writer.bytes32(entry.data)
        }
    }

    public enum DecodeError: Error, Equatable {
        case malformed(String)
    }

    public init(decoding bytes: [UInt8]) throws(DecodeError) {
        var reader = WireReader(bytes[...])
        do {
            guard try reader.u32("magic") == Self.magic else { throw DecodeError.malformed("not a Herald message") }
            switch try reader.u8("type") {
            case 1:
                let origin = try reader.u32("origin")
                let count = try reader.count32("requests", max: 1 << 20, elementBytesMin: 12)
                var requests: [Request] = []
                for _ in 0..<count {
                    let id = try reader.u64("request id")
                    requests.append(Request(id: id, entries: try Self.decodeEntries(&reader)))
                }
                self = .entries(origin: origin, requests: requests)
            case 2:
                let node = try reader.u32("node")
                let head = try reader.u64("head")
                let chain = ChainHash(bytes: try reader.raw(32, field: "chain"))
                self = .state(node: node, head: head, chain: chain, oldest: try reader.u64("oldest"))
            case 3:
                let anchor = try reader.u64("anchor")
                let anchorChain = ChainHash(bytes: try reader.raw(32, field: "anchor chain"))
                let count = try reader.count32("frames", max: 1 << 20, elementBytesMin: 36)
                var frames: [Frame] = []
                for _ in 0..<count {
                    let chain = ChainHash(bytes: try reader.raw(32, field: "frame chain"))
                    frames.append(Frame(chain: chain, entries: try Self.decodeEntries(&reader)))
                }
                self = .frames(anchor: anchor, anchorChain: anchorChain, frames: frames)
            case 4:
                let head = try reader.u64("head")
                self = .syncDone(head: head, chain: ChainHash(bytes: try reader.raw(32, field: "chain")))
            case let type:
                throw DecodeError.malformed("unknown message type \(type)")
            }
            try reader.finish()
        } catch let error as DecodeError {
            throw error
        } catch {
            throw .malformed("\(error)")
        }
    }

    private static func decodeEntries(_ reader: inout WireReader) throws -> [JournalEntry] {
        let count = try reader.count32("entries", max: 1 << 24, elementBytesMin: 40)
        var entries: [JournalEntry] = []
        entries.reserveCapacity(count)
        for _ in 0..<count {
            let time = try reader.i64("time")
            let descriptor = try reader.u32("descriptor")
            let channel = try reader.u32("channel")
            let priority = try reader.u8("priority")
            let flags = try reader.u8("flags")
            let retention = try reader.i64("retention")
            let publisher = try reader.bytes32("publisher", max: 1 << 16)
            let patternCount = try reader.count16("patterns", max: 1 << 16, elementBytesMin: 4)
            var patterns: [[UInt8]] = []
            for _ in 0..<patternCount { patterns.append(try reader.bytes32("pattern", max: 1 << 16)) }
            let data = try reader.bytes32("data", max: 1 << 26)
            entries.append(
                JournalEntry(
                    time: time == 0 ? nil : time, descriptor: descriptor, channel: channel, priority: priority,
                    flags: flags, retention: retention, publisher: publisher, patterns: patterns, data: data))
        }
        return entries
    }
}
