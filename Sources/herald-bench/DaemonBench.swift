import ArgumentParser
import Foundation
import HeraldClient
import HeraldWire
import Synchronization

/// `herald-bench daemon`: Herald through heraldd's socket beside Redis Streams and NATS
/// JetStream, started by the benchmark itself on loopback, same payloads (128 bytes).
/// Durable publish throughput (1 and 8 clients), publish→callback latency at a fixed
/// rate, and replay of history by a late joiner; ratios Herald/peer.
struct DaemonBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon", abstract: "heraldd beside Redis Streams and NATS JetStream.")

    @Option(help: "Events per publish-throughput run.") var events = 500_000
    @Option(help: "Events per batch (Herald publish batch, Redis pipeline depth, NATS acks in flight).")
    var batch = 1000
    @Option(help: "Runs of each throughput workload (the table shows medians).") var runs = 3
    @Option(help: "Publish rate of the latency runs (events/s).") var rate = 10_000
    @Option(help: "Seconds of each latency run.") var latencySeconds = 5
    @Option(help: "Events in history for the replay runs.") var replayEvents = 1_000_000
    @Option(help: "Events of the 16-client run, one event per round trip.") var singleEvents = 32_000
    @Flag(help: "Herald only (no peers).") var noPeers = false
    @Flag(help: "Only the replay workload (Herald and the peers).") var replayOnly = false
    @Option(name: .customLong("work-dir")) var workDirectory = "bench-out"

    static let payloadBytes = 128

    /// Cluster middleware publishes one event per call: 16 processes, each with one publish
    /// of one event in flight, acknowledged once durable (group commit is all that helps).
    static let singleRow = "durable publish, 16 connections, one event per round trip (fsync)"

    var latencyFsync: String { "publish→callback latency at \(formatRate(Double(rate))) ev/s, fsync before ack" }
    var latencyPeriodic: String {
        "publish→callback latency at \(formatRate(Double(rate))) ev/s, periodic fsync (Herald batch:10 ms)"
    }

    /// Seconds a command takes to run to its end, its output into a pipe that is read and
    /// dropped (as `… | wc -l` would); fails if it exits non-zero.
    static func timed(_ executable: String, _ arguments: [String]) throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let start = uptimeNanoseconds()
        try process.run()
        let handle = output.fileHandleForReading
        while !handle.availableData.isEmpty {}
        process.waitUntilExit()
        let elapsed = Double(uptimeNanoseconds() - start) / 1e9
        guard process.terminationStatus == 0 else {
            throw BlockingSocket.Failure(description: "\(executable) \(arguments.joined(separator: " ")) failed")
        }
        return elapsed
    }

    /// Bytes of everything under `path` (`du -sb`): segments and index for Herald, the AOF
    /// for Redis, the store for NATS.
    static func diskBytes(_ path: String) -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/du")
        process.arguments = ["-sb", path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return 0 }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text.split(separator: "\t").first.flatMap { Double($0) } ?? 0
    }

    func run() async throws {
        try? FileManager.default.removeItem(atPath: workDirectory)
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        let work = URL(fileURLWithPath: workDirectory).standardizedFileURL.path
        var table = ResultTable()
        var disk: [String: [Double]] = [:]

        // Herald.
        for clients in [1, 8] where !replayOnly {
            var rates: [Double] = []
            for run in 0..<runs {
                let herald = try HeraldDaemon(directory: "\(work)/herald-pub-\(clients)-\(run)", durability: "fsync")
                rates.append(try await herald.publishThroughput(clients: clients, events: events, batch: batch))
                herald.stop()
                if clients == 1 { disk["Herald", default: []].append(Self.diskBytes("\(work)/herald-pub-1-\(run)")) }
            }
            table.set("durable publish, \(clients) client\(clients > 1 ? "s" : "")", "Herald", rates)
        }
        if !replayOnly {
            // The SaEvt C library (one process, a handle — a connection — per thread, as
            // redis-benchmark drives 16 connections from one process): the lightest client.
            let client = try buildC("tools/c/saevt_bench.c", library: "SaEvt", into: work)
            var rates: [Double] = []
            for run in 0..<runs {
                let herald = try HeraldDaemon(directory: "\(work)/herald-single-\(run)", durability: "fsync")
                let fields = try SaEvtBench.runC(
                    client, ["publish", "\(Self.payloadBytes)", "\(singleEvents)", "16", "handles"],
                    socket: herald.socket)
                rates.append(Double(fields[0]) / (Double(fields[1]) / 1e9))
                herald.stop()
            }
            table.set(Self.singleRow, "Herald", rates)
        }
        if !replayOnly {
            let herald = try HeraldDaemon(directory: "\(work)/herald-latency", durability: "fsync")
            table.setLatency(latencyFsync, "Herald", try await herald.latency(rate: rate, seconds: latencySeconds))
            herald.stop()
            let periodic = try HeraldDaemon(directory: "\(work)/herald-latency-batch", durability: "batch:10")
            table.setLatency(
                latencyPeriodic, "Herald", try await periodic.latency(rate: rate, seconds: latencySeconds))
            periodic.stop()
        }
        do {
            // The history is written, then heraldd restarts (a cold daemon on a journal
            // written earlier, its index caught up), then each run is a new durable name.
            let filling = try HeraldDaemon(directory: "\(work)/herald-replay", durability: "fsync")
            try await filling.fillHistory(events: replayEvents, batch: batch)
            filling.stop()
            let replay = try HeraldDaemon(directory: "\(work)/herald-replay", durability: "fsync")
            var rates: [Double] = []
            for run in 0..<runs { rates.append(try await replay.replay(events: replayEvents, name: "late-\(run)")) }
            table.set("replay by a late joiner (\(formatRate(Double(replayEvents))) events)", "Herald", rates)
            // The operator's view of the same history: `herald tail --from oldest` (text into
            // a pipe, through heraldd, acknowledging) beside `herald journal read --format raw`
            // reading the data folder directly.
            let herald = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
                .appendingPathComponent("herald").path
            var tails: [Double] = []
            var reads: [Double] = []
            for _ in 0..<runs {
                tails.append(
                    Double(replayEvents)
                        / (try Self.timed(
                            herald,
                            [
                                "tail", "--socket", replay.socket, "--channel", "history", "--from", "oldest",
                                "--count",
                                "\(replayEvents)", "--format", "text",
                            ])))
                reads.append(
                    Double(replayEvents)
                        / (try Self.timed(
                            herald,
                            ["journal", "read", "--data-dir", "\(work)/herald-replay/data", "--format", "raw"])))
            }
            table.set("herald tail --from oldest, text into a pipe (same history)", "Herald", tails)
            table.set("herald journal read --format raw of the data folder (same history)", "Herald", reads)
            replay.stop()
        }
        if !noPeers {
            for policy in ["always", "everysec"] {
                let column = "Redis \(policy)"
                for clients in [1, 8] where !replayOnly {
                    var rates: [Double] = []
                    for run in 0..<runs {
                        let redis = try RedisPeer(
                            directory: "\(work)/redis-\(policy)-\(clients)-\(run)", appendfsync: policy)
                        rates.append(try redis.publishThroughput(clients: clients, events: events, batch: batch))
                        if clients == 1 {
                            disk[column, default: []].append(
                                Self.diskBytes("\(work)/redis-\(policy)-\(clients)-\(run)"))
                        }
                    }
                    table.set("durable publish, \(clients) client\(clients > 1 ? "s" : "")", column, rates)
                }
                if !replayOnly {
                    var rates: [Double] = []
                    for run in 0..<runs {
                        let redis = try RedisPeer(
                            directory: "\(work)/redis-\(policy)-single-\(run)", appendfsync: policy)
                        rates.append(try redis.publishThroughput(clients: 16, events: singleEvents, batch: 1))
                    }
                    table.set(Self.singleRow, column, rates)
                }
                if !replayOnly {
                    let redis = try RedisPeer(directory: "\(work)/redis-\(policy)-latency", appendfsync: policy)
                    table.setLatency(
                        policy == "always" ? latencyFsync : latencyPeriodic, column,
                        try redis.latency(rate: rate, seconds: latencySeconds))
                }
                let replay = try RedisPeer(directory: "\(work)/redis-\(policy)-replay", appendfsync: policy)
                table.set(
                    "replay by a late joiner (\(formatRate(Double(replayEvents))) events)", column,
                    try replay.replay(events: replayEvents, batch: batch, runs: runs))
            }
            for clients in [1, 8] where !replayOnly {
                var rates: [Double] = []
                for run in 0..<runs {
                    let nats = try NatsPeer(directory: "\(work)/nats-\(clients)-\(run)")
                    rates.append(try nats.publishThroughput(clients: clients, events: events, inFlight: batch))
                    if clients == 1 {
                        disk["NATS JetStream", default: []].append(Self.diskBytes("\(work)/nats-1-\(run)"))
                    }
                }
                table.set("durable publish, \(clients) client\(clients > 1 ? "s" : "")", "NATS JetStream", rates)
            }
            if !replayOnly {
                let nats = try NatsPeer(directory: "\(work)/nats-latency")
                table.setLatency(
                    latencyPeriodic, "NATS JetStream", try nats.latency(rate: rate, seconds: latencySeconds))
            }
            let natsReplay = try NatsPeer(directory: "\(work)/nats-replay")
            table.set(
                "replay by a late joiner (\(formatRate(Double(replayEvents))) events)", "NATS JetStream",
                try natsReplay.replay(events: replayEvents, batch: batch, runs: runs))
        }
        for (system, sizes) in disk {
            table.setText(
                "bytes on disk per event after the 1-client publish run (whole data folder)", system,
                String(format: "%.0f B", median(sizes) / Double(events)))
        }
        print("")
        table.print(peers: noPeers ? [] : ["Redis always", "Redis everysec", "NATS JetStream"])
        print("")
        print("Ratios are Herald / peer: above 1 is better for throughput, below 1 is better for latency.")
        print("Durability: Herald fsync = each publish acknowledged after fdatasync (group commit), batch:10 =")
        print("fdatasync every 10 ms, acknowledged once written;")
        print("Redis always = AOF fsync before replying (per event-loop batch), everysec = fsync once a second;")
        print("NATS 2.9 JetStream file store: acknowledged once written to the page cache, flushed on its sync")
        print("interval (not per message; this version has no per-message fsync option).")
        print("Clients: Herald 1 client = one connection, batches of \(batch) events, 4 in flight; 8 clients = 8")
        print("processes. Redis = redis-benchmark XADD with -P \(batch) (pipeline) and -c 1/8 connections.")
        print("16 connections, one event per round trip: the SaEvt C bench program, 16 threads with a handle")
        print("(a connection) each, one saEvtEventPublish at a time, beside redis-benchmark -c 16 -P 1 XADD;")
        print("\(singleEvents) events per run.")
        print("Bodies: 128-byte JSON-like events, varied (Herald and NATS: 4 096 seeded bodies in turn; Redis:")
        print("redis-benchmark's template with three random 12-digit fields per command).")
        print("NATS = \(batch) publishes in flight per connection, 1/8 connections in one process.")
        print("Latency: one publisher, one subscriber acknowledging each event (Redis XREADGROUP + XACK;")
        print("NATS push consumer without acks); replay (after the history is written; Herald restarted): Herald")
        print("durable stream acking every event; Redis consumer group from 0, XREADGROUP COUNT \(batch) + one XACK")
        print("per batch; NATS durable pull consumer, fetch \(batch) + one ack of the batch (ack policy all).")
        try? FileManager.default.removeItem(atPath: workDirectory)
    }
}

