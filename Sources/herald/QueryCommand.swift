import ArgumentParser
import Foundation
import HeraldClient
import HeraldJournal
import HeraldService
import HeraldWire

enum QueryFormat: String, ExpressibleByArgument, CaseIterable {
    case table, jsonl, csv
}

/// `herald query`: the auditor's view of the journal, read-only on the data folder.
struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find events in the journal by time, sequence, channel, class, priority, publisher, patterns.",
        discussion: """
            Reads the data folder read-only (heraldd may be running). Sequence and time bounds, \
            channel, descriptor, class and priority are served by the SQLite index: only the \
            frames holding matching events are read. Publisher and pattern filters are applied \
            to those records. Results stream: memory stays constant for any result size.

            Times: RFC 3339 (2026-11-24T16:00:00Z), ns since the epoch, or relative to now \
            (--from=-2h, --from=-30m, --from=-7d: with "=", since they start with a dash). \
            --channel NAME asks heraldd for the channel's id (--channel-id \
            works without it). Exit 0 (also with no match), 64 usage, 66 no journal, 69 \
            heraldd needed for --channel but not reachable.

            Examples:
              herald query --from=-1h --channel orders --format csv > last-hour.csv
              herald query --publisher billing --class group --count
              herald query --from-seq 1000 --to-seq 2000 --filter 0:prefix:eu- --reverse --limit 20
            """)

    @OptionGroup var data: DataDirectoryOptions
    @OptionGroup var daemon: DaemonOptions

    @Option(help: "From this time (inclusive).") var from: String?
    @Option(help: "To this time (inclusive).") var to: String?
    @Option(name: .customLong("from-seq"), help: "From this sequence number.") var fromSequence: UInt64?
    @Option(name: .customLong("to-seq"), help: "To this sequence number.") var toSequence: UInt64?
    @Option(help: "A channel's name (asks heraldd for its id).") var channel: String?
    @Option(name: .customLong("channel-id"), help: "A channel's id (`herald channels`).") var channelID: [UInt32] = []
    @Option(help: "OCF class: memb, comm, group, or its number.") var `class`: [String] = []
    @Option(help: "OCF descriptor (class << 22 | event).") var descriptor: [UInt32] = []
    @Option(help: "Priority 0 (highest) ... 3.") var priority: [UInt8] = []
    @Option(help: "Publisher name (exact).") var publisher: String?
    /// A query's pattern filters are about the pattern at their index: an event that has no
    /// pattern there is compared as if it had an empty one (so `0:prefix:eu` never matches
    /// an event without patterns). A subscription, unlike this, does not apply filters beyond
    /// an event's patterns (docs/saevt.md).
    static func everyFilterAccepts(_ filters: [EventFilter], _ patterns: [[UInt8]]) -> Bool {
        filters.indices.allSatisfy { filters[$0].matches($0 < patterns.count ? patterns[$0] : []) }
    }

    @Option(help: "INDEX:prefix|suffix|exact|all:BYTES on pattern INDEX (hex: for binary).") var filter: [String] = []
    @Option(
        name: .customLong("replies-to"),
        help: "Only the replies to this event id (group messaging: events published with --reply-to).")
    var repliesTo: UInt64?
    @Option(
        help: ArgumentHelp(
            "Record kind: publish, reply, channel.create, channel.unlink, join, open, leave, close, retention.clear, membership, connectivity, snapshot (repeat for several).",
            valueName: "kind"))
    var kind: [String] = []
    @Option(help: "At most this many events.") var limit: Int?
    @Flag(help: "Newest first.") var reverse = false
    @Flag(help: "Print only how many events match.") var count = false
    @Option(help: "table (default on a terminal), jsonl (default otherwise) or csv.") var format: QueryFormat?

    func validate() throws {
        for time in [from, to].compactMap({ $0 }) where parseQueryTime(time) == nil {
            throw ValidationError("cannot read the time '\(time)' (RFC 3339, ns, or -2h style)")
        }
        if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
        if priority.contains(where: { $0 > 3 }) { throw ValidationError("--priority is 0...3") }
        _ = try classes()
        _ = try parseFilters(filter)
    }

    func classes() throws -> [UInt32] {
        try `class`.map { text in
            switch text.lowercased() {
            case "comm", "conn", "connectivity": return 1
            case "memb", "membership": return 2
            case "group": return 3
            default:
                guard let number = UInt32(text), number < 1024 else {
                    throw ValidationError("--class: memb, comm, group or a number, got '\(text)'")
                }
                return number
            }
        }
    }

    func run() async throws {
        data.requireJournal()
        var query = JournalQuery()
        query.fromSequence = fromSequence.map { SequenceNumber($0) }
        query.toSequence = toSequence.map { SequenceNumber($0) }
        query.fromTime = from.flatMap(parseQueryTime)
        query.toTime = to.flatMap(parseQueryTime)
        query.channels = channelID
        if let channel {
            let client = await daemon.connect(name: "herald query")
            let channels = await runningClient { try await client.channels() }
            await client.close()
            guard let found = channels.first(where: { $0.name == Array(channel.utf8) }) else {
                FileHandle.standardError.write(Data("herald: no channel named \"\(channel)\"\n".utf8))
                throw ExitCode(ExitStatus.notFound.rawValue)
            }
            query.channels.append(found.id)
        }
        query.descriptors = descriptor
        query.classes = try classes()
        query.priorities = priority
        query.reverse = reverse
        let filters = try parseFilters(filter).map {
            EventFilter(FilterType(rawValue: $0.type) ?? .passAll, $0.pattern)
        }
        if let publisher { query.publishers = [Array(publisher.utf8)] }
        let format = self.format ?? (isatty(1) != 0 ? .table : .jsonl)
        let journal = running { try Journal.open(at: data.path, options: data.options(readOnly: true)) }
        let output = StandardOutput()
        let printer = QueryPrinter(format: format, output: output)
        var matched = 0
        let limit = self.limit ?? Int.max
        if let unknown = kind.first(where: { !RecordKind.names.contains($0) }) {
            usageFailure("--kind \(unknown): expected one of \(RecordKind.names.joined(separator: ", "))")
        }
        if count && filters.isEmpty && self.limit == nil && repliesTo == nil && kind.isEmpty {
            // Everything the index serves: a COUNT, no record read.
            output.write("\(running { try journal.count(query) })\n")
            output.flush()
            journal.close()
            return
        }
        if !count { printer.header() }
        running {
            guard limit > 0 else { return }
            try journal.query(query) { record in
                let split = PublisherOrigin.split(flags: record.flags, publisher: record.publisher)
                if !filters.isEmpty && !Self.everyFilterAccepts(filters, record.patterns) { return true }
                let route = PublisherOrigin.route(flags: record.flags, publisher: record.publisher)
                if let repliesTo, route?.replyTo != repliesTo { return true }
                if !kind.isEmpty && !kind.contains(RecordKind.name(of: record)) { return true }
                matched += 1
                if !count { printer.print(record, name: split.name, origin: split.origin, route: route) }
                return matched < limit
            }
        }
        if count { output.write("\(matched)\n") }
        output.flush()
        journal.close()
    }
}

