import Foundation
import HeraldJournal
import HeraldService
import HeraldWire
import Logging
import NIOCore
import Synchronization

/// One client connection: its channel opens, its delivery streams, its credentials.
/// Requests are handled in the order they arrive; deliveries are written by one task per
/// stream, each bounded by its subscriber's window and by the connection's write buffer
/// (a client that stops reading stalls only its own streams). When the connection ends,
/// for whatever reason, `close()` ends the streams and closes every channel it opened
/// (journaled as GROUP leave); durable cursors stay as last acknowledged.
actor ClientSession {
    struct Stream {
        var subscriber: Subscriber
        /// The delivery task, started once the reply that created the stream is written.
        var task: Task<Void, Never>?
        /// The channel open it belongs to; nil for an OCF class stream.
        var handle: ChannelHandle?
    }

    let id: UInt64
    let peer: WireOrigin
    private let service: EventService
    private let policy: AccessPolicy
    private let limits: WireLimits
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let logger: Logger
    private let metrics: ServerMetrics
    private let connectionCount: @Sendable () -> Int
    private var clientName = ""
    private var clientPid: UInt32 = 0
    private var handles: [UInt64: ChannelHandle] = [:] {
        didSet { publishHandles.withLock { $0 = handles.filter { $0.value.flags.contains(.publisher) } } }
    }
    /// The opens that may publish, readable off the actor: the connection's direct publish
    /// path (see `SocketServer.converse`) looks a request's handle up here.
    nonisolated let publishHandles = Mutex<[UInt64: ChannelHandle]>([:])
    private var streams: [UInt32: Stream] = [:]
    private var nextStream: UInt32 = 1
    private var closed = false
    /// The protocol version agreed in the hello.
    private var version = WireProtocol.version
    /// The channel opens this connection made: unicast events and replies sent to any of
    /// them reach every stream of the connection.
    private let address = SessionAddress()
    private let audit: AuditLog?

    init(
        id: UInt64, peer: WireOrigin, service: EventService, policy: AccessPolicy, limits: WireLimits,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, logger: Logger, metrics: ServerMetrics,
        connectionCount: @escaping @Sendable () -> Int, audit: AuditLog? = nil
    ) {
        self.connectionCount = connectionCount
        self.audit = audit
        self.id = id
        self.peer = peer
        self.service = service
        self.policy = policy
        self.limits = limits
        self.outbound = outbound
        var logger = logger
        logger[metadataKey: "connection"] = "\(id)"
        logger[metadataKey: "peer"] = "uid=\(peer.uid) pid=\(peer.pid)"
        self.logger = logger
        self.metrics = metrics
    }

    /// Handles one request; nil means no reply (an ack).
    func handle(_ message: ClientMessage) async -> ServerMessage? {
        do {
            return try await reply(to: message)
        } catch {
            metrics.refused.increment()
            logger.debug("request refused", metadata: ["request": "\(message.type)", "error": "\(error.aisName)"])
            return .error(code: UInt32(error.rawValue), message: Self.explain(error, message))
        }
    }

    private func reply(to message: ClientMessage) async throws(ServiceError) -> ServerMessage? {
        switch message {
        case .hello(let hello):
            clientName = hello.clientName
            clientPid = hello.pid
            version = WireProtocol.negotiate(hello) ?? WireProtocol.version
            logger.info("client connected", metadata: ["name": "\(hello.clientName)"])
            var welcome = WireWelcome(
                version: version, serverName: WireProtocol.serverName, nodeName: EventService.hostName,
                peer: peer, limits: limits)
            // What the service accepts (larger data or patterns are refused with TOO_BIG).
            welcome.dataBytesMax = UInt32(service.limits.eventDataBytesMax)
            welcome.patternsMax = UInt16(clamping: service.limits.patternsMax)
            welcome.patternBytesMax = UInt16(clamping: service.limits.patternBytesMax)
            welcome.channelsMax = UInt32(clamping: service.limits.channelsMax)
            welcome.retentionMax = service.limits.retentionMax
            return .welcome(welcome)
        case .openChannel(let name, let flags):
            let openFlags = ChannelOpenFlags(rawValue: flags)
            if openFlags.contains(.publisher) && !policy.allows(peer, .publish, channel: name) { throw .access }
            if openFlags.contains(.subscriber) && !policy.allows(peer, .subscribe, channel: name) { throw .access }
            guard handles.count < limits.opensMax else { throw .noResources }
            let handle = try await service.openChannel(name, flags: openFlags)
            handles[handle.opener] = handle
            address.add(handle.opener)
            return .channelOpened(handle: handle.opener, channel: handle.channel)
        case .closeChannel(let opener):
            let handle = try handle(opener)
            if let stream = streams.first(where: { $0.value.handle == handle }) { endStream(stream.key) }
            handles[opener] = nil
            try await service.closeChannel(handle)
            return .ok
        case .unlinkChannel(let name):
            guard policy.allows(peer, .publish, channel: name) else { throw .access }
            try await service.unlinkChannel(name)
            return .ok
        case .publish(let opener, let events):
            return try await publish(opener, events, route: EventRoute())
        case .publishRouted(let opener, let route, let events):
            return try await publish(opener, events, route: route)
        case .subscribe(let opener, let subscription, let filters):
            let handle = try handle(opener)
            let stream = try await streamID(for: handle)
            try await service.subscribe(
                handle, id: subscription,
                filters: filters.map { EventFilter(FilterType(rawValue: $0.type) ?? .passAll, $0.pattern) },
                session: address)
            return .attached(stream: stream)
        case .unsubscribe(let opener, let subscription):
            try await service.unsubscribe(try handle(opener), id: subscription)
            return .ok
        case .attach(let attach):
            return .attached(stream: try await attachStream(attach))
        case .detach(let stream):
            guard let ended = streams[stream] else { throw .badHandle }
            endStream(stream)
            if let handle = ended.handle {
                try await service.removeSubscriber(for: handle)
            } else {
                try await service.removeClassSubscriber(ended.subscriber)
            }
            return .ok
        case .ack(let stream, let sequences):
            // Acks for a stream that has ended are ignored: the stream's cursor was
            // persisted when it ended and a late ack cannot move it.
            if let subscriber = streams[stream]?.subscriber {
                subscriber.acknowledge(rawSequences: sequences)
                metrics.acks.increment(by: sequences.count)
            }
            return nil
        case .clearRetention(let opener, let eventID):
            try await service.clearRetention(try handle(opener), EventID(rawValue: eventID))
            return .ok
        case .listChannels:
            // The ids are sorted, not the channels (copying whole channels about in a sort
            // was 40 % of heraldd's CPU with 1 000 clients listing 2 000 channels).
            let registry = await service.registry
            let rows = registry.channels.keys.sorted().prefix(limits.rowsMax).map { id in
                let channel = registry.channels[id]!
                return WireChannelInfo(
                    id: id, name: channel.name, linked: channel.linked, openers: UInt32(channel.openers.count),
                    retained: UInt32(channel.retained.count))
            }
            return .channels(rows)
        case .listCursors:
            let cursors = try await service.storedCursors().prefix(limits.rowsMax)
            return .cursors(
                cursors.map {
                    WireCursor(
                        name: $0.name, acknowledged: $0.acknowledged.rawValue,
                        deliveredThrough: $0.deliveredThrough.rawValue, updated: $0.updated)
                })
        case .status:
            let journal = service.journal
            let head = journal.head
            return .status(
                WireStatus(
                    headSequence: head.sequence.rawValue, oldestSequence: journal.oldestSequence.rawValue,
                    headTime: head.time, headChain: head.chain.hex, segments: UInt32(journal.segments.count),
                    connections: UInt32(connectionCount())))
        case .ping:
            return .pong
        case .goodbye:
            return .ok
        case .systemEvent(let descriptor, let data):
            // The node's membership is the cluster layer's to say: only the daemon's own
            // user (a cluster bridge, an operator's tool) and root may journal one.
            guard peer.uid == 0 || peer.uid == getuid() else { throw .access }
            let id = try await service.publishSystemEvent(EventDescriptor(rawValue: descriptor), data: data)
            return .published(first: id.rawValue, count: 1)
        case .auditCheckpoint, .auditProve, .auditConsistency:
            return try auditReply(message)
        }
    }

    /// A message a person can act on.
    static func explain(_ error: ServiceError, _ request: ClientMessage) -> String {
        let detail: String
        switch (error, request) {
        case (.notExist, .openChannel(let name, _)):
            detail = "no channel named \"\(String(decoding: name, as: UTF8.self))\" (open it with create)"
        case (.notExist, .unlinkChannel(let name)):
            detail = "no channel named \"\(String(decoding: name, as: UTF8.self))\""
        case (.access, .openChannel(let name, _)), (.access, .unlinkChannel(let name)):
            detail = "the access rules do not allow this user on \"\(String(decoding: name, as: UTF8.self))\""
        case (.access, .systemEvent):
            detail = "only the daemon's own user and root may journal membership or connectivity events"
        case (.invalidParameter, .systemEvent):
            detail = "a system event is a membership (class 2) or connectivity (class 1) event"
        case (.access, .publish), (.access, .publishRouted):
            detail = "the channel was not opened with the publisher flag"
        case (.notExist, .publishRouted(_, let route, _)) where route.replyTo != 0:
            detail =
                "event \(route.replyTo) is not a published event the journal holds (unknown, or removed by retention)"
        case (.notExist, .publishRouted):
            detail = "no channel open of that session id (a session id is the g_event_id of a GROUP join)"
        case (.notExist, .auditCheckpoint):
            detail = "no checkpoint yet (heraldd signs one once the journal has records)"
        case (.notExist, .auditProve), (.notExist, .auditConsistency):
            detail = "beyond the Merkle tree, or the record is no longer retained"
        case (.failedOperation, .auditProve), (.failedOperation, .auditConsistency):
            detail = "the records do not hash to the stored Merkle tree: the segments or merkle.tiles were altered"
        case (.invalidParameter, .publishRouted):
            detail = "a reply goes to its request's publisher: no other address; node lists and names not empty"
        case (.access, _): detail = "the channel was not opened with the subscriber flag"
        case (.badHandle, _): detail = "no such channel handle or stream on this connection"
        case (.exist, _): detail = "already exists (a stream per channel open; durable names are unique)"
        case (.tooBig, _): detail = "over a limit (event data, patterns)"
        case (.noResources, _): detail = "a limit on channels or streams is reached"
        default: detail = "\(request.type) failed"
        }
        return "\(error.aisName): \(detail)"
    }

    /// Several consecutive publish requests on one handle as one journal append (one
    /// commit): one reply each, in order. If the merged append is refused, each request is
    /// tried alone so that one bad request does not fail its neighbours.
    func publishMerged(_ opener: UInt64, _ requests: [[WireEvent]]) async -> [ServerMessage] {
        guard requests.count > 1 else { return [await handle(.publish(handle: opener, events: requests[0]))!] }
        let merged = await handle(.publish(handle: opener, events: requests.flatMap { $0 }))
        guard case .published(let first, _) = merged! else {
            var replies: [ServerMessage] = []
            for events in requests { replies.append(await handle(.publish(handle: opener, events: events))!) }
            return replies
        }
        var next = first
        return requests.map { events in
            defer { next += UInt64(events.count) }
            return .published(first: next, count: UInt32(events.count))
        }
    }

    private func handle(_ opener: UInt64) throws(ServiceError) -> ChannelHandle {
        guard let handle = handles[opener] else { throw .badHandle }
        return handle
    }

    // MARK: Streams

    /// The stream of a channel open, attached with defaults (start now) if it has none.
    private func streamID(for handle: ChannelHandle) async throws(ServiceError) -> UInt32 {
        if let existing = streams.first(where: { $0.value.handle == handle }) { return existing.key }
        return try await attachStream(WireAttach(target: .channel(handle: handle.opener)))
    }

    private func attachStream(_ attach: WireAttach) async throws(ServiceError) -> UInt32 {
        guard streams.count < limits.streamsMax else { throw .noResources }
        guard attach.window > 0, attach.window <= 65_536 else { throw .invalidParameter }
        let start: StartPosition
        switch attach.start {
        case .oldest: start = .oldest
        case .sequence(let sequence): start = .sequence(SequenceNumber(sequence))
        case .time(let time): start = .time(time)
        case .cursor: start = .cursor
        case .now: start = .now
        }
        let options = SubscriberOptions(
            start: start, durableName: attach.durableName.isEmpty ? nil : attach.durableName,
            window: Int(attach.window), lagMax: attach.lagMax == 0 ? nil : attach.lagMax)
        let subscriber: Subscriber
        var channelHandle: ChannelHandle?
        switch attach.target {
        case .channel(let opener):
            let handle = try handle(opener)
            guard !streams.values.contains(where: { $0.handle == handle }) else { throw .exist }
            subscriber = try await service.subscriber(for: handle, options: options, session: address)
            channelHandle = handle
        case .classes(let mask):
            var classes = Set<EventClass>()
            if mask & 1 != 0 { classes.insert(.membership) }
            if mask & 2 != 0 { classes.insert(.connectivity) }
            if mask & 4 != 0 { classes.insert(.group) }
            subscriber = try await service.classSubscriber(classes, options: options, session: address)
        }
        let id = nextStream
        nextStream += 1
        // The reply (`attached`) is written before the first delivery: the task starts only
        // after this request's reply has gone out (see `startPendingStreams`).
        streams[id] = Stream(subscriber: subscriber, task: nil, handle: channelHandle)
        pendingStarts.append(id)
        return id
    }

    private var pendingStarts: [UInt32] = []

    /// The journal's checkpoint and proofs (read-only, for any connected peer: the journal's
    /// records are what the proofs show, as `herald query` on the data folder would).
    private func auditReply(_ message: ClientMessage) throws(ServiceError) -> ServerMessage {
        guard let audit else { throw .notExist }
        let latest = audit.latest
        do {
            switch message {
            case .auditCheckpoint:
                guard let latest else { throw ServiceError.notExist }
                return .checkpoint(note: latest.note)
            case .auditProve(let sequence, let requested):
                guard sequence > 0 else { throw ServiceError.invalidParameter }
                return try audit.withTree { tree in
                    let size = requested != 0 ? requested : min(latest?.treeSize ?? tree.size, tree.size)
                    return .inclusionProof(
                        WireInclusionProof(
                            leafIndex: sequence - 1, treeSize: size, leaf: try tree.leaf(sequence - 1),
                            rootHash: try tree.root(size: size).bytes,
                            auditPath: try tree.inclusionProof(index: sequence - 1, size: size).map(\.bytes)))
                }
            case .auditConsistency(let first, let requested):
                return try audit.withTree { tree in
                    let second = requested != 0 ? requested : min(latest?.treeSize ?? tree.size, tree.size)
                    guard first <= second else { throw ServiceError.invalidParameter }
                    return .consistencyProof(
                        WireConsistencyProof(
                            first: first, second: second, firstRoot: try tree.root(size: first).bytes,
                            secondRoot: try tree.root(size: second).bytes,
                            proof: try tree.consistencyProof(first: first, second: second).map(\.bytes)))
                }
            default:
                throw ServiceError.invalidParameter
            }
        } catch let error as ServiceError {
            throw error
        } catch let error as MerkleError {
            switch error {
            case .beyondTree, .notRetained, .notHashed: throw .notExist
            case .tileMismatch: throw .failedOperation
            }
        } catch {
            throw .library
        }
    }

    private func publish(_ opener: UInt64, _ events: [WireEvent], route: EventRoute) async throws(ServiceError)
        -> ServerMessage
    {
        let handle = try handle(opener)
        let ids = try await service.publish(
            handle, events.map(\.serviceEvent), origin: PublisherOrigin(uid: peer.uid, gid: peer.gid, pid: peer.pid),
            route: route)
        metrics.publishes.increment(by: ids.count)
        return .published(first: ids[0].rawValue, count: UInt32(ids.count))
    }

    /// Starts the delivery tasks of streams attached by the request just answered.
    func startPendingStreams() {
        for id in pendingStarts {
            guard let stream = streams[id] else { continue }
            let outbound = self.outbound
            let metrics = self.metrics
            let subscriber = stream.subscriber
            let admit = stream.handle == nil ? groupAccessFilter() : nil
            let (routes, reasons) = (version >= 3, version >= 4)
            let logger = self.logger
            let onFailure: @Sendable (String) -> Void = { failure in
                logger.error("stream ended by heraldd", metadata: ["stream": "\(id)", "reason": "\(failure)"])
            }
            streams[id]?.task = Task {
                await DeliveryBatcher(routes: routes, reasons: reasons, onFailure: onFailure).run(
                    stream: id, subscriber: subscriber, outbound: outbound, metrics: metrics, admit: admit)
            }
        }
        pendingStarts.removeAll()
    }

    /// For an OCF class stream under access rules: GROUP events only of channels this peer
    /// may subscribe to (a channel that no longer exists is not shown). Channel ids are never
    /// reused, so each answer is kept.
    private func groupAccessFilter() -> (@Sendable (Delivery) async -> Bool)? {
        guard !policy.rules.isEmpty else { return nil }
        let (policy, peer, service) = (self.policy, self.peer, self.service)
        let answers = Mutex<[UInt32: Bool]>([:])
        return { delivery in
            guard delivery.descriptor.eventClass == .group else { return true }
            if let known = answers.withLock({ $0[delivery.channel] }) { return known }
            let name = await service.registry.channels[delivery.channel]?.name
            let allowed = name.map { policy.allows(peer, .subscribe, channel: $0) } ?? false
            answers.withLock { $0[delivery.channel] = allowed }
            return allowed
        }
    }

    private func endStream(_ id: UInt32) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        stream.subscriber.cancel()
    }

    /// Ends everything the client had: streams, then channel opens (GROUP leave).
    func close() async {
        guard !closed else { return }
        closed = true
        for (id, stream) in streams {
            endStream(id)
            if stream.handle == nil { try? await service.removeClassSubscriber(stream.subscriber) }
            stream.task?.cancel()
        }
        for handle in handles.values.sorted(by: { $0.opener < $1.opener }) {
            do {
                try await service.closeChannel(handle)
            } catch {
                logger.warning("closing a channel of a departed client failed", metadata: ["error": "\(error)"])
            }
        }
        handles.removeAll()
        logger.info("client disconnected", metadata: ["name": "\(clientName)"])
    }
}

extension WireEvent {
    /// A published event as the service takes it: its attributes and its data.
    var serviceEvent: (EventAttributes, [UInt8]) {
        (
            EventAttributes(
                patterns: patterns, priority: priority, retention: retention, publisherName: publisherName),
            data
        )
    }
}
