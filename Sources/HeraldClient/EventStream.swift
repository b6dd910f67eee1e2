public import HeraldWire
import NIOCore
import Synchronization

/// One event received from the daemon. Call `done()` once it is processed (`callback_done`):
/// that acknowledges it, frees a slot of the stream's window and, for a durable stream,
/// advances its cursor. Harmless when called twice.
public struct ClientDelivery: Sendable {
    public let stream: UInt32
    /// The delivery as the frame carried it: fixed fields decoded, the rest read from the
    /// frame's bytes (shared by the frame's deliveries) when asked for.
    public let view: WireDeliveryView
    let connection: ClientConnection
    /// Acks of the stream that go out together (see `ClientConnection.acknowledge`).
    let ackBatch: Int

    /// Every field as a value (copies the variable ones out of the frame).
    public var wire: WireDelivery { view.delivery }
    public var sequence: UInt64 { view.sequence }
    public var eventID: UInt64 { view.eventID }
    public var descriptor: UInt32 { view.descriptor }
    public var channelID: UInt32 { view.channelID }
    public var subscriptionID: UInt32 { view.subscriptionID }
    /// A copy of the data (`withData` reads it in place).
    public var data: [UInt8] { view.data }
    public var patterns: [[UInt8]] { view.patterns }
    public var priority: UInt8 { view.priority }
    public var retention: Int64 { view.retention }
    public var publisherName: [UInt8] { view.publisherName }
    public var publishTime: Int64 { view.publishTime }
    public var redelivered: Bool { view.flags.contains(.redelivered) }
    public var retained: Bool { view.flags.contains(.retained) }
    /// The publisher's uid/gid/pid as the daemon saw its socket.
    public var origin: WireOrigin? { view.flags.contains(.hasOrigin) ? view.origin : nil }
    /// SAF's lost-event notice (event id 1): events were skipped.
    public var isLostEvent: Bool { view.eventID == 1 }
    /// The event's route (cast kind, the event it answers, the sender's channel open); nil
    /// for events without one.
    public var route: DeliveryRoute? { view.flags.contains(.routed) ? view.route : nil }

    /// The data's bytes without a copy, for as long as `body` runs.
    public func withData<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try view.withData(body) }

    public func done() { connection.acknowledge(stream: stream, sequence: view.sequence, batch: ackBatch) }
}

/// The deliveries of one stream, in journal order. Ends when the stream is detached, its
/// channel closed, or the connection lost (check `endReason`). Iterate it event by event,
/// or frame by frame with `batches` (what one `deliveries` frame carried: one hand-off per
/// frame).
public final class EventStream: AsyncSequence, Sendable {
    public typealias Element = ClientDelivery

    public let id: UInt32
    /// Acks that go out together: an eighth of the stream's window (8 for the default 64), at
    /// most 256 (the daemon refills a window once a quarter of it, at most 1024, is free).
    var ackBatch: Int { ackBatchStorage.load(ordering: .relaxed) }
    private let ackBatchStorage = Atomic<Int>(8)
    /// Each frame's deliveries, in order.
    private let stream: AsyncStream<[ClientDelivery]>
    let continuation: AsyncStream<[ClientDelivery]>.Continuation
    private let ending = Mutex<HeraldClientError?>(nil)
    private let yieldedStorage = Atomic<Int>(0)

    init(id: UInt32) {
        self.id = id
        (stream, continuation) = AsyncStream.makeStream(of: [ClientDelivery].self)
    }

    /// The deliveries frame by frame, in order. Iterate either this or the stream itself, once.
    public var batches: AsyncStream<[ClientDelivery]> { stream }

    public func makeAsyncIterator() -> Iterator { Iterator(batches: stream.makeAsyncIterator()) }

    /// Queues one frame's deliveries (in journal order).
    func yield(_ deliveries: some Collection<ClientDelivery>) {
        yieldedStorage.add(1, ordering: .releasing)
        continuation.yield(Array(deliveries))
    }

    /// How many batches `batches` has been given so far. The connection queues a frame's
    /// deliveries before it completes any request answered after that frame, so read when a
    /// request returned, this counts every batch sent before the daemon's answer (the SaEvt
    /// library fences an ended subscription's deliveries with it).
    public var batchesQueued: Int { yieldedStorage.load(ordering: .acquiring) }

    /// One delivery at a time, from the frames.
    public struct Iterator: AsyncIteratorProtocol {
        var batches: AsyncStream<[ClientDelivery]>.Iterator
        /// The current frame's deliveries not handed out yet, the next one last: taken with
        /// `popLast`, a move (no reference counting per delivery).
        var remaining: [ClientDelivery] = []

        public mutating func next() async -> ClientDelivery? {
            while remaining.isEmpty {
                guard var batch = await batches.next() else { return nil }
                batch.reverse()  // in place: the stream handed over the only reference
                remaining = batch
            }
            return remaining.popLast()
        }
    }

    /// Acknowledges several of this stream's deliveries at once (what `done()` on each does,
    /// under one lock): for a consumer that processes a frame at a time. Not generic, so
    /// that it is compiled for the array slices it gets (each delivery borrowed, not copied).
    public func done(_ deliveries: ArraySlice<ClientDelivery>) {
        guard let first = deliveries.first else { return }
        var sequences: [UInt64] = []
        sequences.reserveCapacity(deliveries.count)
        for index in deliveries.indices {
            precondition(deliveries[index].stream == id, "a delivery of another stream")
            sequences.append(deliveries[index].view.sequence)
        }
        first.connection.acknowledge(stream: id, sequences: sequences, batch: ackBatch)
    }

    /// Sets the ack batch from the window the stream was attached with.
    func setWindow(_ window: UInt32) {
        ackBatchStorage.store(Swift.max(1, Swift.min(Int(window) / 8, 256)), ordering: .relaxed)
    }

    /// Why the stream ended: nil while it runs or when it ended normally.
    public var endReason: HeraldClientError? { ending.withLock { $0 } }

    func finish(_ reason: HeraldClientError?) {
        ending.withLock { if $0 == nil { $0 = reason } }
        continuation.finish()
    }
}
