import ArgumentParser
import Foundation
import HeraldJournal
import Logging

/// Options shared by the `herald journal` verbs.
struct DataDirectoryOptions: ParsableArguments {
    @Option(
        name: .customLong("data-dir"),
        help: "The journal's data folder (default: $HERALD_DATA_DIR or ./herald-data).")
    var dataDirectory: String?

    var path: String {
        dataDirectory ?? ProcessInfo.processInfo.environment["HERALD_DATA_DIR"] ?? "herald-data"
    }

    func options(readOnly: Bool) -> JournalOptions {
        var options = JournalOptions()
        options.readOnly = readOnly
        var logger = Logger(label: "herald") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        options.logger = logger
        return options
    }

    /// Fails with "no journal" unless the folder holds one.
    func requireJournal() {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path + "/segments", isDirectory: &isDirectory),
            isDirectory.boolValue
        else { fail(JournalError.notFound(path)) }
    }
}

enum DurabilityArgument: String, ExpressibleByArgument, CaseIterable {
    case fsync, batch, none
}

struct JournalAppend: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append one record per line of standard input.",
        discussion: """
            Each line's bytes (without the newline) are one record's data. Each record's \
            sequence number is printed, one per line, once it is durable. Lines that arrive \
            together are appended as one batch. Creates the data folder if its parent exists.

            Example: printf 'a\\nb\\n' | herald journal append --data-dir ./j
            """)

    @OptionGroup var data: DataDirectoryOptions

    @Option(help: "When a record counts as durable: fsync (default), batch (fsync every --batch-ms), none.")
    var durability: DurabilityArgument = .fsync

    @Option(name: .customLong("batch-ms"), help: "The fsync interval of --durability batch, in milliseconds.")
    var batchMilliseconds: Int = 10

    @Option(help: "The channel id recorded with every record.")
    var channel: UInt32 = 0

    func validate() throws {
        guard batchMilliseconds > 0 else { throw ValidationError("--batch-ms must be positive") }
        let parent = (data.path as NSString).deletingLastPathComponent
        if !parent.isEmpty && !FileManager.default.fileExists(atPath: parent) {
            throw ValidationError("the parent folder of \(data.path) does not exist")
        }
    }

    func run() throws {
        var options = data.options(readOnly: false)
        switch durability {
        case .fsync: options.durability = .fsync
        case .batch: options.durability = .batch(intervalMilliseconds: batchMilliseconds)
        case .none: options.durability = .none
        }
        let journal = running { try Journal.open(at: data.path, options: options) }
        defer { journal.close() }
        let appends = AppendPipeline(journal: journal, output: StandardOutput())
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var entries: [JournalEntry] = []
        while true {
            let got = chunk.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                fail(JournalError.io(operation: "read", path: "standard input", errno: errno))
            }
            if got == 0 { break }
            pending.append(contentsOf: chunk[0..<got])
            var start = 0
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                entries.append(JournalEntry(channel: channel, data: Array(pending[start..<newline])))
                start = newline + 1
            }
            pending.removeFirst(start)
            appends.submit(&entries)
        }
        if !pending.isEmpty { entries.append(JournalEntry(channel: channel, data: pending)) }
        appends.submit(&entries)
        appends.finish()
    }
}

/// Several batches in flight (`window`): the next is encoded and queued while earlier ones
/// are written and synced, so the journal's writer can commit them together; sequence
/// numbers are still printed in order, each once its batch is durable.
final class AppendPipeline: @unchecked Sendable {
    // `slots` is shared with the writer thread's completions, under `condition`.
    private let journal: Journal
    private let output: StandardOutput
    private let window: Int
    private let condition = NSCondition()
    private var slots: [Result<SequenceRange, JournalError>?] = []
    private var printed = 0

    init(journal: Journal, output: StandardOutput, window: Int = 8) {
        self.journal = journal
        self.output = output
        self.window = window
    }

    /// Queues `entries` (emptied) as the next batch, first printing what is durable and
    /// waiting while `window` batches are in flight.
    func submit(_ entries: inout [JournalEntry]) {
        guard !entries.isEmpty else { return }
        condition.lock()
        while slots.count - printed >= window {
            printReady()
            if slots.count - printed >= window { condition.wait() }
        }
        let slot = slots.count
        slots.append(nil)
        condition.unlock()
        journal.append(entries) { [self] result in
            condition.lock()
            slots[slot] = result
            condition.broadcast()
            condition.unlock()
        }
        entries.removeAll(keepingCapacity: true)
        condition.lock()
        printReady()
        condition.unlock()
    }

    /// Waits for every batch and prints the rest.
    func finish() {
        condition.lock()
        while printed < slots.count {
            printReady()
            if printed < slots.count { condition.wait() }
        }
        condition.unlock()
        output.flush()
    }

    /// Prints the durable batches at the front, in order (under the lock); a failed batch
    /// ends the command with its error (what was printed before it is durable).
    private func printReady() {
        var wrote = false
        while printed < slots.count, let result = slots[printed] {
            switch result {
            case .success(let range):
                for value in range.first.rawValue...range.last.rawValue { output.write("\(value)\n") }
            case .failure(let error):
                output.flush()
                fail(error)
            }
            slots[printed] = nil
            printed += 1
            wrote = true
        }
        if wrote { output.flush() }
    }
}

enum ReadFormat: String, ExpressibleByArgument, CaseIterable {
    case raw, json
}

