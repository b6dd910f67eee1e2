import Glibc
public import HeraldJournal
public import HeraldWire
import Synchronization

/// Where a subscriber starts reading the journal.
public enum StartPosition: Hashable, Sendable {
    case oldest
    case sequence(SequenceNumber)
    case time(Nanoseconds)
    /// After the durable subscriber's last acknowledged event (`.oldest` for a new name).
    case cursor
    /// Only events published from now on.
    case now
}

public struct SubscriberOptions: Hashable, Sendable {
    public var start: StartPosition = .now
    /// A durable subscriber's name: its cursor survives restarts.
    public var durableName: String?
    /// Deliveries that may be outstanding (not yet `done`) at once. 1 gives OCF's rule:
    /// the next event only after the previous one is done.
    public var window = 64
    /// ... and at most this many bytes of event data and patterns outstanding (one delivery
    /// always, however big): a window of thousands of small events is a few of big ones.
    /// Reading ahead of the window holds up to four times this much.
    public var windowBytes = 4 << 20
    /// For a non-durable subscriber that accepts losing events: when it falls further than
    /// this behind the head, it skips to the head and receives one SAF lost event.
    public var lagMax: UInt64?

    public init(start: StartPosition = .now, durableName: String? = nil, window: Int = 64, lagMax: UInt64? = nil) {
        self.start = start
        self.durableName = durableName
        self.window = window
        self.lagMax = lagMax
    }
}

/// What a subscriber receives.
public enum SubscriberSelection: Hashable, Sendable {
    /// SAF: events published on the channel of this open that its subscriptions' filters match.
    case channel(ChannelHandle)
    /// OCF: every event of these classes — MEMB and COMM events from the node or cluster,
    /// GROUP events from channel activity (open = join, close = leave, publish = cast).
    case classes(Set<EventClass>)
}

/// One event handed to a subscriber. Call `done()` when it is processed (SAF/OCF's
/// `callback_done`): that frees a window slot and advances a durable cursor.
public struct Delivery: Sendable {
    /// SAF's lost-event pattern.
    public static let lostEventPattern = Array("SA_EVT_LOST_EVENT_PATTERN".utf8)

    public var sequence: SequenceNumber
    /// The subscription (of this channel open) whose filters matched; the lowest id if several.
    public var subscriptionID: UInt32
    /// Delivered before a restart and not acknowledged then.
    public var redelivered: Bool
    /// Delivered because it was retained when the subscription was made.
    public var retained: Bool
    /// Decoded once per record and shared by all its deliveries.
    let content: DeliveryContent
    let subscriber: Subscriber

    /// The OCF event descriptor (GROUP CAST for a published event).
    public var descriptor: EventDescriptor { content.descriptor }
    public var eventID: EventID { content.eventID }
    /// The channel of a published event or of a GROUP join/leave; 0 for MEMB and COMM events.
    public var channel: UInt32 { content.channel }
    public var attributes: EventAttributes { content.attributes }
    /// The SAF priority (0 highest), without copying the attributes.
    public var priority: UInt8 { content.attributes.priority }
    public var publishTime: Nanoseconds { content.publishTime }
    public var data: [UInt8] { content.data }
    /// Who published it, as the daemon saw the publisher's socket; nil when published
    /// in-process or by the service itself.
    public var origin: PublisherOrigin? { content.origin }
    /// A lost-event notice: events were skipped.
    public var isLostEvent: Bool { eventID == .lost }
    /// The event's route (cast kind, what it answers, the sender's open); nil for events
    /// that have none (joins, leaves, system events, events journaled before routes).
    public var route: DeliveryRoute? { content.routing.delivered }
    /// Bytes it counts for in the window (data and patterns).
    var byteCount: Int { content.byteCount }

    init(
        sequence: SequenceNumber, subscriptionID: UInt32, redelivered: Bool, retained: Bool,
        content: DeliveryContent, subscriber: Subscriber
    ) {
        self.sequence = sequence
        self.subscriptionID = subscriptionID
        self.redelivered = redelivered
        self.retained = retained
        self.content = content
        self.subscriber = subscriber
    }

    /// A delivery with content of its own (retained events, notices, lost events).
    init(
        sequence: SequenceNumber, descriptor: EventDescriptor, eventID: EventID, channel: UInt32,
        subscriptionID: UInt32, attributes: EventAttributes, publishTime: Nanoseconds, data: [UInt8],
        origin: PublisherOrigin? = nil, redelivered: Bool, retained: Bool, routing: DeliveryContent.Routing = .none,
        subscriber: Subscriber
    ) {
        self.init(
            sequence: sequence, subscriptionID: subscriptionID, redelivered: redelivered, retained: retained,
            content: DeliveryContent(
                descriptor: descriptor, eventID: eventID, channel: channel, attributes: attributes,
                publishTime: publishTime, data: data, origin: origin, routing: routing),
            subscriber: subscriber)
    }

    /// Acknowledges the delivery. Harmless when called twice.
    public func done() { subscriber.acknowledge(sequence) }
}

/// The deliveries of one channel open: its subscriptions' filters, a journal reader, a
/// window of outstanding deliveries and (for a durable subscriber) its cursor.
/// Iterate it with `for await delivery in subscriber`, or take whole batches (what the
/// reader found ready at once, in delivery order) with `for await batch in subscriber.batches`:
/// one hand-off per batch instead of one per event.
public final class Subscriber: AsyncSequence, Sendable {
    public typealias Element = Delivery
    public typealias Batches = AsyncStream<[Delivery]>

