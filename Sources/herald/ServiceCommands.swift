import ArgumentParser
import Foundation
import HeraldJournal
import HeraldService

struct ServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service",
        abstract: "Run the event service embedded in this process, on a data folder (no daemon).",
        discussion: "Only one process may open a data folder for writing at a time.",
        subcommands: [ServicePublish.self, ServiceTail.self]
    )
}

extension ServiceError {
    var exitStatus: ExitStatus {
        switch self {
        case .notExist, .nameNotFound: return .notFound
        // Temporary (EX_TEMPFAIL): another writer, or a cluster node without quorum.
        case .busy, .tryAgain: return .busy
        case .invalidParameter, .badFlags, .tooBig, .nameTooLong: return .usage
        case .noSpace, .failedOperation: return .io
        case .version: return .tooNew
        default: return .failure
        }
    }
}

/// Runs `body`; a ServiceError becomes one line on stderr and its exit status.
@discardableResult
func runningService<T>(_ body: () async throws -> T) async -> T {
    do {
        return try await body()
    } catch let error as ServiceError {
        FileHandle.standardError.write(Data("herald: \(error.aisName)\n".utf8))
        exit(error.exitStatus.rawValue)
    } catch {
        fail(error)
    }
}

struct ServicePublish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish one event per line of standard input on a channel (created if needed).",
        discussion: "Prints each event id once durable. Example: echo up | herald service publish --channel links")

    @OptionGroup var data: DataDirectoryOptions
    @Option(help: "The channel's name.") var channel: String
    @Option(help: "A pattern of every event (repeat for several).") var pattern: [String] = []
    @Option(help: "Priority, 0 (highest) to 3 (lowest).") var priority: UInt8 = 3
    @Option(help: "Retention time in seconds (0: not retained).") var retention: Double = 0
    @Option(help: "Publisher name.") var publisher: String = ""

    func validate() throws {
        guard priority <= 3 else { throw ValidationError("--priority must be 0...3") }
        guard retention >= 0 else { throw ValidationError("--retention must not be negative") }
    }

    func run() async throws {
        let service = await runningService {
            try await EventService.open(at: data.path, journalOptions: data.options(readOnly: false))
        }
        let handle = await runningService {
            try await service.openChannel(Array(channel.utf8), flags: [.create, .publisher])
        }
        let attributes = EventAttributes(
            patterns: pattern.map { Array($0.utf8) }, priority: priority, retention: Int64(retention * 1e9),
            publisherName: Array(publisher.utf8))
        let output = StandardOutput()
        // Lines that arrive together are published as one batch (one journal commit).
        let lines = LineBatches(batchMax: 1000)
        while let batch = lines.next() {
            let ids = await runningService { try await service.publish(handle, batch.map { (attributes, $0) }) }
            for id in ids { output.write("\(id)\n") }
            output.flush()
        }
        await service.shutdown()
    }
}

/// Standard input as batches of lines: whatever whole lines one read(2) returns (up to
/// `batchMax`), so piped input is batched and typed input goes out line by line.
final class LineBatches {
    private var pending: [UInt8] = []
    private var ready: [[UInt8]] = []
    private var finished = false
    private let batchMax: Int

    init(batchMax: Int) { self.batchMax = batchMax }

    func next() -> [[UInt8]]? {
        while ready.isEmpty && !finished {
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let got = chunk.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
            if got < 0 && errno == EINTR { continue }
            if got <= 0 {
                finished = true
                if !pending.isEmpty { ready.append(pending) }
                pending = []
                break
            }
            pending += chunk[0..<got]
            var start = 0
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                ready.append(Array(pending[start..<newline]))
                start = newline + 1
            }
            pending.removeFirst(start)
        }
        guard !ready.isEmpty else { return nil }
        let batch = Array(ready.prefix(batchMax))
        ready.removeFirst(batch.count)
        return batch
    }
}

struct ServiceTail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Follow a channel's events, acknowledging each after printing it.",
        discussion: """
            Prints "<sequence> <R|-> <data>" per event (R: redelivered after a restart). With \
            --durable NAME a restarted tail resumes after its last acknowledged event.
            Example: herald service tail --channel links --durable audit --count 10
            """)

    @OptionGroup var data: DataDirectoryOptions
    @Option(help: "The channel's name (it must exist).") var channel: String
    @Option(help: "A prefix filter on the first pattern.") var prefix: String?
    @Option(help: "A durable subscriber name.") var durable: String?
    @Option(help: "oldest, now, cursor (the default with --durable), or seq:N.") var from: String?
    @Option(help: "Exit after this many events.") var count: Int?

    func validate() throws {
        if let count, count <= 0 { throw ValidationError("--count must be positive") }
    }

    func run() async throws {
        let service = await runningService {
            try await EventService.open(at: data.path, journalOptions: data.options(readOnly: false))
        }
        let start: StartPosition
        switch from ?? (durable == nil ? "now" : "cursor") {
        case "oldest": start = .oldest
        case "now": start = .now
        case "cursor": start = .cursor
        case let text where text.hasPrefix("seq:"):
            guard let value = UInt64(text.dropFirst(4)) else { throw ValidationError("--from: bad sequence number") }
            start = .sequence(SequenceNumber(value))
        default: throw ValidationError("--from must be oldest, now, cursor or seq:N")
        }
        let handle = await runningService { try await service.openChannel(Array(channel.utf8), flags: [.subscriber]) }
        let subscriber = await runningService {
            try await service.subscriber(
                for: handle, options: SubscriberOptions(start: start, durableName: durable, window: 256))
        }
        await runningService {
            try await service.subscribe(handle, id: 1, filters: prefix.map { [EventFilter(.prefix, $0)] } ?? [])
        }
        let output = StandardOutput()
        var printed = 0
        for await delivery in subscriber {
            output.write("\(delivery.sequence) \(delivery.redelivered ? "R" : "-") ")
            output.write(delivery.data)
            output.write("\n")
            output.flush()
            delivery.done()
            printed += 1
            if let count, printed >= count { break }
        }
        await service.shutdown()
    }
}
