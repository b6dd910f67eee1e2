public import HeraldWire
import NIOCore
import NIOPosix
import Synchronization

/// A connection to `heraldd`: the event service of the node, over its Unix socket.
///
///     let client = try await HeraldClient.connect()
///     let channel = try await client.openChannel("orders", flags: [.publisher, .subscriber, .create])
///     let events = try await client.subscribe(channel, id: 1, filters: [WireFilter(type: 4, pattern: [])])
///     let ids = try await client.publish(channel, [WireEvent(data: Array("hello".utf8))])
///     for await event in events { print(event.data); event.done() }
///
/// Reconnecting is explicit: after a disconnect every call throws `.disconnected` and every
/// stream ends with that reason; connect again and re-attach durable streams with
/// `start: .cursor` to resume after the last acknowledged event. Thread-safe.
public final class HeraldClient: Sendable {
    /// Open flags (SaEvtChannelOpenFlagsT values).
    public struct OpenFlags: OptionSet, Hashable, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let publisher = OpenFlags(rawValue: 1)
        public static let subscriber = OpenFlags(rawValue: 2)
        public static let create = OpenFlags(rawValue: 4)
    }

    /// A channel opened by this client.
    public struct Channel: Hashable, Sendable {
        public let handle: UInt64
        public let channelID: UInt32
        public let name: [UInt8]
    }

    /// `$HERALD_SOCKET`, else `$HERALD_DATA_DIR/heraldd.sock`, else `herald-data/heraldd.sock`:
    /// where `heraldd` listens with no flags.
    public static var defaultSocketPath: String {
        if let socket = ProcessFacts.environment("HERALD_SOCKET"), !socket.isEmpty { return socket }
        return (ProcessFacts.environment("HERALD_DATA_DIR") ?? "herald-data") + "/heraldd.sock"
    }

    public let socketPath: String
    /// What the daemon said when it accepted the connection (its limits, the peer credentials it read).
    public let welcome: WireWelcome
    let connection: ClientConnection

    private init(socketPath: String, welcome: WireWelcome, connection: ClientConnection) {
        self.socketPath = socketPath
        self.welcome = welcome
        self.connection = connection
    }

    /// Connects and shakes hands. Fails at once (no retry) when no daemon listens, and after
    /// `handshakeTimeout` when something listens but does not answer the hello.
    public static func connect(
        socketPath: String? = nil, clientName: String? = nil, handshakeTimeout: Duration = .seconds(10)
    ) async throws(HeraldClientError) -> HeraldClient {
        let path = socketPath ?? defaultSocketPath
        let clientName = clientName ?? ProcessFacts.name
        let limits = Self.clientLimits
        let frameLimit = limits.frameBytesMax
        let channel: any NIOCore.Channel
        let box = ConnectionBox()
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    let connection = ClientConnection(channel: channel, limits: limits)
                    box.connection = connection
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ClientFrameHandler(connection: connection, frameBytesMax: frameLimit))
                    }
                }
                .connect(unixDomainSocketPath: path).get()
        } catch {
            throw .unreachable(path: path, reason: Self.reason(error))
        }
        guard let connection = box.connection else { throw .disconnected }
        let hello = WireHello(pid: UInt32(getpid()), clientName: String(clientName.utf8.prefix(200)) ?? "client")
        let reply: ServerMessage
        let timedOut = Atomic<Bool>(false)
        let components = handshakeTimeout.components
        let timer = channel.eventLoop.scheduleTask(
            in: .nanoseconds(components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
        ) {
            timedOut.store(true, ordering: .relaxed)
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        do {
            reply = try await connection.request(.hello(hello))
        } catch {
            channel.close(promise: nil)
            if timedOut.load(ordering: .relaxed) {
                throw .unreachable(path: path, reason: "no answer to the handshake within \(handshakeTimeout)")
            }
            throw error
        }
        guard case .welcome(let welcome) = reply else {
            channel.close(promise: nil)
            throw .protocolViolation("expected a welcome, got \(reply.type)")
        }
        return HeraldClient(socketPath: path, welcome: welcome, connection: connection)
    }

    /// What the client accepts from the daemon: the format's ceilings (the daemon enforces
    /// its own, smaller, limits on what it receives).
    private static var clientLimits: WireLimits {
        var limits = WireLimits()
        limits.frameBytesMax = 64 << 20
        limits.dataBytesMax = 64 << 20
        limits.patternsMax = Int(UInt16.max)
        limits.patternBytesMax = Int(UInt16.max)
        limits.nameBytesMax = Int(UInt16.max)
        limits.publisherNameBytesMax = Int(UInt16.max)
        limits.batchMax = 1 << 20
        return limits
    }

    private static func reason(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        return "\(error)"
    }

    /// Says goodbye and closes the connection; the daemon closes this client's channels.
    public func close() async {
        _ = try? await connection.request(.goodbye)
        try? await connection.channel.close()
        connection.fail(.disconnected)
    }

    // MARK: Channels

    public func openChannel(_ name: String, flags: OpenFlags) async throws(HeraldClientError) -> Channel {
        try await openChannel(Array(name.utf8), flags: flags)
    }

    public func openChannel(_ name: [UInt8], flags: OpenFlags) async throws(HeraldClientError) -> Channel {
        let reply = try await connection.request(.openChannel(name: name, flags: flags.rawValue))
        guard case .channelOpened(let handle, let id) = reply else { throw unexpected(reply) }
        return Channel(handle: handle, channelID: id, name: name)
    }

    public func closeChannel(_ channel: Channel) async throws(HeraldClientError) {
        try await expectOK(.closeChannel(handle: channel.handle))
    }

    public func unlinkChannel(_ name: String) async throws(HeraldClientError) {
        try await unlinkChannel(Array(name.utf8))
    }

    public func unlinkChannel(_ name: [UInt8]) async throws(HeraldClientError) {
        try await expectOK(.unlinkChannel(name: name))
    }

    // MARK: Publishing

    /// Publishes events as one batch (one journal commit); returns their event ids once
    /// they are as durable as the daemon's durability setting promises.
    /// - Parameter route: an address (`.nodes`, `.name`, `.session`: only those subscribers
    ///   receive the events), `replyTo` (the events answer that event and go to its
    ///   publisher, as OCF GROUP REPLY events), and `senderName` (the durable name replies to
    ///   these events may reach). The default is a plain broadcast.
    public func publish(_ channel: Channel, _ events: [WireEvent], route: EventRoute? = nil)
        async throws(HeraldClientError) -> [UInt64]
    {
        let message: ClientMessage =
            route.map { .publishRouted(handle: channel.handle, route: $0, events: events) }
            ?? .publish(handle: channel.handle, events: events)
        let reply = try await connection.request(message)
        guard case .published(let first, let count) = reply else { throw unexpected(reply) }
        return (0..<UInt64(count)).map { first + $0 }
    }

    public func publish(_ channel: Channel, _ event: WireEvent, route: EventRoute? = nil)
        async throws(HeraldClientError) -> UInt64
    {
        try await publish(channel, [event], route: route)[0]
    }

    public func clearRetention(_ channel: Channel, eventID: UInt64) async throws(HeraldClientError) {
        try await expectOK(.clearRetention(handle: channel.handle, eventID: eventID))
    }

    // MARK: Receiving

    /// Adds a subscription to the channel open; returns the open's stream (started now,
    /// with default window, unless `attach` made it first).
    public func subscribe(_ channel: Channel, id: UInt32, filters: [WireFilter]) async throws(HeraldClientError)
        -> EventStream
    {
        let reply = try await connection.request(.subscribe(handle: channel.handle, subscription: id, filters: filters))
        return try stream(from: reply)
    }

    public func unsubscribe(_ channel: Channel, id: UInt32) async throws(HeraldClientError) {
        try await expectOK(.unsubscribe(handle: channel.handle, subscription: id))
    }

    /// Starts a stream: a channel open's deliveries (then add subscriptions) or OCF classes,
    /// from a start position, optionally durable.
    public func attach(_ attach: WireAttach) async throws(HeraldClientError) -> EventStream {
        let stream = try stream(from: try await connection.request(.attach(attach)))
        stream.setWindow(attach.window)
        return stream
    }

    /// Ends a stream; a durable cursor stays where it was acknowledged.
    public func detach(_ stream: EventStream) async throws(HeraldClientError) {
        try await expectOK(.detach(stream: stream.id))
        connection.removeStream(stream.id)
        stream.finish(nil)
    }

    // MARK: Queries

    public func channels() async throws(HeraldClientError) -> [WireChannelInfo] {
        let reply = try await connection.request(.listChannels)
        guard case .channels(let rows) = reply else { throw unexpected(reply) }
        return rows
    }

    public func cursors() async throws(HeraldClientError) -> [WireCursor] {
        let reply = try await connection.request(.listCursors)
        guard case .cursors(let rows) = reply else { throw unexpected(reply) }
        return rows
    }

    public func status() async throws(HeraldClientError) -> WireStatus {
        let reply = try await connection.request(.status)
        guard case .status(let status) = reply else { throw unexpected(reply) }
        return status
    }

    /// Journals a membership (MEMB) or connectivity (COMM) event as the node's cluster
    /// layer would; refused with ACCESS unless this process runs as the daemon's user or root.
    public func publishSystemEvent(descriptor: UInt32, data: [UInt8]) async throws(HeraldClientError) -> UInt64 {
        let reply = try await connection.request(.systemEvent(descriptor: descriptor, data: data))
        guard case .published(let first, _) = reply else { throw unexpected(reply) }
        return first
    }

    // MARK: Auditing

    /// The latest checkpoint heraldd signed of the journal's Merkle tree (a C2SP signed note:
    /// verify it with the node's verifier key, `herald audit key`).
    public func checkpoint() async throws(HeraldClientError) -> String {
        let reply = try await connection.request(.auditCheckpoint)
        guard case .checkpoint(let note) = reply else { throw unexpected(reply) }
        return note
    }

    /// An inclusion proof of the record `sequence` in the tree of `treeSize` leaves (nil: the
    /// latest checkpoint's size), for a remote auditor with no access to the data folder.
    public func prove(sequence: UInt64, treeSize: UInt64? = nil) async throws(HeraldClientError) -> WireInclusionProof {
        let reply = try await connection.request(.auditProve(sequence: sequence, treeSize: treeSize ?? 0))
        guard case .inclusionProof(let proof) = reply else { throw unexpected(reply) }
        return proof
    }

    /// A consistency proof that the tree of `first` leaves is a prefix of the tree of `second`
    /// (nil: the latest checkpoint's size).
    public func consistency(first: UInt64, second: UInt64? = nil) async throws(HeraldClientError)
        -> WireConsistencyProof
    {
        let reply = try await connection.request(.auditConsistency(first: first, second: second ?? 0))
        guard case .consistencyProof(let proof) = reply else { throw unexpected(reply) }
        return proof
    }

    public func ping() async throws(HeraldClientError) {
        let reply = try await connection.request(.ping)
        guard case .pong = reply else { throw unexpected(reply) }
    }

    private func expectOK(_ message: ClientMessage) async throws(HeraldClientError) {
        let reply = try await connection.request(message)
        guard case .ok = reply else { throw unexpected(reply) }
    }

    private func stream(from reply: ServerMessage) throws(HeraldClientError) -> EventStream {
        guard case .attached(let id) = reply, let stream = connection.stream(id) else { throw unexpected(reply) }
        return stream
    }

    func unexpected(_ reply: ServerMessage) -> HeraldClientError {
        .protocolViolation("unexpected reply \(reply.type)")
    }
}

/// Carries the connection out of the channel initializer.
private final class ConnectionBox: @unchecked Sendable {
    // Written once on the event loop before `connect` completes, read after: the future's
    // completion orders the two.
    var connection: ClientConnection?
}