    struct State {
        var subscriptions: [UInt32: [EventFilter]] = [:]
        /// Subscriptions of an open that starts now receive what is published after they
        /// were made (AIS): records up to here are not theirs (retained ones aside).
        var subscribedAfter: [UInt32: SequenceNumber] = [:]
        var outstanding = OutstandingSet()
        /// The reader has looked at every record up to here.
        var scanned = SequenceNumber.zero
        /// The delivery horizon: persisted (durable subscribers) before any event past it is
        /// handed out, so after a crash every event that may have been delivered and was not
        /// acknowledged comes back marked as redelivered. It runs ahead of actual deliveries
        /// (to the journal's head), so the mark means "possibly delivered before".
        var horizon = SequenceNumber.zero
        /// The horizon persisted by the previous run: events up to here are redeliveries.
        var redeliverThrough = SequenceNumber.zero
        var acknowledged = SequenceNumber.zero
        var dirty = false
        var windowWaiter: CheckedContinuation<Void, Never>?
        /// Retained events to deliver before live ones, each with the subscriptions that
        /// existed before it was queued: if the live reader already passed the event and one
        /// of those matched, it was delivered then.
        var retainedQueue: [(sequence: SequenceNumber, earlier: [UInt32: [EventFilter]])] = []
        var retainedSent = Set<UInt64>()
        var cancelled = false
        /// The loop, parked while caught up; resumed by an append, `add` or `cancel`.
        var idle: CheckedContinuation<Void, Never>?
        /// SAF subscribers: matched deliveries read ahead, not handed out yet (journal order);
        /// the cursor must not pass the first.
        var held = HeldDeliveries()
        /// Subscriptions removed so far (what the reader matched on an older snapshot is
        /// matched again).
        var removals = 0
        /// The priority the delivery loop actually runs at, and whether on a delivery thread
        /// (checked by the suite).
        var loopStartedAt: (priority: TaskPriority, onDeliveryThread: Bool)?
        /// The reader's buffer bytes when it last parked on a full window (for the suite).
        var parkedReaderBytes: Int?
        /// Attached to the live dispatcher: it reads the journal for this subscriber and
        /// leaves matched deliveries in `held`; `scanned` then trails (see `scannedThrough`).
        var live = false
    }

    public let selection: SubscriberSelection
    public let options: SubscriberOptions
    /// Node, durable name and session, against which routed events are checked.
    let recipient: RouteRecipient
    let state: Mutex<State>
    private let journal: Journal
    private let stream: AsyncStream<[Delivery]>
    private let continuation: AsyncStream<[Delivery]>.Continuation
    /// With a full window, the reader waits until this many slots are free, so that the
    /// window refills in bulk rather than one slot (one wake-up, one read) at a time.
    let refill: Int
    private let task = Mutex<Task<Void, Never>?>(nil)
    /// Persists (acknowledged, horizon) for a durable subscriber; nil otherwise.
    private let persistHorizon: (@Sendable (SequenceNumber, SequenceNumber) throws -> Void)?
    /// Reads the head for every subscriber that caught up with it; nil: this one always
    /// reads on its own.
    private let dispatcher: LiveDispatcher?
    /// What the readers of subscribers waiting for their window may keep (`parkedReaders`).
    let readerBudget: ByteBudget

    init(
        selection: SubscriberSelection, options: SubscriberOptions, journal: Journal, cursor: CursorStore.Cursor?,
        node: UInt32 = 1, session: SessionAddress = SessionAddress(), dispatcher: LiveDispatcher? = nil,
        readerBudget: ByteBudget = Subscriber.parkedReaders,
        persistHorizon: (@Sendable (SequenceNumber, SequenceNumber) throws -> Void)?
    ) {
        self.selection = selection
        self.readerBudget = readerBudget
        self.dispatcher = dispatcher
        self.options = options
        recipient = RouteRecipient(
            node: node, durableName: options.durableName.map { Array($0.utf8) }, session: session)
        self.journal = journal
        self.persistHorizon = persistHorizon
        var initial = State()
        if let cursor {
            initial.acknowledged = cursor.acknowledged
            initial.scanned = cursor.acknowledged
            initial.redeliverThrough = cursor.deliveredThrough
            initial.horizon = cursor.deliveredThrough
        }
        state = Mutex(initial)
        refill = Swift.max(1, Swift.min(options.window / 4, 1024))
        (stream, continuation) = AsyncStream.makeStream(of: [Delivery].self)
    }

    /// The deliveries batch by batch. Iterate either this or the subscriber itself, once.
    public var batches: Batches { stream }

    public func makeAsyncIterator() -> Iterator { Iterator(batches: stream.makeAsyncIterator()) }

    /// One delivery at a time, from the batches.
    public struct Iterator: AsyncIteratorProtocol {
        var batches: AsyncStream<[Delivery]>.Iterator
        /// The current batch not handed out yet, the next one last: taken with `popLast`, a
        /// move (no reference counting per delivery).
        var remaining: [Delivery] = []

        public mutating func next() async -> Delivery? {
            while remaining.isEmpty {
                guard var batch = await batches.next() else { return nil }
                batch.reverse()  // in place: the stream handed over the only reference
                remaining = batch
            }
            return remaining.popLast()
        }
    }

    /// The cursor a durable subscriber would persist now.
    var cursorSnapshot: (acknowledged: SequenceNumber, deliveredThrough: SequenceNumber, dirty: Bool) {
        state.withLock { state in
            // Live with nothing outstanding or read ahead: every record the dispatcher passed
            // is done (it matched nothing for this subscriber).
            if state.live && state.outstanding.isEmpty && state.held.isEmpty {
                let through = scannedThrough(state)
                if through > state.acknowledged {
                    state.acknowledged = through
                    state.dirty = true
                }
            }
            return (state.acknowledged, state.horizon, state.dirty)
        }
    }

    /// Every record up to here has been looked at for this subscriber: by its own reader,
    /// or (live) by the dispatcher, whose position runs ahead of `scanned` for the records
    /// that gave this subscriber nothing.
    func scannedThrough(_ state: State) -> SequenceNumber {
        guard state.live, let dispatcher else { return state.scanned }
        return Swift.max(state.scanned, dispatcher.position.previous)
    }

    /// Clears the dirty mark after `snapshot` was persisted, unless an ack (on another
    /// thread) moved the cursor since: then it stays dirty for the next flush.
    func markClean(after snapshot: (acknowledged: SequenceNumber, deliveredThrough: SequenceNumber, dirty: Bool)) {
        state.withLock { state in
            if state.acknowledged == snapshot.acknowledged && state.horizon == snapshot.deliveredThrough {
                state.dirty = false
            }
        }
    }

    // MARK: Subscriptions

