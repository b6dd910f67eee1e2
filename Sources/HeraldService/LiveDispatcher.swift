import HeraldJournal
import Synchronization

/// One reader of the journal's head for every subscriber that has caught up with it.
///
/// A subscriber reads the journal itself while it is behind (a late joiner replaying, one
/// that fell out of its read-ahead); once its reader reaches the head it attaches here.
/// From then on this dispatcher reads each new record once, looks only at the subscribers
/// of that record's channel (and at the OCF class subscribers, for the kinds of record they
/// take), matches each of them once and leaves the deliveries in the subscriber's read-ahead
/// (`Subscriber.State.held`), waking its loop, which hands them out as its window allows.
/// So a record costs one read and decode however many subscribers there are, a subscriber
/// of another channel costs it nothing, and a publisher's appends wake one task instead of
/// every subscriber's.
///
/// A subscriber whose read-ahead would grow past its bound (its window is full and it does
/// not acknowledge) leaves: it reads on its own from where the dispatcher left it, and
/// comes back when it has caught up again. A stuck subscriber therefore holds at most its
/// bound in memory and never slows the dispatcher or the others.
final class LiveDispatcher: Sendable {
    struct Attachment {
        let subscriber: Subscriber
        /// Records before this one were read by the subscriber itself.
        let from: SequenceNumber
    }

    private struct State {
        /// Channel subscribers by channel, class subscribers apart.
        var channels: [UInt32: [ObjectIdentifier: Attachment]] = [:]
        var classes: [ObjectIdentifier: Attachment] = [:]
        var reader: JournalReader?
        var waiter: CheckedContinuation<Void, Never>?
        var kicked = false
        var stopped = false
        /// The journal could not be read here (damage): subscribers read on their own and
        /// meet it themselves, each ending with the reason.
        var failed = false
        var task: Task<Void, Never>?

        var isEmpty: Bool { channels.isEmpty && classes.isEmpty }
    }

    private let journal: Journal
    private let state = Mutex(State())
    /// The next sequence number the dispatcher will read: every record before it has been
    /// offered to every attached subscriber.
    private let next = Atomic<UInt64>(1)
    /// Records looked at by the dispatcher and by the subscribers' own readers (for the
    /// suite's budget: adding subscribers must not multiply the reading).
    let recordsRead = Atomic<UInt64>(0)
    /// Records per pass, so that attaching and leaving are not held up for long.
    static let passRecordsMax = 1024

    init(journal: Journal) { self.journal = journal }

    /// Every record before this one has been offered to every attached subscriber.
    var position: SequenceNumber { SequenceNumber(next.load(ordering: .acquiring)) }

    /// Attaches a subscriber whose own reader has read everything before `from`. Refused
    /// when the dispatcher has already passed `from` (the subscriber reads on, then tries
    /// again) or cannot read the journal. A subscriber at the journal's head (`atHead`)
    /// starts an idle dispatcher; one not at the head only joins a dispatcher that reads
    /// already and has not passed it — under a stream of appends (a flood of big events)
    /// the head moves on between a reader's last frame and its look at the head, and a
    /// thousand subscribers each chasing it on their own read every frame a thousand times.
    func attach(_ subscriber: Subscriber, from: SequenceNumber, atHead: Bool = true) -> Bool {
        let attached = state.withLock { state -> Bool in
            guard !state.stopped, !state.failed, !journal.isClosed else { return false }
            if state.isEmpty || state.reader == nil {
                guard atHead else { return false }
                // Idle: start where the subscriber is (no one else needs what is before).
                guard let reader = try? journal.reader(from: .sequence(from)) else { return false }
                state.reader = reader
                next.store(from.rawValue, ordering: .releasing)
            }
            guard from >= position, subscriber.enterLive() else { return false }
            let attachment = Attachment(subscriber: subscriber, from: from)
            switch subscriber.selection {
            case .channel(let handle):
                state.channels[handle.channel, default: [:]][ObjectIdentifier(subscriber)] = attachment
            case .classes:
                state.classes[ObjectIdentifier(subscriber)] = attachment
            }
            if state.task == nil {
                state.task = Task.detached(
                    executorPreference: DeliveryExecutor.shared, priority: Subscriber.loopPriority
                ) { [self] in await run() }
            }
            return true
        }
        if attached { kick() }
        return attached
    }

    /// Subscribers attached now (for the suite).
    var attachedCount: Int { state.withLock { $0.channels.values.reduce($0.classes.count) { $0 + $1.count } } }

    /// Forgets a subscriber (cancelled: it never attaches again).
    func detach(_ subscriber: Subscriber) {
        state.withLock { state in
            Self.remove(ObjectIdentifier(subscriber), selection: subscriber.selection, from: &state)
        }
    }

    private static func remove(_ id: ObjectIdentifier, selection: SubscriberSelection, from state: inout State) {
        switch selection {
        case .channel(let handle):
            state.channels[handle.channel]?[id] = nil
            if state.channels[handle.channel]?.isEmpty == true { state.channels[handle.channel] = nil }
        case .classes:
            state.classes[id] = nil
        }
    }

    /// Ends the dispatcher (the service shuts down).
    func stop() {
        let task = state.withLock { state in
            state.stopped = true
            state.channels = [:]
            state.classes = [:]
            return state.task
        }
        task?.cancel()
        kick()
    }

