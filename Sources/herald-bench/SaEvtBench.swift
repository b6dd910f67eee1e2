import ArgumentParser
import Foundation
import HeraldClient
import HeraldWire

/// `herald-bench saevt`: the SaEvt C API through heraldd. A C program (tools/c/
/// saevt_bench.c, built by `cc` against the release libSaEvt.so) publishes events with 4
/// patterns, each `saEvtEventPublish` waiting for its event id (as the API requires), from
/// 1 or 4 threads; a C subscriber counts deliveries of events published live. Beside each,
/// the same work through a Swift HeraldClient (the layer the library sits on).
struct SaEvtBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "saevt", abstract: "libSaEvt publish throughput and subscriber deliveries/s through heraldd.")

    @Option(help: "Events per publish run (50 KB events: at most 5000).") var events = 20_000
    @Option(help: "Events the subscriber counts.") var subscribeEvents = 200_000
    @Option(help: "Runs of each workload (the table shows medians).") var runs = 3
    @Option(name: .customLong("work-dir")) var workDirectory = "bench-out"

    static let swiftColumn = "HeraldClient (Swift)"
    static let patterns = [Array("orders".utf8), Array("eu-1".utf8), Array("new".utf8), Array("v2".utf8)]

    func run() async throws {
        try? FileManager.default.removeItem(atPath: workDirectory)
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        let work = URL(fileURLWithPath: workDirectory).standardizedFileURL.path
        let client = try buildC("tools/c/saevt_bench.c", library: "SaEvt", into: work)
        var table = ResultTable()
        var index = 0
        // The machine's floors, measured by the same C program: a round trip between two
        // processes over a Unix socket (no work at all), and an fdatasync of a small append.
        var floors: [Double] = []
        var syncs: [Double] = []
        for _ in 0..<runs {
            let pingpong = try runC(client, ["pingpong", "\(events)"], nil)
            floors.append(Double(pingpong[0]) / (Double(pingpong[1]) / 1e9))
            let datasync = try runC(client, ["fdatasync", "\(events / 4)", work], nil)
            syncs.append(Double(datasync[0]) / (Double(datasync[1]) / 1e9))
        }
        let floorRow = "floor: round trips/s between two processes, 128 B each way over a Unix socket pair (no work)"
        let syncRow = "floor: fdatasync/s of 128-byte appends to one file (the disk)"
        table.set(floorRow, "Herald", floors)
        table.set(syncRow, "Herald", syncs)
        for (size, threads, durability) in [
            (100, 1, "fsync"), (100, 4, "fsync"), (50_000, 1, "fsync"), (50_000, 4, "fsync"), (100, 1, "batch:5"),
            (100, 4, "batch:5"),
        ] {
            let workload =
                "publish \(size) B, 4 patterns, \(threads) thread\(threads > 1 ? "s" : ""), durability \(durability)"
            var cRates: [Double] = []
            var swiftRates: [Double] = []
            var p50s: [Double] = []
            var p99s: [Double] = []
            for _ in 0..<runs {
                index += 1
                let daemon = try HeraldDaemon(directory: "\(work)/saevt-\(index)", durability: durability)
                let count = size > 1000 ? min(events, 5000) : events
                let fields = try runC(client, ["publish", "\(size)", "\(count)", "\(threads)"], daemon)
                cRates.append(Double(fields[0]) / (Double(fields[1]) / 1e9))
                p50s.append(Double(fields[2]) / 1000)
                p99s.append(Double(fields[3]) / 1000)
                swiftRates.append(try await swiftPublish(daemon, size: size, threads: threads, events: count))
                daemon.stop()
            }
            table.set(workload, "Herald", cRates)
            table.set(workload, Self.swiftColumn, swiftRates)
            if threads == 1 {
                table.setLatency(
                    "publish round trip, \(size) B, 1 thread, durability \(durability)", "Herald",
                    (median(p50s), median(p99s)))
            }
        }
        let deliveries = "subscriber deliveries/s, 100 B events published live (batches of 1000, fsync)"
        var cRates: [Double] = []
        var swiftRates: [Double] = []
        for _ in 0..<runs {
            index += 1
            let daemon = try HeraldDaemon(directory: "\(work)/saevt-\(index)", durability: "fsync")
            let fields = try await runCSubscriber(client, daemon)
            cRates.append(Double(fields[0] - 1) / (Double(fields[2] - fields[1]) / 1e9))
            swiftRates.append(try await swiftSubscribe(daemon))
            daemon.stop()
        }
        table.set(deliveries, "Herald", cRates)
        table.set(deliveries, Self.swiftColumn, swiftRates)
        // The same subscriber catching up: it subscribes, does not dispatch while the events
        // are published (they wait in the journal, a window's worth in the library), then
        // dispatches: callbacks at the library's and heraldd's pace, not the publisher's.
        let backlog = "subscriber deliveries/s, catching up \(subscribeEvents) events published while it waited"
        cRates = []
        swiftRates = []
        var cpuPerCallback: [Double] = []
        var daemonCPUPerCallback: [Double] = []
        for _ in 0..<runs {
            index += 1
            let daemon = try HeraldDaemon(directory: "\(work)/saevt-\(index)", durability: "fsync")
            let fields = try await runCSubscriber(client, daemon, backlog: true)
            cRates.append(Double(fields[0] - 1) / (Double(fields[2] - fields[1]) / 1e9))
            cpuPerCallback.append(Double(fields[3]) / Double(fields[0] - 1))
            daemonCPUPerCallback.append(Double(fields[4]) / Double(fields[0]))
            swiftRates.append(try await swiftSubscribe(daemon, backlog: true))
            daemon.stop()
        }
        table.set(backlog, "Herald", cRates)
        table.set(backlog, Self.swiftColumn, swiftRates)
        // The library's own cost, steadier than the rate on a shared machine: the C
        // subscriber process's CPU time (connection and dispatching threads) per callback.
        table.setText(
            "subscriber CPU per callback while catching up (the C program's process, all threads)", "Herald",
            String(format: "%.2f µs", median(cpuPerCallback) / 1000))
        table.setText(
            "heraldd CPU per delivery while the subscriber catches up (all threads)", "Herald",
            String(format: "%.2f µs", median(daemonCPUPerCallback) / 1000))
        FileHandle.standardError.write(
            Data("bench: C subscriber CPU per callback: \(cpuPerCallback.map { String(format: "%.0f ns", $0) })\n".utf8)
        )
        FileHandle.standardError.write(
            Data(
                "bench: heraldd CPU per delivery: \(daemonCPUPerCallback.map { String(format: "%.0f ns", $0) })\n".utf8)
        )
        print("")
        print("Column \"Herald\" is the C program through libSaEvt; the ratio is C / Swift.")
        table.print(peers: [Self.swiftColumn])
        print("")
        print("Publish: one saEvtEventPublish after another on each thread (each waits for its event id,")
        print("so with fsync each waits for a disk flush; threads share flushes), \(events) events per run")
        print("(50 KB events: \(min(events, 5000)));")
        print("round trips timed one by one in the C program (p50/p99 of each run, median of the runs).")
        print("Floors: the same C program's socket-pair ping-pong and fdatasync loop, on this machine now.")
        print("Swift: HeraldClient.publish awaited one at a time per task. Subscriber: a pass-all")
        print("subscription dispatched from poll (SA_DISPATCH_ALL), \(subscribeEvents) events published by a")
        print("HeraldClient in batches of 1000; Swift: a channel stream (window 256), done per event.")
        print("Catching up: the subscriber waits (does not dispatch) until all are published, then")
        print("dispatches; the rate is from its first callback to its last.")
        try? FileManager.default.removeItem(atPath: workDirectory)
    }

    /// Runs the C program to completion; the numbers of its RESULT line.
    func runC(_ client: String, _ arguments: [String], _ daemon: HeraldDaemon?) throws -> [UInt64] {
        try Self.runC(client, arguments, socket: daemon?.socket)
    }

    /// The same, against heraldd's `socket` (nil: the program needs none).
    static func runC(_ client: String, _ arguments: [String], socket: String?) throws -> [UInt64] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: client)
        process.arguments = arguments
        if let socket {
            process.environment = ProcessInfo.processInfo.environment.merging(["HERALD_SOCKET": socket]) { $1 }
        }
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return try Self.fields(text, status: process.terminationStatus)
    }

    static func fields(_ text: String, status: Int32) throws -> [UInt64] {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("RESULT ") }), status == 0 else {
            throw BlockingSocket.Failure(description: "the C program failed: \(text)")
        }
        return line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
    }

    func runCSubscriber(_ client: String, _ daemon: HeraldDaemon, backlog: Bool = false) async throws -> [UInt64] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: client)
        process.arguments = ["subscribe", "\(subscribeEvents)"] + (backlog ? ["backlog"] : [])
        process.environment = ProcessInfo.processInfo.environment.merging(["HERALD_SOCKET": daemon.socket]) { $1 }
        let output = Pipe()
        let input = Pipe()
        process.standardOutput = output
        process.standardInput = input
        try process.run()
        _ = output.fileHandleForReading.readData(ofLength: 6)  // "READY\n"
        try await daemon.publishBatches(channel: "bench", events: subscribeEvents)
        if backlog { try await Task.sleep(for: .seconds(1)) }  // the index catches up the publishes
        let daemonBefore = daemon.cpuSeconds()
        input.fileHandleForWriting.write(Data("go\n".utf8))
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let daemonCPU = daemon.cpuSeconds() - daemonBefore
        let fields = try Self.fields(text, status: process.terminationStatus)
        guard fields.count == 4, fields[0] == subscribeEvents else {
            throw BlockingSocket.Failure(description: "the C subscriber got \(text)")
        }
        // The fifth: heraldd's CPU nanoseconds while the subscriber ran.
        return fields + [UInt64(daemonCPU * 1e9)]
    }

    func swiftPublish(_ daemon: HeraldDaemon, size: Int, threads: Int, events count: Int) async throws -> Double {
        let client = try await HeraldClient.connect(socketPath: daemon.socket, clientName: "bench-swift")
        let event = WireEvent(patterns: Self.patterns, data: [UInt8](repeating: UInt8(ascii: "x"), count: size))
        let perTask = count / threads
        let start = uptimeNanoseconds()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<threads {
                group.addTask {
                    let channel = try await client.openChannel("bench", flags: [.publisher, .create])
                    for _ in 0..<perTask { _ = try await client.publish(channel, event) }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = Double(uptimeNanoseconds() - start) / 1e9
        await client.close()
        return Double(perTask * threads) / elapsed
    }

    func swiftSubscribe(_ daemon: HeraldDaemon, backlog: Bool = false) async throws -> Double {
        let client = try await HeraldClient.connect(socketPath: daemon.socket, clientName: "bench-swift")
        let open = try await client.openChannel("bench", flags: [.subscriber, .create])
        let stream = try await client.attach(
            WireAttach(target: .channel(handle: open.handle), start: .now, window: 256))
        _ = try await client.subscribe(open, id: 1, filters: [WireFilter(type: 4, pattern: [])])
        let rate: Double
        if backlog {
            try await daemon.publishBatches(channel: "bench", events: subscribeEvents)
            rate = try await daemon.deliveryRate(stream, channel: "bench", events: subscribeEvents, publish: false)
        } else {
            rate = try await daemon.deliveryRate(stream, channel: "bench", events: subscribeEvents)
        }
        await client.close()
        return rate
    }
}
