import Dispatch
import HeraldWire
import NIOCore
import Synchronization

/// The connection's shared state: requests waiting for replies (by correlation id), open
/// streams, and acknowledgements waiting to be sent. Frames arrive on the channel's event
/// loop (`received`), in order; an `attached` reply registers its stream before the
/// caller resumes, so no delivery can arrive for an unknown stream.
final class ClientConnection: Sendable {
    struct State {
        var pending: [UInt32: ReplyWaiter] = [:]
        var streams: [UInt32: EventStream] = [:]
        var nextCorrelation: UInt32 = 1
        var acks: [UInt32: [UInt64]] = [:]
        /// A flush at the next turn of the event loop is scheduled.
        var ackFlushScheduled = false
        /// A flush after `ackDelay` is scheduled.
        var ackTimerScheduled = false
        var failure: HeraldClientError?
    }

    let channel: any Channel
    let limits: WireLimits
    private let state = Mutex(State())

    init(channel: any Channel, limits: WireLimits) {
        self.channel = channel
        self.limits = limits
    }

    /// Sends a request and waits for its reply; an error reply is thrown.
    func request(_ message: ClientMessage) async throws(HeraldClientError) -> ServerMessage {
        let reply: ServerMessage
        do {
            reply = try await withCheckedThrowingContinuation { continuation in
                send(message, waiter: .task(continuation))
            }
        } catch let error as HeraldClientError {
            throw error
        } catch {
            throw .disconnected
        }
        if case .error(let code, let message) = reply { throw .refused(code: code, message: message) }
        return reply
    }

    /// `request` for a thread outside Swift concurrency and NIO (a C caller's): the calling
    /// thread waits for the reply itself, which the event loop hands it directly (no task is
    /// started and none resumed: two thread hops fewer per round trip). Many threads may
    /// wait at once, each for its own correlation id. Never call it on an event loop or from
    /// a task: it blocks the thread.
    func requestBlocking(_ message: ClientMessage) throws(HeraldClientError) -> ServerMessage {
        precondition(!channel.eventLoop.inEventLoop, "requestBlocking on the connection's event loop")
        let waiter = ThreadWaiter()
        send(message, waiter: .thread(waiter))
        let reply = try waiter.wait().get()
        if case .error(let code, let message) = reply { throw .refused(code: code, message: message) }
        return reply
    }

