import ArgumentParser
import Foundation
import HeraldJournal
import HeraldService
import Synchronization

/// `herald-bench service`: the embedded event service — publish→deliver throughput with
/// 1/10/100 subscribers, ack throughput, publish→delivery latency at a fixed rate, and
/// memory with a subscriber far behind.
struct ServiceBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "service", abstract: "The event service table.")

    @Option(help: "Events per throughput run.") var events = 100_000
    @Option(help: "Events for the ack run.") var ackEvents = 1_000_000
    @Option(help: "Seconds of the latency run.") var latencySeconds = 3
    @Option(help: "Publish rate of the latency run (events/s).") var rate = 50_000
    @Option(help: "Events in the journal for the memory run (0 skips it).") var memoryEvents = 10_000_000
    @Option(help: "Subscribers of the many-subscribers memory run (0 skips it).") var manySubscribers = 1_000
    @Option(help: "Runs of each workload; the table shows medians.") var runs = 3
    @Option(name: .customLong("work-dir")) var workDirectory = "bench-out"
    @Flag(help: "Only the deliver + ack rows (to profile them).") var acksOnly = false

    func run() async throws {
        try? FileManager.default.removeItem(atPath: workDirectory)
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        var rows: [(String, String)] = []
        for subscribers in acksOnly ? [] : [1, 10, 100] {
            for selective in [false, true] {
                var eventRates: [Double] = []
                var deliveryRates: [Double] = []
                for _ in 0..<runs {
                    let (eventRate, deliveryRate) = try await throughput(subscribers: subscribers, selective: selective)
                    eventRates.append(eventRate)
                    deliveryRates.append(deliveryRate)
                }
                let label =
                    "publish→deliver, \(subscribers) subscriber\(subscribers > 1 ? "s" : ""), "
                    + (selective ? "selective filter (1 in 10)" : "pass-all")
                rows.append(
                    (
                        label,
                        "\(formatRate(median(eventRates))) ev/s published, \(formatRate(median(deliveryRates))) deliveries/s"
                    ))
                log("\(label): \(formatRate(median(eventRates))) events/s")
            }
        }
        var endToEnds: [Double] = []
        var batcheds: [Double] = []
        var ackOnlys: [Double] = []
        for _ in 0..<runs {
            let (endToEnd, batched, ackOnly) = try await ackThroughput()
            endToEnds.append(endToEnd)
            batcheds.append(batched)
            ackOnlys.append(ackOnly)
        }
        rows.append(("acks alone, durable cursor persisted in batches", "\(formatRate(median(ackOnlys))) acks/s"))
        rows.append(
            (
                "deliver + ack, durable subscriber, window 4096, one event at a time",
                "\(formatRate(median(endToEnds))) events/s"
            ))
        rows.append(
            (
                "deliver + ack, durable subscriber, window 4096, a batch at a time (`batches`, one `acknowledge` per batch)",
                "\(formatRate(median(batcheds))) events/s"
            ))
        log("acks: \(formatRate(median(ackOnlys)))/s alone, \(formatRate(median(endToEnds)))/s with delivery")
        var p50s: [Double] = []
        var p99s: [Double] = []
        var count = 0
        for _ in 0..<(acksOnly ? 0 : runs) {
            let (p50, p99, events) = try await latency()
            p50s.append(p50)
            p99s.append(p99)
            count = events
        }
        if !p50s.isEmpty {
            rows.append(
                (
                    "publish→delivery latency at \(formatRate(Double(rate))) ev/s from the intended send time (batch durability, 5 ms)",
                    String(format: "p50 %.0f µs, p99 %.0f µs (%d events per run)", median(p50s), median(p99s), count)
                ))
        }
        if manySubscribers > 0 && !acksOnly {
            let fields = try runChild([
                "service-subscribers-child", "--data-dir", "\(workDirectory)/many", "--subscribers",
                "\(manySubscribers)",
                "--events", "10000",
            ])
            guard fields.count == 4 else { throw ValidationError("service-subscribers-child printed \(fields)") }
            rows.append(
                (
                    "\(manySubscribers) pass-all subscribers (window 1024) in a new process, 10 000 events each: RSS, deliveries",
                    String(
                        format: "%.0f MB → %.0f MB with them (%.1f KB per subscriber), ", fields[0], fields[1],
                        (fields[1] - fields[0]) * 1024 / Double(manySubscribers))
                        + "\(formatRate(fields[3])) deliveries/s (\(formatRate(fields[2])) events/s published)"
                ))
        }
        if memoryEvents > 0 && !acksOnly {
            let (before, after, peak) = try await memoryBehind()
            rows.append(
                (
                    "RSS of a new subscriber process, \(formatCount(memoryEvents)) events, subscriber "
                        + "\(formatCount(memoryEvents / 2)) behind reading \(formatCount(memoryRead))",
                    String(format: "%.0f MB → %.0f MB (peak %.0f MB)", before, after, peak)
                ))
        }
        print("")
        print("| workload | Herald |")
        print("|---|---|")
        for row in rows { print("| \(row.0) | \(row.1) |") }
        try? FileManager.default.removeItem(atPath: workDirectory)
    }

    func log(_ text: String) { FileHandle.standardError.write(Data("bench: \(text)\n".utf8)) }

    func openService(_ name: String, durability: JournalOptions.Durability = .fsync) async throws -> EventService {
        var options = JournalOptions()
        options.durability = durability
        try? FileManager.default.removeItem(atPath: "\(workDirectory)/\(name)")  // a new journal for every run
        return try await EventService.open(at: "\(workDirectory)/\(name)", journalOptions: options)
    }

    /// Counts deliveries and acknowledges each.
    final class Counter: Sendable {
        let count = Atomic<Int>(0)
    }

    func consume(_ subscriber: Subscriber, counter: Counter, latencies: LatencyLog? = nil) -> Task<Void, Never> {
        Task.detached {
            for await delivery in subscriber {
                if let latencies, delivery.data.count >= 8 {
                    let sent = delivery.data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
                    latencies.add(DispatchTime.now().uptimeNanoseconds - sent)
                }
                delivery.done()
                counter.count.add(1, ordering: .relaxed)
            }
        }
    }

    func waitFor(_ counters: [Counter], each expected: Int, timeout: Double = 300) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while counters.contains(where: { $0.count.load(ordering: .relaxed) < expected }) {
            guard Date() < deadline else { throw ValidationError("deliveries timed out") }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    func throughput(subscribers: Int, selective: Bool) async throws -> (Double, Double) {
        let service = try await openService("throughput-\(subscribers)-\(selective)")
        let channel = Array("bench".utf8)
        let publisher = try await service.openChannel(channel, flags: [.create, .publisher])
        var counters: [Counter] = []
        var tasks: [Task<Void, Never>] = []
        for _ in 0..<subscribers {
            let handle = try await service.openChannel(channel, flags: [.subscriber])
            let subscriber = try await service.subscriber(for: handle, options: SubscriberOptions(window: 1024))
            try await service.subscribe(
                handle, id: 1, filters: selective ? [EventFilter(.exact, "kind-0")] : [EventFilter(.passAll)])
            let counter = Counter()
            counters.append(counter)
            tasks.append(consume(subscriber, counter: counter))
        }
        var bodies = EventBodies(seed: 7)
        let batches = (0..<(events / 100)).map { batch in
            (0..<100).map { i in
                (EventAttributes(patterns: [Array("kind-\((batch * 100 + i) % 10)".utf8)]), bodies.body())
            }
        }
        let start = DispatchTime.now().uptimeNanoseconds
        // Four publishers share the journal's commits.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for index in stride(from: worker, to: batches.count, by: 4) {
                        _ = try await service.publish(publisher, batches[index])
                    }
                }
            }
            try await group.waitForAll()
        }
        // The publishers' own rate (until their last publish was acknowledged), and the
        // deliveries' (until every subscriber received every event it matches).
        let published = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let expected = selective ? events / 10 : events
        try await waitFor(counters, each: expected)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        for task in tasks { task.cancel() }
        await service.shutdown()
        return (Double(events) / published, Double(expected * subscribers) / seconds)
    }

    final class Held: Sendable {
        let deliveries = Mutex<[Delivery]>([])
    }

    /// Returns (deliver + ack rate end to end, the same a batch at a time, ack-only rate). The ack-only run holds every
    /// delivery, then times acknowledging them all and persisting the cursor.
    func ackThroughput() async throws -> (Double, Double, Double) {
        let service = try await openService("acks")
        let channel = Array("acks".utf8)
        let handle = try await service.openChannel(channel, flags: .all)
        var bodies = EventBodies(seed: 8)
        for _ in 0..<(ackEvents / 1000) {
            _ = try await service.publish(handle, (0..<1000).map { _ in (EventAttributes(), bodies.body()) })
        }
        // End to end: deliveries acknowledged as they arrive.
        let subscriber = try await service.subscriber(
            for: handle, options: SubscriberOptions(start: .oldest, durableName: "bench", window: 4096))
        let counter = Counter()
        var start = DispatchTime.now().uptimeNanoseconds
        try await service.subscribe(handle, id: 1, filters: [])
        let task = consume(subscriber, counter: counter)
        try await waitFor([counter], each: ackEvents)
        try await service.flushCursors()
        let endToEnd = Double(ackEvents) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        task.cancel()
        try await service.closeChannel(handle)

        // The same, a batch at a time: what the subscriber hands over at once, acknowledged
        // with one call (what heraldd does with a client's ack frame).
        let batchOpen = try await service.openChannel(channel, flags: .all)
        let batchSubscriber = try await service.subscriber(
            for: batchOpen, options: SubscriberOptions(start: .oldest, durableName: "bench-batch", window: 4096))
        let batchCounter = Counter()
        start = DispatchTime.now().uptimeNanoseconds
        try await service.subscribe(batchOpen, id: 1, filters: [])
        let batchTask = Task.detached {
            for await batch in batchSubscriber.batches {
                batchSubscriber.acknowledge(batch.map(\.sequence))
                batchCounter.count.add(batch.count, ordering: .relaxed)
            }
        }
        try await waitFor([batchCounter], each: ackEvents)
        try await service.flushCursors()
        let batched = Double(ackEvents) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        batchTask.cancel()
        try await service.closeChannel(batchOpen)

        // Acks alone.
        let second = try await service.openChannel(channel, flags: .all)
        // Every delivery outstanding at once (the point of this row): past the default
        // window's bound in bytes too.
        var holderOptions = SubscriberOptions(start: .oldest, durableName: "held", window: ackEvents)
        holderOptions.windowBytes = Int.max / 2
        let holder = try await service.subscriber(for: second, options: holderOptions)
        try await service.subscribe(second, id: 1, filters: [])
        let held = Held()
        let collect = Task.detached {
            for await delivery in holder { held.deliveries.withLock { $0.append(delivery) } }
        }
        while held.deliveries.withLock({ $0.count }) < ackEvents { try await Task.sleep(for: .milliseconds(5)) }
        let deliveries = held.deliveries.withLock { $0 }
        start = DispatchTime.now().uptimeNanoseconds
        for delivery in deliveries { delivery.done() }
        try await service.flushCursors()
        let ackOnly = Double(ackEvents) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        let stored = try await service.storedCursors().first { $0.name == "held" }
        guard stored?.acknowledged.rawValue ?? 0 >= UInt64(ackEvents) else {
            throw ValidationError("cursor not persisted: \(String(describing: stored))")
        }
        collect.cancel()
        await service.shutdown()
        return (endToEnd, batched, ackOnly)
    }

    final class LatencyLog: Sendable {
        let values = Mutex<[UInt64]>([])
        func add(_ value: UInt64) { values.withLock { $0.append(value) } }
    }

    func latency() async throws -> (Double, Double, Int) {
        let service = try await openService("latency", durability: .batch(intervalMilliseconds: 5))
        let channel = Array("latency".utf8)
        let handle = try await service.openChannel(channel, flags: .all)
        let subscriber = try await service.subscriber(for: handle, options: SubscriberOptions(window: 4096))
        try await service.subscribe(handle, id: 1, filters: [])
        let log = LatencyLog()
        let counter = Counter()
        let task = consume(subscriber, counter: counter, latencies: log)
        let perMillisecond = max(1, rate / 1000)
        let total = rate * latencySeconds
        var sent = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var tick: UInt64 = 0
        while sent < total {
            tick += 1
            let due = start + tick * 1_000_000
            let now = DispatchTime.now().uptimeNanoseconds
            if due > now { try await Task.sleep(for: .nanoseconds(Int(due - now))) }
            // Stamped with the time it was meant to be sent, not when the loop got to it: a
            // publish that blocked delays the next ones, and their wait counts (no
            // coordinated omission).
            var data = withUnsafeBytes(of: due.littleEndian) { [UInt8]($0) }
            data += [UInt8](repeating: 0x41, count: 120)
            _ = try await service.publish(handle, (0..<perMillisecond).map { _ in (EventAttributes(), data) })
            sent += perMillisecond
        }
        try await waitFor([counter], each: sent)
        task.cancel()
        await service.shutdown()
        let values = log.values.withLock { $0 }.sorted()
        let p50 = Double(values[values.count / 2]) / 1000
        let p99 = Double(values[min(values.count - 1, values.count * 99 / 100)]) / 1000
        return (p50, p99, values.count)
    }

    /// Events the memory row's subscriber reads: 1 M, or half of what it is behind in a
    /// smaller journal (it must not wait for events that will never come).
    var memoryRead: Int { min(1_000_000, memoryEvents / 4) }

    /// Writes the journal here, then measures the subscriber in a new process (this one
    /// just published millions of events: its heap says nothing about the subscriber's).
    func memoryBehind() async throws -> (Double, Double, Double) {
        let directory = "\(workDirectory)/memory"
        let service = try await openService("memory")
        let channel = Array("memory".utf8)
        let handle = try await service.openChannel(channel, flags: .all)
        var bodies = EventBodies(seed: 9)
        let batch = (0..<1000).map { _ in (EventAttributes(), bodies.body()) }
        for index in 0..<(memoryEvents / 1000) {
            _ = try await service.publish(handle, batch)
            if index % 1000 == 999 { log("memory: \((index + 1) / 1000) M events") }
        }
        try await service.closeChannel(handle)
        await service.shutdown()
        let fields = try runChild([
            "service-memory-child", "--data-dir", directory, "--behind", "\(memoryEvents / 2)", "--read",
            "\(memoryRead)",
        ])
        guard fields.count == 3 else { throw ValidationError("service-memory-child printed \(fields)") }
        return (fields[0], fields[1], fields[2])
    }

    /// Runs this benchmark binary with `arguments`; returns the numbers it printed.
    func runChild(_ arguments: [String]) throws -> [Double] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("\(arguments[0]) failed: \(output)") }
        return output.split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
    }
}

