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
        case delivered(channel: UInt64, ClientDelivery)
    }

    struct State {
        var queue: [Pending] = []
        var queueHead = 0
        var finalized = false
        /// Threads inside `dispatch`: the notifier is closed when the last leaves.
        var busy = 0
        var notifierClosed = false
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
        enqueue(CollectionOfOne(pending))
    }

    /// Many at once (a frame's deliveries): one lock, the selection object raised once.
    func enqueue(_ pending: some Collection<Pending>) {
        guard !pending.isEmpty else { return }
        state.withLock { state in
            guard !state.finalized else { return }
            state.queue.append(contentsOf: pending)
            notifier.set(true)
        }
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
        case .delivered(let channelHandle, let delivery):
            // Consumed: the window slot frees at once (the data is copied into the event).
            delivery.done()
            let event = Handles.tables.withLock { tables -> (UInt64, UInt32)? in
                guard let channel = tables.channels[channelHandle] else { return nil }  // closed meanwhile
                var event = Handles.Event(service: handle, channel: channelHandle, delivered: true)
                event.patterns = delivery.patterns
                event.priority = delivery.priority
                event.retention = delivery.wire.event.retention
                event.publisherName = delivery.publisherName
                event.publishTime = delivery.publishTime
                event.eventID = delivery.eventID
                event.data = delivery.data
                let id = tables.issue()
                tables.events[id] = event
                // A lost-event notice matches no filter: it names the open's first subscription.
                let subscription =
                    delivery.isLostEvent
                    ? (channel.subscriptions.min() ?? 0) : delivery.wire.subscriptionID
                return (id, subscription)
            }
            guard let (eventHandle, subscription) = event else { return }
            deliverCallback?(subscription, eventHandle, SaSizeT(delivery.data.count))
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
