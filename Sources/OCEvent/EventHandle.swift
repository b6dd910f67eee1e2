import COCEvent
import Glibc
import HeraldCBridge
import HeraldClient
import HeraldWire
import Synchronization

/// One `oc_ev_register`: a connection to heraldd, the callbacks set on it, and once
/// activated a class stream whose deliveries wait in `queue` until `oc_ev_handle_event`
/// hands them to the callbacks.
///
/// The rules it keeps: every callback of a class gets each event of the class once, in
/// priority order (closer to zero first); in the draft flavour the next event waits until
/// every cookie of the previous one is done (heartbeat clients keep a cookie until the
/// next event, so there only the data's lifetime follows the cookie). The notifier is
/// readable exactly while an event can be handed out, or the handle needs a call
/// (disconnected, unregistered).
///
/// Lock order: `state`, then `Cookies`' table; callbacks are called with no lock held.
final class EventHandle: @unchecked Sendable {
    // Mutable state lives in `state`; `notifier` is only touched under that lock (or after
    // the last user left, in `cleanUp`).
    enum Flavour { case draft, heartbeat }

    /// A C callback: the draft's takes `const uint *cookie`, heartbeat's `void *cookie`;
    /// both are called through the same machine signature.
    struct Callback: @unchecked Sendable {
        // A C function pointer: immutable and callable from any thread.
        var priority: UInt32
        var function: UnsafeRawPointer

        func call(_ descriptor: UInt32, _ cookie: UnsafeMutableRawPointer, _ payload: EventPayload) {
            typealias CFunction = @convention(c) (UInt32, UnsafeMutableRawPointer?, Int, UnsafeRawPointer?) -> Void
            unsafeBitCast(function, to: CFunction.self)(descriptor, cookie, payload.size, payload.bytes)
        }
    }

    struct Durable: Sendable {
        var name: String
        var start: WireStart
    }

    struct State {
        var callbacks: [UInt32: [Callback]] = [:]
        var activated = false
        /// The NORETURN style: `oc_ev_handle_event` blocks until unregistered.
        var noReturn = false
        var classMask: UInt8 = 0
        var durable: Durable?
        var stream: EventStream?
        var consumer: Task<Void, Never>?
        var queue: [ClientDelivery] = []
        var queueHead = 0
        /// Events handed to callbacks whose cookies are not all done.
        var inFlight = 0
        var disconnected = false
        var unregistered = false
        /// Threads inside `handleEvents`; clean-up waits until the last one leaves.
        var busy = 0
        var dispatching = false
        var cleanedUp = false
        /// Classes for which `oc_ev_special` asked for memberships without quorum.
        var special: Set<UInt32> = []
        var lastMembership: MembershipEvent?
        var channelNames: [UInt32: [UInt8]] = [:]
        /// Channels `oc_ev_herald_cast` opened (publisher only: no GROUP join), by name.
        var castChannels: [[UInt8]: HeraldClient.Channel] = [:]

        var pending: Int { queue.count - queueHead }
    }

    let token: UInt
    let flavour: Flavour
    let client: HeraldClient
    let notifier: Notifier
    let state = Mutex(State())

    /// Deliveries a stream may have outstanding in heraldd before the library completes them.
    static let window: UInt32 = 1024
    /// Events handed out per `oc_ev_handle_event` call before the descriptor is polled again.
    static let eventsPerCall = 64

    init(token: UInt, flavour: Flavour, client: HeraldClient, notifier: Notifier) {
        self.token = token
        self.flavour = flavour
        self.client = client
        self.notifier = notifier
    }

    // MARK: Callbacks

    /// Sets (or with nil removes) the callback of `eventClass` at `priority`; returns the
    /// function it replaces. A class that was not set at activation cannot be added after.
    func setCallback(_ eventClass: UInt32, priority: UInt32, function: UnsafeRawPointer?) throws(CError)
        -> UnsafeRawPointer?
    {
        guard (1...3).contains(eventClass) else { throw CError(EINVAL) }
        return try state.withLock { state throws(CError) -> UnsafeRawPointer? in
            guard !state.unregistered else { throw CError(EINVAL) }
            if state.activated && function != nil && state.classMask & Self.maskBit(eventClass) == 0 {
                throw CError(EBUSY)
            }
            var list = state.callbacks[eventClass] ?? []
            let previous = list.first { $0.priority == priority }?.function
            list.removeAll { $0.priority == priority }
            if let function { list.append(Callback(priority: priority, function: function)) }
            list.sort { $0.priority < $1.priority }
            state.callbacks[eventClass] = list.isEmpty ? nil : list
            return previous
        }
    }

