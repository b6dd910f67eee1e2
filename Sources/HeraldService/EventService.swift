import Foundation
public import HeraldJournal
public import HeraldWire
import Synchronization

/// The event service of both APIs, embedded: channels, events, retention, on top of a
/// journal. Every operation is a journal record and the in-memory state (`registry`) is
/// rebuilt from the journal, so a restart — or another node replaying the same journal —
/// arrives at the same state.
///
/// On one node, operations are serialized by this actor and a FIFO gate that keeps each
/// operation's validate → append → apply atomic across the journal's suspension.
public actor EventService {
    public nonisolated let journal: Journal
    public nonisolated let limits: ServiceLimits
    private let clock: any WallClock
    public private(set) var registry = ChannelRegistry()
    private var tail: JournalReader
    private let cursors: CursorStore?
    private let sequencer: any Sequencer
    private var subscribers: [UInt64: Subscriber] = [:]
    private var classSubscribers: [Subscriber] = []
    /// Reads the journal's head once for every subscriber that caught up with it.
    private nonisolated let dispatcher: LiveDispatcher
    private var flusher: Task<Void, Never>?
    /// The segment the last state snapshot went into.
    private var snapshotSegment: SegmentID?
    /// Appends between their start and their apply; a snapshot waits for none to be left.
    private var appendsInFlight = 0
    private var snapshotInProgress = false
    private var drainedWaiter: CheckedContinuation<Void, Never>?
    private var afterSnapshotWaiters: [CheckedContinuation<Void, Never>] = []
    private var gateHeld = false
    private var gateWaiters: [CheckedContinuation<Void, Never>] = []

    /// Opens the service over `journal`: replays it to rebuild the channels, then closes
    /// every channel open left by the previous run (its clients are gone), journaling the
    /// closes so that replay and live state agree.
    /// - Parameter cursors: where durable subscribers' cursors live; nil keeps them in memory.
    /// - Parameter cursorFlushMilliseconds: how often acknowledged positions are persisted
    ///   (one transaction for all subscribers); `flushCursors()` forces it.
    /// - Parameter sequencer: orders the service's records; `LocalSequencer(journal:)` by
    ///   default. It must append to `journal`, which the service tails to apply them.
    /// - Parameter localNode: the node's name for the membership event the service journals
    ///   at start (the node as the only member, one instance after the last); nil announces
    ///   nothing (a cluster layer reports membership instead).
    public static func open(
        journal: Journal, cursors: CursorStore? = nil, limits: ServiceLimits = ServiceLimits(),
        clock: any WallClock = SystemWallClock(), cursorFlushMilliseconds: Int = 5,
        localNode: String? = EventService.hostName, sequencer: (any Sequencer)? = nil
    ) async throws -> EventService {
        let service = try EventService(
            journal: journal, cursors: cursors ?? CursorStore(path: nil), limits: limits, clock: clock,
            sequencer: sequencer ?? LocalSequencer(journal: journal))
        try await service.start(flushEvery: cursorFlushMilliseconds, localNode: localNode)
        return service
    }

    /// This machine's host name.
    public static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Opens the journal in `directory` and the cursors beside it (`cursors.sqlite`).
    public static func open(
        at directory: String, journalOptions: JournalOptions = JournalOptions(), limits: ServiceLimits = ServiceLimits()
    ) async throws -> EventService {
        let journal = try Journal.open(at: directory, options: journalOptions)
        let cursors = try CursorStore(path: directory + "/" + CursorStore.fileName)
        return try await open(journal: journal, cursors: cursors, limits: limits, clock: journalOptions.clock)
    }

    private init(
        journal: Journal, cursors: CursorStore, limits: ServiceLimits, clock: any WallClock, sequencer: any Sequencer
    ) throws {
        self.journal = journal
        self.sequencer = sequencer
        self.cursors = cursors
        self.limits = limits
        self.clock = clock
        self.tail = try journal.reader(from: .oldest)
        self.dispatcher = LiveDispatcher(journal: journal)
    }

    /// Records read for subscribers so far: by the live dispatcher (once for all the
    /// subscribers that caught up) and by the readers of those behind it.
    public nonisolated var recordsReadForSubscribers: UInt64 { dispatcher.recordsRead.load(ordering: .relaxed) }

    /// Subscribers the live dispatcher reads for now.
    nonisolated var liveSubscriberCount: Int { dispatcher.attachedCount }

    /// In a cluster (the sequencer's node is not 0): records of other nodes are applied as
    /// they arrive, and no state snapshots are journaled (each node would write its own at
    /// a different position).
    private var clustered: Bool { sequencer.node != 0 }

    /// Applies records appended by others (another node, through the cluster sequencer).
    public func applyAppended() {
        try? applyAvailable()
    }

    private func start(flushEvery milliseconds: Int, localNode: String?) async throws {
        if clustered {
            sequencer.onAppend { [weak self] in
                Task { await self?.applyAppended() }
            }
        }
        flusher = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(milliseconds))
                try? await self?.flushCursors()
            }
        }
        try applyAvailable()
        var stale: [JournalEntry] = []
        for channel in registry.channels.values.sorted(by: { $0.id < $1.id }) {
            for (opener, flags) in channel.openers.sorted(by: { $0.key < $1.key })
            where registry.openerNodes[opener] ?? 0 == sequencer.node {
                var close = record(.channelClose, channel: channel.id, data: [UInt8](littleEndian: opener))
                if !flags.contains(.subscriber) { close.descriptor = EventDescriptor.groupInvalid.rawValue }
                stale.append(close)
            }
        }
        if !stale.isEmpty { try await appendAndApply(stale) }
        if let localNode {
            let instance = (registry.membership?.instance ?? 0) + 1
            let node = ClusterNode(name: localNode, id: 1, bornOn: instance)
            let event = MembershipEvent(instance: instance, members: [node], left: [], joined: [node])
            try await publishSystemEvent(.newMembership, data: event.encoded())
        }
        if !clustered { try await writeSnapshot() }
    }

    /// Journals the whole state (see `ServiceRecordKind.snapshot`). Exclusive: new appends
    /// wait and the ones in flight are applied first, so the snapshot at sequence P is the
    /// state after exactly the records before P.
    private func writeSnapshot() async throws(ServiceError) {
        snapshotInProgress = true
        snapshotSegment = journal.segments.last
        defer {
            snapshotInProgress = false
            for waiter in afterSnapshotWaiters { waiter.resume() }
            afterSnapshotWaiters.removeAll()
        }
        while appendsInFlight > 0 { await withCheckedContinuation { drainedWaiter = $0 } }
        do { try applyAvailable() } catch { throw .library }
        // Records that direct publishes append meanwhile change no state: the snapshot after
        // them is still the state before it.
        let range = try await append([record(.snapshot, channel: 0, data: registry.snapshot())])
        do { try applyAvailable() } catch { throw .library }
        precondition(registry.applied >= range.last, "snapshot not applied")
    }

    /// Journals a membership or connectivity event produced by the node or the cluster
    /// layer; OCF subscribers of its class receive it in journal order.
    @discardableResult
    public func publishSystemEvent(_ descriptor: EventDescriptor, data: [UInt8]) async throws(ServiceError) -> EventID {
        guard descriptor.eventClass == .membership || descriptor.eventClass == .connectivity else {
            throw .invalidParameter
        }
        return try await serialized { () throws(ServiceError) -> EventID in
            var entry = record(.system, channel: 0, data: data)
            entry.descriptor = descriptor.rawValue
            return EventID(sequence: try await appendAndApply([entry]).last)
        }
    }

    /// Hands a node-local notice that is not journaled (NOT_PRIMARY, INVALID, EVICTED from
    /// the cluster layer while this node has no quorum: journaling it would make this
    /// node's journal differ from the cluster's) to the class subscribers of its class.
    public func announceLocally(_ descriptor: EventDescriptor, data: [UInt8]) {
        let now = clock.now()
        for subscriber in classSubscribers { subscriber.deliverNotice(descriptor, data: data, time: now) }
    }

    // MARK: Channels

    /// Opens `name`, creating it with `.create` (SaEvtChannelOpen).
    public func openChannel(_ name: [UInt8], flags: ChannelOpenFlags) async throws(ServiceError) -> ChannelHandle {
        guard flags.isSubset(of: .all), !flags.isEmpty else { throw .badFlags }
        guard !name.isEmpty else { throw .invalidParameter }
        guard name.count <= limits.channelNameBytesMax else { throw .nameTooLong }
        return try await serialized { () throws(ServiceError) -> ChannelHandle in
            var data = [flags.subtracting(.create).rawValue]
            if clustered { data += [UInt8](littleEndian: sequencer.node) }
            // A subscriber's open is an OCF GROUP join; a publisher-only open is no event.
            var open = record(.channelOpen, channel: 0, data: data)
            if !flags.contains(.subscriber) { open.descriptor = EventDescriptor.groupInvalid.rawValue }
            // In a cluster another node may create the same name at once; the first create
            // in the journal wins and this open, then void, is made again on the winner.
            for _ in 0..<3 {
                if let channel = registry.channel(named: name) {
                    open.channel = channel.id
                    let range = try await appendAndApply([open])
                    guard registry.channels[channel.id]?.openers[range.last.rawValue] != nil else { continue }
                    return ChannelHandle(channel: channel.id, opener: range.last.rawValue, flags: flags)
                }
                guard flags.contains(.create) else { throw .notExist }
                guard registry.channels.count < limits.channelsMax else { throw .noResources }
                let id = registry.nextChannelID(node: sequencer.node)
                open.channel = id
                let range = try await appendAndApply([record(.channelCreate, channel: id, data: name), open])
                guard registry.channels[id]?.openers[range.last.rawValue] != nil else { continue }
                return ChannelHandle(channel: id, opener: range.last.rawValue, flags: flags)
            }
            throw .tryAgain
        }
    }

    /// Closes an open handle (SaEvtChannelClose). An unlinked instance is deleted at its
    /// last close.
    public func closeChannel(_ handle: ChannelHandle) async throws(ServiceError) {
        try await serialized { () throws(ServiceError) in
            guard let flags = registry.channels[handle.channel]?.openers[handle.opener] else { throw .badHandle }
            if let subscriber = subscribers.removeValue(forKey: handle.opener) {
                subscriber.cancel()
                // The channel closes even if the cursor cannot be stored (a departed client's
                // open must not linger); the loss is kept and reported at shutdown.
                try? persist([subscriber], removing: true)
            }
            var close = record(.channelClose, channel: handle.channel, data: [UInt8](littleEndian: handle.opener))
            if !flags.contains(.subscriber) { close.descriptor = EventDescriptor.groupInvalid.rawValue }
            try await appendAndApply([close])
        }
    }

    /// Removes the name (SaEvtChannelUnlink); existing openers keep the old instance.
    public func unlinkChannel(_ name: [UInt8]) async throws(ServiceError) {
        guard name.count <= limits.channelNameBytesMax else { throw .nameTooLong }
        try await serialized { () throws(ServiceError) in
            guard let channel = registry.channel(named: name) else { throw .notExist }
            try await appendAndApply([record(.channelUnlink, channel: channel.id, data: name)])
        }
    }

    // MARK: Events

    /// Publishes an event (SaEvtEventPublish): needs the publisher flag; returns its id.
    /// Publishes do not wait for one another: concurrent ones share the journal's commits.
    public func publish(
        _ handle: ChannelHandle, _ attributes: EventAttributes, data: [UInt8], origin: PublisherOrigin? = nil,
        route: EventRoute = EventRoute()
    ) async throws(ServiceError) -> EventID {
        try await publish(handle, [(attributes, data)], origin: origin, route: route)[0]
    }

    /// Publishes several events on one channel as one journal append (one commit); returns
    /// their ids in order. All are checked before any is written.
    /// - Parameter origin: the publisher's credentials, recorded with each event (the daemon
    ///   passes what it read from the client's socket).
    /// - Parameter route: where the events go (everyone, nodes, a durable name, a session)
    ///   or what they answer (`replyTo`: they go to that event's publisher, as OCF GROUP
    ///   REPLY events), and the durable name they are published under. The sender is the
    ///   handle's open. A reply to an event the journal does not hold (unknown, removed by
    ///   retention, not a published event) is `.notExist`, as a unicast to a session that
    ///   has no open.
    public func publish(
        _ handle: ChannelHandle, _ events: [(EventAttributes, [UInt8])], origin: PublisherOrigin? = nil,
        route: EventRoute = EventRoute()
    ) async throws(ServiceError) -> [EventID] {
        guard handle.flags.contains(.publisher) else { throw .access }
        let entries = try entries(handle, events, origin: origin, route: try resolve(route, sender: handle.opener))
        // No gate: a publish creates no name, so it cannot race a create; the handle check
        // and the append keep the actor's order.
        guard registry.channels[handle.channel]?.openers[handle.opener] != nil else { throw .badHandle }
        let range = try await appendAndApply(entries)
        return (range.first.rawValue...range.last.rawValue).map { EventID(sequence: SequenceNumber($0)) }
    }

    /// The journal entries of a publish, every event checked against the limits.
    private nonisolated func entries(
        _ handle: ChannelHandle, _ events: [(EventAttributes, [UInt8])], origin: PublisherOrigin?, route: EventRoute
    ) throws(ServiceError) -> [JournalEntry] {
        guard !events.isEmpty else { throw .invalidParameter }
        let descriptor = route.replyTo == 0 ? EventDescriptor.cast : EventDescriptor.reply
        var entries: [JournalEntry] = []
        entries.reserveCapacity(events.count)
        let now = clock.now()
        let flags =
            ServiceRecordKind.publish.rawValue | RecordCodec.routeFlag | (origin == nil ? 0 : PublisherOrigin.flag)
        for (attributes, data) in events {
            guard data.count <= limits.eventDataBytesMax else { throw .tooBig }
            guard attributes.patterns.count <= limits.patternsMax,
                attributes.patterns.allSatisfy({ $0.count <= limits.patternBytesMax })
            else { throw .tooBig }
            guard attributes.publisherName.count <= limits.publisherNameBytesMax else { throw .nameTooLong }
            guard attributes.priority <= EventAttributes.lowestPriority else { throw .invalidParameter }
            guard attributes.retention >= 0 else { throw .invalidParameter }
            entries.append(
                JournalEntry(
                    time: now, descriptor: descriptor.rawValue, channel: handle.channel,
                    priority: attributes.priority, flags: flags,
                    retention: min(attributes.retention, limits.retentionMax),
                    publisher: PublisherOrigin.publisherField(origin, route: route, name: attributes.publisherName),
                    patterns: attributes.patterns, data: data))
        }
        return entries
    }

    /// Whether `publishDirect` serves publishes on this node (a single node: the journal's
    /// append order is the service's order; a cluster orders publishes through Corosync).
    public nonisolated var publishesDirectly: Bool { sequencer is LocalSequencer }

    /// A publish that changes no service state, submitted to the journal's writer from the
    /// caller's thread, without the actor: `completion` runs once the events are as durable
    /// as the journal promises (keep it short), on the journal's thread — or on the calling
    /// thread before this returns, when the journal commits it inline (`appendInline`). This is the
    /// request path of heraldd's connections (`publish` does the same work through the
    /// actor, for every other publish).
    ///
    /// Returns false, doing nothing, when the publish is not for this path (the caller then
    /// uses `publish`, which gives the same answer with its error): a cluster node, an event
    /// with retention (the registry keeps it), a route that needs the registry or the
    /// journal (a session, a reply), or anything `publish` refuses. The caller vouches that
    /// `handle` is open and stays open until the completion (heraldd: the connection's own
    /// open, closed only by a later request of the same connection). Records appended here
    /// are applied by the actor lazily, as no-ops; a segment roll still gets its snapshot.
    public nonisolated func publishDirect(
        _ handle: ChannelHandle, _ events: [(EventAttributes, [UInt8])], origin: PublisherOrigin,
        route: EventRoute = EventRoute(),
        completion: @escaping @Sendable (Result<[EventID], ServiceError>) -> Void
    ) -> Bool {
        guard publishesDirectly, handle.flags.contains(.publisher), route.replyTo == 0,
            events.allSatisfy({ $0.0.retention == 0 }), (try? Self.checkAddress(route)) != nil
        else { return false }
        if case .session = route.target { return false }
        var route = route
        route.sender = handle.opener
        guard let entries = try? entries(handle, events, origin: origin, route: route) else { return false }
        journal.appendInline(entries) { [self] result in
            switch result {
            case .success(let range):
                completion(
                    .success((range.first.rawValue...range.last.rawValue).map { EventID(sequence: SequenceNumber($0)) })
                )
                snapshotIfRolled()
            case .failure(let error):
                completion(.failure(ServiceError(error)))
            }
        }
        return true
    }

    /// The last segment a direct append was seen in: a new one (the journal rolled) gets the
    /// state snapshot the actor's appends would have written.
    private nonisolated let directSegment = Mutex<SegmentID?>(nil)

    private nonisolated func snapshotIfRolled() {
        let last = journal.segments.last
        let rolled = directSegment.withLock { seen -> Bool in
            defer { seen = last }
            return seen != nil && seen != last
        }
        if rolled { Task { try? await self.snapshotIfNeeded() } }
    }

    /// Applies what direct publishes appended and writes a snapshot if the journal moved to
    /// a segment without one.
    private func snapshotIfNeeded() async throws(ServiceError) {
        do { try applyAvailable() } catch { throw .library }
        if !clustered && !snapshotInProgress && journal.segments.last != snapshotSegment { try await writeSnapshot() }
    }

    /// The route a publish journals: the sender filled in, a reply addressed to the answered
    /// event's publisher, the target checked.
    private func resolve(_ requested: EventRoute, sender: UInt64) throws(ServiceError) -> EventRoute {
        var route = requested
        route.sender = sender
        try Self.checkAddress(route)
        if case .session(let opener) = route.target {
            guard registry.channels.values.contains(where: { $0.openers[opener] != nil }) else { throw .notExist }
        }
        guard route.replyTo != 0 else { return route }
        // A reply goes to the answered event's publisher: nothing else may be asked.
        guard case .everyone = route.target else { throw .invalidParameter }
        guard let sequence = EventID(rawValue: route.replyTo).sequence else { throw .notExist }
        let answered: JournalRecord?
        do {
            answered = try journal.record(sequence)
        } catch {
            throw .notExist
        }
        guard let answered, ServiceRecordKind(flags: answered.flags) == .publish,
            let block = PublisherOrigin.routeBlock(flags: answered.flags, publisher: answered.publisher),
            let request = EventRoute(recordBlock: block)
        else { throw .notExist }
        route.target = .requester(session: request.sender, name: request.senderName)
        return route
    }

    /// What a route's address must be, checked without the registry or the journal: a
    /// sender name and a durable name within their limits, a node list not empty nor too
    /// long; `.requester` is the service's own (a resolved reply), never asked for.
    private nonisolated static func checkAddress(_ route: EventRoute) throws(ServiceError) {
        guard route.senderName.count <= EventRoute.nameBytesMax else { throw .nameTooLong }
        switch route.target {
        case .everyone, .session: break
        case .nodes(let nodes):
            guard !nodes.isEmpty, nodes.count <= EventRoute.nodesMax else { throw .invalidParameter }
        case .name(let name):
            guard !name.isEmpty else { throw .invalidParameter }
            guard name.count <= EventRoute.nameBytesMax else { throw .nameTooLong }
        case .requester: throw .invalidParameter
        }
    }

    /// The node id this service's subscribers have in routes (as in the membership: the
    /// cluster's node id, 1 for a single node).
    public nonisolated var routeNode: UInt32 { sequencer.node == 0 ? 1 : sequencer.node }

    /// Ends a retained event's retention (SaEvtEventRetentionTimeClear).
    public func clearRetention(_ handle: ChannelHandle, _ id: EventID) async throws(ServiceError) {
        guard !id.isReserved else { throw .invalidParameter }
        try await serialized { () throws(ServiceError) in
            guard let channel = registry.channels[handle.channel], channel.openers[handle.opener] != nil else {
                throw .badHandle
            }
            let now = clock.now()
            guard channel.retained.contains(where: { $0.id == id && $0.expires > now }) else { throw .notExist }
            try await appendAndApply([
                record(.retentionClear, channel: handle.channel, data: [UInt8](littleEndian: id.rawValue))
            ])
        }
    }

    /// Retained, unexpired events of a channel instance, oldest first.
    public func retainedEvents(in channel: UInt32) -> [RetainedEvent] {
        registry.retained(in: channel, at: clock.now())
    }

    // MARK: Subscribers

    /// The deliveries of a channel open: one subscriber per open, created here with its
    /// start position, window and (optionally) durable name. Needs the subscriber flag.
    /// - Parameter session: the client session's addresses (heraldd: one per connection);
    ///   nil: the open alone.
    public func subscriber(
        for handle: ChannelHandle, options: SubscriberOptions = SubscriberOptions(), session: SessionAddress? = nil
    ) throws(ServiceError) -> Subscriber {
        guard handle.flags.contains(.subscriber) else { throw .access }
        guard registry.channels[handle.channel]?.openers[handle.opener] != nil else { throw .badHandle }
        guard subscribers[handle.opener] == nil else { throw .exist }
        guard options.window > 0 else { throw .invalidParameter }
        if options.durableName != nil && options.lagMax != nil { throw .invalidParameter }
        let subscriber = try makeSubscriber(
            .channel(handle), options: options, session: session ?? SessionAddress([handle.opener]))
        subscribers[handle.opener] = subscriber
        return subscriber
    }

    /// An OCF-style subscriber to whole event classes (MEMB, COMM, GROUP), with no channel
    /// open. A window of 1 gives OCF's rule: the next event only after every callback
    /// called `done()` on the previous one. End it with `removeClassSubscriber`.
    /// `session`: the client session's addresses, for unicast events and replies.
    public func classSubscriber(
        _ classes: Set<EventClass>, options: SubscriberOptions = SubscriberOptions(),
        session: SessionAddress = SessionAddress()
    ) throws(ServiceError) -> Subscriber {
        guard !classes.isEmpty, options.window > 0 else { throw .invalidParameter }
        if options.durableName != nil && options.lagMax != nil { throw .invalidParameter }
        // A membership subscriber starting now first receives the membership in force
        // (OCF: the first event after activation is the current membership).
        var current: [SequenceNumber] = []
        if classes.contains(.membership), options.start == .now, let record = registry.membershipRecord {
            current = [record]
        }
        let subscriber = try makeSubscriber(.classes(classes), options: options, session: session, current: current)
        classSubscribers.append(subscriber)
        return subscriber
    }

    public func removeClassSubscriber(_ subscriber: Subscriber) throws(ServiceError) {
        guard let index = classSubscribers.firstIndex(where: { $0 === subscriber }) else { throw .badHandle }
        classSubscribers.remove(at: index)
        subscriber.cancel()
        try persist([subscriber], removing: true)
    }

    private func makeSubscriber(
        _ selection: SubscriberSelection, options: SubscriberOptions, session: SessionAddress,
        current: [SequenceNumber] = []
    ) throws(ServiceError) -> Subscriber {
        var cursor: CursorStore.Cursor?
        if let name = options.durableName {
            guard allSubscribers.allSatisfy({ $0.options.durableName != name }) else { throw .exist }
            do {
                cursor = try cursors?.cursor(named: name)
                // Started elsewhere than its cursor: the stored cursor is the old
                // attachment's, and stored positions only move forward (`CursorStore.save`).
                if options.start != .cursor, cursor != nil { try cursors?.remove(named: name) }
            } catch { throw .library }
        }
        let position: ReadPosition
        switch options.start {
        case .oldest: position = .oldest
        case .sequence(let sequence): position = .sequence(Swift.max(sequence, journal.oldestSequence))
        case .time(let time): position = .time(time)
        // Fixed now, not when the delivery task first runs: nothing published after this
        // call may be missed.
        case .now: position = .sequence(journal.head.sequence.next)
        case .cursor: position = cursor.map { .sequence($0.acknowledged.next) } ?? .oldest
        }
        var persistHorizon: (@Sendable (SequenceNumber, SequenceNumber) throws -> Void)?
        if let name = options.durableName, let cursors {
            let clock = self.clock
            persistHorizon = { [self] acknowledged, horizon in
                do {
                    try cursors.save([
                        CursorStore.Cursor(
                            name: name, acknowledged: acknowledged, deliveredThrough: horizon, updated: clock.now())
                    ])
                } catch {
                    // A full disk only holds the subscriber back (it retries); anything else
                    // ends its stream, and shutdown reports why.
                    if !CursorStore.isOutOfSpace(error) {
                        self.horizonFailure.withLock { $0 = $0 ?? "durable subscriber \(name) ended: \(error)" }
                    }
                    throw error
                }
            }
        }
        let subscriber = Subscriber(
            selection: selection, options: options, journal: journal, cursor: options.start == .cursor ? cursor : nil,
            node: routeNode, session: session, dispatcher: dispatcher, persistHorizon: persistHorizon)
        subscriber.queueCurrent(current)
        subscriber.start(at: position)
        return subscriber
    }

    /// Ends the open's subscriber (its subscriptions go with it) without closing the
    /// channel; a durable cursor is persisted as last acknowledged.
    public func removeSubscriber(for handle: ChannelHandle) throws(ServiceError) {
        guard let subscriber = subscribers.removeValue(forKey: handle.opener) else { throw .notExist }
        subscriber.cancel()
        try persist([subscriber], removing: true)
    }

    /// The open's subscriber, if it has one.
    public func existingSubscriber(for handle: ChannelHandle) -> Subscriber? { subscribers[handle.opener] }

    private var allSubscribers: [Subscriber] { Array(subscribers.values) + classSubscribers }

    /// Adds a subscription (SaEvtEventSubscribe) to the open's subscriber, creating a
    /// non-durable one starting now if there is none. Matching retained events of the
    /// channel are delivered first.
    @discardableResult
    public func subscribe(
        _ handle: ChannelHandle, id: UInt32, filters: [EventFilter], session: SessionAddress? = nil
    ) throws(ServiceError) -> Subscriber {
        guard handle.flags.contains(.subscriber) else { throw .access }
        let subscriber: Subscriber
        if let existing = subscribers[handle.opener] {
            subscriber = existing
        } else {
            subscriber = try self.subscriber(for: handle, session: session)
        }
        let retained = registry.retained(in: handle.channel, at: clock.now()).map(\.sequence)
        // An open that starts now: what was published before the subscription is not its own
        // (AIS), even if the open's reader has not passed it yet. One that replays history
        // applies its subscriptions to every record it has not read yet.
        let after = subscriber.options.start == .now ? journal.head.sequence : nil
        try subscriber.add(
            subscription: id, filters: filters, retained: retained, after: after,
            limit: limits.subscriptionsPerOpenMax)
        return subscriber
    }

    /// Removes a subscription (SaEvtEventUnsubscribe).
    public func unsubscribe(_ handle: ChannelHandle, id: UInt32) throws(ServiceError) {
        guard let subscriber = subscribers[handle.opener] else { throw .notExist }
        try subscriber.remove(subscription: id)
    }

    /// Persists every durable subscriber's acknowledged position now, in one transaction.
    public func flushCursors() throws(ServiceError) {
        try persist(allSubscribers)
    }

    /// Durable cursors as stored.
    public func storedCursors() throws(ServiceError) -> [CursorStore.Cursor] {
        do { return try cursors?.all() ?? [] } catch { throw .library }
    }

    /// Stores the dirty durable cursors of `candidates` in one transaction. `removing`: the
    /// subscribers are going away, so a failure loses their acknowledgements for good (kept
    /// in `lostCursorFailure`, which shutdown reports).
    private func persist(_ candidates: [Subscriber], removing: Bool = false) throws(ServiceError) {
        var batch: [CursorStore.Cursor] = []
        var flushed: [(Subscriber, (acknowledged: SequenceNumber, deliveredThrough: SequenceNumber, dirty: Bool))] =
            []
        for subscriber in candidates {
            guard let name = subscriber.options.durableName else { continue }
            let snapshot = subscriber.cursorSnapshot
            guard snapshot.dirty else { continue }
            batch.append(
                CursorStore.Cursor(
                    name: name, acknowledged: snapshot.acknowledged, deliveredThrough: snapshot.deliveredThrough,
                    updated: clock.now()))
            flushed.append((subscriber, snapshot))
        }
        // Nothing to store proves nothing: an earlier failure stays reported.
        guard !batch.isEmpty else { return }
        do {
            try cursors?.save(batch)
            cursorFlushFailure = nil
        } catch {
            cursorFlushFailure = "\(error)"
            if removing { lostCursorFailure = "\(error)" }
            throw .library
        }
        for (subscriber, snapshot) in flushed { subscriber.markClean(after: snapshot) }
    }

    /// Why the last attempt to persist durable cursors failed (SQLite's message); nil after
    /// a success. The periodic flush keeps trying; a failure is reported, not swallowed.
    public private(set) var cursorFlushFailure: String?
    /// Why the cursor of a subscriber that went away (a closed channel, a detached stream)
    /// could not be stored: its acknowledgements since the last flush are lost. Never
    /// cleared; `shutdown` reports it.
    public private(set) var lostCursorFailure: String?
    /// Why a durable subscriber's stream ended because its cursor could not be stored
    /// before a delivery (the first such failure; never cleared; `shutdown` reports it).
    private nonisolated let horizonFailure = Mutex<String?>(nil)

    /// Stops every subscriber, persists cursors and closes the journal. Returns why the
    /// durable cursors could not be persisted, if they could not (acknowledgements since the
    /// last successful flush are then lost: those events come again, marked redelivered).
    @discardableResult
    public func shutdown() -> String? {
        flusher?.cancel()
        for subscriber in allSubscribers { subscriber.cancel() }
        dispatcher.stop()
        let failure: String?
        do {
            try persist(allSubscribers)
            failure =
                lostCursorFailure.map { "a closed subscriber's durable cursor was not stored: \($0)" }
                ?? horizonFailure.withLock { $0 }
        } catch {
            failure = cursorFlushFailure ?? "\(error)"
        }
        subscribers.removeAll()
        classSubscribers.removeAll()
        cursors?.close()
        journal.close()
        return failure
    }

    // MARK: Journal

    private func record(_ kind: ServiceRecordKind, channel: UInt32, data: [UInt8]) -> JournalEntry {
        JournalEntry(
            time: clock.now(), descriptor: kind.groupDescriptor.rawValue, channel: channel, priority: 0,
            flags: kind.rawValue, data: data)
    }

    /// Appends, then applies every record up to the appended ones, in journal order. When
    /// the journal has moved to a new segment since the last snapshot, writes one there.
    @discardableResult
    private func appendAndApply(_ entries: [JournalEntry]) async throws(ServiceError) -> SequenceRange {
        while snapshotInProgress { await withCheckedContinuation { afterSnapshotWaiters.append($0) } }
        appendsInFlight += 1
        let outcome: Result<SequenceRange, ServiceError>
        do {
            let range = try await append(entries)
            try applyAvailable()
            precondition(registry.applied >= range.last, "applied \(registry.applied) < appended \(range.last)")
            outcome = .success(range)
        } catch let error as ServiceError {
            outcome = .failure(error)
        } catch {
            outcome = .failure(.library)
        }
        appendsInFlight -= 1
        if appendsInFlight == 0, let waiter = drainedWaiter {
            drainedWaiter = nil
            waiter.resume()
        }
        let range = try outcome.get()
        if !clustered && !snapshotInProgress && journal.segments.last != snapshotSegment { try await writeSnapshot() }
        return range
    }

    private func append(_ entries: [JournalEntry]) async throws(ServiceError) -> SequenceRange {
        do {
            return try await sequencer.sequence(entries)
        } catch let error as ServiceError {
            throw error
        } catch let error as JournalError {
            throw ServiceError(error)
        } catch {
            throw .library
        }
    }

    /// Applies what was appended to the registry. A publish without retention changes
    /// nothing but the applied mark (most records): it is not materialized (no copy of its
    /// data, patterns and publisher); every other record is applied as before.
    private func applyAvailable() throws {
        _ = try tail.nextView { view in
            if view.retention <= 0 && ServiceRecordKind(flags: view.flags) == .publish {
                registry.markApplied(view.sequence)
            } else {
                registry.apply(view.materialize())
                recordsCopiedToApply += 1
            }
            return true
        }
    }

    /// Records copied out of the journal to be applied (the suite's guard that plain
    /// publishes are not).
    private(set) var recordsCopiedToApply = 0

    // MARK: The gate

    private func serialized<T: Sendable>(_ body: () async throws(ServiceError) -> T) async throws(ServiceError) -> T {
        if gateHeld {
            await withCheckedContinuation { gateWaiters.append($0) }
        } else {
            gateHeld = true
        }
        defer {
            if gateWaiters.isEmpty {
                gateHeld = false
            } else {
                gateWaiters.removeFirst().resume()  // passes the gate on, still held
            }
        }
        return try await body()
    }
}

extension ServiceRecordKind {
    /// The OCF GROUP event a channel record also is.
    var groupDescriptor: EventDescriptor {
        switch self {
        case .channelOpen: return .join
        case .channelClose: return .leave
        case .publish: return .cast
        default: return .groupInvalid
        }
    }
}

extension ServiceError {
    /// How a journal failure reaches a client.
    init(_ error: JournalError) {
        switch error {
        case .recordTooLarge: self = .tooBig
        case .emptyAppend, .invalidOptions: self = .invalidParameter
        case .io where error.isOutOfSpace: self = .noSpace
        case .writerFailed, .io, .corrupt, .index: self = .failedOperation
        case .closed, .readOnly: self = .unavailable
        case .locked: self = .busy
        case .notFound, .notRetained: self = .notExist
        case .formatTooNew, .indexTooNew: self = .version
        }
    }
}