/// Times for queries: what `parseTime` reads, or relative to now (`-2h`, `-30m`, `-7d`).
func parseQueryTime(_ text: String) -> Int64? {
    if text.hasPrefix("-"), let span = DurationText.nanoseconds(String(text.dropFirst())) {
        return Int64(Date().timeIntervalSince1970 * 1e9) - span
    }
    return parseTime(text)
}

/// Prints records as a table, JSON lines or CSV.
struct QueryPrinter {
    let format: QueryFormat
    let output: StandardOutput
    static let columns = [
        RowPrinter.Column("SEQ", csv: "seq", width: 10), RowPrinter.Column("TIME", csv: "time", width: 25),
        RowPrinter.Column("CHANNEL", csv: "channel", width: 8),
        RowPrinter.Column("CLASS/EVENT", csv: "class,event", width: 12),
        RowPrinter.Column("KIND", csv: "kind", width: 15),
        RowPrinter.Column("PRIO", csv: "priority", width: 5),
        RowPrinter.Column("PUBLISHER", csv: "publisher", width: 13),
        RowPrinter.Column("", csv: "origin_pid", width: 0), RowPrinter.Column("TO", csv: "to", width: 12),
        RowPrinter.Column("PATTERNS", csv: "patterns", width: 9),
        RowPrinter.Column("DATA", csv: "data", width: nil),
    ]
    var rows: RowPrinter { RowPrinter(columns: Self.columns, csv: format == .csv, output: output) }

    func header() {
        if format != .jsonl { rows.header() }
    }

    func print(_ record: JournalRecord, name: [UInt8], origin: PublisherOrigin?, route: EventRoute?) {
        let publisher = String(decoding: name, as: UTF8.self)
        let patterns = record.patterns.map(displayBytes)
        let data = displayBytes(record.data)
        let classEvent = ["\(record.descriptor >> 22)", "\(record.descriptor & 0x3F_FFFF)"]
        switch format {
        case .table, .csv:
            rows.row([
                ["\(record.sequence)"], [formatTime(record.time)], ["\(record.channel)"],
                format == .csv ? classEvent : [classEvent.joined(separator: "/")], [RecordKind.name(of: record)],
                ["\(record.priority)"], [publisher],
                [origin.map { "\($0.pid)" } ?? ""], [AuditRow.addressText(route)], [patterns.joined(separator: "|")],
                [data],
            ])
        case .jsonl:
            let object = AuditRow.object(record, name: name, origin: origin, route: route)
            if let bytes = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
                output.write(bytes)
                output.write("\n")
            }
        }
    }
}

/// Rows of a table (fixed-width cells, the last one unpadded; a column of width 0 is left
/// out of tables) or of CSV (RFC 4180 quoting; a column may stand for several CSV fields).
struct RowPrinter {
    struct Column {
        let title: String
        let csv: String
        /// nil: the last column, unpadded.
        let width: Int?
        init(_ title: String, csv: String, width: Int?) {
            self.title = title
            self.csv = csv
            self.width = width
        }
    }
    let columns: [Column]
    let csv: Bool
    let output: StandardOutput

    func header() {
        if csv {
            output.write(columns.map(\.csv).joined(separator: ",") + "\n")
        } else {
            row(columns.map { [$0.title] })
        }
    }

    /// One row: per column its cells (several only for a column of several CSV fields).
    func row(_ cells: [[String]]) {
        if csv {
            output.write(cells.flatMap { $0 }.map(Self.csvField).joined(separator: ",") + "\n")
            return
        }
        var line = ""
        for (column, values) in zip(columns, cells) where column.width != 0 {
            let text = values.joined(separator: " ")
            guard let width = column.width else {
                line += String(text.prefix(60))
                continue
            }
            line +=
                (text.count > width
                    ? String(text.prefix(width - 1)) + "…" : text.padding(toLength: width, withPad: " ", startingAt: 0))
                + " "
        }
        output.write(line + "\n")
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// Text when the bytes are printable UTF-8; else `hex:` and their hex digits (what
/// `--filter` and `herald publish` take back).
func displayBytes(_ bytes: [UInt8]) -> String { AuditRow.display(bytes) }
