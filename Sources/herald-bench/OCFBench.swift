import ArgumentParser
import Foundation
import HeraldClient
import HeraldWire

/// `herald-bench ocf`: the OCF C API end to end. A C client (tools/c/ocf_bench.c, built by
/// `cc` against the release liboc_event.so, GET_FD, one GROUP callback completing each
/// event) receives events published live through heraldd; beside it, the same stream read
/// by a Swift HeraldClient (the layer the C library sits on), so the table shows what the
/// C API costs.
struct OCFBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ocf", abstract: "liboc_event callbacks/s and publish→callback latency through heraldd.")

    @Option(help: "Events per throughput run.") var events = 200_000
    @Option(help: "Runs of each workload (the table shows medians).") var runs = 3
    @Option(help: "Publish rate of the latency runs (events/s).") var rate = 10_000
    @Option(help: "Seconds of each latency run.") var latencySeconds = 5
    @Option(name: .customLong("work-dir")) var workDirectory = "bench-out"

    static let cColumn = "Herald (liboc_event, C)"
    static let swiftColumn = "HeraldClient (Swift)"

    func run() async throws {
        try? FileManager.default.removeItem(atPath: workDirectory)
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        let work = URL(fileURLWithPath: workDirectory).standardizedFileURL.path
        let client = try Self.buildClient(into: work)
        let throughput = "callbacks/s, events published live (batches of 1000, fsync)"
        let latency = "publish→callback latency at \(formatRate(Double(rate))) ev/s, fsync before ack"
        let replay = "callbacks/s, \(formatRate(Double(events))) events replayed from the journal (durable handle)"
        var cReplays: [Double] = []
        var cRates: [Double] = []
        var swiftRates: [Double] = []
        var cLatency: [(Double, Double)] = []
        var swiftLatency: [(Double, Double)] = []
        for run in 0..<runs {
            let daemon = try HeraldDaemon(directory: "\(work)/ocf-\(run)", durability: "fsync")
            cRates.append(try await cThroughput(client, daemon))
            cReplays.append(try await cReplay(client, daemon))
            swiftRates.append(try await swiftThroughput(daemon))
            cLatency.append(try await cLatencyRun(client, daemon))
            swiftLatency.append(try await swiftLatencyRun(daemon))
            daemon.stop()
        }
        var table = ResultTable()
        table.set(throughput, "Herald", cRates)
        table.set(throughput, Self.swiftColumn, swiftRates)
        table.set(replay, "Herald", cReplays)
        table.setLatency(latency, "Herald", Self.medians(cLatency))
        table.setLatency(latency, Self.swiftColumn, Self.medians(swiftLatency))
        print("")
        print("Column \"Herald\" is the C client through liboc_event; the ratio is C / Swift.")
        table.print(peers: [Self.swiftColumn])
        print("")
        print("One heraldd (fsync), one publisher (HeraldClient, \(events) events of 128 bytes in batches")
        print("of 1000, 4 in flight), one subscriber: the C program (draft API, GET_FD + poll, callback_done")
        print("in the callback) or a HeraldClient class stream (window 1024 like the library, done per")
        print("event). Callbacks/s counts from the first to the last callback. Latency: paced publishes")
        print("carrying their send time (CLOCK_MONOTONIC).")
        try? FileManager.default.removeItem(atPath: workDirectory)
    }

    static func medians(_ values: [(Double, Double)]) -> (p50: Double, p99: Double) {
        (median(values.map(\.0)), median(values.map(\.1)))
    }

    /// Compiles the C client against .build/release (tools/bench built liboc_event there).
    static func buildClient(into work: String) throws -> String {
        try buildC("tools/c/ocf_bench.c", library: "oc_event", into: work)
    }

    /// The C client's output line starting with `prefix`, its fields after it.
    func runC(_ client: String, _ arguments: [String], _ daemon: HeraldDaemon, publish: () async throws -> Void)
        async throws -> [UInt64]
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: client)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["HERALD_SOCKET": daemon.socket]) { $1 }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        _ = output.fileHandleForReading.readData(ofLength: 6)  // "READY\n"
        try await publish()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let fields = text.split(separator: " ").dropFirst().compactMap {
            UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        guard process.terminationStatus == 0, fields.count == 3 else {
            throw BlockingSocket.Failure(description: "the C client failed: \(text)")
        }
        return fields
    }

    /// The C client replays `events` already in the journal (published before it starts).
    func cReplay(_ client: String, _ daemon: HeraldDaemon) async throws -> Double {
        try await daemon.publishBatches(channel: "ocf-replay", events: events)
        let fields = try await runC(client, ["replay", "\(events)"], daemon) {}
        guard fields[0] == events else { throw BlockingSocket.Failure(description: "C client got \(fields[0])") }
        return Double(events - 1) / (Double(fields[2] - fields[1]) / 1e9)
    }

    func cThroughput(_ client: String, _ daemon: HeraldDaemon) async throws -> Double {
        let fields = try await runC(client, ["throughput", "\(events)"], daemon) {
            try await daemon.publishBatches(channel: "ocf-throughput", events: events)
        }
        guard fields[0] == events else { throw BlockingSocket.Failure(description: "C client got \(fields[0])") }
        return Double(events - 1) / (Double(fields[2] - fields[1]) / 1e9)
    }

    func cLatencyRun(_ client: String, _ daemon: HeraldDaemon) async throws -> (Double, Double) {
        let total = rate * latencySeconds
        let fields = try await runC(client, ["latency", "\(total)"], daemon) {
            try await publishPaced(daemon, channel: "ocf-latency", total: total)
        }
        return (Double(fields[0]) / 1000, Double(fields[1]) / 1000)
    }

    func swiftThroughput(_ daemon: HeraldDaemon) async throws -> Double {
        let (client, stream) = try await classStream(daemon)
        let rate = try await daemon.deliveryRate(stream, channel: "swift-throughput", events: events) {
            $0.descriptor == 0xC0_0003
        }
        await client.close()
        return rate
    }

    func swiftLatencyRun(_ daemon: HeraldDaemon) async throws -> (Double, Double) {
        let (client, stream) = try await classStream(daemon)
        let total = rate * latencySeconds
        let samples = LatencySamples()
        let consumer = Task.detached {
            for await delivery in stream {
                delivery.done()
                guard delivery.descriptor == 0xC0_0003, let sent = stamp(of: delivery.data) else { continue }
                samples.add(sent, now: monotonicNanoseconds())
                if samples.count >= total { break }
            }
        }
        try await publishPaced(daemon, channel: "swift-latency", total: total)
        for _ in 0..<300 where samples.count < total { try await Task.sleep(for: .milliseconds(100)) }
        consumer.cancel()
        await client.close()
        return percentiles(samples.all)
    }

    func classStream(_ daemon: HeraldDaemon) async throws -> (HeraldClient, EventStream) {
        let client = try await HeraldClient.connect(socketPath: daemon.socket, clientName: "bench-ocf-swift")
        return (client, try await client.attach(WireAttach(target: .classes(4), start: .now, window: 1024)))
    }

    func publishPaced(_ daemon: HeraldDaemon, channel name: String, total: Int) async throws {
        let publisher = try await HeraldClient.connect(socketPath: daemon.socket, clientName: "bench-publisher")
        let channel = try await publisher.openChannel(name, flags: [.publisher, .create])
        try await HeraldDaemon.paced(rate: rate, total: total) { count in
            let batch = (0..<count).map { _ in WireEvent(data: stampedPayload(monotonicNanoseconds())) }
            Task { _ = try? await publisher.publish(channel, batch) }
        }
        try await Task.sleep(for: .seconds(1))
        await publisher.close()
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the clock the C client reads too.
func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Compiles a C benchmark client of tools/c with `cc` against a library of .build/release
/// (linked through a folder holding its SONAME link, like an installed library).
func buildC(_ source: String, library: String, into work: String) throws -> String {
    let built = URL(fileURLWithPath: CommandLine.arguments[0]).absoluteURL.deletingLastPathComponent().path
    let folder = work + "/lib"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    for name in ["lib\(library).so", "lib\(library).so.1"] {
        try? FileManager.default.createSymbolicLink(
            atPath: "\(folder)/\(name)", withDestinationPath: "\(built)/lib\(library).so")
    }
    let output = work + "/" + URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
        "cc", "-O2", "-std=c99", "-pthread", "-Wall", "-Wextra", "-Werror", "-I", "include", source, "-o", output,
        "-L", folder, "-l" + library, "-Wl,-rpath," + folder,
    ]
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw BlockingSocket.Failure(description: "cc \(source) failed") }
    return output
}
