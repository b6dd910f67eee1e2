import Foundation
import HeraldClient
import HeraldJournal
import HeraldWire
import Synchronization

/// The whole-system kill -9 soak (issue 20, part 1): heraldd with 8 publisher processes
/// (`herald publish`, i.e. HeraldClient, and the SaEvt C library), 8 durable subscribers
/// (`herald tail --durable`) acknowledging with random delays and 4 non-durable ones; at
/// seeded random moments heraldd, a publisher or a subscriber is SIGKILLed and restarted.
/// Every publisher's acknowledged events and every subscriber's deliveries are logged; at
/// the end the journal is read and `check()` lists every broken promise. The suite runs a
/// short seeded version (KillSoakTests); `tools/soak` the long one.
final class KillSoak: @unchecked Sendable {
    // @unchecked Sendable: the slots' mutable state is behind their own locks; the soak's
    // own fields are used by the one task that runs it.
    struct Settings: Sendable {
        var seed: UInt64 = 1
        var daemonKills = 20
        var clientKills = 40
        /// Pause between two kills, in milliseconds (drawn uniformly).
        var pause: ClosedRange<Int> = 150...450
        /// Between two events of one publisher (a long run publishes slower: every delivery
        /// is kept for the check).
        var publishPause = Duration.milliseconds(2)
        var log: (@Sendable (String) -> Void)? = nil
    }

    enum Kind: Sendable { case cli, saEvt }

    /// One publisher: its acknowledged (n, event id) pairs over all its lives.
    final class Publisher: @unchecked Sendable {
        let id: Int
        let kind: Kind
        let acknowledged = Mutex<[(n: UInt64, eventID: UInt64)]>([])
        var child: Child?
        init(id: Int, kind: Kind) {
            self.id = id
            self.kind = kind
        }
        var next: UInt64 { acknowledged.withLock { ($0.last?.n ?? 0) + 1 } }
    }

    struct Delivery: Sendable {
        var sequence: UInt64
        var eventID: UInt64
        var redelivered: Bool
        /// The event's data "P<publisher> <n>" as `KillSoak.key` (8 bytes per delivery: a
        /// long run keeps millions).
        var data: UInt64
    }

    /// One subscriber: its deliveries, one list per life, and (durable) the stored cursor
    /// heraldd reported before each life began.
    final class Subscriber: @unchecked Sendable {
        let name: String
        let durable: Bool
        /// The OCF C library's GROUP class stream, else `herald tail` (HeraldClient).
        let ocf: Bool
        let lives = Mutex<[(cursor: UInt64, deliveries: [Delivery])]>([])
        var child: Child?
        init(name: String, durable: Bool, ocf: Bool = false) {
            self.name = name
            self.durable = durable
            self.ocf = ocf
        }
    }

    /// A child process whose standard output lines go to `line` from a thread of its own.
    final class Child: @unchecked Sendable {
        let process = Process()
        private let output = Pipe()
        private let input = Pipe()
        private let stopped = Mutex(false)
        private let finished = DispatchSemaphore(value: 0)

        init(
            _ executable: String, _ arguments: [String], environment: [String: String],
            feed: (@Sendable (UInt64) -> String)? = nil, pause: Duration = .zero,
            line: @escaping @Sendable (Substring) -> Void
        ) throws {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            process.standardOutput = output
            process.standardInput = feed == nil ? FileHandle.nullDevice : input
            process.standardError = FileHandle.nullDevice
            try process.run()
            let reader = output.fileHandleForReading
            let done = finished
            Thread.detachNewThread {
                var pending: [UInt8] = []
                while true {
                    let chunk = reader.availableData
                    if chunk.isEmpty { break }
                    pending += chunk
                    while let end = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        line(Substring(String(decoding: pending[..<end], as: UTF8.self)))
                        pending.removeSubrange(...end)
                    }
                }
                done.signal()
            }
            if let feed {
                let writer = input.fileHandleForWriting
                Thread.detachNewThread { [self] in
                    var count: UInt64 = 0
                    while !stopped.withLock({ $0 }) {
                        // A write to a dead publisher fails (EPIPE; SIGPIPE is ignored).
                        do { try writer.write(contentsOf: Data(feed(count).utf8)) } catch { break }
                        count += 1
                        Thread.sleep(forTimeInterval: Double(pause.components.attoseconds) / 1e18)
                    }
                    try? writer.close()
                }
            }
        }

        var isRunning: Bool { process.isRunning }

        /// Stops feeding it (its input ends).
        func stopFeeding() { stopped.withLock { $0 = true } }

        func kill9() {
            stopFeeding()
            kill(process.processIdentifier, SIGKILL)
            waitForExit()
        }