/// Rows of workloads, columns of systems; cells hold medians.
struct ResultTable {
    private var order: [String] = []
    private var rates: [String: [String: [Double]]] = [:]
    private var latencies: [String: [String: (Double, Double)]] = [:]
    private var texts: [String: [String: String]] = [:]

    /// A row of plain values (no ratio).
    mutating func setText(_ workload: String, _ system: String, _ value: String) {
        if !order.contains(workload) { order.append(workload) }
        texts[workload, default: [:]][system] = value
    }

    mutating func set(_ workload: String, _ system: String, _ values: [Double]) {
        if !order.contains(workload) { order.append(workload) }
        rates[workload, default: [:]][system] = values
        FileHandle.standardError.write(Data("bench: \(workload), \(system): \(values.map(formatRate))\n".utf8))
    }

    mutating func setLatency(_ workload: String, _ system: String, _ value: (p50: Double, p99: Double)) {
        if !order.contains(workload) { order.append(workload) }
        latencies[workload, default: [:]][system] = value
        FileHandle.standardError.write(
            Data(
                String(format: "bench: %@, %@: p50 %.0f µs p99 %.0f µs\n", workload, system, value.p50, value.p99).utf8)
        )
    }

    func print(peers: [String]) {
        let systems = ["Herald"] + peers
        Swift.print(
            "| workload | " + systems.joined(separator: " | ") + peers.map { " | Herald / \($0)" }.joined() + " |")
        Swift.print("|---" + String(repeating: "|---", count: systems.count + peers.count) + "|")
        for workload in order {
            var cells: [String] = []
            var ratios: [String] = []
            if let row = rates[workload] {
                let herald = row["Herald"].map(median)
                for system in systems { cells.append(row[system].map { formatRate(median($0)) + " ev/s" } ?? "–") }
                for peer in peers {
                    if let herald, let value = row[peer].map(median), value > 0 {
                        ratios.append(String(format: "%.2f×", herald / value))
                    } else {
                        ratios.append("–")
                    }
                }
            } else if let row = texts[workload] {
                cells = systems.map { row[$0] ?? "–" }
                ratios = peers.map { _ in "–" }
            } else if let row = latencies[workload] {
                for system in systems {
                    cells.append(row[system].map { String(format: "p50 %.0f µs, p99 %.0f µs", $0.0, $0.1) } ?? "–")
                }
                for peer in peers {
                    // Herald / peer like the other rows; for latency lower is better (< 1: Herald faster).
                    if let herald = row["Herald"], let value = row[peer], value.1 > 0 {
                        ratios.append(String(format: "p99 %.2f×", herald.1 / value.1))
                    } else {
                        ratios.append("–")
                    }
                }
            }
            Swift.print("| \(workload) | " + (cells + ratios).joined(separator: " | ") + " |")
        }
    }
}