    private func kick() {
        state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.kicked = true
                return nil
            }
            state.waiter = nil
            return waiter
        }?.resume()
    }

    private func run() async {
        while true {
            await waitForWork()
            if Task.isCancelled || journal.isClosed || state.withLock({ $0.stopped }) { return }
            let wakes = dispatchPass()
            for wake in wakes { wake.resume() }
            // Let the loops just woken take their deliveries before the next pass (on a
            // busy machine the next pass would otherwise overrun their read-ahead).
            if !wakes.isEmpty { await Task.yield() }
        }
    }

    /// Parks until a record past the position is readable, or a kick.
    private func waitForWork() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (ready, idle) = state.withLock { state -> (Bool, Bool) in
                if state.stopped || state.kicked {
                    state.kicked = false
                    return (true, false)
                }
                state.waiter = continuation
                return (false, state.isEmpty)
            }
            if ready {
                continuation.resume()
                return
            }
            // No one attached: appends are no one's business here (the position stays where
            // the last subscriber left, and watching from there would wake this at once,
            // again and again); the next attach kicks.
            if idle { return }
            let watch = journal.watchAppend(after: position.previous) { [self] in kick() }
            if let watch, state.withLock({ $0.waiter == nil }) { watch.cancel() }
        }
    }

    /// What one subscriber gets from one pass.
    private struct Target {
        let subscriber: Subscriber
        let from: SequenceNumber
        let snapshot: Subscriber.MatchSnapshot
        var fresh: [Delivery] = []

        mutating func offer(_ record: inout Subscriber.RecordSource, _ publishers: inout Subscriber.PublisherCache) {
            if let delivery = subscriber.offer(
                &record, snapshot.subscriptions, snapshot.after, snapshot.redeliverThrough, &publishers)
            {
                fresh.append(delivery)
            }
        }
    }

    /// Reads what is new (up to `passRecordsMax` records), matches each record against the
    /// subscribers it concerns and leaves their deliveries with them. Runs under the lock:
    /// no subscriber attaches in the middle of a pass. Returns the loops to wake.
    private func dispatchPass() -> [CheckedContinuation<Void, Never>] {
        state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.stopped, !state.failed, !state.isEmpty, let reader = state.reader else { return [] }
            let passStart = position
            var targets: [Target] = []
            var byChannel: [UInt32: [Int]] = [:]
            var classTargets: [Int]?
            var stale: [Subscriber] = []
            func target(_ attachment: Attachment) -> Int? {
                guard let snapshot = attachment.subscriber.matchSnapshot() else {
                    stale.append(attachment.subscriber)
                    return nil
                }
                targets.append(Target(subscriber: attachment.subscriber, from: attachment.from, snapshot: snapshot))
                return targets.count - 1
            }
            var last = SequenceNumber.zero
            var publishers = Subscriber.PublisherCache()
            let seen: Int
            do {
                seen = try reader.nextView(limit: Self.passRecordsMax) { view in
                    last = view.sequence
                    let kind = ServiceRecordKind(flags: view.flags)
                    // Decoded once, on first use, for every subscriber that takes it (and
                    // only then: records of channels no one attached to cost nothing).
                    var record = Subscriber.RecordSource(view, reader, sharing: false)
                    if kind == .publish, let attached = state.channels[view.channel] {
                        let indexes: [Int]
                        if let known = byChannel[view.channel] {
                            indexes = known
                        } else {
                            indexes = attached.values.compactMap(target)
                            byChannel[view.channel] = indexes
                        }
                        for index in indexes where view.sequence >= targets[index].from {
                            targets[index].offer(&record, &publishers)
                        }
                    }
                    if !state.classes.isEmpty && Subscriber.isClassEventKind(kind) {
                        if classTargets == nil { classTargets = state.classes.values.compactMap(target) }
                        for index in classTargets! where view.sequence >= targets[index].from {
                            targets[index].offer(&record, &publishers)
                        }
                    }
                    return true
                }
            } catch {
                // Damage under the head (or an I/O error): every subscriber reads on its own
                // from where this left it and meets the error itself.
                state.failed = true
                var wakes: [CheckedContinuation<Void, Never>] = []
                for attachment in state.channels.values.flatMap(\.values) + state.classes.values {
                    if let wake = attachment.subscriber.leaveLive(passStart: passStart) { wakes.append(wake) }
                }
                state.channels = [:]
                state.classes = [:]
                return wakes
            }
            recordsRead.add(UInt64(seen), ordering: .relaxed)
            for subscriber in stale {
                Self.remove(ObjectIdentifier(subscriber), selection: subscriber.selection, from: &state)
            }
            guard last > .zero else { return [] }
            var wakes: [CheckedContinuation<Void, Never>] = []
            for target in targets where !target.fresh.isEmpty {
                let (stays, wake) = target.subscriber.push(
                    target.fresh, through: last, passStart: passStart, matched: target.snapshot)
                if let wake { wakes.append(wake) }
                if !stays {
                    Self.remove(
                        ObjectIdentifier(target.subscriber), selection: target.subscriber.selection, from: &state)
                }
            }
            next.store(last.next.rawValue, ordering: .releasing)
            return wakes
        }
    }
}

extension JournalReader {
    /// `nextView` for at most `limit` records.
    fileprivate func nextView(limit: Int, _ body: (RecordView) throws -> Bool) throws -> Int {
        var count = 0
        return try nextView { view in
            count += 1
            return try body(view) && count < limit
        }
    }
}