        /// Waits for the process and for its last output line to be handled.
        func waitForExit() {
            stopFeeding()
            process.waitUntilExit()
            finished.wait()
            finished.signal()
        }
    }

    let settings: Settings
    let daemon: DaemonProcess
    let publishers: [Publisher]
    let subscribers: [Subscriber]
    private var random: SplitMix64
    private(set) var daemonKills = 0
    private(set) var clientKills = 0
    private var saEvtPublisher = ""
    private var ocfSubscriber = ""

    init(settings: Settings) async throws {
        signal(SIGPIPE, SIG_IGN)
        self.settings = settings
        random = SplitMix64(seed: settings.seed)
        daemon = try await DaemonProcess.launch()
        publishers = (0..<8).map { Publisher(id: $0, kind: $0 < 6 ? .cli : .saEvt) }
        subscribers =
            (0..<8).map { Subscriber(name: "d\($0)", durable: true, ocf: $0 >= 6) }
            + (0..<4).map { Subscriber(name: "n\($0)", durable: false) }
        saEvtPublisher = try await CProgram.build("saevt/soak_publisher.c", library: "SaEvt")
        ocfSubscriber = try await CProgram.build("ocf/soak_subscriber.c")
    }

    private func say(_ text: String) { settings.log?(text) }

    // MARK: Children

    private func start(_ publisher: Publisher) throws {
        let first = publisher.next
        let environment = ["HERALD_SOCKET": daemon.socket]
        switch publisher.kind {
        case .cli:
            // The k-th id printed is the k-th line's: n = first + k.
            let printed = Mutex<UInt64>(0)
            let id = publisher.id
            publisher.child = try Child(
                builtProduct("herald"), ["publish", "--channel", "soak"], environment: environment,
                feed: { "P\(id) \(first + $0)\n" }, pause: settings.publishPause
            ) { line in
                guard let eventID = UInt64(line) else { return }
                let n = printed.withLock { count in
                    defer { count += 1 }
                    return first + count
                }
                publisher.acknowledged.withLock { $0.append((n, eventID)) }
            }
        case .saEvt:
            let micros = Int(settings.publishPause.components.attoseconds / 1_000_000_000_000)
            publisher.child = try Child(
                saEvtPublisher, ["soak", "\(publisher.id)", "\(first)", "\(micros)"], environment: environment
            ) { line in
                let fields = line.split(separator: " ")
                guard fields.count == 2, let n = UInt64(fields[0]), let eventID = UInt64(fields[1]) else { return }
                publisher.acknowledged.withLock { $0.append((n, eventID)) }
            }
        }
    }

    private func start(_ subscriber: Subscriber) async throws {
        var cursor: UInt64 = 0
        if subscriber.durable {
            // What heraldd has stored now: the new life must not be given any of it again.
            let client = try await daemon.client("soak-check")
            cursor = try await client.cursors().first { $0.name == subscriber.name }?.acknowledged ?? 0
            await client.close()
        }
        let life = subscriber.lives.withLock { lives in
            lives.append((cursor, []))
            return lives.count - 1
        }
        var arguments = ["tail", "--channel", "soak", "--create", "--format", "text", "--window", "64"]
        arguments += subscriber.durable ? ["--durable", subscriber.name] : ["--from", "now"]
        let program = subscriber.ocf ? ocfSubscriber : builtProduct("herald")
        if subscriber.ocf { arguments = [subscriber.name] }
        let generator = Mutex(SplitMix64(seed: random.next()))
        subscriber.child = try Child(program, arguments, environment: ["HERALD_SOCKET": daemon.socket]) {
            line in
            // "<sequence> <event id> <R|-> <data>"
            let fields = line.split(separator: " ", maxSplits: 3)
            guard fields.count == 4, let sequence = UInt64(fields[0]), let eventID = UInt64(fields[1]) else { return }
            let delivery = Delivery(
                sequence: sequence, eventID: eventID, redelivered: fields[2] == "R", data: KillSoak.key(fields[3]))
            subscriber.lives.withLock { $0[life].deliveries.append(delivery) }
            // Acknowledgements held back at random: tail acknowledges what it has written,
            // and a full pipe holds it.
            let hold = generator.withLock { $0.next() % 97 == 0 ? $0.next() % 15 : 0 }
            if subscriber.durable && hold > 0 { Thread.sleep(forTimeInterval: Double(hold) / 1000) }
        }
    }

    private var everyone: [Child?] { publishers.map(\.child) + subscribers.map(\.child) }

    /// Restarts every publisher and subscriber that is not running.
    private func restartTheExited() async throws {
        for publisher in publishers where !(publisher.child?.isRunning ?? false) {
            publisher.child?.waitForExit()
            try start(publisher)
        }
        for subscriber in subscribers where !(subscriber.child?.isRunning ?? false) {
            subscriber.child?.waitForExit()
            try await start(subscriber)
        }
    }

    // MARK: The run

    func run() async throws {
        for publisher in publishers { try start(publisher) }
        for subscriber in subscribers { try await start(subscriber) }
        var plan =
            Array(repeating: true, count: settings.daemonKills) + Array(repeating: false, count: settings.clientKills)
        plan.shuffle(using: &random)
        for (step, killDaemon) in plan.enumerated() {
            let pause = settings.pause.lowerBound + Int(random.next() % UInt64(settings.pause.count))
            try await Task.sleep(for: .milliseconds(pause))
            if killDaemon {
                daemon.kill9()
                daemonKills += 1
                // Its clients see the connection go and exit; a straggler is stopped.
                for child in everyone {
                    guard let child else { continue }
                    for _ in 0..<100 where child.isRunning { try await Task.sleep(for: .milliseconds(20)) }
                    if child.isRunning { child.kill9() } else { child.waitForExit() }
                }
                try await offPool { try self.daemon.start() }
            } else {
                let index = Int(random.next() % UInt64(publishers.count + subscribers.count))
                let child =
                    index < publishers.count ? publishers[index].child : subscribers[index - publishers.count].child
                if let child, child.isRunning {
                    try await offPool { child.kill9() }
                    clientKills += 1
                }
            }
            try await restartTheExited()
            if step % 10 == 9 { say("soak: \(step + 1)/\(plan.count) steps, \(daemonKills) daemon kills") }
        }
        // The end: publishers stop (their input ends or they are stopped), subscribers go.
        for child in everyone { child?.stopFeeding() }
        try await Task.sleep(for: .milliseconds(500))
        for child in everyone { if let child { try await offPool { child.kill9() } } }
    }

    /// "P<publisher> <n>" as one number (publisher << 40 | n); anything else is `.max`.
    static func key(_ text: Substring) -> UInt64 {
        let parts = text.dropFirst().split(separator: " ")
        guard text.first == "P", parts.count == 2, let publisher = UInt64(parts[0]), let n = UInt64(parts[1]),
            publisher < 1 << 20, n < 1 << 40
        else { return .max }
        return publisher << 40 | n
    }

    /// The index of the first element of the ascending `sequences` above `value`.
    static func index(after value: UInt64, in sequences: [UInt64]) -> Int {
        var (low, high) = (0, sequences.count)
        while low < high {
            let middle = (low + high) / 2
            if sequences[middle] <= value { low = middle + 1 } else { high = middle }
        }
        return low
    }

    static func text(_ key: UInt64) -> String {
        key == .max ? "not a soak event" : "P\(key >> 40) \(key & (1 << 40 - 1))"
    }

    // MARK: The check

    struct Report: Sendable {
        var acknowledged = 0
        var journaled = 0
        var deliveries = 0
        var redeliveries = 0
        var problems: [String] = []
        /// Every subscriber's lives: cursor, deliveries, first and last sequence, marks.
        var lives = ""
    }

    /// Reads the channel from the oldest event, drains every durable subscriber from its
    /// cursor, verifies the chain, and lists what broke.
    func check() async throws -> Report {
        var report = Report()
        func problem(_ text: String) { if report.problems.count < 50 { report.problems.append(text) } }
        let client = try await daemon.client("soak-check")
        // The last life of every durable subscriber: whatever its cursor leaves. The OCF
        // ones run their program once more until nothing more comes.
        for subscriber in subscribers where subscriber.ocf {
            try await start(subscriber)
            var count = -1
            while true {
                let now = subscriber.lives.withLock { $0.last!.deliveries.count }
                if now == count { break }
                count = now
                try await Task.sleep(for: .seconds(1))
            }
            if let child = subscriber.child { try await offPool { child.kill9() } }
        }
        for subscriber in subscribers where subscriber.durable && !subscriber.ocf {
            let cursor = try await client.cursors().first { $0.name == subscriber.name }?.acknowledged ?? 0
            let channel = try await client.openChannel("soak", flags: [.subscriber])
            // The killed tail's session may still hold the name for a moment (EXIST).
            var attached: EventStream?
            for _ in 0..<100 where attached == nil {
                attached = try? await client.attach(
                    WireAttach(
                        target: .channel(handle: channel.handle), start: .cursor, durableName: subscriber.name,
                        window: 4096))
                if attached == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            guard let stream = attached else {
                problem("\(subscriber.name): its durable name stays taken")
                continue
            }
            _ = try await client.subscribe(channel, id: 1, filters: [WireFilter(type: 4, pattern: [])])
            let last = try await drain(stream, idle: .seconds(1)).map {
                Delivery(
                    sequence: $0.sequence, eventID: $0.eventID, redelivered: $0.redelivered,
                    data: KillSoak.key(Substring(String(decoding: $0.data, as: UTF8.self))))
            }
            subscriber.lives.withLock { $0.append((cursor, last)) }
            try await client.closeChannel(channel)
        }
        let reader = try await client.openChannel("soak", flags: [.subscriber])
        let stream = try await client.attach(
            WireAttach(target: .channel(handle: reader.handle), start: .oldest, window: 4096))
        _ = try await client.subscribe(reader, id: 1, filters: [WireFilter(type: 4, pattern: [])])
        let journal = try await drain(stream, idle: .seconds(1))
        await client.close()
        report.journaled = journal.count
        var dataByID: [UInt64: UInt64] = [:]
        var positions: [String: Int] = [:]  // "P<id> <n>" → its first position in the journal
        for (position, event) in journal.enumerated() {
            let text = String(decoding: event.data, as: UTF8.self)
            dataByID[event.eventID] = Self.key(Substring(text))
            if positions[text] == nil { positions[text] = position }
        }
        let channelSequences = journal.map(\.sequence)

        // Publishers: every acknowledged event is there, as published, in the order published.
        for publisher in publishers {
            let acknowledged = publisher.acknowledged.withLock { $0 }
            report.acknowledged += acknowledged.count
            var previous = -1
            for (n, eventID) in acknowledged {
                let expected = "P\(publisher.id) \(n)"
                guard dataByID[eventID] == Self.key(Substring(expected)) else {
                    problem(
                        "P\(publisher.id): acknowledged \(expected) (id \(eventID)) is \(dataByID[eventID].map(Self.text) ?? "missing")"
                    )
                    continue
                }
                let position = positions[expected]!
                if position <= previous { problem("P\(publisher.id): \(expected) journaled out of order") }
                previous = position
            }
        }

        // Subscribers.
        var summary = ""
        for subscriber in subscribers {
            let lives = subscriber.lives.withLock { $0 }
            for (life, (cursor, deliveries)) in lives.enumerated() {
                summary +=
                    "\(subscriber.name) life \(life): cursor \(cursor), \(deliveries.count) deliveries "
                    + "\(deliveries.first?.sequence ?? 0)...\(deliveries.last?.sequence ?? 0), "
                    + "\(deliveries.filter(\.redelivered).count) marked\n"
            }
            var seen = Set<UInt64>()
            for (life, (cursor, deliveries)) in lives.enumerated() {
                var last: UInt64 = 0
                for delivery in deliveries {
                    report.deliveries += 1
                    if delivery.redelivered { report.redeliveries += 1 }
                    if delivery.sequence <= last {
                        problem("\(subscriber.name) life \(life): \(delivery.sequence) after \(last)")
                    }
                    last = delivery.sequence
                    if dataByID[delivery.eventID].map({ $0 != delivery.data }) ?? true {
                        problem("\(subscriber.name): delivery \(delivery.sequence) is not the journal's")
                    }
                    guard subscriber.durable else { continue }
                    if delivery.sequence <= cursor {
                        problem(
                            "\(subscriber.name) life \(life): \(delivery.sequence) delivered again after it was "
                                + "acknowledged (stored cursor \(cursor))")
                    }
                    if seen.contains(delivery.sequence) && !delivery.redelivered {
                        problem("\(subscriber.name) life \(life): \(delivery.sequence) delivered again, not marked")
                    }
                    seen.insert(delivery.sequence)
                }
                // Every life gets every event of the channel from its first on; a durable
                // one starts with the first after its stored cursor.
                if let first = deliveries.first?.sequence, let end = deliveries.last?.sequence {
                    let expected = channelSequences[
                        Self.index(
                            after: first - 1, in: channelSequences)..<Self.index(after: end, in: channelSequences)]
                    if !deliveries.map(\.sequence).elementsEqual(expected) {
                        let gap = zip(deliveries.map(\.sequence), expected).first { $0 != $1 }
                        problem(
                            "\(subscriber.name) life \(life): \(expected.count - deliveries.count) events skipped "
                                + "(at \(gap.map { "\($0.1): \($0.0) came" } ?? "the end"))")
                    }
                    if subscriber.durable,
                        let next = channelSequences.dropFirst(Self.index(after: cursor, in: channelSequences)).first,
                        first > next
                    {
                        problem(
                            "\(subscriber.name) life \(life): started at \(first), after its cursor \(cursor) came \(next)"
                        )
                    }
                }
            }
            if subscriber.durable {
                let missing = channelSequences.filter { !seen.contains($0) }
                if !missing.isEmpty {
                    problem("\(subscriber.name): \(missing.count) events never delivered, first \(missing[0])")
                }
            }
        }
        report.lives = summary
        let (status, out, err) = try await runHerald(
            ["audit", "verify", "--data-dir", daemon.directory + "/data"], socket: "")
        if status != 0 { problem("audit verify: exit \(status): \(out) \(err)") }
        return report
    }
}