    /// The wire's class mask bit of an OCF class (1 MEMB, 2 COMM, 4 GROUP).
    static func maskBit(_ eventClass: UInt32) -> UInt8 {
        switch eventClass {
        case 2: return 1
        case 1: return 2
        case 3: return 4
        default: return 0
        }
    }

    func setDurable(_ durable: Durable?) throws(CError) {
        try state.withLock { state throws(CError) in
            guard !state.unregistered else { throw CError(EINVAL) }
            guard !state.activated else { throw CError(EBUSY) }
            state.durable = durable
        }
    }

    func special(_ eventClass: UInt32) {
        state.withLock { _ = $0.special.insert(eventClass) }
    }

    // MARK: Group messaging

    /// Publishes `data` on `channel` from this handle's session (the channel opened for
    /// publishing once, created if missing), under the handle's durable name: replies come
    /// to this handle's GROUP callbacks. Returns the event id.
    func cast(channel: [UInt8], route: EventRoute, data: [UInt8]) throws(CError) -> UInt64 {
        let (opened, durableName) = try state.withLock { state throws(CError) in
            guard !state.unregistered else { throw CError(EINVAL) }
            return (state.castChannels[channel], state.durable?.name ?? "")
        }
        var sent = route
        sent.senderName = Array(durableName.utf8)
        let client = self.client
        do {
            let handle: HeraldClient.Channel
            if let opened {
                handle = opened
            } else {
                handle = try blocking { try await client.openChannel(channel, flags: [.publisher, .create]) }
                state.withLock { $0.castChannels[channel] = handle }
            }
            let event = WireEvent(data: data)
            let route = sent
            return try client.publishBlocking(handle, event, route: route)
        } catch {
            throw Self.errno(for: error)
        }
    }

    // MARK: Activation

    /// Attaches the class stream of the classes with callbacks and starts taking deliveries.
    /// With a membership callback and no durable start, waits (up to 2 s) for the current
    /// membership, so the descriptor is readable when activation returns.
    func activate(noReturn: Bool = false) throws(CError) {
        let (mask, durable) = try state.withLock { state throws(CError) -> (UInt8, Durable?) in
            guard !state.unregistered else { throw CError(EINVAL) }
            guard !state.activated else { throw CError(EBUSY) }
            let mask = state.callbacks.keys.reduce(UInt8(0)) { $0 | Self.maskBit($1) }
            guard mask != 0 else { throw CError(EINVAL) }
            state.activated = true
            state.noReturn = noReturn
            state.classMask = mask
            return (mask, state.durable)
        }
        let attach = WireAttach(
            target: .classes(mask), start: durable?.start ?? .now, durableName: durable?.name ?? "",
            window: Self.window)
        let client = self.client
        let stream: EventStream
        do {
            stream = try blocking { try await client.attach(attach) }
        } catch {
            state.withLock { $0.activated = false }
            throw Self.errno(for: error)
        }
        // A strong reference (cancelled by clean-up, which ends the loop): a weak one would
        // give the handle a side table and make every retain of it, per event, the slow kind.
        let consumer = Task.detached { [self] in
            for await batch in stream.batches { enqueue(batch) }
            streamEnded()
        }
        state.withLock {
            $0.stream = stream
            $0.consumer = consumer
        }
        if mask & 1 != 0 && attach.start == .now { notifier.waitReadable(milliseconds: 2000) }
    }

    /// A frame's deliveries: one lock, and the descriptor toggled at most once.
    private func enqueue(_ batch: [ClientDelivery]) {
        state.withLock { state in
            state.queue.append(contentsOf: batch)
            refreshNotifier(&state)
        }
    }