/// The subscriber of the memory row in a process of its own: opens the service on a
/// written journal (RSS before), reads `read` events starting `behind` events before the
/// head, and prints "<MB before> <MB after> <peak MB>".
struct ServiceMemoryChild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "service-memory-child", shouldDisplay: false)

    @Option(name: .customLong("data-dir")) var dataDirectory: String
    @Option var behind: Int
    @Option var read: Int

    func validate() throws {
        // Records other than events (the channel's create, open and close) sit among the
        // last `behind`: reading all of them would wait for ever at the head.
        guard read < behind else { throw ValidationError("--read must be less than --behind") }
    }

    func run() async throws {
        let service = try await EventService.open(at: dataDirectory)
        let handle = try await service.openChannel(Array("memory".utf8), flags: [.subscriber])
        let before = residentMegabytes(current: true)
        let start = service.journal.head.sequence.rawValue - UInt64(behind)
        let subscriber = try await service.subscriber(
            for: handle, options: SubscriberOptions(start: .sequence(SequenceNumber(start)), window: 1024))
        try await service.subscribe(handle, id: 1, filters: [])
        var count = 0
        for await delivery in subscriber {
            delivery.done()
            count += 1
            if count >= read { break }
        }
        let after = residentMegabytes(current: true)
        subscriber.cancel()
        await service.shutdown()
        print(String(format: "%.1f %.1f %.1f", before, after, residentMegabytes()))
    }
}

