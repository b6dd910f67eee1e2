import HeraldJournal
import Synchronization

/// Realistic 128-byte event bodies: JSON-like, repeated keys, varying values, as cluster
/// middleware publishes them (node, kind, link, counters, a timestamp).
struct EventBodies {
    private var random: SplitMix64
    private static let kinds = ["link-up", "link-down", "member-join", "member-leave", "quorum", "cast"]
    private static let nodes = (1...24).map { "node-\($0).dc\($0 % 3).example" }

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    mutating func body(size: Int = 128) -> [UInt8] {
        let kind = Self.kinds[Int(random.next() % UInt64(Self.kinds.count))]
        let node = Self.nodes[Int(random.next() % UInt64(Self.nodes.count))]
        let text =
            #"{"kind":"\#(kind)","node":"\#(node)","link":\#(random.next() % 4),"#
            + #""ring":\#(random.next() % 1000),"ts":\#(1_795_000_000_000 + random.next() % 100_000_000),"seq":\#(random.next() % 10_000_000)}"#
        var bytes = Array(text.utf8)
        if bytes.count > size {
            bytes.removeLast(bytes.count - size)
        } else {
            bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: size - bytes.count))
        }
        return bytes
    }

    mutating func entries(_ count: Int, size: Int = 128) -> [JournalEntry] {
        (0..<count).map { index in
            JournalEntry(
                descriptor: UInt32(3 << 22 | 3), channel: UInt32(1 + index % 8), priority: UInt8(index % 4),
                publisher: Array("publisher-\(index % 16)".utf8), patterns: [Array("cluster/events".utf8)],
                data: body(size: size))
        }
    }
}

/// Varied bodies for the drivers that publish to heraldd and to the peers: generated once
/// (4 096 of them, 128 bytes) and handed out in turn, so that no driver spends time making
/// them and every system stores the same kind of bytes (none of them 128 × "x", which LZ4
/// would shrink to nothing while Redis stores it raw).
enum BodyPool {
    static let bodies: [[UInt8]] = {
        var generator = EventBodies(seed: 11)
        return (0..<4096).map { _ in generator.body(size: DaemonBench.payloadBytes) }
    }()
    private static let next = Atomic<Int>(0)

    static func body() -> [UInt8] { bodies[next.add(1, ordering: .relaxed).newValue & 4095] }

    /// redis-benchmark's form of the same kind of body: one JSON-like template whose three
    /// `__rand_int__` fields (12 characters each) it replaces with 12 random digits per
    /// command (`-r 1000000000`, as `../shared/peers` drives it); 128 bytes once replaced.
    static let redisTemplate: String = {
        let head = #"{"kind":"link-down","node":"node-__rand_int__.dc1.example","link":2,"ring":__rand_int__,"#
        let tail = #""ts":1795000000000,"seq":__rand_int__}"#
        let text = head + tail
        precondition(text.utf8.count <= DaemonBench.payloadBytes)
        return text + String(repeating: " ", count: DaemonBench.payloadBytes - text.utf8.count)
    }()
}