    private func streamEnded() {
        state.withLock { state in
            state.disconnected = true
            refreshNotifier(&state)
        }
        Library.debug("the event stream from heraldd ended")
    }

    /// Raises or lowers the selection descriptor. Inside `oc_ev_handle_event` (GET_FD and
    /// SIGNAL styles) it is left alone, and set once when the call returns: a batch of
    /// events handed out in one call toggles it at most once, not twice per event.
    private func refreshNotifier(_ state: inout State) {
        if state.dispatching && !state.noReturn { return }
        let deliverable = state.pending > 0 && (flavour == .heartbeat || state.inFlight == 0)
        notifier.set(deliverable || state.disconnected || state.unregistered)
    }

    // MARK: Handing events to callbacks

    private enum Next {
        case event(ClientDelivery, [Callback])
        case nothing
        case disconnected
        case unregistered
    }

    /// `oc_ev_handle_event`: hands out what can be handed out now (at most `eventsPerCall`),
    /// or with `untilUnregistered` (the NORETURN style) keeps waiting and handing out until
    /// the handle is unregistered. Returns 0 or an errno value (ENOTCONN: heraldd went away).
    func handleEvents(untilUnregistered: Bool) -> Int32 {
        let entered = state.withLock { state -> Bool in
            guard !state.unregistered, state.activated, !state.dispatching else { return false }
            state.busy += 1
            state.dispatching = true
            return true
        }
        guard entered else {
            return state.withLock { $0.unregistered || !$0.activated ? EINVAL : 0 }
        }
        defer { leave() }
        var handed = 0
        while true {
            switch takeNext() {
            case .event(let delivery, let callbacks):
                dispatch(delivery, to: callbacks)
                handed += 1
                if !untilUnregistered && handed >= Self.eventsPerCall { return 0 }
            case .nothing:
                guard untilUnregistered else { return 0 }
                notifier.waitReadable()
            case .disconnected:
                return ENOTCONN
            case .unregistered:
                return 0
            }
        }
    }

    private func takeNext() -> Next {
        state.withLock { state -> Next in
            while true {
                if state.unregistered { return .unregistered }
                guard state.pending > 0 else { return state.disconnected ? .disconnected : .nothing }
                if flavour == .draft && state.inFlight > 0 { return .nothing }
                let delivery = state.queue[state.queueHead]
                state.queueHead += 1
                if state.queueHead > 1024 && state.queueHead * 2 > state.queue.count {
                    state.queue.removeFirst(state.queueHead)
                    state.queueHead = 0
                }
                let descriptor = delivery.descriptor
                let callbacks = state.callbacks[descriptor >> 22] ?? []
                let suppressed =
                    flavour == .heartbeat && descriptor == UInt32(OC_EV_MS_INVALID.rawValue)
                    && !state.special.contains(2)
                if callbacks.isEmpty || suppressed {
                    delivery.done()
                    continue
                }
                state.inFlight += 1
                refreshNotifier(&state)
                return .event(delivery, callbacks)
            }
        }
    }

    private func dispatch(_ delivery: ClientDelivery, to callbacks: [Callback]) {
        let payload = makePayload(delivery.wire)
        let event = DeliveredEvent(
            handle: self, sequence: delivery.sequence, publishTime: delivery.publishTime,
            redelivered: delivery.redelivered, retained: delivery.retained, payload: payload,
            callbacks: callbacks.count, acknowledge: { delivery.done() })
        let cookies = Cookies.issue(callbacks.count, for: event)
        for (callback, cookie) in zip(callbacks, cookies) {
            // Unregistered from a callback: no callback runs afterwards.
            if state.withLock({ $0.unregistered }) {
                Self.complete(cookie)
                continue
            }
            callback.call(delivery.descriptor, UnsafeMutableRawPointer(cookie), payload)
        }
    }

    /// Completes a cookie (`oc_ev_callback_done`); false when it is not a live cookie.
    @discardableResult
    static func complete(_ cookie: UnsafeRawPointer?) -> Bool {
        let (found, completed) = Cookies.done(cookie)
        guard let completed else { return found }
        completed.payload.free()
        completed.acknowledge()
        completed.handle.eventCompleted()
        return true
    }