/// Many subscribers in a process of their own: RSS after opening the service, RSS with
/// `subscribers` pass-all subscribers each having received `events` events; prints
/// "<MB before> <MB with them> <events/s published> <deliveries/s>".
struct ServiceSubscribersChild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "service-subscribers-child", shouldDisplay: false)

    @Option(name: .customLong("data-dir")) var dataDirectory: String
    @Option var subscribers: Int
    @Option var events: Int

    func run() async throws {
        try? FileManager.default.removeItem(atPath: dataDirectory)
        let service = try await EventService.open(at: dataDirectory)
        let channel = Array("many".utf8)
        let publisher = try await service.openChannel(channel, flags: [.create, .publisher])
        let before = residentMegabytes(current: true)
        let counted = ServiceBench.Counter()
        var tasks: [Task<Void, Never>] = []
        for _ in 0..<subscribers {
            let handle = try await service.openChannel(channel, flags: [.subscriber])
            let subscriber = try await service.subscriber(for: handle, options: SubscriberOptions(window: 1024))
            try await service.subscribe(handle, id: 1, filters: [EventFilter(.passAll)])
            tasks.append(
                Task.detached {
                    for await batch in subscriber.batches {
                        for delivery in batch { delivery.done() }
                        counted.count.add(batch.count, ordering: .relaxed)
                    }
                })
        }
        var bodies = EventBodies(seed: 12)
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<(events / 100) {
            _ = try await service.publish(publisher, (0..<100).map { _ in (EventAttributes(), bodies.body()) })
        }
        let published = DispatchTime.now().uptimeNanoseconds
        while counted.count.load(ordering: .relaxed) < subscribers * events {
            try await Task.sleep(for: .milliseconds(2))
        }
        let end = DispatchTime.now().uptimeNanoseconds
        let after = residentMegabytes(current: true)
        for task in tasks { task.cancel() }
        await service.shutdown()
        print(
            String(
                format: "%.1f %.1f %.0f %.0f", before, after, Double(events) / (Double(published - start) / 1e9),
                Double(subscribers * events) / (Double(end - start) / 1e9)))
    }
}
