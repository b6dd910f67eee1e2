import ArgumentParser
import CHeraldSupport
import Foundation
import HeraldCluster
import HeraldJournal
import HeraldServer
import HeraldService
import HeraldWire
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

@main
struct HeraldDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heraldd",
        abstract: "Herald's node daemon: the event service over a Unix socket, with a durable journal.",
        discussion: """
            With no flags it serves ./herald-data (or $HERALD_DATA_DIR) on <data dir>/heraldd.sock \
            (or $HERALD_SOCKET) and runs until SIGTERM or SIGINT, then flushes and exits 0.
            A JSON config file may set any of: dataDirectory, socket, socketMode, socketGroup, durability, \
            retentionAge, retentionBytes, segmentBytes, logLevel, metrics, http, httpToken, limits {channelsMax, eventDataBytesMax, \
            patternsMax, patternBytesMax, streamsPerConnectionMax, frameBytesMax, opensPerConnectionMax, \
            subscriptionsPerOpenMax}, access [{channel, publish, \
            subscribe}]. Flags override the file. docs/daemon.md has an example.

            Exit codes: 0 stopped cleanly, 64 bad flags or config, 65 (--cluster) this node's journal differs from \
            the cluster's, 69 (--cluster) Corosync not reachable, 74 I/O error (also: stopped, but the durable \
            cursors could not be saved), 75 the data folder or socket is in use by another daemon.
            """)

    @Option(name: .customLong("config"), help: "A JSON config file.")
    var configFile: String?

    @Option(name: .customLong("data-dir"), help: "Data folder (journal, index, cursors).")
    var dataDirectory: String?

    @Option(help: "Unix socket path.")
    var socket: String?

    @Option(name: .customLong("socket-mode"), help: "Socket file permissions, octal (default 0660).")
    var socketMode: String?

    @Option(name: .customLong("socket-group"), help: "Group (name or id) owning the socket file.")
    var socketGroup: String?

    @Option(help: "fsync (default: acknowledged = on disk), batch:MS (fsync every MS), or none (page cache only).")
    var durability: String?

    @Option(name: .customLong("retention-age"), help: "Remove sealed segments older than this (e.g. 7d, 12h).")
    var retentionAge: String?

    @Option(name: .customLong("retention-bytes"), help: "Remove the oldest sealed segments beyond this size.")
    var retentionBytes: Int64?

    @Option(name: .customLong("segment-bytes"), help: "Seal a segment once it holds this many bytes (default 64 MiB).")
    var segmentBytes: Int64?

    @Option(name: .customLong("log-level"), help: "trace, debug, info (default), notice, warning, error, critical.")
    var logLevel: String?

    @Option(help: "Serve Prometheus metrics at unix:PATH or a loopback PORT.")
    var metrics: String?
    @Option(help: "Serve the read-only auditors' console (web page + JSON API) at unix:PATH or a loopback PORT.")
    var http: String?
    @Option(name: .customLong("http-token"), help: "A token every console request must carry (?token= or Bearer).")
    var httpToken: String?

    @Option(name: .customLong("channels-max"), help: "Channels the service may hold.")
    var channelsMax: Int?

    @Option(name: .customLong("event-data-max"), help: "Largest event data, in bytes.")
    var eventDataMax: Int?

    @Option(
        name: .customLong("interface-poll"),
        help: "Seconds between looks at the node's network interfaces (COMM events); 0: never (default 2).")
    var interfacePoll: Int = 2

    @Option(
        help:
            "corosync: join the other nodes' heraldd through Corosync's CPG group (one order on every node); none (default): a single node."
    )
    var cluster: String = "none"

    @Option(name: .customLong("cluster-group"), help: "The CPG group of the cluster's heraldd daemons.")
    var clusterGroup: String = "herald"

    @Option(
        name: .customLong("cluster-expected-nodes"),
        help: "Nodes that count for quorum (default: the nodes of corosync.conf's nodelist).")
    var clusterExpectedNodes: Int?

    func run() async throws {
        Self.boundMallocCaches()
        let configuration: DaemonConfiguration
        let options: (journal: JournalOptions, socket: SocketServer.Options, level: Logger.Level)
        let metricsAddress: MetricsEndpoint.Address?
        let consoleAddress: MetricsEndpoint.Address?
        do {
            configuration = try resolvedConfiguration()
            options = (
                try configuration.journalOptions(), try configuration.socketOptions(),
                try configuration.resolvedLogLevel()
            )
            if let text = configuration.metrics {
                guard let address = MetricsEndpoint.Address(parsing: text) else {
                    throw ServerError.configuration("metrics \(text): expected unix:PATH or a port")
                }
                metricsAddress = address
            } else {
                metricsAddress = nil
            }
            if let text = configuration.http {
                guard let address = MetricsEndpoint.Address(parsing: text) else {
                    throw ServerError.configuration("http \(text): expected unix:PATH or a port")
                }
                consoleAddress = address
            } else {
                consoleAddress = nil
            }
        } catch {
            Self.fail("\(error)", status: 64)
        }

        let level = options.level
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "heraldd")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let directory = configuration.resolvedDataDirectory
        let service: EventService
        var sequencer: ClusterSequencer?
        guard cluster == "none" || cluster == "corosync" else {
            Self.fail("--cluster must be corosync or none", status: 64)
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var journalOptions = options.journal
            journalOptions.logger = Logger(label: "herald.journal")
            if cluster == "corosync" {
                let opened = try await Self.openClustered(
                    directory: directory, journalOptions: journalOptions, limits: configuration.serviceLimits(),
                    group: clusterGroup, expectedNodes: clusterExpectedNodes, logger: logger)
                service = opened.service
                sequencer = opened.sequencer
            } else {
                service = try await EventService.open(
                    at: directory, journalOptions: journalOptions, limits: configuration.serviceLimits())
            }
        } catch let error as CorosyncError {
            Self.fail("cannot join the cluster: \(error)", status: 69)
        } catch let error as JournalError {
            if case .locked = error { Self.fail("\(error) (is another heraldd serving \(directory)?)", status: 75) }
            Self.fail("\(error)", status: 74)
        } catch {
            Self.fail("cannot open \(directory): \(error)", status: 74)
        }

        // The interfaces up now are journaled (COMM events) before the first client connects.
        var monitor: InterfaceMonitor?
        if interfacePoll < 0 { Self.fail("--interface-poll is a number of seconds, 0 or more", status: 64) }
        if interfacePoll > 0 {
            let id = sequencer?.node ?? 1
            let name = sequencer?.status.names[id] ?? EventService.hostName
            let bornOn = await service.registry.membership?.members.first { $0.id == id }?.bornOn ?? 0
            let node = ClusterNode(name: name, id: id, bornOn: bornOn)
            monitor = await InterfaceMonitor.started(service: service, node: node, interval: .seconds(interfacePoll))
        }
        defer { monitor?.stop() }
        var statusWriter: Task<Void, Never>?
        if let sequencer {
            statusWriter = Task {
                while !Task.isCancelled {
                    ClusterStatusFile.write(sequencer, to: directory)
                    try? await Task.sleep(for: .milliseconds(500))
                }
            }
        }
        defer { statusWriter?.cancel() }
        let audit: AuditLog
        do {
            // One log, one origin on every node of a cluster; each node signs with its own key.
            let node = EventService.hostName
            let origin = sequencer == nil ? "herald/\(node)" : "herald/cluster/\(clusterGroup)"
            audit = try AuditLog(
                journal: service.journal, directory: directory, origin: origin, keyName: "herald/\(node)")
        } catch {
            Self.fail("cannot create the audit key in \(directory): \(error)", status: 74)
        }
        let server = SocketServer(service: service, options: options.socket, logger: logger, audit: audit)
        var services: [any Service] = [
            RetentionService(journal: service.journal, logger: logger), CheckpointService(audit: audit, logger: logger),
        ]
        if let consoleAddress {
            services.append(
                AuditConsole(
                    address: consoleAddress, token: configuration.httpToken, service: service, audit: audit,
                    logger: logger))
        }
        if let metricsAddress {
            services.append(
                MetricsEndpoint(address: metricsAddress, registry: registry, service: service, logger: logger))
        }
        services.append(server)
        let group = ServiceGroup(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger)
        // Under systemd (Type=notify) READY=1 once the socket accepts clients.
        let notifier = SystemdNotifier()
        let announcer = Task {
            await server.waitUntilListening()
            let serving = "serving \(directory) on \(options.socket.socketPath)"
            Self.say("heraldd: \(serving) (pid \(getpid()))")
            do { try notifier.ready(status: serving) } catch {
                logger.warning("cannot tell the service manager that heraldd is ready", metadata: ["error": "\(error)"])
            }
        }
        do {
            try await group.run()
        } catch {
            announcer.cancel()
            await service.shutdown()
            if let error = error as? ServerError, case .socket = error { Self.fail("\(error)", status: 75) }
            Self.fail("\(error)", status: 74)
        }
        try? notifier.stopping()
        let cursorFailure = await service.shutdown()
        sequencer?.stop()
        if let cursorFailure {
            // Exit 74, not 0: acknowledgements since the last successful flush are lost (those
            // events come again, marked redelivered), and the operator must know.
            Self.fail("stopped, but the durable cursors could not be saved: \(cursorFailure)", status: 74)
        }
        Self.say("heraldd: stopped")
    }

    /// Cluster mode: the journal cuts one frame per cluster message, the sequencer joins the
    /// CPG group, and the service opens once this node is quorate and caught up.
    private static func openClustered(
        directory: String, journalOptions: JournalOptions, limits: ServiceLimits, group: String, expectedNodes: Int?,
        logger: Logger
    ) async throws -> (service: EventService, sequencer: ClusterSequencer) {
        var journalOptions = journalOptions
        journalOptions.framePerAppend = true
        journalOptions.frameRawBytesMax = 512 << 10
        let journal = try Journal.open(at: directory, options: journalOptions)
        let cursors = try CursorStore(path: directory + "/" + CursorStore.fileName)
        var options = ClusterSequencer.Options()
        options.group = group
        options.expectedNodes = expectedNodes
        let sequencer = try ClusterSequencer(journal: journal, options: options)
        sequencer.onFatal { reason in
            say("heraldd: leaving the cluster: \(reason)")
            Foundation.exit(65)
        }
        say("heraldd: node \(sequencer.node) joined CPG group \(group); waiting for quorum and the others' journals")
        while await !sequencer.waitUntilReady(timeout: .seconds(5)) {
            if case .failed(let reason) = sequencer.currentPhase { fail("cluster: \(reason)", status: 65) }
            logger.notice("cluster: not ready yet", metadata: ["phase": "\(sequencer.currentPhase)"])
        }
        let service = try await EventService.open(
            journal: journal, cursors: cursors, limits: limits, localNode: nil, sequencer: sequencer)
        sequencer.onNotice { descriptor, data in
            Task { await service.announceLocally(descriptor, data: data) }
        }
        sequencer.onLinkChange { node, link, up in
            let name = sequencer.status.names[node] ?? "node\(node)"
            let event = ConnectivityEvent(
                change: up ? .connectionEstablished : .connectionLost,
                node: ClusterNode(name: name, id: node, bornOn: 0),
                interface: link)
            // A link drop comes before Corosync re-forms the membership; a publish sent
            // meanwhile is refused (TRY_AGAIN) and is made again once the node is ready.
            Task {
                for _ in 0..<120 {
                    do {
                        try await service.publishSystemEvent(event.change.descriptor, data: event.encoded())
                        return
                    } catch ServiceError.tryAgain {
                        try? await Task.sleep(for: .milliseconds(500))
                    } catch {
                        logger.warning("cluster: COMM event not journaled", metadata: ["error": "\(error)"])
                        return
                    }
                }
            }
        }
        return (service, sequencer)
    }

    private func resolvedConfiguration() throws -> DaemonConfiguration {
        var flags = DaemonConfiguration()
        flags.dataDirectory = dataDirectory
        flags.socket = socket
        flags.socketMode = socketMode
        flags.socketGroup = socketGroup
        flags.durability = durability
        flags.retentionAge = retentionAge
        flags.retentionBytes = retentionBytes
        flags.segmentBytes = segmentBytes
        flags.logLevel = logLevel
        flags.metrics = metrics
        flags.http = http
        flags.httpToken = httpToken
        if channelsMax != nil || eventDataMax != nil {
            var limits = DaemonConfiguration.Limits()
            limits.channelsMax = channelsMax
            limits.eventDataBytesMax = eventDataMax
            flags.limits = limits
        }
        let file = try configFile.map(DaemonConfiguration.load(from:)) ?? DaemonConfiguration()
        if flags.limits != nil, let fileLimits = file.limits {
            var merged = fileLimits
            merged.channelsMax = channelsMax ?? fileLimits.channelsMax
            merged.eventDataBytesMax = eventDataMax ?? fileLimits.eventDataBytesMax
            flags.limits = merged
        }
        return file.overridden(by: flags)
    }

    /// One line on stdout, unbuffered (scripts wait for it through a pipe).
    /// glibc's malloc, tuned for a long-running server with many threads: it made a 64 MiB
    /// arena per busy thread (up to 8 per core) and, once a big buffer was freed, raised its
    /// mmap threshold to that size, so the freed frames of a flood of big events stayed in
    /// the arenas — heraldd's resident memory grew to 1.6 GB under tools/soak-hostile with
    /// 0.7 GB of it free (malloc_trim gave it back). Two arenas per core, and buffers of
    /// 256 KiB and more mapped and unmapped on their own (a decoded frame, a read-ahead).
    static func boundMallocCaches() {
        herald_bound_malloc_caches(Int32(2 * max(1, ProcessInfo.processInfo.activeProcessorCount)), 256 * 1024)
    }

    private static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    private static func fail(_ message: String, status: Int32) -> Never {
        FileHandle.standardError.write(Data("heraldd: \(message)\n".utf8))
        Foundation.exit(status)
    }
}
