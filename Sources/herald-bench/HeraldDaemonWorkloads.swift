import ArgumentParser
import Foundation
import HeraldClient
import HeraldWire
import Synchronization

/// heraldd (the release build beside this benchmark) on a fresh data folder.
final class HeraldDaemon {
    let socket: String
    let server: ServerProcess

    init(directory: String, durability: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socket = directory + "/s.sock"
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("heraldd").path
        server = try ServerProcess(
            name: "heraldd", executable: executable,
            arguments: [
                "--data-dir", directory + "/data", "--socket", socket, "--durability", durability, "--log-level",
                "warning",
            ],
            logPath: directory + "/server.log")
        let socket = self.socket
        try server.waitUntil { FileManager.default.fileExists(atPath: socket) }
        usleep(100_000)
    }

    func stop() { server.stop() }

    /// heraldd's CPU time so far (user + system, all threads), in seconds, from
    /// `/proc/PID/stat` (clock ticks: 10 ms steps).
    func cpuSeconds() -> Double {
        let path = "/proc/\(server.process.processIdentifier)/stat"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        // After "pid (comm)": state is field 3; utime and stime are fields 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func publishThroughput(clients: Int, events: Int, batch: Int) async throws -> Double {
        if clients == 1 {
            let client = try await HeraldClient.connect(socketPath: socket, clientName: "bench")
            let channel = try await client.openChannel("bench", flags: [.publisher, .create])
            let elapsed = try await Self.publish(client, channel, events: events, batch: batch)
            await client.close()
            return Double(events) / elapsed
        }
        // Child processes, released together.
        let perClient = events / clients
        var children: [(Process, Pipe, Pipe)] = []
        for _ in 0..<clients {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
            process.arguments = [
                "daemon-publisher", "--socket", socket, "--events", "\(perClient)", "--batch", "\(batch)",
            ]
            let input = Pipe()
            let output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            children.append((process, input, output))
        }
        for (_, _, output) in children { _ = output.fileHandleForReading.readData(ofLength: 6) }  // "ready\n"
        let start = uptimeNanoseconds()
        for (_, input, _) in children { input.fileHandleForWriting.write(Data("go\n".utf8)) }
        for (process, _, output) in children {
            _ = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw BlockingSocket.Failure(description: "a publisher failed")
            }
        }
        return Double(perClient * clients) / (Double(uptimeNanoseconds() - start) / 1e9)
    }

    /// A fresh publisher connection publishes `events` on `channel` (created if needed) in
    /// batches of 1000, 4 in flight; returns seconds.
    @discardableResult
    func publishBatches(channel name: String, events: Int) async throws -> Double {
        let publisher = try await HeraldClient.connect(socketPath: socket, clientName: "bench-publisher")
        let channel = try await publisher.openChannel(name, flags: [.publisher, .create])
        let elapsed = try await Self.publish(publisher, channel, events: events, batch: 1000)
        await publisher.close()
        return elapsed
    }

    /// Publishes `events` in batches with `inFlight` batches in flight; returns seconds.
    static func publish(
        _ client: HeraldClient, _ channel: HeraldClient.Channel, events: Int, batch: Int, inFlight: Int = 4
    ) async throws -> Double {
        // Realistic, varied bodies (seeded), the same pool as the peers': a body of one
        // repeated byte would compress to almost nothing.
        let variants = (0..<16).map { _ in (0..<batch).map { _ in WireEvent(data: BodyPool.body()) } }
        let batches = events / batch
        let start = uptimeNanoseconds()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<batches {
                if index >= inFlight { try await group.next() }
                let batchEvents = variants[index % variants.count]
                group.addTask { _ = try await client.publish(channel, batchEvents) }
            }
            try await group.waitForAll()
        }
        return Double(uptimeNanoseconds() - start) / 1e9
    }

    func latency(rate: Int, seconds: Int) async throws -> (p50: Double, p99: Double) {
        try await Self.latency(subscriberSocket: socket, publisherSocket: socket, rate: rate, seconds: seconds)
    }

    /// A subscriber on one socket, a publisher on another (or the same) paced at `rate`
    /// for `seconds`: publish → delivery percentiles in µs (one machine's monotonic clock).
    static func latency(subscriberSocket: String, publisherSocket: String, rate: Int, seconds: Int) async throws -> (
        p50: Double, p99: Double
    ) {
        let subscriber = try await HeraldClient.connect(socketPath: subscriberSocket, clientName: "bench-subscriber")
        let open = try await subscriber.openChannel("latency", flags: [.subscriber, .create])
        let stream = try await subscriber.subscribe(open, id: 1, filters: [WireFilter(type: 4, pattern: [])])
        let publisher = try await HeraldClient.connect(socketPath: publisherSocket, clientName: "bench-publisher")
        let channel = try await openWhenCreated(publisher, "latency", flags: [.publisher])
        let samples = LatencySamples()
        let total = rate * seconds
        let consumer = Task.detached {
            for await delivery in stream {
                if let sent = stamp(of: delivery.data) { samples.add(sent) }
                delivery.done()
                if samples.count >= total { break }
            }
        }
        try await paced(rate: rate, total: total) { count in
            let events = (0..<count).map { _ in WireEvent(data: stampedPayload(uptimeNanoseconds())) }
            Task { _ = try? await publisher.publish(channel, events) }
        }
        for _ in 0..<300 where samples.count < total { try await Task.sleep(for: .milliseconds(100)) }
        consumer.cancel()
        await publisher.close()
        await subscriber.close()
        return percentiles(samples.all)
    }

    /// Publishes `events` on `channel` in batches of 1000 while counting what `stream`
    /// delivers (only deliveries `counted` accepts): deliveries/s from the first counted one
    /// to the last.
    func deliveryRate(
        _ stream: EventStream, channel: String, events: Int, publish: Bool = true,
        counted: @escaping @Sendable (ClientDelivery) -> Bool = { _ in true }
    ) async throws -> Double {
        let counter = Task.detached { () -> (UInt64, UInt64) in
            var count = 0
            var first: UInt64 = 0
            var last: UInt64 = 0
            for await delivery in stream {
                delivery.done()
                guard counted(delivery) else { continue }
                last = monotonicNanoseconds()
                if count == 0 { first = last }
                count += 1
                if count == events { break }
            }
            return (first, last)
        }
        if publish { try await publishBatches(channel: channel, events: events) }
        let (first, last) = await counter.value
        return Double(events - 1) / (Double(last - first) / 1e9)
    }

    /// Opens `name`, waiting until a channel created through another node reached this one.
    static func openWhenCreated(_ client: HeraldClient, _ name: String, flags: HeraldClient.OpenFlags) async throws
        -> HeraldClient.Channel
    {
        for _ in 0..<100 {
            if let channel = try? await client.openChannel(name, flags: flags) { return channel }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await client.openChannel(name, flags: flags)
    }

    /// Calls `send(count)` every millisecond with the events due, without waiting for
    /// replies (no coordinated omission: a slow reply does not slow the sender).
    static func paced(rate: Int, total: Int, _ send: (Int) -> Void) async throws {
        let start = uptimeNanoseconds()
        var sent = 0
        var tick: UInt64 = 0
        while sent < total {
            tick += 1
            let due = start + tick * 1_000_000
            let now = uptimeNanoseconds()
            if due > now { try await Task.sleep(for: .nanoseconds(Int(due - now))) }
            let target = min(total, Int(Double(uptimeNanoseconds() - start) / 1e9 * Double(rate)))
            if target > sent {
                send(target - sent)
                sent = target
            }
        }
    }

    /// Publishes the history a late joiner replays (channel "history").
    func fillHistory(events: Int, batch: Int) async throws {
        let client = try await HeraldClient.connect(socketPath: socket, clientName: "bench-fill")
        let channel = try await client.openChannel("history", flags: [.publisher, .create])
        _ = try await Self.publish(client, channel, events: events, batch: batch)
        await client.close()
    }

    /// A new durable subscriber `name` reads the whole history from the oldest event,
    /// acknowledging every event; events/s from its attach to the last delivery.
    func replay(events: Int, name: String) async throws -> Double {
        let reader = try await HeraldClient.connect(socketPath: socket, clientName: "bench-late-joiner")
        let open = try await reader.openChannel("history", flags: [.subscriber])
        let start = uptimeNanoseconds()
        let stream = try await reader.attach(
            WireAttach(target: .channel(handle: open.handle), start: .oldest, durableName: name, window: 8192))
        _ = try await reader.subscribe(open, id: 1, filters: [WireFilter(type: 4, pattern: [])])
        var received = 0
        var touched = 0
        for await delivery in stream {
            // A consumer reads the event: its data, in place (the first and last byte).
            touched &+= delivery.withData { Int($0.first ?? 0) &+ Int($0.last ?? 0) }
            delivery.done()
            received += 1
            if received >= events { break }
        }
        let elapsed = Double(uptimeNanoseconds() - start) / 1e9
        await reader.close()
        precondition(touched != -1)  // keeps the reads
        return Double(received) / elapsed
    }
}

