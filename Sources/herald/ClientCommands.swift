import ArgumentParser
import Foundation
import HeraldClient
import HeraldService
import HeraldWire

/// Options of every command that talks to heraldd.
struct DaemonOptions: ParsableArguments {
    @Option(
        help:
            "heraldd's socket (default: $HERALD_SOCKET, else $HERALD_DATA_DIR/heraldd.sock, else herald-data/heraldd.sock)."
    )
    var socket: String?

    func connect(name: String) async -> HeraldClient {
        await runningClient { try await HeraldClient.connect(socketPath: socket, clientName: name) }
    }
}

extension HeraldClientError {
    var exitStatus: ExitStatus {
        switch self {
        case .unreachable: return .unavailable
        case .disconnected, .protocolViolation: return .failure
        case .refused(let code, _):
            return ServiceError(rawValue: Int32(code))?.exitStatus ?? .failure
        }
    }
}

/// Runs `body`; a client error becomes one line on stderr and its exit status.
@discardableResult
func runningClient<T>(_ body: () async throws -> T) async -> T {
    do {
        return try await body()
    } catch let error as HeraldClientError {
        FileHandle.standardError.write(Data("herald: \(error)\n".utf8))
        exit(error.exitStatus.rawValue)
    } catch let error as ValidationError {
        FileHandle.standardError.write(Data("herald: \(error)\n".utf8))
        exit(ExitStatus.usage.rawValue)
    } catch {
        fail(error)
    }
}