struct JournalRead: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Print records, oldest first (read-only).",
        discussion: """
            raw prints each record's data followed by a newline, so `append` then `read \
            --format raw` gives the input back. json prints one object per line with every \
            field; byte fields are base64 (`*_base64`) and, when valid UTF-8, text too.

            Example: herald journal read --data-dir ./j --from-time 2026-11-24T16:00:00Z --limit 10 --format json
            """)

    @OptionGroup var data: DataDirectoryOptions

    @Option(name: .customLong("from-seq"), help: "Start at this sequence number.")
    var fromSequence: UInt64?

    @Option(name: .customLong("from-time"), help: "Start at this publish time (RFC 3339, or ns since the epoch).")
    var fromTime: String?

    @Option(help: "Print at most this many records.")
    var limit: Int?

    @Option(help: "raw or json.")
    var format: ReadFormat = .raw

    func validate() throws {
        if fromSequence != nil && fromTime != nil { throw ValidationError("give --from-seq or --from-time, not both") }
        if let fromTime, parseTime(fromTime) == nil { throw ValidationError("--from-time: cannot parse '\(fromTime)'") }
        if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
    }

    func run() throws {
        data.requireJournal()
        let journal = running { try Journal.open(at: data.path, options: data.options(readOnly: true)) }
        let position: ReadPosition
        if let fromSequence {
            position = .sequence(SequenceNumber(fromSequence))
        } else if let fromTime {
            position = .time(parseTime(fromTime)!)
        } else {
            position = .oldest
        }
        let reader = running { try journal.reader(from: position) }
        let output = StandardOutput()
        var remaining = limit ?? Int.max
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        running {
            try reader.nextView { view in
                guard remaining > 0 else { return false }
                remaining -= 1
                switch format {
                case .raw:
                    output.write(view.data)
                    output.write(CollectionOfOne(UInt8(ascii: "\n")))
                case .json:
                    output.write(try encoder.encode(RecordJSON(view.materialize())))
                    output.write(CollectionOfOne(UInt8(ascii: "\n")))
                }
                return remaining > 0
            }
        }
        output.flush()
    }
}

/// One record as `read --format json` prints it.
struct RecordJSON: Encodable {
    var seq: UInt64
    var time: Int64
    var time_iso: String
    var descriptor: UInt32
    var event_class: UInt32
    var event: UInt32
    var channel: UInt32
    var priority: UInt8
    var flags: UInt8
    var retention_ns: Int64
    var publisher: String?
    var publisher_base64: String
    var patterns: [String?]
    var patterns_base64: [String]
    var data: String?
    var data_base64: String

    init(_ record: JournalRecord) {
        seq = record.sequence.rawValue
        time = record.time
        time_iso = formatTime(record.time)
        descriptor = record.descriptor
        event_class = record.descriptor >> 22
        event = record.descriptor & 0x3F_FFFF
        channel = record.channel
        priority = record.priority
        flags = record.flags
        retention_ns = record.retention
        publisher = String(validating: record.publisher, as: UTF8.self)
        publisher_base64 = Data(record.publisher).base64EncodedString()
        patterns = record.patterns.map { String(validating: $0, as: UTF8.self) }
        patterns_base64 = record.patterns.map { Data($0).base64EncodedString() }
        data = String(validating: record.data, as: UTF8.self)
        data_base64 = Data(record.data).base64EncodedString()
    }
}

struct JournalVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every frame, record, the hash chain and the index (read-only).",
        discussion: """
            Exit 0 when everything checks out; 65 and a line naming the segment file, byte \
            offset and sequence number of the first damage otherwise.
            """)

    @OptionGroup var data: DataDirectoryOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        data.requireJournal()
        let report = running { try Journal.verify(at: data.path, options: data.options(readOnly: true)) }
        let output = StandardOutput()
        if json {
            let object: [String: Any] = [
                "ok": report.ok, "segments": report.segments, "frames": report.frames, "records": report.records,
                "oldest": report.oldest.rawValue, "head": report.head.sequence.rawValue,
                "head_chain": report.head.chain.hex, "index_present": report.indexPresent,
                "index_frames_checked": report.indexedFramesChecked, "index_lag": report.indexLag,
                "damage": report.damage.map { $0.description } as Any,
            ]
            let bytes = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            output.write(bytes)
            output.write("\n")
        } else if report.ok {
            output.write(
                "ok: \(report.segments) segments, \(report.frames) frames, \(report.records) records, "
                    + "sequence \(report.oldest)...\(report.head.sequence), chain \(report.head.chain.hex)\n")
            output.write(
                report.indexPresent
                    ? "index: \(report.indexedFramesChecked) frames agree, lag \(report.indexLag)\n"
                    : "index: absent (rebuilt on the next read-write open)\n")
        }
        output.flush()
        if let damage = report.damage {
            FileHandle.standardError.write(Data("herald: journal damaged: \(damage)\n".utf8))
            throw ExitCode(ExitStatus.damaged.rawValue)
        }
    }
}

struct JournalStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Events, sequence range, segments, bytes raw and on disk, index lag (read-only).")

    @OptionGroup var data: DataDirectoryOptions

    @Flag(help: "Print as JSON.")
    var json = false

    func run() throws {
        data.requireJournal()
        let journal = running { try Journal.open(at: data.path, options: data.options(readOnly: true)) }
        let stats = running { try journal.stats() }
        let output = StandardOutput()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            output.write(try encoder.encode(stats))
            output.write("\n")
        } else {
            output.write(
                """
                events        \(stats.events)
                sequences     \(stats.firstSequence)...\(stats.lastSequence)
                segments      \(stats.segments)
                frames        \(stats.frames)
                raw bytes     \(stats.rawBytes)
                disk bytes    \(stats.diskBytes)
                ratio         \(String(format: "%.2f", stats.compressionRatio))
                indexed to    \(stats.indexedThrough) (lag \(stats.indexLag))
                head chain    \(stats.headChain)
                torn tail     \(stats.tornTailBytes) bytes\(stats.tornTailBytes > 0 ? " (cut at the next read-write open)" : "")

                """)
        }
        output.flush()
    }
}
