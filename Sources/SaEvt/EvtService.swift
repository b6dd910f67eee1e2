import CSaEvt
import HeraldCBridge
import HeraldClient
import HeraldWire
import Synchronization

/// One `saEvtInitialize`: a connection to heraldd, the program's callbacks, and the
/// callbacks waiting for `saEvtDispatch` (channel opens completed, events delivered). The
/// selection object is readable exactly while one waits, or after finalize.
final class EvtService: @unchecked Sendable {
    // Mutable state lives in `state`; the notifier is touched under that lock (or, at the
    // end, by the last thread to leave).
    enum Pending {
        case opened(invocation: UInt64, channel: UInt64, error: UInt32)
        /// The `index`th delivery of `batch`, for `subscription` (the daemon's choice, or
        /// another subscription of the open after the daemon's one ended). A few bytes: the
        /// delivery itself stays in its batch (queuing and taking copy no delivery).
        case delivered(DeliveryBatch, index: Int32, subscription: UInt32)
    }

    /// A frame's deliveries for one channel open, queued together.
    final class DeliveryBatch: Sendable {
        let channel: UInt64
        let deliveries: [ClientDelivery]

        init(channel: UInt64, deliveries: [ClientDelivery]) {
            self.channel = channel
            self.deliveries = deliveries
        }
    }

    /// An ended subscription of a channel open: deliveries for it in the stream's first
    /// `through` batches were sent before heraldd took the unsubscribe, and go to another
    /// subscription of the open that accepts them (`remaining`, as at the unsubscribe), or
    /// to nobody.
    struct Fence {
        var through: Int
        var remaining: [UInt32: [WireFilter]]
    }

    struct State {
        var queue: [Pending] = []
        var queueHead = 0
        var finalized = false
        /// Threads inside `dispatch`: the notifier is closed when the last leaves.
        var busy = 0
        var notifierClosed = false
        /// By channel handle, then ended subscription id.
        var fences: [UInt64: [UInt32: Fence]] = [:]
        var pendingCount: Int { queue.count - queueHead }
    }

    let handle: UInt64
    let client: HeraldClient
    let notifier: Notifier
    let openCallback: SaEvtChannelOpenCallbackT?
    let deliverCallback: SaEvtEventDeliverCallbackT?
    let state = Mutex(State())
    /// Serializes subscribes, so that one thread starts a channel open's stream.
    let subscribing = Mutex<Void>(())

    init(
        handle: UInt64, client: HeraldClient, notifier: Notifier, openCallback: SaEvtChannelOpenCallbackT?,
        deliverCallback: SaEvtEventDeliverCallbackT?
    ) {
        self.handle = handle
        self.client = client
        self.notifier = notifier
        self.openCallback = openCallback
        self.deliverCallback = deliverCallback
    }

    // MARK: Queue

    func enqueue(_ pending: Pending) {
        state.withLock { state in
            guard !state.finalized else { return }
            state.queue.append(pending)
            notifier.set(true)
        }
    }

    /// A frame's deliveries for channel open `channel`, the `batchIndex`th of its stream:
    /// one lock, the selection object raised once. Deliveries for a subscription that ended
    /// before they were queued are matched again (`Fence`); those nobody takes are
    /// acknowledged and dropped.
    func enqueue(_ batch: [ClientDelivery], channel: UInt64, batchIndex: Int) {
        guard !batch.isEmpty else { return }
        let queued = DeliveryBatch(channel: channel, deliveries: batch)
        var dropped: [ClientDelivery] = []
        state.withLock { state in
            guard !state.finalized else { return }
            if var fences = state.fences[channel] {
                for (index, delivery) in batch.enumerated() {
                    if let id = Self.recipient(of: delivery, fences, batchIndex) {
                        state.queue.append(.delivered(queued, index: Int32(index), subscription: id))
                    } else {
                        dropped.append(delivery)
                    }
                }
                fences = fences.filter { $0.value.through > batchIndex }
                state.fences[channel] = fences.isEmpty ? nil : fences
            } else {
                state.queue.reserveCapacity(state.queue.count + batch.count)
                for index in batch.indices {
                    state.queue.append(
                        .delivered(queued, index: Int32(index), subscription: batch[index].subscriptionID))
                }
            }
            if state.pendingCount > 0 { notifier.set(true) }
        }
        for delivery in dropped { delivery.done() }
    }

    /// The subscription a delivery goes to, following ended subscriptions' fences.
    private static func recipient(of delivery: ClientDelivery, _ fences: [UInt32: Fence], _ batchIndex: Int)
        -> UInt32?
    {
        var id = delivery.subscriptionID
        guard !delivery.isLostEvent else { return id }
        for _ in 0...fences.count {
            guard let fence = fences[id], batchIndex <= fence.through else { return id }
            guard let next = lowestAccepting(fence.remaining, delivery.patterns) else { return nil }
            id = next
        }
        return nil
    }

    private static func lowestAccepting(_ subscriptions: [UInt32: [WireFilter]], _ patterns: [[UInt8]]) -> UInt32? {
        var lowest: UInt32?
        for (id, filters) in subscriptions where lowest.map({ id < $0 }) ?? true {
            if filters.accept(patterns: patterns) { lowest = id }
        }
        return lowest
    }

