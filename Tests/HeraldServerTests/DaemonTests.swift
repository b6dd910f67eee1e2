import Foundation
import HeraldClient
import HeraldWire
import Synchronization
import Testing

/// End to end through a real `heraldd` process and real client processes.
@Suite(.serialized) struct DaemonTests {
    private let all = [WireFilter(type: 4, pattern: [])]

    @Test func severalPublisherProcessesReachOneSubscriberWithTheirCredentials() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let client = try await daemon.client()
        #expect(client.welcome.peer.pid == UInt32(getpid()))
        let channel = try await client.openChannel("links", flags: [.subscriber, .create])
        let stream = try await client.subscribe(channel, id: 1, filters: all)

        // Three `herald publish` processes at once, 50 lines each.
        let outputs = try await withThrowingTaskGroup(of: (Int32, String, String).self) { group in
            for publisher in 0..<3 {
                let lines = (0..<50).map { "p\(publisher)-\($0)" }.joined(separator: "\n") + "\n"
                group.addTask {
                    try await runHerald(
                        ["publish", "--channel", "links", "--publisher", "p\(publisher)"], socket: daemon.socket,
                        input: lines)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for (status, stdout, stderr) in outputs {
            #expect(status == 0, "\(stderr)")
            #expect(stdout.split(separator: "\n").count == 50)
        }
        let deliveries = try await collect(stream, count: 150)
        #expect(deliveries.count == 150)
        #expect(zip(deliveries, deliveries.dropFirst()).allSatisfy { $0.sequence < $1.sequence }, "journal order")
        #expect(Set(deliveries.map { String(decoding: $0.data, as: UTF8.self) }).count == 150)
        // Each event carries its publisher's credentials as the daemon read them.
        let pids = Set(deliveries.compactMap { $0.origin?.pid })
        #expect(pids.count == 3 && !pids.contains(UInt32(getpid())))
        #expect(deliveries.allSatisfy { $0.origin?.uid == getuid() })
        // Ids printed by the publishers are the ids delivered.
        let printed = Set(outputs.flatMap { $0.1.split(separator: "\n").compactMap { UInt64($0) } })
        #expect(printed == Set(deliveries.map(\.eventID)))
        await client.close()
    }

    @Test func aKilledClientHasItsChannelsClosedAndADurableTailResumes() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let client = try await daemon.client()
        let channel = try await client.openChannel("jobs", flags: [.publisher, .create])
        let ids = try await client.publish(channel, (0..<20).map { WireEvent(data: Array("job-\($0)".utf8)) })

        // A durable tail in its own process, killed with SIGKILL after it printed a few.
        let tail = Process()
        tail.executableURL = URL(fileURLWithPath: builtProduct("herald"))
        tail.arguments = [
            "tail", "--channel", "jobs", "--durable", "worker", "--from", "oldest", "--window", "1", "--socket",
            daemon.socket,
        ]
        let out = Pipe()
        tail.standardOutput = out
        try tail.run()
        var firstRun = ""
        while firstRun.split(separator: "\n").count < 5 {
            let chunk = out.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            firstRun += String(decoding: chunk, as: UTF8.self)
        }
        kill(tail.processIdentifier, SIGKILL)
        tail.waitUntilExit()
        firstRun += String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)

        // The daemon closed the dead client's open: only ours is left.
        var openers: UInt32 = 99
        for _ in 0..<100 {
            openers = try await client.channels().first { $0.name == Array("jobs".utf8) }?.openers ?? 99
            if openers == 1 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(openers == 1)

        // A restarted tail resumes after the last acknowledged event; what it shows again is marked R.
        let (status, secondRun, stderr) = try await runHerald(
            ["tail", "--channel", "jobs", "--durable", "worker", "--count", "1"], socket: daemon.socket)
        #expect(status == 0, "\(stderr)")
        let first = firstRun.split(separator: "\n").map { $0.split(separator: " ") }
        let second = secondRun.split(separator: "\n").map { $0.split(separator: " ") }
        let firstIDs = first.compactMap { UInt64($0[1]) }
        #expect(!firstIDs.isEmpty && firstIDs == Array(ids.prefix(firstIDs.count)))
        let resumed = try #require(second.first)
        let resumedID = try #require(UInt64(resumed[1]))
        // Window 1: it acked all it printed but the last, at most; it resumes there.
        #expect(resumedID >= firstIDs.last! && resumedID <= firstIDs.last! + 1)
        // Shown before and maybe not acknowledged: marked R. The next one may be marked R
        // too (delivered to the tail, in flight, when it died: "possibly delivered").
        if resumedID == firstIDs.last! { #expect(resumed[2] == "R") }
        await client.close()
    }

    @Test func aDaemonKilledUnderLoadKeepsEveryAcknowledgedPublishOnce() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let client = try await daemon.client()
        let channel = try await client.openChannel("load", flags: [.publisher, .subscriber, .create])
        let durable = try await client.attach(
            WireAttach(target: .channel(handle: channel.handle), start: .oldest, durableName: "auditor", window: 64))
        _ = try await client.subscribe(channel, id: 1, filters: all)
        let consumer = Task { () -> Int in
            var seen = 0
            for await delivery in durable {
                delivery.done()
                seen += 1
            }
            return seen
        }
        // Publishers keep going until the daemon dies; only acknowledged batches count.
        let acknowledged = Task { () -> [String] in
            var done: [String] = []
            var batch = 0
            while true {
                let events = (0..<50).map { WireEvent(data: Array("b\(batch)-e\($0)".utf8)) }
                do {
                    _ = try await client.publish(channel, events)
                } catch {
                    return done
                }
                done += events.map { String(decoding: $0.data, as: UTF8.self) }
                batch += 1
            }
        }
        try await Task.sleep(for: .milliseconds(1500))
        let cursorBefore = try await client.cursors().first { $0.name == "auditor" }?.acknowledged ?? 0
        daemon.kill9()
        let published = await acknowledged.value
        _ = await consumer.value
        #expect(published.count >= 100, "the load ran")

        try await daemon.restart()
        let reader = try await daemon.client("reader")
        let cursorAfter = try await reader.cursors().first { $0.name == "auditor" }?.acknowledged ?? 0
        #expect(
            cursorAfter >= cursorBefore && cursorBefore > 0, "durable cursor intact: \(cursorBefore) → \(cursorAfter)")
        let again = try await reader.openChannel("load", flags: [.subscriber])
        let stream = try await reader.attach(
            WireAttach(target: .channel(handle: again.handle), start: .oldest, window: 1024))
        _ = try await reader.subscribe(again, id: 1, filters: all)
        // Everything in the journal: acknowledged publishes, maybe a few more that were
        // written but not yet acknowledged when the daemon died.
        let stored = try await drain(stream).map { String(decoding: $0.data, as: UTF8.self) }
        #expect(Set(stored).count == stored.count, "no duplicates")
        #expect(Set(published).isSubset(of: Set(stored)), "every acknowledged publish survived")
        await reader.close()
    }

