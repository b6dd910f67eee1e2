import HeraldService
import HeraldWire
import NIOCore
import Synchronization

/// What a connection's socket reader hands its task: a request, or why the bytes are none.
enum InboundRequest: Sendable {
    case request(correlation: UInt32, message: ClientMessage)
    case malformed(WireError)
}

/// Decodes a connection's requests on its event loop (first in the pipeline). A publish
/// that `DirectPath` takes goes to the journal from here; every other request goes on to
/// the connection's task, which answers it through its `RequestLane`.
final class RequestDecoder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = InboundRequest

    let path = DirectPath()
    private var wire: WireServerSession
    private var failed = false

    init(limits: WireLimits) { wire = WireServerSession(limits: limits) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let buffer = Self.unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { wire.receive($0) }
        do {
            while let (correlation, message) = try wire.next() {
                if path.take(correlation, message) { continue }
                if case .ack = message {} else { path.forwarded() }
                context.fireChannelRead(Self.wrapInboundOut(.request(correlation: correlation, message: message)))
            }
        } catch {
            failed = true
            context.fireChannelRead(Self.wrapInboundOut(.malformed(error)))
        }
    }
}

/// A connection's direct publish path: a publish on one of the connection's publishing
/// opens, arriving with no other request of the connection queued or being answered, is
/// submitted to the journal from the event loop (`EventService.publishDirect`) and answered
/// from the journal's completion — no hop through the connection's task, its session or
/// the service's actor. The lane waits for the direct publishes in flight before it handles
/// the next request, so replies keep the requests' order, as the protocol promises.
final class DirectPath: Sendable {
    struct Context: Sendable {
        var session: ClientSession
        var service: EventService
        var metrics: ServerMetrics
        var channel: any Channel
    }

    private struct State {
        var context: Context?
        /// Requests handed to the connection's task and not yet answered.
        var outstanding = 0
        var inFlight = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Opens the path once the connection's session exists (until then every request goes
    /// to the task).
    func start(_ context: Context) { state.withLock { $0.context = context } }

    /// A request went to the connection's task.
    func forwarded() { state.withLock { $0.outstanding += 1 } }

    /// The task answered `count` requests.
    func answered(_ count: Int) { state.withLock { $0.outstanding -= count } }

    /// Takes a publish (true) or leaves it to the task (false: another kind of request,
    /// a request waiting before it, an open that is not this connection's, or a publish
    /// `publishDirect` does not serve — the lane then gives the same answer, or the refusal).
    func take(_ correlation: UInt32, _ request: ClientMessage) -> Bool {
        let opener: UInt64
        let events: [WireEvent]
        let route: EventRoute
        switch request {
        case .publish(let handle, let published): (opener, events, route) = (handle, published, EventRoute())
        case .publishRouted(let handle, let requested, let published):
            (opener, events, route) = (handle, published, requested)
        default: return false
        }
        // Bounded: a client that pipelines publishes without reading the replies (or faster
        // than the disk) goes through the lane once `inFlightMax` are in flight or its
        // replies are not being read (the channel is not writable), and the lane's queue
        // stops the reading — heraldd's memory stays bounded, not the flood.
        let context = state.withLock { state -> Context? in
            guard state.outstanding == 0, state.inFlight < Self.inFlightMax, let context = state.context,
                context.channel.isWritable
            else { return nil }
            state.inFlight += 1
            return context
        }
        guard let context else { return false }
        guard let handle = context.session.publishHandles.withLock({ $0[opener] }) else {
            end()
            return false
        }
        let peer = context.session.peer
        let taken = context.service.publishDirect(
            handle, events.map(\.serviceEvent), origin: PublisherOrigin(uid: peer.uid, gid: peer.gid, pid: peer.pid),
            route: route
        ) { [self] result in
            let reply: ServerMessage
            switch result {
            case .success(let ids):
                context.metrics.publishes.increment(by: ids.count)
                context.metrics.directPublishes.increment()
                reply = .published(first: ids[0].rawValue, count: UInt32(ids.count))
            case .failure(let error):
                context.metrics.refused.increment()
                reply = .error(code: UInt32(error.rawValue), message: ClientSession.explain(error, request))
            }
            context.channel.writeAndFlush(
                ByteBuffer(bytes: reply.frame(correlation: correlation).encoded), promise: nil)
            end()
        }
        if !taken { end() }
        return taken
    }

    /// Direct publishes of one connection in flight at most.
    static let inFlightMax = 64

    private func end() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.inFlight -= 1
            guard state.inFlight == 0 else { return [] }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once no direct publish is in flight.
    func drained() async {
        guard state.withLock({ $0.inFlight > 0 }) else { return }
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                guard state.inFlight > 0 else { return true }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}