    /// Adds a subscription; with `after`, it receives only records past that sequence (and
    /// `retained`).
    func add(
        subscription id: UInt32, filters: [EventFilter], retained: [SequenceNumber], after: SequenceNumber?,
        limit: Int = .max
    ) throws(ServiceError) {
        try state.withLock { state throws(ServiceError) in
            guard state.subscriptions[id] == nil else { throw .exist }
            guard state.subscriptions.count < limit else { throw .noResources }
            state.subscriptions[id] = filters
            state.subscribedAfter[id] = after
            let earlier = state.subscriptions.filter { $0.key != id }
            state.retainedQueue += retained.filter { !state.retainedSent.contains($0.rawValue) }.map { ($0, earlier) }
        }
        wakeWindow()
        wakeIdle()
    }

    /// Queues records that were in force before the start position (the current
    /// membership for an OCF class subscriber): delivered first, flagged as retained.
    func queueCurrent(_ sequences: [SequenceNumber]) {
        guard !sequences.isEmpty else { return }
        state.withLock { $0.retainedQueue += sequences.map { ($0, [:]) } }
    }

    func remove(subscription id: UInt32) throws(ServiceError) {
        try state.withLock { state throws(ServiceError) in
            guard state.subscriptions.removeValue(forKey: id) != nil else { throw .notExist }
            state.subscribedAfter[id] = nil
            // What was read ahead for it goes to another subscription of this open that
            // accepts it, or to nobody (SAF: nothing for a subscription after its unsubscribe).
            state.held.rematch(state.subscriptions, after: state.subscribedAfter)
            state.removals &+= 1
            // Without a subscription the reader does not move (a later subscription of an
            // open replaying history applies to what was not read yet): off the dispatcher.
            if state.subscriptions.isEmpty && state.live {
                state.scanned = scannedThrough(state)
                state.live = false
            }
        }
        wakeIdle()
    }

    // MARK: Acknowledgement

    /// Acknowledges the delivery of `sequence` (what `Delivery.done()` does), for callers
    /// that hold only the sequence number, such as the daemon relaying a client's ack.
    /// Harmless for a sequence that is not outstanding.
    public func acknowledge(_ sequence: SequenceNumber) {
        acknowledge(rawSequences: CollectionOfOne(sequence.rawValue))
    }

    /// Acknowledges many deliveries at once: one lock, and at most one wake-up of the reader
    /// (when enough window slots are free). Sequences that are not outstanding are ignored.
    public func acknowledge(_ sequences: [SequenceNumber]) {
        acknowledge(rawSequences: sequences.lazy.map(\.rawValue))
    }

    /// The same for sequence numbers as the wire carries them (heraldd relaying a client's
    /// ack frame), without converting the array.
    public func acknowledge(rawSequences sequences: [UInt64]) {
        acknowledge(rawSequences: sequences[...])
    }

