import HeraldWire
import NIOCore
import Synchronization

/// A connection's requests, handled one at a time in arrival order, replies written in
/// that order. The socket reader only queues (up to `queueMax` requests, then it stops
/// reading: back-pressure on the client), so a client may pipeline requests. Consecutive
/// publishes on one handle that are queued together are merged into one journal append:
/// group commit within a connection, as the journal already does across connections.
final class RequestLane: Sendable {
    private struct State {
        var items: [(correlation: UInt32, message: ClientMessage)] = []
        var waiter: CheckedContinuation<Void, Never>?
        var spaceWaiters: [CheckedContinuation<Void, Never>] = []
        var finished = false
        /// `run` ended (a reply could not be written: the client went away): nothing more
        /// is queued, and a reader waiting for room is let go.
        var closed = false
    }

    private let state = Mutex(State())
    private let queueMax: Int
    private let eventsPerMergeMax: Int

    init(queueMax: Int = 256, eventsPerMergeMax: Int = 4096) {
        self.queueMax = queueMax
        self.eventsPerMergeMax = eventsPerMergeMax
    }

    /// Queues a request; waits while the queue is full. False once the lane has ended (the
    /// connection is going: stop reading it).
    func submit(_ correlation: UInt32, _ message: ClientMessage) async -> Bool {
        while true {
            let (added, waiter) = state.withLock { state -> (Bool?, CheckedContinuation<Void, Never>?) in
                guard !state.closed else { return (nil, nil) }
                guard state.items.count < queueMax else { return (false, nil) }
                state.items.append((correlation, message))
                defer { state.waiter = nil }
                return (true, state.waiter)
            }
            waiter?.resume()
            guard let added else { return false }
            if added { return true }
            await withCheckedContinuation { continuation in
                let full = state.withLock { state -> Bool in
                    guard state.items.count >= queueMax && !state.closed else { return false }
                    state.spaceWaiters.append(continuation)
                    return true
                }
                if !full { continuation.resume() }
            }
        }
    }

    /// No more requests: `run` returns once the queue is drained.
    func finish() {
        let waiter = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Handles queued requests until `finish` (or a goodbye) and the queue is empty.
    /// Direct publishes taken before a request (`direct`) are answered before it is handled.
    func run(session: ClientSession, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, direct: DirectPath)
        async throws
    {
        // However it ends — a write that fails because the client went away with replies
        // unread, a goodbye — a reader waiting for room must not wait for good: the
        // connection would never be cleaned up (found by the hostile-clients test: nearly
        // all of its 1 000 closed connections stayed in heraldd).
        defer { close() }
        while let batch = await nextBatch() {
            await direct.drained()
            defer { direct.answered(batch.count) }
            let replies: [(UInt32, ServerMessage?)]
            if case .publish(let opener, _) = batch[0].message, batch.count > 1 {
                let events = batch.map { item -> [WireEvent] in
                    guard case .publish(_, let events) = item.message else {
                        preconditionFailure("merged a non-publish")
                    }
                    return events
                }
                replies = zip(batch.map(\.correlation), await session.publishMerged(opener, events)).map { ($0, $1) }
            } else {
                replies = [(batch[0].correlation, await session.handle(batch[0].message))]
            }
            var bytes: [UInt8] = []
            for (correlation, reply) in replies {
                if let reply { bytes += reply.frame(correlation: correlation).encoded }
            }
            if !bytes.isEmpty { try await outbound.write(ByteBuffer(bytes: bytes)) }
            // Only a subscribe or an attach starts a stream (after its reply is written): no
            // second hop to the session for every other request.
            switch batch[0].message {
            case .subscribe, .attach: await session.startPendingStreams()
            default: break
            }
            if case .goodbye = batch[0].message { return }
        }
    }

    private func close() {
        let waiters = state.withLock { state in
            state.closed = true
            state.items.removeAll()
            defer { state.spaceWaiters = [] }
            return state.spaceWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The next request, with the publishes on the same handle queued right after it.
    private func nextBatch() async -> [(correlation: UInt32, message: ClientMessage)]? {
        while true {
            let (batch, finished, freed) = state.withLock {
                state -> ([(correlation: UInt32, message: ClientMessage)], Bool, [CheckedContinuation<Void, Never>]) in
                guard !state.items.isEmpty else { return ([], state.finished, []) }
                var take = 1
                if case .publish(let opener, let first) = state.items[0].message {
                    var events = first.count
                    while take < state.items.count, case .publish(let next, let more) = state.items[take].message,
                        next == opener, events + more.count <= eventsPerMergeMax
                    {
                        events += more.count
                        take += 1
                    }
                }
                let batch = Array(state.items.prefix(take))
                state.items.removeFirst(take)
                defer { state.spaceWaiters = [] }
                return (batch, false, state.spaceWaiters)
            }
            for waiter in freed { waiter.resume() }
            if !batch.isEmpty { return batch }
            if finished { return nil }
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Bool in
                    guard state.items.isEmpty && !state.finished else { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }
}
