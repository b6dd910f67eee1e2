import HeraldService
import HeraldWire
import NIOCore
import Synchronization

/// Moves one stream's deliveries to the socket, several per frame when they pile up: one
/// task takes the subscriber's batches into a small queue (one hand-off per batch, the
/// arrays moved, not copied element by element), another writes what the queue holds as
/// `deliveries` frames encoded straight from the deliveries into one buffer each. While a
/// write waits (the client reads slowly, or the kernel is busy), the next batches gather
/// for the following frames; at low rates each event goes out alone, at once. The queue
/// never holds more than the subscriber's window, since the subscriber hands out no more
/// than that unacknowledged.
final class DeliveryBatcher: Sendable {
    private struct State {
        var batches: [[Delivery]] = []
        var waiter: CheckedContinuation<Void, Never>?
        var ended = false
    }

    private let state = Mutex(State())
    /// Deliveries per frame at most; a frame also stops growing past `frameDataBytes`.
    private let framesMax: Int
    private static let frameDataBytes = 1 << 20

    private let allocator = ByteBufferAllocator()

    /// Whether deliveries carry their route (protocol version 3).
    private let routes: Bool
    /// Whether `streamEnded` says why heraldd ended a stream (protocol version 4).
    private let reasons: Bool
    /// Told why heraldd ended the stream, when it did (for the log).
    private let onFailure: (@Sendable (String) -> Void)?

    init(
        framesMax: Int = 512, routes: Bool = true, reasons: Bool = true,
        onFailure: (@Sendable (String) -> Void)? = nil
    ) {
        self.framesMax = framesMax
        self.routes = routes
        self.reasons = reasons
        self.onFailure = onFailure
    }

    /// Runs until the subscriber ends or the connection fails; then sends `streamEnded`.
    /// `admit`, when given, decides per delivery whether the client may see it; one it may
    /// not is acknowledged here and never sent.
    func run(
        stream id: UInt32, subscriber: Subscriber, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        metrics: ServerMetrics, admit: (@Sendable (Delivery) async -> Bool)? = nil
    ) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await batch in subscriber.batches {
                    guard let admit else {
                        self.put(batch)
                        continue
                    }
                    var admitted: [Delivery] = []
                    admitted.reserveCapacity(batch.count)
                    for delivery in batch {
                        if await admit(delivery) { admitted.append(delivery) } else { delivery.done() }
                    }
                    if !admitted.isEmpty { self.put(admitted) }
                }
                self.end()
            }
            group.addTask {
                while let batches = await self.take() {
                    for batch in batches {
                        var start = 0
                        while start < batch.count {
                            let (frame, end) = self.encodeFrame(stream: id, batch, from: start)
                            do {
                                try await outbound.write(frame)
                            } catch {
                                subscriber.cancel()
                                return
                            }
                            metrics.deliveries.increment(by: end - start)
                            start = end
                        }
                    }
                }
                // Ended by heraldd (a damaged segment, a cursor store that failed): the
                // client is told why (version 4) and the log names it; a detach or a closed
                // channel ends with 0.
                var code: UInt32 = 0
                var message = ""
                if let failure = subscriber.failure {
                    code = UInt32(ServiceError.failedOperation.rawValue)
                    if self.reasons { message = failure }
                    self.onFailure?(failure)
                }
                let ended = ServerMessage.streamEnded(stream: id, code: code, message: message).encodedFrame(
                    correlation: 0)
                try? await outbound.write(ByteBuffer(bytes: ended))
            }
        }
    }

    /// One frame of `batch` from `start`: up to `framesMax` deliveries and about 1 MiB of
    /// data (at least one), encoded straight into one `ByteBuffer` of the exact size (the
    /// deliveries' fields are read in place, not copied out). Returns the buffer and where
    /// the next frame starts.
    private func encodeFrame(stream: UInt32, _ batch: [Delivery], from start: Int) -> (ByteBuffer, Int) {
        var end = start
        var bytes = DeliveriesFrameEncoder.frameHeaderBytes
        while end < batch.count && end - start < framesMax && (end == start || bytes < Self.frameDataBytes) {
            bytes += DeliveriesFrameEncoder.deliveryBytes(
                publisherName: batch[end].attributes.publisherName, patterns: batch[end].attributes.patterns,
                data: batch[end].data, routed: routes && batch[end].route != nil)
            end += 1
        }
        var buffer = allocator.buffer(capacity: bytes)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bytes) { memory in
            var encoder = DeliveriesFrameEncoder(stream: stream, into: memory)
            for index in start..<end {
                var flags: WireDelivery.Flags = []
                if batch[index].redelivered { flags.insert(.redelivered) }
                if batch[index].retained { flags.insert(.retained) }
                let origin = batch[index].origin
                encoder.append(
                    sequence: batch[index].sequence.rawValue, eventID: batch[index].eventID.rawValue,
                    descriptor: batch[index].descriptor.rawValue, channelID: batch[index].channel,
                    subscriptionID: batch[index].subscriptionID, flags: flags, publishTime: batch[index].publishTime,
                    origin: origin.map { WireOrigin(uid: $0.uid, gid: $0.gid, pid: $0.pid) },
                    route: routes ? batch[index].route : nil, priority: batch[index].attributes.priority,
                    retention: batch[index].attributes.retention,
                    publisherName: batch[index].attributes.publisherName, patterns: batch[index].attributes.patterns,
                    data: batch[index].data)
            }
            return encoder.finish()
        }
        return (buffer, end)
    }

    private func put(_ batch: [Delivery]) {
        let waiter = state.withLock { state in
            state.batches.append(batch)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    private func end() {
        let waiter = state.withLock { state in
            state.ended = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Every batch queued, waiting for at least one; nil at the end.
    private func take() async -> [[Delivery]]? {
        while true {
            let (batches, ended) = state.withLock { state -> ([[Delivery]], Bool) in
                defer { state.batches.removeAll(keepingCapacity: true) }
                return (state.batches, state.ended)
            }
            if !batches.isEmpty { return batches }
            if ended { return nil }
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Bool in
                    guard state.batches.isEmpty && !state.ended else { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }
}
