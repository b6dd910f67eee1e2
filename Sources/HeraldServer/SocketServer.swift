import Foundation
public import HeraldService
public import HeraldWire
public import Logging
import NIOCore
import NIOPosix
public import ServiceLifecycle
import Synchronization

/// The daemon's Unix socket: accepts clients and runs one `ClientSession` each, until a
/// graceful shutdown (SIGTERM/SIGINT through the service group) closes the listener and
/// every connection; each session then closes its channels.
public final class SocketServer: Service, Sendable {
    public struct Options: Sendable {
        public var socketPath: String
        /// Permission bits of the socket file (default rw for owner and group).
        public var socketMode: UInt32 = 0o660
        /// Group owning the socket file (name or number); nil keeps the daemon's.
        public var socketGroup: String?
        public var policy = AccessPolicy()
        public var limits = WireLimits()
        /// Bytes a connection may have queued for writing before its deliveries wait.
        public var writeBufferBytesMax = 256 * 1024

        public init(socketPath: String) { self.socketPath = socketPath }
    }

    private struct Connections {
        var channels: [UInt64: any Channel] = [:]
        var nextID: UInt64 = 1
        var shuttingDown = false
    }

    public let options: Options
    private let service: EventService
    private let logger: Logger
    private let metrics = ServerMetrics()
    private let connections = Mutex(Connections())
    private let listening = Mutex<[CheckedContinuation<Void, Never>]?>([])

    private let audit: AuditLog?

    /// - Parameter audit: the journal's Merkle tree and checkpoints, for audit requests (nil:
    ///   they are refused with NOT_EXIST).
    public init(service: EventService, options: Options, logger: Logger, audit: AuditLog? = nil) {
        self.service = service
        self.audit = audit
        self.options = options
        self.logger = logger
    }

    /// Connected clients now.
    public var connectionCount: Int { connections.withLock { $0.channels.count } }

    /// Returns once the socket accepts connections (or at once if it already does).
    public func waitUntilListening() async {
        await withCheckedContinuation { continuation in
            let ready = listening.withLock { waiters -> Bool in
                guard waiters != nil else { return true }
                waiters!.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    public func run() async throws {
        try Self.refuseIfServed(options.socketPath)
        let waterMark = ChannelOptions.Types.WriteBufferWaterMark(
            low: options.writeBufferBytesMax / 2, high: options.writeBufferBytesMax)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.writeBufferWaterMark, value: waterMark)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
            .bind(unixDomainSocketPath: options.socketPath, cleanupExistingSocketFile: true) {
                [limits = options.limits] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RequestDecoder(limits: limits))
                    return try NIOAsyncChannel<InboundRequest, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try applyPermissions()
        logger.info("listening", metadata: ["socket": "\(options.socketPath)"])
        for waiter in listening.withLock({ waiters in
            defer { waiters = nil }; return waiters ?? []
        }) {
            waiter.resume()
        }
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { await self.serve(connection) }
                    }
                }
            }
        } onGracefulShutdown: {
            self.logger.info("shutting down: closing the socket and every connection")
            server.channel.close(promise: nil)
            let open = self.connections.withLock { state in
                state.shuttingDown = true
                return Array(state.channels.values)
            }
            for channel in open { channel.close(promise: nil) }
        }
        unlink(options.socketPath)
    }

    private func serve(_ connection: NIOAsyncChannel<InboundRequest, ByteBuffer>) async {
        let channel = connection.channel
        guard
            let id = connections.withLock({ state -> UInt64? in
                guard !state.shuttingDown else { return nil }
                defer { state.nextID += 1 }
                state.channels[state.nextID] = channel
                return state.nextID
            })
        else {
            channel.close(promise: nil)
            return
        }
        metrics.connections.record(connectionCount)
        metrics.connectionsTotal.increment()
        defer {
            connections.withLock { _ = $0.channels.removeValue(forKey: id) }
            metrics.connections.record(connectionCount)
        }
        let peer = await WireOrigin.peer(of: channel) ?? WireOrigin(uid: UInt32.max, gid: UInt32.max, pid: 0)
        guard
            let path = try? await channel.eventLoop.submit({
                try channel.pipeline.syncOperations.handler(type: RequestDecoder.self).path
            }).get()
        else {
            channel.close(promise: nil)
            return
        }
        do {
            try await connection.executeThenClose { inbound, outbound in
                let session = ClientSession(
                    id: id, peer: peer, service: service, policy: options.policy, limits: options.limits,
                    outbound: outbound, logger: logger, metrics: metrics,
                    connectionCount: { [self] in connectionCount },
                    audit: audit)
                path.start(DirectPath.Context(session: session, service: service, metrics: metrics, channel: channel))
                await self.converse(session: session, path: path, inbound: inbound, outbound: outbound)
                await session.close()
            }
        } catch {
            logger.debug("connection ended with an error", metadata: ["error": "\(error)"])
        }
    }

    /// Takes the requests the connection's decoder did not answer itself (see
    /// `DirectPath`) and queues them on the connection's lane, which answers them in order;
    /// acks are applied at once (they have no reply). A protocol error gets an error frame
    /// and ends the connection.
    private func converse(
        session: ClientSession, path: DirectPath, inbound: NIOAsyncChannelInboundStream<InboundRequest>,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) async {
        let lane = RequestLane()
        let worker = Task { try await lane.run(session: session, outbound: outbound, direct: path) }
        do {
            reading: for try await element in inbound {
                switch element {
                case .malformed(let error):
                    throw error
                case .request(_, let request) where request.type == .ack:
                    _ = await session.handle(request)
                case .request(let correlation, let request):
                    guard await lane.submit(correlation, request) else { break reading }
                    if case .goodbye = request { break reading }
                }
            }
            lane.finish()
            try? await worker.value
        } catch let error as WireError {
            lane.finish()
            try? await worker.value
            metrics.badFrames.increment()
            logger.warning("bad frame: closing the connection", metadata: ["error": "\(error)"])
            try? await outbound.write(ByteBuffer(bytes: WireServerSession.errorFrame(for: error).encoded))
        } catch {
            lane.finish()
            worker.cancel()
            logger.debug("connection read failed", metadata: ["error": "\(error)"])
        }
    }

    private func applyPermissions() throws {
        guard chmod(options.socketPath, mode_t(options.socketMode)) == 0 else {
            throw ServerError.socket("chmod \(options.socketPath): \(String(cString: strerror(errno)))")
        }
        guard let group = options.socketGroup else { return }
        let gid: gid_t
        if let number = gid_t(group) {
            gid = number
        } else if let entry = getgrnam(group) {
            gid = entry.pointee.gr_gid
        } else {
            throw ServerError.socket("unknown group \(group)")
        }
        guard chown(options.socketPath, uid_t.max, gid) == 0 else {
            throw ServerError.socket("chown \(options.socketPath): \(String(cString: strerror(errno)))")
        }
    }

    /// A socket file that still accepts connections belongs to a running daemon: refuse to
    /// take it over. A stale file (its daemon died) is replaced.
    static func refuseIfServed(_ path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw ServerError.socket(
                "socket path longer than \(MemoryLayout.size(ofValue: address.sun_path) - 1) bytes: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if connected == 0 { throw ServerError.socket("another daemon is listening on \(path)") }
    }
}

/// Why the daemon could not start or serve.
public enum ServerError: Error, CustomStringConvertible {
    case socket(String)
    case configuration(String)

    public var description: String {
        switch self {
        case .socket(let message): return "socket: \(message)"
        case .configuration(let message): return "configuration: \(message)"
        }
    }
}