/// Child of the 8-client publish run: connects, says "ready", waits for "go", publishes.
struct DaemonPublisherChild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "daemon-publisher", shouldDisplay: false)

    @Option var socket: String
    @Option var events: Int
    @Option var batch: Int

    func run() async throws {
        let client = try await HeraldClient.connect(socketPath: socket, clientName: "bench-child")
        let channel = try await client.openChannel("bench", flags: [.publisher, .create])
        FileHandle.standardOutput.write(Data("ready\n".utf8))
        _ = readLine()
        let elapsed = try await HeraldDaemon.publish(client, channel, events: events, batch: batch)
        FileHandle.standardOutput.write(Data("\(elapsed)\n".utf8))
        await client.close()
    }
}

/// `herald-bench replay-probe`: only the late joiner's replay through heraldd (fill, restart,
/// replay `runs` times), printing "replay N" on stderr before each run: for profiling the
/// delivery path with perf attached to heraldd and this process.
struct ReplayProbe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "replay-probe", shouldDisplay: false)

    @Option var events = 1_000_000
    @Option var runs = 3
    @Option(help: "Seconds to wait before each run (time to attach a profiler).") var pause = 0.0
    @Option(name: .customLong("work-dir")) var workDirectory = "bench-out/replay-probe"

    func run() async throws {
        try? FileManager.default.removeItem(atPath: workDirectory)
        let filling = try HeraldDaemon(directory: workDirectory, durability: "fsync")
        try await filling.fillHistory(events: events, batch: 1000)
        filling.stop()
        let daemon = try HeraldDaemon(directory: workDirectory, durability: "fsync")
        for run in 0..<runs {
            FileHandle.standardError.write(
                Data("replay \(run) heraldd \(daemon.server.process.processIdentifier)\n".utf8))
            if pause > 0 { try await Task.sleep(for: .seconds(pause)) }
            let rate = try await daemon.replay(events: events, name: "probe-\(run)")
            print(formatRate(rate))
        }
        daemon.stop()
    }
}
