import Foundation
import HeraldJournal
import Testing

@testable import HeraldCluster

@Suite struct ClusterMessageTests {
    func entries(_ count: Int, seed: UInt64) -> [JournalEntry] {
        var state = seed
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 17
        }
        return (0..<count).map { i in
            JournalEntry(
                time: 1_700_000_000_000_000_000 + Int64(i), descriptor: UInt32(3 << 22 | 3),
                channel: UInt32(next() % 9),
                priority: UInt8(next() % 4), flags: UInt8(next() % 2) * 0x10, retention: Int64(next() % 1000),
                publisher: Array("node-\(next() % 5)".utf8), patterns: [Array("p\(i)".utf8), [0, 255]],
                data: (0..<Int(next() % 300)).map { _ in UInt8(truncatingIfNeeded: next()) })
        }
    }

    @Test func everyMessageRoundTrips() throws {
        let chain = ChainHash(bytes: (0..<32).map { UInt8($0) })
        let messages: [ClusterMessage] = [
            .entries(
                origin: 3,
                requests: [.init(id: 1, entries: entries(5, seed: 1)), .init(id: 9, entries: entries(1, seed: 2))]),
            .state(node: 2, head: 12_345, chain: chain, oldest: 7),
            .frames(
                anchor: 10, anchorChain: .genesis,
                frames: [.init(chain: chain, entries: entries(3, seed: 3)), .init(chain: .genesis, entries: [])]),
            .syncDone(head: 99, chain: chain),
        ]
        for message in messages {
            #expect(try ClusterMessage(decoding: message.encoded()) == message)
        }
    }

    @Test func malformedMessagesAreRefusedNotCrashed() throws {
        let good = ClusterMessage.entries(origin: 1, requests: [.init(id: 1, entries: entries(4, seed: 5))]).encoded()
        // Every truncation, and random byte flips, fail cleanly or decode to something.
        for length in 0..<good.count {
            #expect(throws: ClusterMessage.DecodeError.self) { try ClusterMessage(decoding: Array(good[..<length])) }
        }
        var state: UInt64 = 42
        for _ in 0..<2000 {
            var bytes = good
            state = state &* 6_364_136_223_846_793_005 &+ 1
            bytes[Int(state >> 33) % bytes.count] ^= UInt8(truncatingIfNeeded: state >> 7) | 1
            _ = try? ClusterMessage(decoding: bytes)
        }
        #expect(throws: ClusterMessage.DecodeError.self) { try ClusterMessage(decoding: good + [0]) }
        #expect(throws: ClusterMessage.DecodeError.self) { try ClusterMessage(decoding: [0x31, 0x4C, 0x43, 0x48, 9]) }
    }
}

/// What the cluster relies on in the journal: a node that appends the same messages, one
/// append each, ends with the same frames and chain as another, even when its appends
/// share commit groups differently; and frames read back re-append to the same chain.
@Suite struct IdenticalFramesTests {
    func open(_ directory: String) throws -> Journal {
        var options = JournalOptions()
        options.framePerAppend = true
        options.durability = .none
        return try Journal.open(at: directory, options: options)
    }

    @Test func sameAppendsGiveTheSameChainWhateverTheGrouping() throws {
        let messages = (0..<60).map { ClusterMessageTests().entries(1 + $0 % 7, seed: UInt64($0)) }
        let a = NSTemporaryDirectory() + "herald-frames-a-\(UUID())"
        let b = NSTemporaryDirectory() + "herald-frames-b-\(UUID())"
        let c = NSTemporaryDirectory() + "herald-frames-c-\(UUID())"
        defer { for d in [a, b, c] { try? FileManager.default.removeItem(atPath: d) } }
        // a: one append at a time (no two in one commit group).
        let first = try open(a)
        for message in messages { _ = try first.appendAndWait(message) }
        // b: all appends submitted at once (the writer takes them into commit groups as
        // they pile up), as a node's delivery thread does.
        let second = try open(b)
        for message in messages { second.append(message) { _ in } }
        _ = try second.appendAndWait(messages[0])
        _ = try first.appendAndWait(messages[0])
        #expect(first.head.chain == second.head.chain)
        #expect(first.head.sequence == second.head.sequence)
        // c: rebuilt from a's frames as a catching-up node does.
        let third = try open(c)
        let reader = try first.reader(from: .oldest)
        while let frame = try reader.nextFrame() {
            _ = try third.appendAndWait(frame.records.map(\.entry))
            #expect(third.head.chain == frame.chain)
        }
        #expect(third.head.chain == first.head.chain)
        first.close()
        second.close()
        third.close()
    }
}