    /// Registers the waiter under a new correlation id and writes the request (or fails the
    /// waiter at once when the connection has failed).
    private func send(_ message: ClientMessage, waiter: ReplyWaiter) {
        let registered = state.withLock { state -> Result<UInt32, HeraldClientError> in
            if let failure = state.failure { return .failure(failure) }
            let correlation = state.nextCorrelation
            state.nextCorrelation = correlation == UInt32.max ? 1 : correlation + 1
            state.pending[correlation] = waiter
            return .success(correlation)
        }
        guard case .success(let correlation) = registered else {
            if case .failure(let failure) = registered { waiter.resume(.failure(failure)) }
            return
        }
        let bytes = message.encodedFrame(correlation: correlation)
        channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil)
    }

    func stream(_ id: UInt32) -> EventStream? { state.withLock { $0.streams[id] } }

    func removeStream(_ id: UInt32) { state.withLock { _ = $0.streams.removeValue(forKey: id) } }

    /// Acks wait at most this long for others to share their frame.
    static let ackDelay = TimeAmount.microseconds(500)

    /// Queues an ack. Acks go out together, one frame per stream: at the next turn of the
    /// event loop once `batch` of a stream are waiting (an eighth of its window: the daemon
    /// refills a window in quarters, so this never holds it back), else within `ackDelay`.
    /// A window of 1 acks at once, every time.
    func acknowledge(stream: UInt32, sequence: UInt64, batch: Int) {
        queueAcks(stream: stream, batch: batch) { $0.append(sequence) }
    }

    /// Acknowledges several deliveries of one stream at once: one lock for all of them.
    func acknowledge(stream: UInt32, sequences: [UInt64], batch: Int) {
        guard !sequences.isEmpty else { return }
        queueAcks(stream: stream, batch: batch) { $0.append(contentsOf: sequences) }
    }

    /// Adds to a stream's waiting acks (under the lock) and schedules their flush.
    @inline(__always)
    private func queueAcks(stream: UInt32, batch: Int, _ add: (inout [UInt64]) -> Void) {
        let (now, later) = state.withLock { state -> (Bool, Bool) in
            guard state.failure == nil else { return (false, false) }
            add(&state.acks[stream, default: []])
            if state.acks[stream]!.count >= batch {
                defer { state.ackFlushScheduled = true }
                return (!state.ackFlushScheduled, false)
            }
            defer { state.ackTimerScheduled = true }
            return (false, !state.ackTimerScheduled)
        }
        if now { channel.eventLoop.execute { self.flushAcks() } }
        if later { channel.eventLoop.scheduleTask(in: Self.ackDelay) { self.flushAcks(timer: true) } }
    }

    private func flushAcks(timer: Bool = false) {
        let batches = state.withLock { state -> [UInt32: [UInt64]] in
            if timer { state.ackTimerScheduled = false } else { state.ackFlushScheduled = false }
            defer { state.acks = [:] }
            return state.acks
        }
        for (stream, sequences) in batches {
            if sequences.count <= limits.acksMax {
                let frame = ClientMessage.ack(stream: stream, sequences: sequences).encodedFrame(correlation: 0)
                channel.write(ByteBuffer(bytes: frame), promise: nil)
                continue
            }
            var offset = 0
            while offset < sequences.count {
                let chunk = Array(sequences[offset..<min(sequences.count, offset + limits.acksMax)])
                offset += chunk.count
                let frame = ClientMessage.ack(stream: stream, sequences: chunk).encodedFrame(correlation: 0)
                channel.write(ByteBuffer(bytes: frame), promise: nil)
            }
        }
        channel.flush()
    }

    // MARK: From the event loop

    func received(_ frame: WireFrame) throws(WireError) {
        if frame.type == .deliveries {
            // Read in place: one shared payload for the frame, no array per field.
            let (streamID, deliveries) = try WireDeliveryView.parse(frame, limits: limits)
            guard let stream = stream(streamID) else { return }  // detached meanwhile
            let batch = stream.ackBatch
            stream.yield(
                deliveries.lazy.map { ClientDelivery(stream: streamID, view: $0, connection: self, ackBatch: batch) })
            return
        }
        let message = try ServerMessage(frame: frame, limits: limits)
        switch message {
        case .deliveries:
            break  // handled above
        case .streamEnded(let streamID, let code, let message):
            let stream = state.withLock { $0.streams.removeValue(forKey: streamID) }
            let reason = message.isEmpty ? "" : ": \(message)"
            stream?.finish(
                code == 0 ? nil : .refused(code: code, message: "stream \(streamID) ended by heraldd\(reason)"))
        case .error(let code, let text) where frame.correlation == 0:
            fail(.refused(code: code, message: "heraldd closed the connection: \(text)"))
        default:
            let waiter = state.withLock { state -> ReplyWaiter? in
                if case .attached(let streamID) = message, state.streams[streamID] == nil {
                    state.streams[streamID] = EventStream(id: streamID)
                }
                return state.pending.removeValue(forKey: frame.correlation)
            }
            waiter?.resume(.success(message))
        }
    }

    /// Ends every waiting request and every stream with `reason`.
    func fail(_ reason: HeraldClientError) {
        let (pending, streams) = state.withLock { state in
            if state.failure == nil { state.failure = reason }
            defer {
                state.pending = [:]
                state.streams = [:]
            }
            return (Array(state.pending.values), Array(state.streams.values))
        }
        for waiter in pending { waiter.resume(.failure(reason)) }
        for stream in streams { stream.finish(reason) }
    }
}

/// Who waits for a reply: a task (`request`) or a blocked thread (`requestBlocking`).
enum ReplyWaiter: Sendable {
    case task(CheckedContinuation<ServerMessage, any Error>)
    case thread(ThreadWaiter)

    func resume(_ result: Result<ServerMessage, HeraldClientError>) {
        switch self {
        case .task(let continuation): continuation.resume(with: result.mapError { $0 })
        case .thread(let waiter): waiter.resume(result)
        }
    }
}

/// A thread waiting for one reply: the event loop stores it and signals.
final class ThreadWaiter: Sendable {
    private let result = Mutex<Result<ServerMessage, HeraldClientError>?>(nil)
    private let semaphore = DispatchSemaphore(value: 0)

    func resume(_ result: Result<ServerMessage, HeraldClientError>) {
        self.result.withLock { $0 = result }
        semaphore.signal()
    }

    func wait() -> Result<ServerMessage, HeraldClientError> {
        semaphore.wait()
        return result.withLock { $0! }
    }
}

/// Decodes frames on the event loop and hands them to the connection.
final class ClientFrameHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private let connection: ClientConnection
    private let decoder: Mutex<WireFrameDecoder>

    init(connection: ClientConnection, frameBytesMax: Int) {
        self.connection = connection
        decoder = Mutex(WireFrameDecoder(frameBytesMax: frameBytesMax))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        do {
            try decoder.withLock { decoder throws(WireError) in
                buffer.withUnsafeReadableBytes { decoder.feed($0) }
                while let frame = try decoder.next() { try connection.received(frame) }
            }
        } catch {
            connection.fail(.protocolViolation("\(error)"))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.fail(.disconnected)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.fail(.disconnected)
        context.close(promise: nil)
    }
}
