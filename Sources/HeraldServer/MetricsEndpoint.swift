import Foundation
public import HeraldJournal
public import HeraldService
public import Logging
import NIOCore
import NIOPosix
public import Prometheus
public import ServiceLifecycle
import Synchronization

/// Serves the metrics in Prometheus text format over HTTP, on a Unix socket
/// (`unix:PATH`, e.g. `curl --unix-socket PATH http://localhost/metrics`) or a loopback
/// TCP port. Journal totals and durable subscribers' lag are sampled at each scrape.
public final class MetricsEndpoint: Service, Sendable {
    public enum Address: Hashable, Sendable {
        case unix(String)
        case loopback(port: Int)

        public init?(parsing text: String) {
            if text.hasPrefix("unix:") {
                self = .unix(String(text.dropFirst(5)))
            } else if let port = Int(text.hasPrefix("127.0.0.1:") ? String(text.dropFirst(10)) : text),
                (1...65_535).contains(port)
            {
                self = .loopback(port: port)
            } else {
                return nil
            }
        }
    }

    private let address: Address
    private let registry: PrometheusCollectorRegistry
    private let service: EventService
    private let logger: Logger
    private let sampled = Mutex<[String: UInt64]>([:])

    public init(address: Address, registry: PrometheusCollectorRegistry, service: EventService, logger: Logger) {
        self.address = address
        self.registry = registry
        self.service = service
        self.logger = logger
    }

    public func run() async throws {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
        switch address {
        case .unix(let path):
            server = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel(wrappingChannelSynchronously: channel) }
            }
        case .loopback(let port):
            server = try await bootstrap.bind(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel(wrappingChannelSynchronously: channel) }
            }
        }
        logger.info("metrics served", metadata: ["address": "\(address)"])
        try await acceptUntilShutdown(server) { await self.answer($0) }
        if case .unix(let path) = address { unlink(path) }
    }

    private func answer(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        try? await connection.executeThenClose { inbound, outbound in
            var request: [UInt8] = []
            for try await buffer in inbound {
                request += buffer.readableBytesView
                if request.count > 8192 || request.suffix(4) == Array("\r\n\r\n".utf8) { break }
            }
            let body = await render()
            let head =
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(body.count)\r\n\r\n"
            try await outbound.write(ByteBuffer(bytes: Array(head.utf8) + body))
        }
    }

    /// The current text, after sampling the journal and the cursors.
    func render() async -> [UInt8] {
        let journal = service.journal
        let counters = journal.counters
        advance("herald_journal_appended_events_total", to: counters.appendedRecords)
        advance("herald_journal_appended_bytes_total", to: counters.appendedBytes)
        advance("herald_journal_fsyncs_total", to: counters.syncs)
        let head = journal.head.sequence.rawValue
        registry.makeGauge(descriptor: Self.descriptor("herald_journal_head_sequence", "Newest sequence number"))
            .set(Int64(head))
        if let cursors = try? await service.storedCursors() {
            for cursor in cursors {
                let lag = head > cursor.acknowledged.rawValue ? head - cursor.acknowledged.rawValue : 0
                registry.makeGauge(
                    descriptor: Self.descriptor("herald_subscriber_lag_events", "Events after a durable cursor"),
                    labels: [("subscriber", cursor.name)]
                ).set(Int64(lag))
            }
        }
        return registry.emitToBuffer()
    }

    private func advance(_ name: String, to value: UInt64) {
        let delta = sampled.withLock { seen -> UInt64 in
            defer { seen[name] = value }
            return value - min(value, seen[name] ?? 0)
        }
        registry.makeCounter(descriptor: Self.descriptor(name, "Journal total since the daemon started"))
            .increment(by: Int64(delta))
    }

    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}

/// Serves each connection `server` accepts on a task of its own, until a graceful shutdown
/// closes the listening socket (the metrics endpoint and the auditors' console).
func acceptUntilShutdown<Inbound: Sendable, Outbound: Sendable>(
    _ server: NIOAsyncChannel<NIOAsyncChannel<Inbound, Outbound>, Never>,
    _ serve: @escaping @Sendable (NIOAsyncChannel<Inbound, Outbound>) async -> Void
) async throws {
    try await withGracefulShutdownHandler {
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { inbound in
                for try await connection in inbound {
                    group.addTask { await serve(connection) }
                }
            }
        }
    } onGracefulShutdown: {
        server.channel.close(promise: nil)
    }
}

/// Applies the journal's retention (age and size) every `interval`, besides the check the
/// journal does when it rolls a segment.
public struct RetentionService: Service {
    let journal: Journal
    let interval: Duration
    let logger: Logger

    public init(journal: Journal, interval: Duration = .seconds(60), logger: Logger) {
        self.journal = journal
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            guard !Task.isShuttingDownGracefully, !Task.isCancelled else { return }
            do {
                let report = try journal.applyRetention()
                if !report.removedSegments.isEmpty {
                    logger.info("retention removed segments", metadata: ["count": "\(report.removedSegments.count)"])
                }
            } catch {
                logger.error("retention failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
