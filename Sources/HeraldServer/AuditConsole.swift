import Foundation
import HeraldJournal
public import HeraldService
import HeraldWire
public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle

/// The read-only auditors' console (`heraldd --http`): a web page served from the binary
/// (`ConsolePage`, plain HTML and JavaScript, no build step, nothing from elsewhere) and its
/// JSON API:
///
///     GET /                        the page
///     GET /api/query?…             journal rows, paged (conditions as `herald query`'s)
///     GET /api/chart?…             events per minute per channel for the same conditions
///     GET /api/checkpoint          the latest signed checkpoint, its signature checked
///     GET /api/proof?seq=N         an inclusion proof against that checkpoint
///     GET /api/tail?channel=NAME   server-sent events: the channel's new records, live
///
/// On a Unix socket or a loopback TCP port (like the metrics); with a token, every request
/// needs it (`?token=` or `Authorization: Bearer`).
public final class AuditConsole: Service, Sendable {
    private let address: MetricsEndpoint.Address
    private let token: String?
    private let service: EventService
    private let audit: AuditLog
    private let logger: Logger

    public init(
        address: MetricsEndpoint.Address, token: String?, service: EventService, audit: AuditLog, logger: Logger
    ) {
        self.address = address
        self.token = token
        self.service = service
        self.audit = audit
        self.logger = logger
    }

    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    public func run() async throws {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Connection> = { channel in
            channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                try Connection(wrappingChannelSynchronously: channel)
            }
        }
        let server: NIOAsyncChannel<Connection, Never>
        switch address {
        case .unix(let path):
            server = try await bootstrap.bind(
                unixDomainSocketPath: path, cleanupExistingSocketFile: true, childChannelInitializer: initializer)
        case .loopback(let port):
            server = try await bootstrap.bind(host: "127.0.0.1", port: port, childChannelInitializer: initializer)
        }
        logger.info("auditors' console served", metadata: ["address": "\(address)"])
        try await acceptUntilShutdown(server) { await self.serve($0) }
        if case .unix(let path) = address { unlink(path) }
    }

    private func serve(_ connection: Connection) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let request): head = request
                case .body: break
                case .end:
                    guard let request = head else { return }
                    let keepAlive = try await respond(to: request, outbound)
                    head = nil
                    if !keepAlive { return }
                }
            }
        }
    }

    /// Answers one request; false when the connection is done (a live tail ended).
    private func respond(to request: HTTPRequestHead, _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>)
        async throws -> Bool
    {
        let url = URLComponents(string: request.uri) ?? URLComponents()
        var parameters: [String: [String]] = [:]
        for item in url.queryItems ?? [] { parameters[item.name, default: []].append(item.value ?? "") }
        if let token {
            let bearer = request.headers.first(name: "authorization")
            guard parameters["token"]?.first == token || bearer == "Bearer \(token)" else {
                try await send(outbound, status: .unauthorized, type: "text/plain", Array("a token is needed\n".utf8))
                return true
            }
        }
        guard request.method == .GET else {
            try await send(outbound, status: .methodNotAllowed, type: "text/plain", Array("read-only\n".utf8))
            return true
        }
        do {
            switch url.path {
            case "/", "/index.html":
                try await send(outbound, status: .ok, type: "text/html; charset=utf-8", Array(ConsolePage.html.utf8))
            case "/api/query":
                try await sendJSON(outbound, try await query(parameters))
            case "/api/chart":
                try await sendJSON(outbound, try await chart(parameters))
            case "/api/checkpoint":
                try await sendJSON(outbound, try checkpoint())
            case "/api/proof":
                guard let sequence = parameters["seq"]?.first.flatMap({ UInt64($0) }), sequence > 0 else {
                    throw ConsoleError.badRequest("seq: a sequence number")
                }
                try await sendJSON(outbound, try proof(sequence))
            case "/api/tail":
                try await tail(parameters, outbound)
                return false
            default:
                try await send(outbound, status: .notFound, type: "text/plain", Array("no such page\n".utf8))
            }
        } catch let error as ConsoleError {
            try await sendJSON(outbound, ["error": error.message], status: error.status)
        } catch {
            try await sendJSON(outbound, ["error": "\(error)"], status: .internalServerError)
        }
        return true
    }

    // MARK: The API

    /// The query of the request's conditions (as `herald query`'s): from, to (RFC 3339, ns,
    /// or -2h), channel (a name), publisher, class (memb, comm, group), kind, filter
    /// (INDEX:prefix|suffix|exact|all:TEXT), after (a sequence: the next page), limit.
    struct Conditions {
        var query = JournalQuery()
        var kinds: [String] = []
        var filters: [EventFilter] = []

        func accepts(_ record: JournalRecord) -> Bool {
            if !kinds.isEmpty && !kinds.contains(RecordKind.name(of: record)) { return false }
            if !filters.isEmpty {
                for (index, filter) in filters.enumerated() where filter.type != .passAll {
                    let pattern = index < record.patterns.count ? record.patterns[index] : []
                    if !filter.matches(pattern) { return false }
                }
            }
            return true
        }
    }

    private func conditions(_ parameters: [String: [String]]) async throws -> Conditions {
        var conditions = Conditions()
        func value(_ name: String) -> String? { parameters[name]?.first.flatMap { $0.isEmpty ? nil : $0 } }
        if let text = value("from") {
            guard let time = Self.time(text) else { throw ConsoleError.badRequest("from: not a time") }
            conditions.query.fromTime = time
        }
        if let text = value("to") {
            guard let time = Self.time(text) else { throw ConsoleError.badRequest("to: not a time") }
            conditions.query.toTime = time
        }
        if let name = value("channel") {
            guard let channel = await service.registry.channel(named: Array(name.utf8)) else {
                throw ConsoleError.notFound("no channel named \"\(name)\"")
            }
            conditions.query.channels = [channel.id]
        }
        if let publisher = value("publisher") { conditions.query.publishers = [Array(publisher.utf8)] }
        if let text = value("class") {
            let classes = ["comm": UInt32(1), "memb": 2, "group": 3]
            guard let code = classes[text] ?? UInt32(text) else {
                throw ConsoleError.badRequest("class: memb, comm, group")
            }
            conditions.query.classes = [code]
        }
        if let kind = value("kind") {
            guard RecordKind.names.contains(kind) else {
                throw ConsoleError.badRequest("kind: one of \(RecordKind.names)")
            }
            conditions.kinds = [kind]
        }
        for text in parameters["filter"] ?? [] where !text.isEmpty {
            let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            let types: [String: FilterType] = ["prefix": .prefix, "suffix": .suffix, "exact": .exact, "all": .passAll]
            guard parts.count == 3, let index = Int(parts[0]), (0..<255).contains(index),
                let type = types[String(parts[1])]
            else { throw ConsoleError.badRequest("filter: INDEX:prefix|suffix|exact|all:TEXT") }
            while conditions.filters.count <= index { conditions.filters.append(EventFilter(.passAll)) }
            conditions.filters[index] = EventFilter(type, Array(parts[2].utf8))
        }
        if let after = value("after") {
            guard let sequence = UInt64(after) else { throw ConsoleError.badRequest("after: a sequence number") }
            conditions.query.fromSequence = SequenceNumber(sequence + 1)
        }
        return conditions
    }

    /// Times as the CLI takes them: ns since 1970, RFC 3339, or relative (-30m, -2h, -7d).
    static func time(_ text: String) -> Int64? {
        if let value = Int64(text) { return value }
        if text.hasPrefix("-"), let unit = text.last, let amount = Int64(text.dropFirst().dropLast()) {
            let seconds: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
            guard let scale = seconds[unit] else { return nil }
            return Int64(Date().timeIntervalSince1970 * 1e9) - amount * scale * 1_000_000_000
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970 * 1e9) }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text).map { Int64($0.timeIntervalSince1970 * 1e9) }
    }

    private func query(_ parameters: [String: [String]]) async throws -> [String: Any] {
        let conditions = try await conditions(parameters)
        let limit = min(max(parameters["limit"]?.first.flatMap { Int($0) } ?? 50, 1), 500)
        let names = await channelNames()
        var rows: [[String: Any]] = []
        try service.journal.query(conditions.query) { record in
            guard conditions.accepts(record) else { return true }
            var row = AuditRow.object(record)
            row["channel_name"] = names[record.channel] ?? ""
            rows.append(row)
            return rows.count < limit
        }
        var answer: [String: Any] = ["rows": rows, "head": service.journal.head.sequence.rawValue]
        if rows.count == limit, let last = rows.last?["seq"] { answer["next"] = last }
        return answer
    }

    /// Published events per minute per channel over the conditions (at most 1 000 000 read).
    private func chart(_ parameters: [String: [String]]) async throws -> [String: Any] {
        var conditions = try await conditions(parameters)
        conditions.kinds = conditions.kinds.isEmpty ? ["publish", "reply"] : conditions.kinds
        let names = await channelNames()
        var counts: [Int64: [String: Int]] = [:]
        var read = 0
        try service.journal.query(conditions.query) { record in
            read += 1
            guard conditions.accepts(record) else { return read < 1_000_000 }
            let minute = record.time / 60_000_000_000 * 60_000_000_000
            counts[minute, default: [:]][names[record.channel] ?? "#\(record.channel)", default: 0] += 1
            return read < 1_000_000
        }
        let minutes = counts.keys.sorted().map {
            ["minute": AuditRow.time($0), "counts": counts[$0]!] as [String: Any]
        }
        return ["minutes": minutes, "truncated": read >= 1_000_000]
    }

    private func channelNames() async -> [UInt32: String] {
        let channels = await service.registry.channels
        return channels.mapValues { String(decoding: $0.name, as: UTF8.self) }
    }

    private func checkpoint() throws -> [String: Any] {
        guard let latest = audit.latest else { throw ConsoleError.notFound("no checkpoint yet") }
        let valid = (try? latest.verify(verifierKey: audit.key.verifierKey)) ?? false
        return [
            "treeSize": latest.treeSize, "rootHash": latest.rootHash.hex, "origin": latest.origin, "note": latest.note,
            "verifierKey": audit.key.verifierKey, "signatureValid": valid,
        ]
    }

    private func proof(_ sequence: UInt64) throws -> [String: Any] {
        let latest = audit.latest
        do {
            return try audit.withTree { tree in
                let size = min(latest?.treeSize ?? tree.size, tree.size)
                let leaf = try tree.leaf(sequence - 1)
                return [
                    "leafIndex": sequence - 1, "treeSize": size,
                    "leaf": Hex.encode(leaf),
                    "leafHash": Merkle.leafHash(leaf).hex,
                    "auditPath": try tree.inclusionProof(index: sequence - 1, size: size).map(\.hex),
                    "rootHash": try tree.root(size: size).hex,
                ]
            }
        } catch let error as MerkleError {
            throw ConsoleError.notFound(error.description)
        }
    }

    /// Server-sent events: each new record of the channel as a row, until the client leaves.
    private func tail(
        _ parameters: [String: [String]], _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    )
        async throws
    {
        guard let name = parameters["channel"]?.first,
            let channel = await service.registry.channel(named: Array(name.utf8))
        else { throw ConsoleError.notFound("no such channel") }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/event-stream")
        headers.add(name: "Cache-Control", value: "no-cache")
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
        let reader = try service.journal.reader(from: .sequence(service.journal.head.sequence.next))
        while !Task.isCancelled {
            var lines: [UInt8] = []
            try reader.nextView { view in
                guard view.channel == channel.id else { return true }
                var row = AuditRow.object(view.materialize())
                row["channel_name"] = name
                if let json = try? JSONSerialization.data(withJSONObject: row, options: [.sortedKeys]) {
                    lines += Array("data: ".utf8) + Array(json) + Array("\n\n".utf8)
                }
                return lines.count < 1 << 20
            }
            // A comment line keeps the stream alive and finds a departed client.
            if lines.isEmpty { lines = Array(": idle\n\n".utf8) }
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: lines))))
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    // MARK: Replies

    private func sendJSON(
        _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, _ object: [String: Any],
        status: HTTPResponseStatus = .ok
    ) async throws {
        let body = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        try await send(outbound, status: status, type: "application/json", Array(body))
    }

    private func send(
        _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>, status: HTTPResponseStatus, type: String,
        _ body: [UInt8]
    ) async throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: "\(body.count)")
        headers.add(name: "Cache-Control", value: "no-store")
        // Nothing from elsewhere: the page's own script and styles only.
        headers.add(
            name: "Content-Security-Policy",
            value: "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:")
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)))
        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
        try await outbound.write(.end(nil))
    }
}

struct ConsoleError: Error {
    let status: HTTPResponseStatus
    let message: String
    static func badRequest(_ message: String) -> ConsoleError { ConsoleError(status: .badRequest, message: message) }
    static func notFound(_ message: String) -> ConsoleError { ConsoleError(status: .notFound, message: message) }
}