func percentiles(_ values: [UInt64]) -> (p50: Double, p99: Double) {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return (0, 0) }
    return (
        Double(sorted[sorted.count / 2]) / 1000, Double(sorted[min(sorted.count - 1, sorted.count * 99 / 100)]) / 1000
    )
}

func uptimeNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// A 128-byte payload starting with a send time (16 hex digits), the rest a varied body,
/// for the latency runs.
func stampedPayload(_ stamp: UInt64) -> [UInt8] {
    var text = Array(String(stamp, radix: 16).utf8)
    text = [UInt8](repeating: UInt8(ascii: "0"), count: 16 - text.count) + text
    return text + BodyPool.body().dropFirst(16)
}

func stamp(of payload: some Collection<UInt8>) -> UInt64? {
    guard payload.count >= 16 else { return nil }
    return UInt64(String(decoding: payload.prefix(16), as: UTF8.self), radix: 16)
}

final class LatencySamples: Sendable {
    private let values = Mutex<[UInt64]>([])
    private let seen = Atomic<Int>(0)
    func add(_ sent: UInt64, now: UInt64 = uptimeNanoseconds()) {
        values.withLock { $0.append(now &- sent) }
        seen.add(1, ordering: .relaxed)
    }
    var count: Int { seen.load(ordering: .relaxed) }
    var all: [UInt64] { values.withLock { $0 } }
}