    @Test func sigtermFlushesAndExitsZero() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let client = try await daemon.client()
        let channel = try await client.openChannel("c", flags: [.publisher, .subscriber, .create])
        let stream = try await client.subscribe(channel, id: 1, filters: all)
        _ = try await client.publish(channel, WireEvent(data: [1]))
        _ = try await collect(stream, count: 1)
        #expect(await daemon.stop() == 0)
        #expect(daemon.remainingOutput().contains("heraldd: stopped"))
        #expect(!FileManager.default.fileExists(atPath: daemon.socket), "socket removed")
        for await _ in stream {}
        #expect(stream.endReason == .disconnected)
        await #expect(throws: HeraldClientError.disconnected) { try await client.ping() }
        // It starts again on the same folder, with the journal intact.
        try await daemon.restart()
        let again = try await daemon.client()
        #expect(try await again.status().headSequence > 0)
        #expect(await daemon.stop() == 0)
    }

    @Test func accessRulesRefuseWithAccessAndChangeNothing() async throws {
        let config = """
            {"socketMode": "0600", "access": [{"channel": "secret.*", "publish": ["uid:4242"], "subscribe": ["*"]},
              {"channel": "team.*", "publish": ["uid:\(getuid())"], "subscribe": ["uid:4242"]}]}
            """
        let daemon = try await DaemonProcess.launch(config: config)
        defer { daemon.cleanup() }
        let mode = try FileManager.default.attributesOfItem(atPath: daemon.socket)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let client = try await daemon.client()
        await #expect(throws: HeraldClientError.self) {
            _ = try await client.openChannel("secret.keys", flags: [.publisher, .create])
        }
        do {
            _ = try await client.openChannel("secret.keys", flags: [.publisher, .create])
        } catch {
            #expect(error.aisCode == 11, "SA_AIS_ERR_ACCESS")
            #expect("\(error)".contains("access rules"))
        }
        #expect(try await client.channels().isEmpty, "nothing was created")
        // Subscribing is allowed by the rule, other channels by default.
        let open = try await client.openChannel("public", flags: [.publisher, .create])
        _ = try await client.publish(open, WireEvent(data: [1]))
        await #expect(throws: HeraldClientError.self) { try await client.unlinkChannel("secret.keys") }
        let (status, _, stderr) = try await runHerald(
            ["publish", "--channel", "secret.x", "data"], socket: daemon.socket)
        #expect(status == 1 && stderr.contains("SA_AIS_ERR_ACCESS"), "\(status) \(stderr)")
        // The allow paths: a rule naming this user lets it publish on team.* (and only
        // publish), and "*" lets anyone subscribe to secret.* (creating the channel).
        let team = try await client.openChannel("team.a", flags: [.publisher, .create])
        let id = try await client.publish(team, WireEvent(data: [2]))
        #expect(id > 0)
        await #expect(throws: HeraldClientError.self) {
            _ = try await client.openChannel("team.a", flags: [.subscriber])
        }
        _ = try await client.openChannel("secret.keys", flags: [.subscriber, .create])
        let names = try await client.channels().map { String(decoding: $0.name, as: UTF8.self) }
        #expect(Set(names) == ["public", "team.a", "secret.keys"], "\(names)")
        await client.close()
    }

    @Test func malformedFramesCloseOnlyTheirConnection() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let good = try await daemon.client("good")
        let channel = try await good.openChannel("c", flags: [.publisher, .subscriber, .create])
        let stream = try await good.subscribe(channel, id: 1, filters: all)

        let hello = ClientMessage.hello(WireHello(pid: 1, clientName: "bad")).frame(correlation: 1).encoded
        let cases: [(String, [UInt8], UInt32)] = [
            ("no hello first", ClientMessage.ping.frame(correlation: 1).encoded, 20),
            ("unknown type", hello + [5, 0, 0, 0, 0x7E, 0, 0, 0, 0], 22),
            ("oversized length", hello + [0xFF, 0xFF, 0xFF, 0x7F, 0x13, 0, 0, 0, 0], 26),
            ("truncated payload", hello + WireFrame(type: .closeChannel, correlation: 2, payload: [1, 2]).encoded, 22),
            (
                "bad UTF-8 name",
                [12, 0, 0, 0, 1, 0, 0, 0, 0] + WireHello.magic + [1, 0, 1, 0] + [0, 0, 0, 0] + [1, 0, 0xFF], 22
            ),
            (
                "old version",
                ClientMessage.hello(WireHello(versionMin: 9, versionMax: 9, pid: 1, clientName: "x")).frame(
                    correlation: 1
                ).encoded, 3
            ),
        ]
        for (name, bytes, code) in cases {
            let replies = try RawSocket.exchange(daemon.socket, bytes)
            let error = replies.last
            guard case .error(let got, let message) = error else {
                Issue.record("\(name): expected an error frame, got \(String(describing: error))")
                continue
            }
            #expect(got == code, "\(name): \(message)")
        }
        // Random bytes, many connections.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            _ = try RawSocket.exchange(
                daemon.socket, (0..<64).map { _ in UInt8.random(in: 0...255, using: &generator) })
        }
        // The good client never noticed.
        let id = try await good.publish(channel, WireEvent(data: Array("still here".utf8)))
        let got = try await collect(stream, count: 1)
        #expect(got.first?.eventID == id)
        #expect(daemon.process.isRunning)
        await good.close()
    }

    @Test func aStuckSubscriberDoesNotStallAFastOneOrThePublisher() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let publisher = try await daemon.client("publisher")
        let channel = try await publisher.openChannel("firehose", flags: [.publisher, .create])
        // Stuck #1: a client that never acknowledges (its window fills).
        let lazy = try await daemon.client("lazy")
        let lazyOpen = try await lazy.openChannel("firehose", flags: [.subscriber])
        _ = try await lazy.attach(WireAttach(target: .channel(handle: lazyOpen.handle), start: .now, window: 8))
        let lazyStream = try await lazy.subscribe(lazyOpen, id: 1, filters: all)
        // Stuck #2: a raw connection that subscribes with a huge window and never reads.
        let stuck = try RawSocket.connect(daemon.socket)
        defer { close(stuck) }
        try RawSocket.send(
            stuck, ClientMessage.hello(WireHello(pid: 1, clientName: "stuck")).frame(correlation: 1).encoded)
        try RawSocket.send(
            stuck, ClientMessage.openChannel(name: Array("firehose".utf8), flags: 2).frame(correlation: 2).encoded)
        // The open's handle is its sequence number; read replies until we have it.
        let handle = try RawSocket.readUntil(stuck) {
            if case .channelOpened(let handle, _) = $0 { return handle } else { return nil }
        }
        try RawSocket.send(
            stuck,
            ClientMessage.attach(WireAttach(target: .channel(handle: handle), window: 65_536)).frame(correlation: 3)
                .encoded)
        try RawSocket.send(
            stuck, ClientMessage.subscribe(handle: handle, subscription: 1, filters: all).frame(correlation: 4).encoded)

        let fast = try await daemon.client("fast")
        let fastOpen = try await fast.openChannel("firehose", flags: [.subscriber])
        let fastStream = try await fast.subscribe(fastOpen, id: 1, filters: all)
        let payload = [UInt8](repeating: 0x61, count: 1000)
        let started = ContinuousClock.now
        for _ in 0..<40 { _ = try await publisher.publish(channel, (0..<100).map { _ in WireEvent(data: payload) }) }
        let received = try await collect(fastStream, count: 4000, seconds: 60)
        #expect(received.count == 4000)
        #expect(ContinuousClock.now - started < .seconds(60))
        _ = lazyStream
        await fast.close()
        await lazy.close()
        await publisher.close()
    }

    /// Publishes pipelined on one connection are merged into one append when they queue
    /// up; each still gets its own reply, in order, and a bad one fails alone.
    @Test func pipelinedPublishesAreMergedButAnsweredOneByOne() async throws {
        let daemon = try await DaemonProcess.launch(arguments: ["--event-data-max", "1000"])
        defer { daemon.cleanup() }
        let fd = try RawSocket.connect(daemon.socket)
        defer { close(fd) }
        var bytes = ClientMessage.hello(WireHello(pid: 1, clientName: "pipeline")).frame(correlation: 1).encoded
        bytes += ClientMessage.openChannel(name: Array("p".utf8), flags: 5).frame(correlation: 2).encoded
        try RawSocket.send(fd, bytes)
        let handle = try RawSocket.readUntil(fd) {
            if case .channelOpened(let handle, _) = $0 { return handle } else { return nil }
        }
        var pipelined: [UInt8] = []
        let sizes = [3, 1, 2, 5, 4]
        for (index, size) in sizes.enumerated() {
            let data = index == 2 ? [UInt8](repeating: 0, count: 5000) : [UInt8(index)]
            let events = (0..<size).map { _ in WireEvent(data: data) }
            pipelined +=
                ClientMessage.publish(handle: handle, events: events).frame(correlation: UInt32(10 + index)).encoded
        }
        pipelined += ClientMessage.goodbye.frame(correlation: 99).encoded
        try RawSocket.send(fd, pipelined)
        let replies = try RawSocket.repliesUntilClosed(fd)
        #expect(replies.map(\.0) == [10, 11, 12, 13, 14, 99])
        var next: UInt64?
        for ((_, reply), (index, size)) in zip(replies, sizes.enumerated()) {
            if index == 2 {
                guard case .error(let code, _) = reply else {
                    Issue.record("expected TOO_BIG, got \(reply)")
                    continue
                }
                #expect(code == 26)
                continue
            }
            guard case .published(let first, let count) = reply else {
                Issue.record("expected published, got \(reply)")
                continue
            }
            #expect(count == UInt32(size))
            if let next { #expect(first >= next) }
            next = first + UInt64(count)
        }
    }

    /// A connection's publishes take the direct path (decoded on the event loop, submitted
    /// to the journal, answered from its completion) unless something must come first:
    /// pipelined behind a close, the publish after it is refused, in order.
    @Test func directPublishesKeepTheRequestsOrder() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let fd = try RawSocket.connect(daemon.socket)
        defer { close(fd) }
        var bytes = ClientMessage.hello(WireHello(pid: 1, clientName: "order")).frame(correlation: 1).encoded
        bytes += ClientMessage.openChannel(name: Array("o".utf8), flags: 5).frame(correlation: 2).encoded
        try RawSocket.send(fd, bytes)
        let handle = try RawSocket.readUntil(fd) {
            if case .channelOpened(let handle, _) = $0 { return handle } else { return nil }
        }
        let one = [WireEvent(data: [1])]
        var pipelined = ClientMessage.publish(handle: handle, events: one).frame(correlation: 10).encoded
        pipelined += ClientMessage.publish(handle: handle, events: one).frame(correlation: 11).encoded
        pipelined += ClientMessage.ping.frame(correlation: 12).encoded
        pipelined += ClientMessage.publish(handle: handle, events: one).frame(correlation: 13).encoded
        pipelined += ClientMessage.closeChannel(handle: handle).frame(correlation: 14).encoded
        pipelined += ClientMessage.publish(handle: handle, events: one).frame(correlation: 15).encoded
        pipelined += ClientMessage.goodbye.frame(correlation: 99).encoded
        try RawSocket.send(fd, pipelined)
        let replies = try RawSocket.repliesUntilClosed(fd)
        #expect(replies.map(\.0) == [10, 11, 12, 13, 14, 15, 99])
        var published: [UInt64] = []
        for (correlation, reply) in replies {
            switch (correlation, reply) {
            case (10, .published(let first, 1)), (11, .published(let first, 1)), (13, .published(let first, 1)):
                published.append(first)
            case (12, .pong), (14, .ok), (99, .ok): break
            case (15, .error(let code, _)): #expect(code == 9)  // SA_AIS_ERR_BAD_HANDLE
            default: Issue.record("reply \(correlation): \(reply)")
            }
        }
        #expect(published.count == 3 && published == published.sorted())
    }

    /// The guard of the short request path: publishes one at a time through the socket are
    /// answered on the direct path (counted by heraldd), not through the session and the
    /// service's actor; a retained event (the registry keeps it) takes the actor's path.
    /// The first publish after the subscribe may take the lane: the lane counts a request
    /// answered once it is done (for a subscribe, after its stream started, which is after
    /// its reply was written), and a publish sent at once on that reply can arrive before —
    /// then it waits its turn in the lane, in order. Every later one goes direct.
    @Test func publishesTakeTheDirectPath() async throws {
        let metricsPath = "/tmp/hd-" + String(UUID().uuidString.prefix(8)) + ".sock"
        let daemon = try await DaemonProcess.launch(arguments: ["--metrics", "unix:" + metricsPath])
        defer { daemon.cleanup() }
        let client = try await daemon.client()
        let channel = try await client.openChannel("d", flags: [.publisher, .subscriber, .create])
        let stream = try await client.subscribe(channel, id: 1, filters: all)
        var ids: [UInt64] = []
        for index in 0..<50 { ids.append(try await client.publish(channel, WireEvent(data: [UInt8(index)]))) }
        _ = try await client.publish(channel, WireEvent(retention: 60_000_000_000, data: [99]))
        #expect(ids == ids.sorted() && Set(ids).count == 50)
        let received = try await collect(stream, count: 51)
        #expect(received.map { $0.data[0] } == (0..<50).map { UInt8($0) } + [99])
        let text = try RawSocket.metrics(metricsPath)
        let direct = text.split(separator: "\n").first { $0.hasPrefix("herald_publish_requests_direct_total ") }
            .flatMap { Int($0.split(separator: " ")[1]) }
        #expect(direct == 50 || direct == 49, "direct publishes: \(direct.map(String.init) ?? "none")")
        #expect(text.contains("herald_published_events_total 51\n"))
        await client.close()
    }

    /// A C library's calls wait on the calling thread (no task per call): many threads of
    /// one connection at once, each answered with its own reply; a lost daemon fails them.
    @Test func blockingCallsFromManyThreads() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let client = try await daemon.client()
        let channel = try await client.openChannel("b", flags: [.publisher, .create])
        let perThread = 200
        let ids = try await offPool {
            let results = Mutex<[[UInt64]]>([])
            let group = DispatchGroup()
            for thread in 0..<4 {
                group.enter()
                Thread.detachNewThread {
                    var mine: [UInt64] = []
                    for index in 0..<perThread {
                        let event = WireEvent(data: [UInt8(thread), UInt8(index % 256)])
                        if let id = try? client.publishBlocking(channel, event) { mine.append(id) }
                    }
                    results.withLock { $0.append(mine) }
                    group.leave()
                }
            }
            group.wait()
            return results.withLock { $0 }
        }
        #expect(ids.count == 4 && ids.allSatisfy { $0.count == perThread && $0 == $0.sorted() })
        #expect(Set(ids.joined()).count == 4 * perThread)
        let afterClose = try await offPool { () -> HeraldClientError? in
            try client.closeChannelBlocking(channel)
            do {
                _ = try client.publishBlocking(channel, WireEvent(data: [0]))
                return nil
            } catch let error as HeraldClientError {
                return error
            }
        }
        guard case .refused(let code, _) = afterClose else {
            Issue.record("a publish on a closed channel: \(String(describing: afterClose))")
            return
        }
        #expect(code == 9)  // SA_AIS_ERR_BAD_HANDLE
        daemon.kill9()
        let failure = try await offPool { () -> HeraldClientError? in
            do {
                _ = try client.publishBlocking(channel, WireEvent(data: [0]))
                return nil
            } catch let error as HeraldClientError {
                return error
            }
        }
        #expect(failure != nil)
    }

    @Test func metricsAreServedInPrometheusText() async throws {
        let metricsPath = "/tmp/hm-" + String(UUID().uuidString.prefix(8)) + ".sock"
        let daemon = try await DaemonProcess.launch(arguments: ["--metrics", "unix:" + metricsPath])
        defer { daemon.cleanup() }
        let client = try await daemon.client()
        let channel = try await client.openChannel("m", flags: [.publisher, .subscriber, .create])
        _ = try await client.attach(
            WireAttach(target: .channel(handle: channel.handle), start: .oldest, durableName: "watcher"))
        let stream = try await client.subscribe(channel, id: 1, filters: all)
        _ = try await client.publish(channel, (0..<7).map { _ in WireEvent(data: [1]) })
        _ = try await collect(stream, count: 7)
        try await Task.sleep(for: .milliseconds(100))  // cursors are persisted every 5 ms
        let text = try RawSocket.metrics(metricsPath)
        #expect(text.hasPrefix("HTTP/1.0 200 OK"))
        #expect(text.contains("herald_published_events_total 7"))
        #expect(text.contains("herald_acks_total 7"))
        #expect(text.contains("herald_connections 1"))
        #expect(text.contains(#"herald_subscriber_lag_events{subscriber="watcher"}"#))
        for name in ["herald_journal_appended_events_total", "herald_journal_fsyncs_total", "herald_deliveries_total"] {
            #expect(text.contains(name))
        }
        await client.close()
    }

    @Test func aBadConfigFileIsRefusedWithUsageStatus() throws {
        let directory = "/tmp/hc-" + String(UUID().uuidString.prefix(8))
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (config, message) in [
            (#"{"dataDirectry": "x"}"#, "unknown key \"dataDirectry\""),
            (#"{"durability": "sometimes"}"#, "durability sometimes"),
            (#"{"access": [{"channel": "a", "publish": ["bob"], "subscribe": []}]}"#, "principal bob"),
        ] {
            try config.write(toFile: directory + "/c.json", atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: builtProduct("heraldd"))
            process.arguments = ["--config", directory + "/c.json", "--data-dir", directory + "/d"]
            let err = Pipe()
            process.standardError = err
            try process.run()
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 64, "\(config): \(stderr)")
            #expect(stderr.contains(message), "\(stderr)")
        }
    }

    /// `--cluster corosync` where no Corosync answers (this test process's network
    /// namespace runs none; tools/cluster-test covers a real cluster): a clear message and
    /// exit 69, nothing served. A bad --cluster value is a usage error.
    @Test(.enabled(if: !FileManager.default.fileExists(atPath: "/run/corosync.pid"), "corosync runs here"))
    func clusterModeWithoutCorosyncFailsClearly() throws {
        let directory = "/tmp/hc-" + String(UUID().uuidString.prefix(8))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (flag, status, message) in [
            ("corosync", Int32(69), "cannot join the cluster"), ("raft", Int32(64), "--cluster must be"),
        ] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: builtProduct("heraldd"))
            process.arguments = ["--data-dir", directory + "/d", "--cluster", flag, "--cluster-group", "hc-test-none"]
            let err = Pipe()
            process.standardError = err
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == status, "\(flag): \(stderr)")
            #expect(stderr.contains(message), "\(stderr)")
            #expect(!FileManager.default.fileExists(atPath: directory + "/d/heraldd.sock"))
        }
    }

    /// Reconnecting is explicit: after the daemon restarts, the old connection's streams have
    /// ended with `.disconnected`, and a new connection re-attaching the durable stream with
    /// `.cursor` gets what was not acknowledged, the unacknowledged one marked redelivered.
    @Test func aDurableClientStreamResumesAfterReconnecting() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let client = try await daemon.client()
        let channel = try await client.openChannel("resume", flags: [.publisher, .subscriber, .create])
        let stream = try await client.attach(
            WireAttach(target: .channel(handle: channel.handle), start: .oldest, durableName: "r", window: 1))
        _ = try await client.subscribe(channel, id: 1, filters: all)
        let ids = try await client.publish(channel, (0..<10).map { WireEvent(data: [UInt8($0)]) })
        // Acknowledge the first 4, receive the 5th and do not acknowledge it.
        var received: [ClientDelivery] = []
        for await delivery in stream {
            received.append(delivery)
            if received.count == 5 { break }
            delivery.done()
        }
        try await Task.sleep(for: .milliseconds(100))  // acks reach the daemon; cursors persist every 5 ms
        #expect(await daemon.stop() == 0)
        for await _ in stream {}
        #expect(stream.endReason == .disconnected)
        await #expect(throws: HeraldClientError.disconnected) { try await client.ping() }

        try await daemon.restart()
        let again = try await daemon.client()
        let reopened = try await again.openChannel("resume", flags: [.subscriber])
        let resumed = try await again.attach(
            WireAttach(target: .channel(handle: reopened.handle), start: .cursor, durableName: "r", window: 16))
        _ = try await again.subscribe(reopened, id: 1, filters: all)
        let rest = try await collect(resumed, count: 6)
        #expect(rest.map(\.eventID) == Array(ids[4...]))
        #expect(rest.first?.redelivered == true, "the unacknowledged 5th comes back marked")
        await again.close()
    }
}