    /// `saEvtEventUnsubscribe` of `id` on `channel` succeeded (heraldd sends nothing more for
    /// it): what waits for dispatch for it goes to another subscription of the open that
    /// accepts it, or is dropped (acknowledged); the same for what is still on its way from
    /// the connection (the stream's first `through` batches). The selection object falls when
    /// nothing is left.
    func ended(subscription id: UInt32, channel: UInt64, remaining: [UInt32: [WireFilter]], through: Int) {
        var dropped: [ClientDelivery] = []
        state.withLock { state in
            guard !state.finalized else { return }
            state.fences[channel, default: [:]][id] = Fence(through: through, remaining: remaining)
            var kept: [Pending] = []
            kept.reserveCapacity(state.pendingCount)
            for pending in state.queue[state.queueHead...] {
                guard case .delivered(let batch, let index, id) = pending, batch.channel == channel,
                    !batch.deliveries[Int(index)].isLostEvent
                else {
                    kept.append(pending)
                    continue
                }
                if let next = Self.lowestAccepting(remaining, batch.deliveries[Int(index)].patterns) {
                    kept.append(.delivered(batch, index: index, subscription: next))
                } else {
                    dropped.append(batch.deliveries[Int(index)])
                }
            }
            state.queue = kept
            state.queueHead = 0
            notifier.set(state.pendingCount > 0)
        }
        for delivery in dropped { delivery.done() }
    }

    private func take() -> Pending? {
        state.withLock { state -> Pending? in
            guard !state.finalized, state.pendingCount > 0 else { return nil }
            let next = state.queue[state.queueHead]
            state.queueHead += 1
            if state.queueHead > 1024 && state.queueHead * 2 > state.queue.count {
                state.queue.removeFirst(state.queueHead)
                state.queueHead = 0
            }
            notifier.set(state.pendingCount > 0)
            return next
        }
    }

    // MARK: Dispatch

    /// `saEvtDispatch`: callbacks run on the calling thread, no lock held.
    func dispatch(_ flags: SaDispatchFlagsT) throws(AisError) {
        let entered = state.withLock { state -> Bool in
            guard !state.finalized else { return false }
            state.busy += 1
            return true
        }
        guard entered else { throw .badHandle }
        defer { leave() }
        switch flags {
        case SA_DISPATCH_ONE:
            if let next = take() { run(next) }
        case SA_DISPATCH_ALL:
            // What is pending now; callbacks that arrive meanwhile wait for the next call.
            var count = state.withLock { $0.pendingCount }
            while count > 0, let next = take() {
                run(next)
                count -= 1
            }
        default:  // SA_DISPATCH_BLOCKING, checked by the caller: until finalize.
            while !state.withLock({ $0.finalized }) {
                if let next = take() {
                    run(next)
                } else {
                    notifier.waitReadable()
                }
            }
        }
    }

    private func run(_ pending: Pending) {
        switch pending {
        case .opened(let invocation, let channel, let error):
            openCallback?(invocation, channel, SaAisErrorT(rawValue: error))
        case .delivered(let batch, let index, let subscriptionID):
            let channelHandle = batch.channel
            let delivery = batch.deliveries[Int(index)]
            // Consumed: the window slot frees at once (the event keeps a copy of its bytes).
            delivery.done()
            let event = Handles.tables.withLock { tables -> (UInt64, UInt32)? in
                guard let channel = tables.channels[channelHandle] else { return nil }  // closed meanwhile
                let id = tables.issue()
                tables.events[id] = Handles.Event(service: handle, channel: channelHandle, received: delivery.view)
                // A lost-event notice matches no filter: it names the open's first subscription.
                let subscription = delivery.isLostEvent ? (channel.subscriptions.keys.min() ?? 0) : subscriptionID
                return (id, subscription)
            }
            guard let (eventHandle, subscription) = event else { return }
            deliverCallback?(subscription, eventHandle, SaSizeT(delivery.view.dataCount))
        }
    }

    private func leave() {
        let close = state.withLock { state -> Bool in
            state.busy -= 1
            guard state.finalized, state.busy == 0, !state.notifierClosed else { return false }
            state.notifierClosed = true
            return true
        }
        if close { notifier.close() }
    }

    // MARK: Finalize

    /// Ends everything: the handle's channels and events, the connection (heraldd closes
    /// the channels), and a blocked `saEvtDispatch` (it returns). The selection object is
    /// closed now, or when the last dispatching thread leaves.
    func finalize() {
        let channels = Handles.tables.withLock { tables -> [UInt64] in
            tables.services[handle] = nil
            let mine = tables.channels.filter { $0.value.service == handle }.map(\.key)
            for channel in mine { _ = tables.removeChannel(channel) }
            for (key, event) in tables.events where event.service == handle {
                event.freeAllocations()
                tables.events[key] = nil
            }
            return mine
        }
        let closeNow = state.withLock { state -> Bool in
            state.finalized = true
            state.queue.removeAll()
            state.queueHead = 0
            notifier.set(true)  // wakes a blocked dispatch
            guard state.busy == 0, !state.notifierClosed else { return false }
            state.notifierClosed = true
            return true
        }
        let client = self.client
        _ = try? blocking { await client.close() }
        if closeNow { notifier.close() }
        SaEvtLibrary.debug("finalized a handle with \(channels.count) channel(s)")
    }
}