    @inline(__always)
    private func acknowledge<S: Sequence<UInt64>>(rawSequences sequences: S) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            var removed = false
            for sequence in sequences where state.outstanding.remove(sequence) { removed = true }
            guard removed else { return nil }
            // Neither an outstanding delivery nor one read ahead and still held may be passed.
            let lowest: UInt64?
            switch (state.outstanding.lowest, state.held.first?.sequence.rawValue) {
            case (let a?, let b?): lowest = Swift.min(a, b)
            case (let a, let b): lowest = a ?? b
            }
            let floor = lowest.map { SequenceNumber($0 - 1) } ?? scannedThrough(state)
            if floor > state.acknowledged {
                state.acknowledged = floor
                state.dirty = true
            }
            guard refilled(state) else { return nil }
            defer { state.windowWaiter = nil }
            return state.windowWaiter
        }
        waiter?.resume()
    }

    private func wakeWindow() {
        let waiter = state.withLock { state in
            defer { state.windowWaiter = nil }
            return state.windowWaiter
        }
        waiter?.resume()
    }

    // MARK: The delivery loop

    /// The delivery loops run below the publishing path (the service's actor, the callers
    /// publishing): with many subscribers busy on the same cores, appends still get their
    /// turn, and subscribers that fall behind catch up in bigger batches (measured with 100
    /// pass-all subscribers, tools/bench service: deliveries 4.7 → 6.0–6.4 M/s, publishers
    /// 47 → 64–71 k events/s; 1-in-10 filters: publishers 70 → 279–347 k/s). They run on
    /// `DeliveryExecutor`'s threads, not on the concurrency pool at this priority
    /// alone: there a saturated request path starved them outright (see the executor). The
    /// priority stays for what they wait on elsewhere (a timer, a continuation's resumer).
    static let loopPriority = TaskPriority.low

    func start(at position: ReadPosition) {
        let loop = Task.detached(executorPreference: DeliveryExecutor.shared, priority: Self.loopPriority) {
            [self] in
            state.withLock { $0.loopStartedAt = (Task.currentPriority, DeliveryExecutor.isCurrent) }
            do {
                try await run(from: position)
            } catch is CancellationError {
            } catch {
                // A damaged segment (or a cursor that cannot be stored) ends this
                // subscription only; `endReason` says why, naming the damage.
                endReason.withLock { $0 = "\(error)" }
            }
            continuation.finish()
        }
        task.withLock { $0 = loop }
    }

    /// Why the stream ended, when the journal or the cursor store ended it (a damaged
    /// segment: its file, byte offset, sequence and reason); nil for a cancel or a close.
    public var failure: String? { endReason.withLock { $0 } }
    private let endReason = Mutex<String?>(nil)

    /// Stops deliveries and ends the stream.
    public func cancel() {
        state.withLock { state in
            state.scanned = scannedThrough(state)
            state.live = false
            state.cancelled = true
            // Read ahead and never handed out: an acknowledgement after this (nothing
            // outstanding) must not count them done, or the stored cursor passes them and
            // they are lost for good (found by the kill soak: a killed subscriber's next
            // life started past events it never received).
            if let first = state.held.first?.sequence, first.previous < state.scanned {
                state.scanned = first.previous
            }
            state.held = HeldDeliveries()  // its deliveries refer to this subscriber
        }
        dispatcher?.detach(self)
        wakeIdle()
        wakeWindow()
        task.withLock { $0 }?.cancel()
        continuation.finish()
    }

    /// Parks the loop until a record past `sequence` is readable, retained events are
    /// queued, or the subscriber is cancelled.
    private func waitIdle(after sequence: SequenceNumber) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if !state.retainedQueue.isEmpty || state.cancelled { return true }
                state.idle = continuation
                return false
            }
            if ready {
                continuation.resume()
                return
            }
            let watch = journal.watchAppend(after: sequence) { [self] in wakeIdle() }
            // Woken some other way first: drop the watch (it cannot resume twice: wakeIdle
            // takes the continuation under the lock).
            if let watch, state.withLock({ $0.idle == nil }) { watch.cancel() }
        }
    }

    private func wakeIdle() {
        state.withLock { state in
            defer { state.idle = nil }
            return state.idle
        }?.resume()
    }

    /// Deliveries that may be handed out now: the window's free slots, or none while the
    /// outstanding ones hold `windowBytes` or more.
    func freeSlots(_ state: State) -> Int {
        if !state.outstanding.isEmpty && state.outstanding.bytes >= options.windowBytes { return 0 }
        return options.window - state.outstanding.count
    }

    /// Bytes that may still be handed out now (at least one delivery is, whatever its size).
    func freeBytes(_ state: State) -> Int { options.windowBytes - state.outstanding.bytes }

    /// After the window was full: whether enough came back to refill it in bulk — `refill`
    /// slots and a quarter of `windowBytes` free, or nothing outstanding.
    func refilled(_ state: State) -> Bool {
        state.outstanding.isEmpty
            || (options.window - state.outstanding.count >= refill
                && state.outstanding.bytes <= options.windowBytes - options.windowBytes / 4)
    }

    /// Returns when there is a subscription and the window has room (or on cancel); when
    /// the window was full, once it can be refilled in bulk (`refilled`).
    /// Without a subscription the reader does not move, so a subscriber that starts in the
    /// past misses nothing before its first subscribe.
    private func waitForWindow(beforeParking: () -> Void = {}) async {
        let needsSubscription: Bool
        if case .channel = selection { needsSubscription = true } else { needsSubscription = false }
        var wasFull = false
        func open(_ state: State) -> Bool {
            if state.cancelled { return true }
            guard !needsSubscription || !state.subscriptions.isEmpty else { return false }
            return wasFull ? refilled(state) : freeSlots(state) > 0
        }
        if state.withLock({ open($0) }) { return }
        wasFull = true
        beforeParking()
        while true {
            if state.withLock({ open($0) }) { return }
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if open(state) { return true }
                    state.windowWaiter = waiter
                    return false
                }
                if ready { waiter.resume() }
            }
        }
    }

    /// Records a SAF subscriber looks at (at least) before it hands out its free window's
    /// worth, so that higher priorities come first among what is ready even when only a slot
    /// or two are free (AIS: higher priority first, FIFO per publisher within a priority).
    /// A wider free window reads just that much: what it reads is all handed out at once,
    /// with no copies.
    static let lookAheadMin = 256

    /// What the readers of all subscribers waiting for their window may keep of their
    /// buffers (a reader after ordinary frames holds about 2 MiB: its decompressed frame and
    /// a segment read-ahead). Beyond it a waiting reader gives them back, so that a thousand
    /// stuck subscribers do not hold 2 GB between them; the first few, the ones catching up
    /// at full speed, go on without allocating again.
    static let parkedReaders = ByteBudget(limit: 64 << 20)

    /// Before waiting for the window: keeps the reader's buffers if the budget allows
    /// (returns the bytes taken from it, to give back after), else gives them back — in the
    /// middle of a frame by taking a new reader at the same place (that frame is decoded
    /// again when the window opens: the price of a subscriber that does not acknowledge).
    private func park(_ reader: inout JournalReader) -> Int {
        let bytes = reader.bufferCapacity
        var kept = 0
        if bytes > 2 * JournalReader.idleBufferBytes {
            if readerBudget.take(bytes) {
                kept = bytes
            } else if !reader.releaseMemory(), let fresh = try? journal.reader(from: .sequence(reader.nextSequence)) {
                reader = fresh
            }
        }
        let parked = reader.bufferCapacity
        state.withLock { $0.parkedReaderBytes = parked }
        return kept
    }

    private func run(from position: ReadPosition) async throws {
        var reader = try journal.reader(from: position)
        /// On the dispatcher: `reader` is left where it was and not used until it leaves.
        var attached = false
        let byPriority: Bool
        if case .channel = selection { byPriority = true } else { byPriority = false }
        while !Task.isCancelled {
            // While it waits for its window a reader keeps its buffers only within the
            // process's budget for parked readers (`park`), and gives them back after.
            var kept = 0
            await waitForWindow {
                if !attached { kept = park(&reader) }
            }
            readerBudget.give(kept)
            if state.withLock({ $0.cancelled }) { return }
            if try await deliverRetained() { continue }
            if attached {
                if let resumeAt = try await handOutLive(byPriority: byPriority) {
                    // Off the dispatcher (read-ahead full, or no subscription left): on its own
                    // again from where the dispatcher left it.
                    reader = try journal.reader(from: .sequence(resumeAt))
                    attached = false
                }
                continue
            }
            if let lagMax = options.lagMax, journal.head.sequence.rawValue > reader.nextSequence.rawValue + lagMax {
                reader = try journal.reader(from: .end)
                state.withLock { $0.held = HeldDeliveries() }
                deliverLost(before: reader.nextSequence)
                continue
            }
            // Take what is ready now — up to the free window, and for a SAF subscriber at least
            // `lookAheadMin` records — and hand out the free window's worth, higher priority
            // first (journal order within a priority; OCF class streams in journal order).
            // One lock before and one after the records read: the filters are matched on a
            // snapshot of the subscriptions (one added meanwhile counts from the next batch).
            let (free, subscriptions, after, redeliverThrough, heldCount, heldBytes, removals) = state.withLock {
                (
                    freeSlots($0), $0.subscriptions, $0.subscribedAfter, $0.redeliverThrough, $0.held.count,
                    $0.held.bytes, $0.removals
                )
            }
            let room = (byPriority ? Swift.max(free, Self.lookAheadMin) : free) - heldCount
            var fresh: [Delivery] = []
            fresh.reserveCapacity(Swift.min(Swift.max(room, 0), 4096))
            var last = SequenceNumber.zero
            var publishers = PublisherCache()
            // In bytes too: read ahead up to `windowBytes` (and a record at least).
            var bytes = heldBytes
            if room > 0 && (bytes < options.windowBytes || heldCount == 0) {
                let seen = try reader.nextView { view in
                    last = view.sequence
                    var record = RecordSource(view, reader, sharing: true)
                    if let delivery = offer(&record, subscriptions, after, redeliverThrough, &publishers) {
                        fresh.append(delivery)
                        bytes += delivery.byteCount
                    }
                    return fresh.count < room && bytes < options.windowBytes
                }
                dispatcher?.recordsRead.add(UInt64(seen), ordering: .relaxed)
            }
            if last > .zero { dropRetained(&fresh) }
            let ready = commit(
                fresh, scannedThrough: last, free: free, byPriority: byPriority, matched: (subscriptions, removals))
            if !ready.isEmpty {
                try await extendHorizon(to: ready.map(\.sequence).max()!)
                continuation.yield(ready)
            } else {
                let through = reader.nextSequence.previous
                state.withLock { state in
                    // Cancelled: what this pass read was dropped (commit hands out nothing
                    // then), not delivered.
                    guard !state.cancelled else { return }
                    if through > state.scanned { state.scanned = through }
                    // Nothing outstanding and nothing read ahead and held: all up to here is
                    // done (a held delivery was not handed out: a cursor stored past it would
                    // lose it for good).
                    if state.outstanding.isEmpty && state.held.isEmpty && through > state.acknowledged {
                        state.acknowledged = through
                        state.dirty = true
                    }
                }
                // Caught up with the head, or with a dispatcher that reads already and has
                // not passed it: the dispatcher reads on for it.
                // Either way the reader's buffers wait unused: they are given back (its frame
                // is all read, at the head).
                let atHead = reader.nextSequence > journal.head.sequence
                if let dispatcher, atHead || reader.nextSequence >= dispatcher.position,
                    dispatcher.attach(self, from: reader.nextSequence, atHead: atHead)
                {
                    attached = true
                    reader.releaseMemory()
                    continue
                }
                reader.releaseMemory()
                await waitIdle(after: through)
            }
        }
    }

    // MARK: Live (attached to the dispatcher)

    /// Hands out what the dispatcher left, as the window allows, or parks until it leaves
    /// more. Returns where to read on from when the subscriber is no longer live.
    private func handOutLive(byPriority: Bool) async throws -> SequenceNumber? {
        let (ready, resumeAt) = state.withLock { state -> ([Delivery], SequenceNumber?) in
            guard state.live else { return ([], state.scanned.next) }
            guard !state.held.isEmpty else {
                let through = scannedThrough(state)
                if state.outstanding.isEmpty && through > state.acknowledged {
                    state.acknowledged = through
                    state.dirty = true
                }
                return ([], nil)
            }
            let ready = state.held.take(freeSlots(state), bytes: freeBytes(state), byPriority: byPriority)
            for delivery in ready { state.outstanding.insert(delivery.sequence.rawValue, bytes: delivery.byteCount) }
            state.dirty = true
            return (ready, nil)
        }
        if let resumeAt { return resumeAt }
        if let highest = ready.map(\.sequence).max() {
            try await extendHorizon(to: highest)
            continuation.yield(ready)
        } else {
            await waitLive()
        }
        return nil
    }

    /// Parks the live loop until the dispatcher leaves deliveries, retained events are
    /// queued, the subscriber leaves the dispatcher or is cancelled.
    private func waitLive() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if !state.retainedQueue.isEmpty || state.cancelled || !state.live || !state.held.isEmpty { return true }
                state.idle = continuation
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// The subscriptions a dispatcher pass matches against, taken once per pass.
    struct MatchSnapshot {
        var subscriptions: [UInt32: [EventFilter]]
        var after: [UInt32: SequenceNumber]
        var redeliverThrough: SequenceNumber
        var removals: Int
    }

    /// Nil when the subscriber is no longer live.
    func matchSnapshot() -> MatchSnapshot? {
        state.withLock { state in
            guard state.live, !state.cancelled else { return nil }
            return MatchSnapshot(
                subscriptions: state.subscriptions, after: state.subscribedAfter,
                redeliverThrough: state.redeliverThrough, removals: state.removals)
        }
    }

    /// The dispatcher attaches it (under the dispatcher's lock): only with a subscription
    /// to match (a channel open) and not cancelled.
    func enterLive() -> Bool {
        state.withLock { state in
            if case .channel = selection, state.subscriptions.isEmpty { return false }
            guard !state.cancelled else { return false }
            state.live = true
            return true
        }
    }

    /// The most a live subscriber holds read ahead: beyond it (its window full, its
    /// deliveries not acknowledged), it leaves the dispatcher and reads on its own later.
    /// Four times what it reads ahead on its own, so that a burst of appends (a dispatcher
    /// pass is up to `LiveDispatcher.passRecordsMax` records) does not send it away.
    var liveReadAheadMax: Int {
        let bound = 4 * Swift.max(options.window, Self.lookAheadMin)
        guard let lagMax = options.lagMax else { return bound }
        return Swift.max(1, Swift.min(bound, Int(clamping: lagMax)))
    }

    /// ... and in bytes (`Delivery.byteCount`).
    var liveReadAheadBytesMax: Int { 4 * options.windowBytes }

    /// Leaves a dispatcher pass's deliveries (records through `last`) with the subscriber.
    /// Returns false when it is not live any more, or when its read-ahead reached its
    /// bound: then it takes what fits and reads on its own from the first one that did not.
    func push(
        _ fresh: [Delivery], through last: SequenceNumber, passStart: SequenceNumber, matched: MatchSnapshot
    ) -> (stays: Bool, wake: CheckedContinuation<Void, Never>?) {
        state.withLock { state in
            guard state.live, !state.cancelled else { return (false, nil) }
            defer { state.idle = nil }
            var fresh = fresh
            if !state.retainedSent.isEmpty {
                fresh.removeAll { state.retainedSent.contains($0.sequence.rawValue) }
            }
            var room = Swift.min(liveReadAheadMax - state.held.count, fresh.count)
            // In bytes too (a delivery at least when nothing is held).
            var bytes = state.held.bytes
            for (index, delivery) in fresh.prefix(Swift.max(room, 0)).enumerated() {
                bytes += delivery.byteCount
                if bytes > liveReadAheadBytesMax && !(index == 0 && state.held.isEmpty) {
                    room = index
                    break
                }
            }
            if fresh.count > room {
                let first = fresh[Swift.max(room, 0)].sequence
                Self.absorb(
                    Array(fresh.prefix(Swift.max(room, 0))), matched: (matched.subscriptions, matched.removals),
                    into: &state)
                state.scanned = Swift.max(state.scanned, Swift.max(passStart.previous, first.previous))
                state.live = false
                return (false, state.idle)
            }
            Self.absorb(fresh, matched: (matched.subscriptions, matched.removals), into: &state)
            if last > state.scanned { state.scanned = last }
            return (true, state.idle)
        }
    }

    /// The dispatcher cannot go on (it met damage): the subscriber reads on its own from
    /// `passStart`.
    func leaveLive(passStart: SequenceNumber) -> CheckedContinuation<Void, Never>? {
        state.withLock { state in
            guard state.live else { return nil }
            state.scanned = Swift.max(state.scanned, passStart.previous)
            state.live = false
            defer { state.idle = nil }
            return state.idle
        }
    }

    /// Deliveries read and matched but not handed out yet, in journal order: taken from the
    /// front without shifting the rest (an index, compacted now and then).
    struct HeldDeliveries {
        private var items: [Delivery] = []
        private var head = 0
        /// The bytes the held deliveries count for (`Delivery.byteCount`).
        private(set) var bytes = 0
        /// How many are held of each SAF priority (0 highest … 3 lowest; the last slot counts
        /// any other value): whether all share one priority is known without a walk.
        private var priorityCounts = [Int](repeating: 0, count: 5)

        var count: Int { items.count - head }
        var isEmpty: Bool { head == items.count }
        var first: Delivery? { isEmpty ? nil : items[head] }

        @inline(__always)
        private static func slot(_ priority: UInt8) -> Int { Int(Swift.min(priority, 4)) }

        /// Whether every held delivery has the first one's priority.
        private var onePriority: Bool {
            guard let first else { return true }
            let slot = Self.slot(first.priority)
            return slot < 4 && priorityCounts[slot] == count
        }

        mutating func append(_ fresh: [Delivery]) {
            guard !fresh.isEmpty else { return }
            for delivery in fresh {
                bytes += delivery.byteCount
                priorityCounts[Self.slot(delivery.priority)] += 1
            }
            if isEmpty {
                items = fresh
                head = 0
            } else {
                items += fresh
            }
        }

        /// Deliveries whose subscription is gone take the lowest remaining one that accepts
        /// them, or are dropped.
        mutating func rematch(_ subscriptions: [UInt32: [EventFilter]], after: [UInt32: SequenceNumber]) {
            guard !isEmpty, items[head...].contains(where: { subscriptions[$0.subscriptionID] == nil }) else { return }
            var kept: [Delivery] = []
            kept.reserveCapacity(count)
            for var delivery in items[head...] {
                if subscriptions[delivery.subscriptionID] == nil {
                    guard
                        let id = Subscriber.match(
                            subscriptions, patterns: delivery.attributes.patterns, sequence: delivery.sequence,
                            after: after)
                    else {
                        continue
                    }
                    delivery.subscriptionID = id
                }
                kept.append(delivery)
            }
            items = kept
            head = 0
            bytes = kept.reduce(0) { $0 + $1.byteCount }
            priorityCounts.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            for delivery in kept { priorityCounts[Self.slot(delivery.priority)] += 1 }
        }

        /// Up to `count` to hand out now, and no more than `budget` bytes of them (one at
        /// least when `count` > 0): the first ones, or (by priority) the highest priorities
        /// first, journal order within a priority; the rest stay, in journal order.
        mutating func take(_ count: Int, bytes budget: Int = .max, byPriority: Bool) -> [Delivery] {
            guard count > 0 else { return [] }
            let waiting = items[head...]
            if !byPriority || onePriority {
                // How many of the first ones fit both bounds (all of them: no walk).
                var taken = 0
                var takenBytes = 0
                if count >= waiting.count && bytes <= budget {
                    taken = waiting.count
                    takenBytes = bytes
                } else {
                    for delivery in waiting {
                        guard taken < count, taken == 0 || takenBytes + delivery.byteCount <= budget else { break }
                        taken += 1
                        takenBytes += delivery.byteCount
                    }
                }
                bytes -= takenBytes
                if taken == waiting.count {
                    // Zeroed in place: a take allocates nothing for the counts.
                    priorityCounts.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
                    // All of it: moved out, not copied.
                    let ready = head == 0 ? items : Array(waiting)
                    items = []
                    head = 0
                    return ready
                }
                let end = head + taken
                let ready = Array(items[head..<end])
                for delivery in ready { priorityCounts[Self.slot(delivery.priority)] -= 1 }
                head = end
                if isEmpty {
                    items.removeAll(keepingCapacity: true)
                    head = 0
                } else if head > 4096 && head * 2 > items.count {
                    items.removeFirst(head)
                    head = 0
                }
                return ready
            }
            let order = waiting.indices.sorted { (items[$0].priority, $0) < (items[$1].priority, $1) }
            var taken = 0
            var takenBytes = 0
            for index in order {
                guard taken < count, taken == 0 || takenBytes + items[index].byteCount <= budget else { break }
                taken += 1
                takenBytes += items[index].byteCount
            }
            bytes -= takenBytes
            let chosen = Set(order.prefix(taken))
            let ready = order.prefix(taken).map { items[$0] }
            for delivery in ready { priorityCounts[Self.slot(delivery.priority)] -= 1 }
            items = waiting.indices.filter { !chosen.contains($0) }.map { items[$0] }
            head = 0
            return ready
        }
    }

    /// The delivery of the record, if this subscriber wants it (counted as outstanding once
    /// `commit` took it). Its content is the record's shared one (`RecordSource`): every
    /// subscriber taking the record references the same decoded copy.
    func offer(
        _ record: inout RecordSource, _ subscriptions: [UInt32: [EventFilter]], _ after: [UInt32: SequenceNumber],
        _ redeliverThrough: SequenceNumber, _ publishers: inout PublisherCache
    ) -> Delivery? {
        let view = record.view
        let subscriptionID: UInt32
        let kind = ServiceRecordKind(flags: view.flags)
        switch selection {
        case .channel(let handle):
            guard kind == .publish, view.channel == handle.channel else { return nil }
            let id =
                if let content = record.madeContent() {
                    Self.match(
                        subscriptions, patterns: content.attributes.patterns, sequence: view.sequence, after: after)
                } else {
                    Self.match(subscriptions, patterns: view.patternBytes, sequence: view.sequence, after: after)
                }
            guard let id else { return nil }
            subscriptionID = id
        case .classes(let classes):
            let descriptor = EventDescriptor(rawValue: view.descriptor)
            let isEvent = Self.isClassEventKind(kind)
            // Event 0 is "invalid" (a publisher-only open's join/leave), except for MEMB,
            // where it is a membership without quorum.
            let wanted =
                descriptor.eventClass.map(classes.contains) == true
                && (descriptor.event != 0 || descriptor.eventClass == .membership)
            guard isEvent && wanted else { return nil }
            subscriptionID = 0
        }
        let content = record.content(&publishers)
        guard recipient.admits(content.routing) else { return nil }
        return Delivery(
            sequence: view.sequence, subscriptionID: subscriptionID, redelivered: view.sequence <= redeliverThrough,
            retained: false, content: content, subscriber: self)
    }

    /// One record as the subscribers that look at it need it: the content its deliveries
    /// share, made on first use (a record no one takes is not decoded; filters are matched
    /// on the record's bytes until then). With `sharing`, a record of a frame from the
    /// journal's tail cache takes the content made once for every reader of that frame.
    struct RecordSource {
        let view: RecordView
        private let reader: JournalReader
        private var sharing: Bool
        private var made: DeliveryContent?

        init(_ view: RecordView, _ reader: JournalReader, sharing: Bool) {
            self.view = view
            self.reader = reader
            self.sharing = sharing
        }

        /// The content if it is made already (or shared by the frame): nil costs nothing.
        mutating func madeContent() -> DeliveryContent? { made ?? takeShared() }

        mutating func content(_ publishers: inout PublisherCache) -> DeliveryContent {
            if let made = made ?? takeShared() { return made }
            let content = DeliveryContent(view, publishers: &publishers)
            made = content
            return content
        }

        private mutating func takeShared() -> DeliveryContent? {
            guard sharing else { return nil }
            sharing = false
            var publishers = PublisherCache()
            made = reader.currentShared { DeliveryContent($0, publishers: &publishers) }
            return made
        }
    }

    /// The kinds of record an OCF class subscriber may take.
    @inline(__always)
    static func isClassEventKind(_ kind: ServiceRecordKind?) -> Bool {
        kind == .system || kind == .publish || kind == .channelOpen || kind == .channelClose
    }

    /// The last publisher field decoded (name, origin, route), reused while consecutive
    /// records come from the same publisher with the same flags: most of a frame does.
    struct PublisherCache {
        struct Fields {
            var origin: PublisherOrigin?
            var name: [UInt8]
            var routing: DeliveryContent.Routing
        }

        var raw: [UInt8]?
        var flags: UInt8 = 0
        var fields = Fields(origin: nil, name: [], routing: .none)
        /// Publisher fields decoded (not found in the cache): the guard of the cache.
        var decoded = 0

        mutating func fields<Bytes: Collection<UInt8>>(flags: UInt8, publisher: Bytes) -> Fields
        where Bytes.Index == Int {
            let flags = flags & (PublisherOrigin.flag | RecordCodec.routeFlag)
            if flags == self.flags, let raw, Self.same(raw, publisher) { return fields }
            let raw = Array(publisher)
            let split = PublisherOrigin.split(flags: flags, publisher: raw)
            let routing =
                flags & RecordCodec.routeFlag == 0
                ? DeliveryContent.Routing.none : DeliveryContent.routing(flags: flags, publisher: raw)
            fields = Fields(origin: split.origin, name: split.name, routing: routing)
            self.raw = raw
            self.flags = flags
            decoded += 1
            return fields
        }

        /// Byte equality with one `memcmp` where the bytes are contiguous (a record's field).
        private static func same<Bytes: Collection<UInt8>>(_ raw: [UInt8], _ other: Bytes) -> Bool {
            guard raw.count == other.count else { return false }
            let contiguous = other.withContiguousStorageIfAvailable { other in
                raw.withUnsafeBufferPointer { raw in
                    raw.isEmpty || memcmp(raw.baseAddress!, other.baseAddress!, raw.count) == 0
                }
            }
            return contiguous ?? raw.elementsEqual(other)
        }
    }

    /// Drops retained events already sent from what was just read. (The scanned mark
    /// moves in `commit`, with the deliveries read: never past deliveries not yet held.)
    private func dropRetained(_ fresh: inout [Delivery]) {
        state.withLock { state in
            if !state.retainedSent.isEmpty {
                fresh.removeAll { state.retainedSent.contains($0.sequence.rawValue) }
            }
        }
    }

    /// Adds what was just read to the held deliveries and takes up to `free` of them to hand
    /// out, counted as outstanding (one lock). Held deliveries are in the state so that an
    /// unsubscribe re-matches them at once (`remove(subscription:)`).
    private func commit(
        _ fresh: [Delivery], scannedThrough last: SequenceNumber, free: Int, byPriority: Bool,
        matched: (subscriptions: [UInt32: [EventFilter]], removals: Int)
    ) -> [Delivery] {
        state.withLock { state in
            // Cancelled: what was read is dropped, and the scanned mark stays before it (an
            // acknowledgement with nothing outstanding counts everything scanned as done).
            guard !state.cancelled else { return [] }
            if last > state.scanned { state.scanned = last }
            Self.absorb(fresh, matched: matched, into: &state)
            guard !state.held.isEmpty else { return [] }
            let ready = state.held.take(free, bytes: freeBytes(state), byPriority: byPriority)
            for delivery in ready { state.outstanding.insert(delivery.sequence.rawValue, bytes: delivery.byteCount) }
            state.dirty = true
            return ready
        }
    }

    /// Adds matched deliveries to the read-ahead.
    private static func absorb(
        _ fresh: [Delivery], matched: (subscriptions: [UInt32: [EventFilter]], removals: Int), into state: inout State
    ) {
        if state.removals == matched.removals {
            state.held.append(fresh)
        } else {
            // Matched on a snapshot from before an unsubscribe: again, against the
            // snapshot's subscriptions that are still there.
            var batch = HeldDeliveries()
            batch.append(fresh)
            let current = state.subscriptions
            batch.rematch(matched.subscriptions.filter { current[$0.key] != nil }, after: state.subscribedAfter)
            state.held.append(batch.take(batch.count, byPriority: false))
        }
    }

    private func deliverRetained() async throws -> Bool {
        guard let (next, earlier) = state.withLock({ $0.retainedQueue.isEmpty ? nil : $0.retainedQueue.removeFirst() })
        else {
            return false
        }
        // The journal's own retention may have removed it (a journal kept shorter than an
        // event's retention time): nothing to deliver.
        let found: JournalRecord?
        do {
            found = try journal.record(next)
        } catch JournalError.notRetained {
            found = nil
        }
        guard let record = found else { return true }
        let routing = DeliveryContent.routing(flags: record.flags, publisher: record.publisher)
        guard recipient.admits(routing) else { return true }
        let delivery = state.withLock { state -> Delivery? in
            // Passed by the live reader already, and delivered then: at most once per open.
            let deliveredLive = next <= scannedThrough(state) && Self.match(earlier, patterns: record.patterns) != nil
            let id: UInt32?
            if case .classes = selection {
                id = 0
            } else {
                id = Self.match(state.subscriptions, patterns: record.patterns)
            }
            guard !deliveredLive, let id,
                state.retainedSent.insert(next.rawValue).inserted
            else { return nil }
            let publisher = PublisherOrigin.split(flags: record.flags, publisher: record.publisher)
            let delivery = Delivery(
                sequence: next, descriptor: EventDescriptor(rawValue: record.descriptor),
                eventID: EventID(sequence: next), channel: record.channel, subscriptionID: id,
                attributes: EventAttributes(
                    patterns: record.patterns, priority: record.priority, retention: record.retention,
                    publisherName: publisher.name),
                publishTime: record.time, data: record.data, origin: publisher.origin, redelivered: false,
                retained: true, routing: routing, subscriber: self)
            state.outstanding.insert(next.rawValue, bytes: delivery.byteCount)
            return delivery
        }
        if let delivery {
            try await extendHorizon(to: delivery.sequence)
            continuation.yield([delivery])
        }
        return true
    }

    /// Makes sure the persisted horizon covers `sequence` before it is handed out. On a full
    /// disk the cursor cannot be stored: the subscriber waits for room (retrying every
    /// `Self.fullDiskRetry`) instead of ending its stream, and hands nothing out past the
    /// stored horizon meanwhile, so its redelivery marks stay exact.
    private func extendHorizon(to sequence: SequenceNumber) async throws {
        guard let persistHorizon else { return }
        while true {
            let current = state.withLock { ($0.horizon, $0.acknowledged) }
            guard sequence > current.0 else { return }
            let horizon = Swift.max(sequence, journal.head.sequence)
            do {
                try persistHorizon(current.1, horizon)
                state.withLock { $0.horizon = Swift.max($0.horizon, horizon) }
                return
            } catch  where CursorStore.isOutOfSpace(error) {
                try await Task.sleep(for: Self.fullDiskRetry)
            }
        }
    }

    static let fullDiskRetry = Duration.milliseconds(200)

    /// Hands out an event that is not in the journal — a node-local notice such as
    /// NOT_PRIMARY when this node's cluster partition lost quorum — to a class subscriber of
    /// its class. Its sequence number is 0: it takes no window slot and its `done()` does
    /// nothing.
    func deliverNotice(_ descriptor: EventDescriptor, data: [UInt8], time: Nanoseconds) {
        guard case .classes(let classes) = selection, let eventClass = descriptor.eventClass,
            classes.contains(eventClass)
        else { return }
        guard !state.withLock({ $0.cancelled }) else { return }
        continuation.yield([
            Delivery(
                sequence: .zero, descriptor: descriptor, eventID: .none, channel: 0, subscriptionID: 0,
                attributes: EventAttributes(priority: EventAttributes.highestPriority), publishTime: time, data: data,
                redelivered: false, retained: false, subscriber: self)
        ])
    }

    private func deliverLost(before sequence: SequenceNumber) {
        let marker = sequence.previous
        state.withLock { state in
            state.scanned = Swift.max(state.scanned, marker)
            state.outstanding.insert(marker.rawValue)
        }
        continuation.yield([
            Delivery(
                sequence: marker, descriptor: .cast, eventID: .lost, channel: 0, subscriptionID: 0,
                attributes: EventAttributes(
                    patterns: [Delivery.lostEventPattern], priority: EventAttributes.highestPriority),
                publishTime: 0, data: [], redelivered: false, retained: false, subscriber: self)
        ])
    }

    /// The lowest subscription id whose filters accept `patterns` (of record `sequence`, not
    /// before a subscription's `after` bound).
    static func match<Patterns: Sequence>(
        _ subscriptions: [UInt32: [EventFilter]], patterns: Patterns, sequence: SequenceNumber = .zero,
        after: [UInt32: SequenceNumber] = [:]
    ) -> UInt32? where Patterns.Element: Collection<UInt8> {
        var lowest: UInt32?
        for (id, filters) in subscriptions where lowest.map({ id < $0 }) ?? true {
            if !after.isEmpty, let bound = after[id], sequence <= bound { continue }
            if filters.accept(patterns: patterns) { lowest = id }
        }
        return lowest
    }
}
