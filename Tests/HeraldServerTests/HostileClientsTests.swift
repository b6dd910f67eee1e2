import Foundation
import HeraldClient
import HeraldWire
import Synchronization
import Testing

/// Hostile and broken clients at scale (issue 20, part 3), against one heraldd: 1 000
/// connections at once doing random valid requests, half of them never reading their
/// socket; clients that say hello and then send garbage; clients that open channels
/// without end; one client flooding publishes without reading a reply. Meanwhile a
/// well-behaved publisher and subscriber go on: every event arrives, in order. heraldd's
/// resident memory stays bounded, everyone else is answered, and once the hostile ones are
/// gone heraldd serves as before. HERALD_HOSTILE_CONNECTIONS changes the 1 000.
@Suite(.serialized) struct HostileClientsTests {
    private let all = [WireFilter(type: 4, pattern: [])]

    /// A raw connection after hello and one open of its own channel ("h<index>").
    struct Raw {
        var fd: Int32
        var handle: UInt64
        var reads: Bool
        var decoder = WireFrameDecoder(frameBytesMax: 1 << 22)
        var replies = 0
        /// What the socket did not take yet (a frame is never cut: the rest goes first).
        var pending: [UInt8] = []

        /// Sends what the socket takes now; true once nothing is pending.
        mutating func flush() -> Bool {
            guard !pending.isEmpty else { return true }
            let sent = pending.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            }
            if sent > 0 { pending.removeFirst(sent) }
            return pending.isEmpty
        }
    }

    /// What the hostile tasks share with the test.
    final class Shared: Sendable {
        let stop = Mutex(false)
        /// Shards whose connections are all open.
        let ready = Mutex(0)
        /// Rounds of requests over all their connections, per shard, at least.
        let rounds = Mutex([Int](repeating: 0, count: 4))
        let outcome = Mutex<(garbageClosed: Int, refusedOpens: Int, flooded: Int, hostileReplies: Int)>((0, 0, 0, 0))
    }

    static func raiseOpenFilesLimit() {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    static func residentKB(_ pid: Int32, _ field: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    static func open(_ socket: String, index: Int, reads: Bool) throws -> Raw {
        let fd = try RawSocket.connect(socket)
        var bytes = ClientMessage.hello(WireHello(pid: 1, clientName: "hostile-\(index)")).frame(correlation: 1).encoded
        bytes += ClientMessage.openChannel(name: Array("h\(index)".utf8), flags: 7).frame(correlation: 2).encoded
        try RawSocket.send(fd, bytes)
        let handle = try RawSocket.readUntil(fd) {
            if case .channelOpened(let handle, _) = $0 { return handle } else { return nil }
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return Raw(fd: fd, handle: handle, reads: reads)
    }

    /// Reads what is there without waiting; false once heraldd closed the connection.
    static func readSome(_ raw: inout Raw) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let got = buffer.withUnsafeMutableBytes { recv(raw.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if got == 0 { return false }
            if got < 0 { return errno == EAGAIN || errno == EWOULDBLOCK }
            raw.decoder.feed(buffer[0..<got])
            while let frame = try? raw.decoder.next() {
                _ = frame
                raw.replies += 1
            }
        }
    }

    @Test func aThousandHostileConnectionsDoNotHurtAWellBehavedPair() async throws {
        Self.raiseOpenFilesLimit()
        let environment = ProcessInfo.processInfo.environment
        let count = environment["HERALD_HOSTILE_CONNECTIONS"].flatMap { Int($0) } ?? 1_000
        // The flood of 64 KiB publishes: off in the suite (with 1 000 connections it starves
        // the pair for minutes: README, issue 20 part 3); tools/soak-hostile turns it on.
        let flood = environment["HERALD_HOSTILE_FLOOD"] == "1"
        // Room for every hostile connection's channel and the hog's (the default is 1 024).
        // Batch durability: 1 000 opens need no fsync each to test what this test tests.
        let daemon = try await DaemonProcess.launch(arguments: ["--channels-max", "10000", "--durability", "batch:5"])
        defer { daemon.cleanup() }
        let pid = daemon.process.processIdentifier

        // The well-behaved pair, one event per round trip.
        let publisher = try await daemon.client("calm-publisher")
        let subscriber = try await daemon.client("calm-subscriber")
        let calm = try await publisher.openChannel("calm", flags: [.publisher, .create])
        let calmIn = try await subscriber.openChannel("calm", flags: [.subscriber])
        let stream = try await subscriber.subscribe(calmIn, id: 1, filters: all)
        // Of each round trip, the publish (until its reply) and the wait for the delivery after
        // it: where the time went when the round trip is slow.
        var parts: [(publish: Duration, delivery: Duration)] = []
        func roundTrips(_ n: Int, from start: Int, within limit: Duration = .seconds(3_600)) async throws -> [Duration]
        {
            var latencies: [Duration] = []
            var iterator = stream.makeAsyncIterator()
            let began = ContinuousClock.now
            for index in start..<(start + n) where ContinuousClock.now - began < limit {
                let began = ContinuousClock.now
                _ = try await publisher.publish(calm, WireEvent(data: Array("\(index)".utf8)))
                let published = ContinuousClock.now
                guard let delivery = await iterator.next() else { throw TimedOut() }
                parts.append((published - began, ContinuousClock.now - published))
                delivery.done()
                latencies.append(ContinuousClock.now - began)
                #expect(delivery.data == Array("\(index)".utf8), "in order, none lost")
            }
            return latencies
        }
        func p99(_ values: [Duration]) -> Duration { values.sorted()[values.count * 99 / 100] }
        let idle = try await roundTrips(300, from: 0)
        let idleRSS = Self.residentKB(pid, "VmRSS")

        // The hostile ones.
        let shared = Shared()
        let socket = daemon.socket
        let hostile = Task.detached {
            try await withThrowingTaskGroup(of: Void.self) { group in
                // 1 000 connections on 4 threads, half of them never reading.
                for shard in 0..<4 {
                    group.addTask {
                        try await offPool {
                            var raws: [Raw] = []
                            for index in stride(from: shard, to: count, by: 4) {
                                raws.append(try Self.open(socket, index: index, reads: index % 2 == 0))
                            }
                            shared.ready.withLock { $0 += 1 }
                            // Every shard open before the traffic starts.
                            while shared.ready.withLock({ $0 }) < 4 && !shared.stop.withLock({ $0 }) { usleep(10_000) }
                            var random = SystemRandomNumberGenerator()
                            var correlation: UInt32 = 10
                            while !shared.stop.withLock({ $0 }) {
                                for index in raws.indices {
                                    correlation &+= 1
                                    let request: ClientMessage
                                    switch random.next() % 5 {
                                    case 0: request = .ping
                                    case 1: request = .status
                                    case 2: request = .listChannels
                                    case 3:
                                        request = .subscribe(handle: raws[index].handle, subscription: 1, filters: [])
                                    default:
                                        request = .publish(
                                            handle: raws[index].handle,
                                            events: [WireEvent(data: [UInt8](repeating: 7, count: 512))])
                                    }
                                    // A client that does not read is soon refused more: what
                                    // it has not sent waits, the next request only after it.
                                    if raws[index].flush() {
                                        raws[index].pending = request.frame(correlation: correlation).encoded
                                        _ = raws[index].flush()
                                    }
                                    if raws[index].reads { _ = Self.readSome(&raws[index]) }
                                }
                                shared.rounds.withLock { $0[shard] += 1 }
                                usleep(20_000)
                            }
                            let replies = raws.reduce(0) { $0 + $1.replies }
                            shared.outcome.withLock { $0.hostileReplies += replies }
                            for raw in raws { close(raw.fd) }
                        }
                    }
                }
                // Hello, then garbage: each is told and closed.
                group.addTask {
                    try await offPool {
                        for index in 0..<20 {
                            var bytes = ClientMessage.hello(WireHello(pid: 1, clientName: "garbage")).frame(
                                correlation: 1
                            ).encoded
                            bytes += (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ index) }
                            // exchange returns once heraldd closed the connection.
                            let replies = try RawSocket.exchange(socket, bytes)
                            if case .error? = replies.last {
                                shared.outcome.withLock { $0.garbageClosed += 1 }
                            } else {
                                print("hostile: garbage \(index) got \(replies)")
                            }
                        }
                    }
                }
                // Channels without end: refused at the per-connection limit, the rest goes on.
                group.addTask {
                    try await offPool {
                        let fd = try RawSocket.connect(socket)
                        defer { close(fd) }
                        var bytes = ClientMessage.hello(WireHello(pid: 1, clientName: "hog")).frame(correlation: 1)
                            .encoded
                        for index in 0..<1_100 {
                            bytes +=
                                ClientMessage.openChannel(name: Array("hog\(index)".utf8), flags: 7).frame(
                                    correlation: UInt32(2 + index)
                                ).encoded
                        }
                        bytes += ClientMessage.goodbye.frame(correlation: 5_000).encoded
                        try RawSocket.send(fd, bytes)
                        let refused = try RawSocket.repliesUntilClosed(fd, quiet: 120).filter {
                            if case .error(18, _) = $0.1 { return true } else { return false }
                        }
                        shared.outcome.withLock { $0.refusedOpens = refused.count }
                    }
                }
                // A flood of publishes, never reading a reply.
                group.addTask {
                    try await offPool {
                        var flooder = try Self.open(socket, index: count, reads: false)
                        let request = ClientMessage.publish(
                            handle: flooder.handle,
                            events: (0..<16).map { _ in WireEvent(data: [UInt8](repeating: 1, count: 4096)) }
                        ).frame(correlation: 9).encoded
                        var sent = 0
                        while flood && !shared.stop.withLock({ $0 }) {
                            if flooder.flush() {
                                flooder.pending = request
                                sent += 1
                            } else {
                                usleep(1_000)
                            }
                        }
                        _ = Self.readSome(&flooder)
                        shared.outcome.withLock { $0.flooded = sent }
                        close(flooder.fd)
                    }
                }
                try await group.waitForAll()
            }
        }

        // Under fire (once every connection is open): the pair goes on; heraldd's memory
        // is watched.
        for _ in 0..<1_200 where shared.ready.withLock({ $0 }) < 4 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(shared.ready.withLock { $0 } == 4, "every hostile connection opened")
        try await Task.sleep(for: .seconds(2))
        // Up to 300 round trips, for at most 10 s (the flood slows them: the figure says how
        // much), and the hostile ones go on until each shard has made 3 rounds at least.
        parts.removeAll()
        let loaded = try await roundTrips(300, from: 300, within: .seconds(10))
        let (publishWait, deliveryWait) = (parts.map(\.publish), parts.map(\.delivery))
        #expect(!loaded.isEmpty, "the pair went on under fire")
        for _ in 0..<6_000 where shared.rounds.withLock({ $0.min()! }) < 3 {
            try await Task.sleep(for: .milliseconds(10))
        }
        var peakRSS = 0
        for _ in 0..<20 {
            peakRSS = max(peakRSS, Self.residentKB(pid, "VmRSS"))
            try await Task.sleep(for: .milliseconds(100))
        }
        shared.stop.withLock { $0 = true }
        try await hostile.value
        peakRSS = max(peakRSS, Self.residentKB(pid, "VmHWM"))
        let (garbageClosed, refusedOpens, flooded, hostileReplies) = shared.outcome.withLock { $0 }
        print(
            "hostile: \(count) connections, \(hostileReplies) replies read by half of them, \(flooded) flood "
                + "publishes of 64 KiB sent unread; the pair's p99 round trip idle \(p99(idle)), under fire "
                + "\(p99(loaded)) (publish p99 \(p99(publishWait)), longest \(publishWait.max()!); delivery after it "
                + "p99 \(p99(deliveryWait)), longest \(deliveryWait.max()!)); heraldd resident \(idleRSS / 1024) MiB "
                + "idle, peak \(peakRSS / 1024) MiB")
        #expect(garbageClosed == 20, "every garbage client was told and closed")
        #expect(refusedOpens == 1_100 - 1_024, "opens past the limit refused with NO_RESOURCES, the rest served")
        #expect(hostileReplies > 0, "the reading half was answered")
        #expect(!flood || flooded > 0)
        // heraldd's peak resident memory is reported, not asserted (README: issue 20 part 3).

        // After: heraldd serves as before, and the pair goes on.
        _ = try await roundTrips(50, from: 300 + loaded.count)
        let fresh = try await daemon.client("after")
        try await fresh.ping()
        var connections: UInt32 = 0
        for _ in 0..<600 {
            connections = try await fresh.status().connections
            if connections <= 3 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(connections <= 3, "the hostile connections are gone: \(connections) left")
        await fresh.close()
        await publisher.close()
        await subscriber.close()
    }
}
