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

    init(framesMax: Int = 512) { self.framesMax = framesMax }

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
                                try await outbound.write(ByteBuffer(bytes: frame))
                            } catch {
                                subscriber.cancel()
                                return
                            }
                            metrics.deliveries.increment(by: end - start)
                            start = end
                        }
                    }
                }
                let ended = ServerMessage.streamEnded(stream: id, code: 0).encodedFrame(correlation: 0)
                try? await outbound.write(ByteBuffer(bytes: ended))
            }
        }
    }

    /// One frame of `batch` from `start`: up to `framesMax` deliveries and about 1 MiB of
    /// data (at least one). Returns the bytes and where the next frame starts.
    private func encodeFrame(stream: UInt32, _ batch: [Delivery], from start: Int) -> ([UInt8], Int) {
        var end = start
        var bytes = WireFrame.headerBytes + 8
        while end < batch.count && end - start < framesMax && (end == start || bytes < Self.frameDataBytes) {
            let delivery = batch[end]
            bytes +=
                DeliveriesFrameEncoder.deliveryFixedBytes + delivery.data.count
                + delivery.attributes.publisherName.count
            for pattern in delivery.attributes.patterns { bytes += 2 + pattern.count }
            end += 1
        }
        var encoder = DeliveriesFrameEncoder(stream: stream, capacity: bytes)
        for index in start..<end {
            let delivery = batch[index]
            var flags: WireDelivery.Flags = []
            if delivery.redelivered { flags.insert(.redelivered) }
            if delivery.retained { flags.insert(.retained) }
            encoder.append(
                sequence: delivery.sequence.rawValue, eventID: delivery.eventID.rawValue,
                descriptor: delivery.descriptor.rawValue, channelID: delivery.channel,
                subscriptionID: delivery.subscriptionID, flags: flags, publishTime: delivery.publishTime,
                origin: delivery.origin.map { WireOrigin(uid: $0.uid, gid: $0.gid, pid: $0.pid) },
                priority: delivery.attributes.priority, retention: delivery.attributes.retention,
                publisherName: delivery.attributes.publisherName, patterns: delivery.attributes.patterns,
                data: delivery.data)
        }
        return (encoder.finish(), end)
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