    private func eventCompleted() {
        state.withLock { state in
            state.inFlight -= 1
            refreshNotifier(&state)
        }
    }

    /// The C struct for the delivery's class; heartbeat's rules for NOT_PRIMARY (the
    /// previous membership) and EVICTED (no data).
    private func makePayload(_ wire: WireDelivery) -> EventPayload {
        switch wire.descriptor >> 22 {
        case 2:
            if wire.descriptor == UInt32(OC_EV_MS_EVICTED.rawValue) { return .none }
            let decoded = MembershipEvent(decoding: wire.event.data)
            let membership = state.withLock { state -> MembershipEvent? in
                if let decoded, wire.descriptor != UInt32(OC_EV_MS_NOT_PRIMARY.rawValue) {
                    state.lastMembership = decoded
                }
                if wire.descriptor == UInt32(OC_EV_MS_NOT_PRIMARY.rawValue) { return state.lastMembership ?? decoded }
                return decoded
            }
            // Nothing to show (a NOT_PRIMARY before any membership): NULL data, size 0.
            return membership.map(EventPayload.membership) ?? .none
        case 1:
            return ConnectivityEvent(decoding: wire.event.data).map(EventPayload.connectivity) ?? .raw(wire.event.data)
        case 3:
            return .group(wire, channelName: channelName(wire.channelID))
        default:
            return .raw(wire.event.data)
        }
    }

    /// The channel's name, from heraldd's list (cached). A channel created a moment ago may
    /// not be listed yet (its join can reach us before heraldd's registry applied the
    /// creation): asked again a few times, briefly. One that no longer exists is "", not
    /// cached, so a later event asks again.
    private func channelName(_ id: UInt32) -> [UInt8] {
        if let name = state.withLock({ $0.channelNames[id] }) { return name }
        let client = self.client
        for attempt in 0..<5 {
            if attempt > 0 { usleep(10_000) }
            let channels = (try? blocking { try await client.channels() }) ?? []
            let name = state.withLock { state -> [UInt8]? in
                for channel in channels { state.channelNames[channel.id] = channel.name }
                return state.channelNames[id]
            }
            if let name { return name }
        }
        return []
    }

    /// Whether `node` is this node: the member of the last membership named like heraldd's
    /// node, or that name itself.
    func isLocal(nodeID: UInt32, name: String?) -> Bool {
        let local = client.welcome.nodeName
        let member = state.withLock { $0.lastMembership?.members.first { $0.name == local } }
        if let member { return member.id == nodeID }
        return name == local
    }

    // MARK: Unregistering

    /// Marks the handle unregistered; cleans up now, or when the last thread inside
    /// `oc_ev_handle_event` (maybe the caller's own callback) leaves.
    func unregister() {
        let cleanNow = state.withLock { state -> Bool in
            state.unregistered = true
            refreshNotifier(&state)
            return state.busy == 0
        }
        if cleanNow { cleanUp() }
    }

    private func leave() {
        let cleanNow = state.withLock { state -> Bool in
            state.busy -= 1
            state.dispatching = false
            refreshNotifier(&state)
            return state.unregistered && state.busy == 0
        }
        if cleanNow { cleanUp() }
    }

    private func cleanUp() {
        let (stream, consumer, first) = state.withLock { state in
            defer { state.cleanedUp = true }
            return (state.stream, state.consumer, !state.cleanedUp)
        }
        guard first else { return }
        consumer?.cancel()
        let client = self.client
        _ = try? blocking {
            if let stream { try? await client.detach(stream) }
            await client.close()
        }
        for event in Cookies.drop(self) { event.payload.free() }
        state.withLock { _ in notifier.close() }
    }

    static func errno(for error: any Error) -> CError {
        if let error = error as? CError { return error }
        guard let error = error as? HeraldClientError else { return CError(EIO) }
        Library.debug("\(error)")
        switch error {
        case .unreachable: return CError(ECONNREFUSED)
        case .disconnected: return CError(ENOTCONN)
        case .refused(let code, _): return CError(Library.aisErrno(code))
        case .protocolViolation: return CError(EPROTO)
        }
    }
}
