import HeraldService
import HeraldWire
import NIOCore
import Synchronization

/// Moves one stream's deliveries to the socket, several per frame when they pile up: one
/// task takes the subscriber's batches into a small buffer (one hand-off per batch),
/// another writes whatever the buffer holds as one `deliveries` frame. While a write waits (the client reads slowly,
/// or the kernel is busy), the next deliveries gather for the following frame; at low
/// rates each goes out alone, at once. The buffer never holds more than the subscriber's
/// window, since the subscriber hands out no more than that unacknowledged.
final class DeliveryBatcher: Sendable {
    private struct State {
        var buffer: [Delivery] = []
        var waiter: CheckedContinuation<Void, Never>?
        var ended = false
    }

    private let state = Mutex(State())
    private let framesMax: Int

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
                while let batch = await self.take() {
                    let frame = ServerMessage.deliveries(stream: id, batch.map(WireDelivery.init)).encodedFrame(
                        correlation: 0)
                    do {
                        try await outbound.write(ByteBuffer(bytes: frame))
                    } catch {
                        subscriber.cancel()
                        return
                    }
                    metrics.deliveries.increment(by: batch.count)
                }
                let ended = ServerMessage.streamEnded(stream: id, code: 0).frame(correlation: 0)
                try? await outbound.write(ByteBuffer(bytes: ended.encoded))
            }
        }
    }

    private func put(_ batch: [Delivery]) {
        let waiter = state.withLock { state in
            state.buffer.append(contentsOf: batch)
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

    /// What the buffer holds (up to `framesMax` or about 1 MiB), waiting for at least one; nil at the end.
    private func take() async -> [Delivery]? {
        while true {
            let (batch, ended) = state.withLock { state -> ([Delivery], Bool) in
                var count = 0
                var bytes = 0
                // Up to `framesMax` deliveries and about 1 MiB of data per frame (at least one).
                while count < min(state.buffer.count, framesMax) && (count == 0 || bytes < 1 << 20) {
                    bytes += state.buffer[count].data.count + 64
                    count += 1
                }
                let batch = Array(state.buffer.prefix(count))
                state.buffer.removeFirst(count)
                return (batch, state.ended)
            }
            if !batch.isEmpty { return batch }
            if ended { return nil }
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Bool in
                    guard state.buffer.isEmpty && !state.ended else { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }
}