/// Bytes from the command line: text as UTF-8, or `hex:` followed by hex digits for binary.
func parseBytes(_ text: String) throws -> [UInt8] {
    guard text.hasPrefix("hex:") else { return Array(text.utf8) }
    let digits = Array(text.dropFirst(4).utf8)
    guard digits.count % 2 == 0 else { throw ValidationError("\(text): odd number of hex digits") }
    return try stride(from: 0, to: digits.count, by: 2).map { index in
        guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else {
            throw ValidationError("\(text): not hex")
        }
        return byte
    }
}

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish events through heraldd: DATA, or one event per line of standard input.",
        discussion: """
            Prints each event id once it is durable. The channel is created if needed. Lines that \
            arrive together are sent as one batch (one journal commit).
            Examples:
              herald publish --channel links --pattern eth0 "link up"
              tail -f app.log | herald publish --channel app --publisher app --retention 1h
              herald publish --channel rpc --to node:3 "status?"        (only node 3's subscribers)
              herald publish --channel rpc --reply-to 1042 "ok"         (to event 1042's publisher)
            """)

    @OptionGroup var daemon: DaemonOptions
    @Option(help: "The channel's name.") var channel: String
    @Option(
        help: ArgumentHelp(
            "Send only to: node:N (the subscribers on node N; repeat for several nodes), name:D (the durable subscriber D, now or when it first attaches), session:S (the session of channel open S: a GROUP join's id).",
            valueName: "address")) var to: [String] = []
    @Option(
        help: "Publish as the reply to event ID: it goes to that event's publisher (OCF: OC_EV_GS_REPLY).")
    var replyTo: UInt64?
    @Option(help: "A pattern of every event, text or hex:HEX (repeat for several).") var pattern: [String] = []
    @Option(help: "Priority, 0 (highest) to 3 (lowest).") var priority: UInt8 = 3
    @Option(help: "Retention time (e.g. 30s, 1h; 0: not retained).") var retention: String = "0"
    @Option(help: "Publisher name.") var publisher: String = ""
    @Argument(help: "The event's data (omit to read lines from standard input).") var data: String?

    func validate() throws {
        guard priority <= 3 else { throw ValidationError("--priority must be 0...3") }
        guard DurationText.nanoseconds(retention) != nil else { throw ValidationError("--retention: not a duration") }
        for text in pattern { _ = try parseBytes(text) }
        _ = try route()
    }

    /// The route `--to` and `--reply-to` ask for; nil for a plain broadcast.
    func route() throws -> EventRoute? {
        if let replyTo {
            guard to.isEmpty else {
                throw ValidationError("--reply-to goes to the request's publisher: no --to with it")
            }
            guard replyTo > 1000 else { throw ValidationError("--reply-to: event ids start at 1001") }
            return EventRoute(replyTo: replyTo)
        }
        guard let first = to.first else { return nil }
        func value(_ text: String, _ prefix: String) -> Substring? {
            text.hasPrefix(prefix) ? text.dropFirst(prefix.count) : nil
        }
        if to.allSatisfy({ $0.hasPrefix("node:") }) {
            let nodes = try to.map { text in
                guard let node = value(text, "node:").flatMap({ UInt32($0) }) else {
                    throw ValidationError("--to \(text): a node id is a number (node:3)")
                }
                return node
            }
            return EventRoute(target: .nodes(nodes))
        }
        guard to.count == 1 else {
            throw ValidationError("--to: several addresses are node ids only (node:1 --to node:3)")
        }
        if let name = value(first, "name:") {
            guard !name.isEmpty, name.utf8.count <= EventRoute.nameBytesMax else {
                throw ValidationError("--to name:D: a durable name of 1 to 255 bytes")
            }
            return EventRoute(target: .name(Array(name.utf8)))
        }
        if let session = value(first, "session:").flatMap({ UInt64($0) }) {
            return EventRoute(target: .session(session))
        }
        throw ValidationError("--to \(first): expected node:N, name:D or session:S")
    }

    func run() async throws {
        let route = try route()
        let client = await daemon.connect(name: "herald publish")
        let handle = await runningClient {
            try await client.openChannel(channel, flags: [.publisher, .create])
        }
        let patterns = try pattern.map(parseBytes)
        let retentionNanoseconds = DurationText.nanoseconds(retention) ?? 0
        func event(_ data: [UInt8]) -> WireEvent {
            WireEvent(
                priority: priority, retention: retentionNanoseconds, publisherName: Array(publisher.utf8),
                patterns: patterns, data: data)
        }
        let output = StandardOutput()
        if let data {
            let id = await runningClient { try await client.publish(handle, event(Array(data.utf8)), route: route) }
            output.write("\(id)\n")
        } else {
            let batchMax = max(1, min(1000, Int(client.welcome.batchMax)))
            let lines = LineBatches(batchMax: batchMax)
            while let batch = lines.next() {
                let ids = await runningClient { try await client.publish(handle, batch.map(event), route: route) }
                for id in ids { output.write("\(id)\n") }
                output.flush()
            }
        }
        output.flush()
        await client.close()
    }
}

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow a channel's events through heraldd, acknowledging each after printing it.",
        discussion: """
            Formats: table (the default on a terminal), text (the default in a pipe): \
            "<sequence> <event id> <R|-> <data>" (R: delivered before, not acknowledged then), \
            jsonl: one JSON object per event (data as text when it is UTF-8, else dataBase64), \
            csv: a header line, then one row per event (patterns joined by "|", bytes that are not \
            printable text as hex:HEX).
            Filters apply to the event's patterns by position: --filter 0:prefix:eth matches events whose \
            first pattern starts with "eth"; positions without a filter pass everything, and (as for \
            any SaEvt subscription) filters beyond an event's patterns are not applied.
            Examples:
              herald tail --channel links
              herald tail --channel orders --durable billing --filter 0:exact:paid --format jsonl
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, text, jsonl, csv }

    static let columns = [
        RowPrinter.Column("SEQ", csv: "seq", width: 10), RowPrinter.Column("EVENT-ID", csv: "event_id", width: 10),
        RowPrinter.Column("R", csv: "redelivered", width: 1), RowPrinter.Column("TIME", csv: "time", width: 25),
        RowPrinter.Column("PRIO", csv: "priority", width: 4),
        RowPrinter.Column("PUBLISHER", csv: "publisher", width: 13),
        RowPrinter.Column("", csv: "origin_pid", width: 0), RowPrinter.Column("PATTERNS", csv: "patterns", width: 12),
        RowPrinter.Column("DATA", csv: "data", width: nil),
    ]

    @OptionGroup var daemon: DaemonOptions
    @Option(help: "The channel's name.") var channel: String
    @Option(help: "INDEX:prefix|suffix|exact|all:BYTES (BYTES text or hex:HEX); repeat for several.")
    var filter: [String] = []
    @Option(help: "oldest, now, seq:N, time:T (RFC 3339 or ns), or cursor (the default with --durable).")
    var from: String?
    @Option(help: "A durable subscriber name: a restarted tail resumes after its last acknowledged event.")
    var durable: String?
    @Option(help: "Output format (default: table on a terminal, text in a pipe).") var format: Format?
    @Option(help: "Exit after this many events.") var count: Int?
    @Option(help: "Deliveries in flight before acknowledgement.") var window: UInt32 = 4096
    @Flag(help: "Create the channel if it does not exist.") var create = false

    func validate() throws {
        if let count, count <= 0 { throw ValidationError("--count must be positive") }
        guard window > 0 else { throw ValidationError("--window must be positive") }
        _ = try filters()
        _ = try start()
    }

    func start() throws -> WireStart {
        switch from ?? (durable == nil ? "now" : "cursor") {
        case "oldest": return .oldest
        case "now": return .now
        case "cursor":
            guard durable != nil else { throw ValidationError("--from cursor needs --durable") }
            return .cursor
        case let text where text.hasPrefix("seq:"):
            guard let value = UInt64(text.dropFirst(4)) else { throw ValidationError("--from: bad sequence number") }
            return .sequence(value)
        case let text where text.hasPrefix("time:"):
            guard let time = parseTime(String(text.dropFirst(5))) else { throw ValidationError("--from: bad time") }
            return .time(time)
        default: throw ValidationError("--from must be oldest, now, seq:N, time:T or cursor")
        }
    }

    func filters() throws -> [WireFilter] { try parseFilters(filter) }

    func run() async throws {
        let client = await daemon.connect(name: "herald tail")
        let flags: HeraldClient.OpenFlags = create ? [.subscriber, .create] : [.subscriber]
        let handle = await runningClient { try await client.openChannel(channel, flags: flags) }
        let start = try start()
        let stream = await runningClient {
            _ = try await client.attach(
                WireAttach(
                    target: .channel(handle: handle.handle), start: start, durableName: durable ?? "", window: window))
            return try await client.subscribe(handle, id: 1, filters: try filters())
        }
        let stop = DispatchSource.makeSignalSource(signal: SIGINT)
        let term = DispatchSource.makeSignalSource(signal: SIGTERM)
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        for source in [stop, term] {
            source.setEventHandler { Task { await client.close() } }
            source.resume()
        }
        let output = StandardOutput()
        let format = self.format ?? (isatty(1) != 0 ? .table : .text)
        let rows = RowPrinter(columns: Self.columns, csv: format == .csv, output: output)
        if format == .table || format == .csv { rows.header() }
        var printed = 0
        let count = self.count  // read once: a property wrapper's getter is not free per event
        // A frame of deliveries at a time: printed, flushed once (one write, not one per
        // event), then acknowledged — an event is acknowledged only once it is written out.
        batches: for await batch in stream.batches {
            var taken = 0
            // By index: each delivery is borrowed from the batch, not copied out of it.
            for index in batch.indices {
                print(batch[index], format: format, rows: rows, output: output)
                taken += 1
                if let count, printed + taken >= count { break }
            }
            output.flush()
            stream.done(batch.prefix(taken))  // one acknowledgement of the frame's printed events
            printed += taken
            if let count, printed >= count { break batches }
        }
        if let reason = stream.endReason, reason != .disconnected {
            FileHandle.standardError.write(Data("herald: \(reason)\n".utf8))
            Foundation.exit(reason.exitStatus.rawValue)
        }
        await client.close()
    }

    private func print(_ delivery: ClientDelivery, format: Format, rows: RowPrinter, output: StandardOutput) {
        switch format {
        case .table, .csv:
            rows.row([
                ["\(delivery.sequence)"], ["\(delivery.eventID)"],
                [format == .csv ? "\(delivery.redelivered)" : (delivery.redelivered ? "R" : "-")],
                [formatTime(delivery.publishTime)], ["\(delivery.priority)"],
                [displayBytes(delivery.publisherName)],
                [delivery.origin.map { "\($0.pid)" } ?? ""],
                [delivery.patterns.map(displayBytes).joined(separator: "|")],
                [displayBytes(delivery.data)],
            ])
        case .text:
            // Built byte by byte: no String per event.
            output.write(decimal: delivery.sequence)
            output.write(byte: UInt8(ascii: " "))
            output.write(decimal: delivery.eventID)
            output.write(byte: UInt8(ascii: " "))
            output.write(byte: delivery.redelivered ? UInt8(ascii: "R") : UInt8(ascii: "-"))
            output.write(byte: UInt8(ascii: " "))
            delivery.withData { output.write($0) }  // in place: no copy of the data
            output.write(byte: UInt8(ascii: "\n"))
        case .jsonl:
            output.write(Self.json(delivery))
            output.write("\n")
        }
    }

    static func json(_ delivery: ClientDelivery) -> String {
        var object: [String: Any] = [
            "sequence": delivery.sequence, "eventId": delivery.eventID, "time": formatTime(delivery.publishTime),
            "priority": Int(delivery.priority), "redelivered": delivery.redelivered, "retained": delivery.retained,
            "patterns": delivery.patterns.map { String(validating: $0, as: UTF8.self) ?? "hex:" + hex($0) },
        ]
        if let text = String(validating: delivery.data, as: UTF8.self) {
            object["data"] = text
        } else {
            object["dataBase64"] = Data(delivery.data).base64EncodedString()
        }
        if !delivery.publisherName.isEmpty {
            object["publisher"] =
                String(validating: delivery.publisherName, as: UTF8.self) ?? hex(delivery.publisherName)
        }
        if let origin = delivery.origin {
            object["origin"] = ["uid": origin.uid, "gid": origin.gid, "pid": origin.pid]
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

/// `INDEX:TYPE:BYTES` filters (TYPE prefix, suffix, exact or all), one per pattern
/// position; positions in between pass everything.
func parseFilters(_ texts: [String]) throws -> [WireFilter] {
    var byIndex: [Int: WireFilter] = [:]
    for text in texts {
        let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, let index = Int(parts[0]), (0..<64).contains(index) else {
            throw ValidationError("--filter \(text): expected INDEX:TYPE:BYTES")
        }
        let types: [Substring: UInt8] = ["prefix": 1, "suffix": 2, "exact": 3, "all": 4]
        guard let type = types[parts[1]] else {
            throw ValidationError("--filter \(text): unknown type \(parts[1])")
        }
        byIndex[index] = WireFilter(type: type, pattern: try parseBytes(parts.count > 2 ? String(parts[2]) : ""))
    }
    guard let last = byIndex.keys.max() else { return [] }
    return (0...last).map { byIndex[$0] ?? WireFilter(type: 4, pattern: []) }
}
