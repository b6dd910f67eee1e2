import Foundation

/// A thread that processes queued items in batches: `take` picks the next batch from the
/// queue (by default everything queued), `process` runs without the lock held. The queue
/// of the journal's syncer and indexer stages.
///
/// `@unchecked Sendable`: the queue and flags are guarded by `condition`; `take` runs with
/// it held, `process` only on the worker thread.
final class BatchingWorker<Item>: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [Item] = []
    private var busy = false
    private var stopping = false
    private var stopped = false
    private let name: String
    private let take: (inout [Item]) -> [Item]
    private let process: ([Item]) -> Void
    private let linger: Linger?
    /// The worker waits (lingers) for more items: an enqueue wakes it only once enough are
    /// queued.
    private var lingering = false
    /// Callers waiting in `drain`: a lingering worker goes at once.
    private var hurry = 0

    /// Batching by time for a worker whose passes cost more than its items (a transaction
    /// per pass): after waking with less than `enough` queued, the worker waits up to
    /// `nanoseconds` for more, so that a trickle of items (one frame per request) makes one
    /// pass and one wake-up per batch, not per item.
    struct Linger {
        var nanoseconds: UInt64
        var enough: ([Item]) -> Bool
    }

    init(
        name: String,
        take: @escaping (inout [Item]) -> [Item] = { queue in
            defer { queue.removeAll() }; return queue
        },
        linger: Linger? = nil,
        process: @escaping ([Item]) -> Void
    ) {
        self.name = name
        self.take = take
        self.linger = linger
        self.process = process
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    /// Queues `item`; false (and nothing queued) once the worker is stopping.
    @discardableResult
    func enqueue(_ item: Item) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { return false }
        queue.append(item)
        if !lingering || linger?.enough(queue) ?? true { condition.signal() }
        return true
    }

    /// Waits until everything queued so far has been processed.
    func drain() {
        condition.lock()
        hurry += 1
        condition.broadcast()
        while (!queue.isEmpty || busy) && !stopped { condition.wait() }
        hurry -= 1
        condition.unlock()
    }

    /// Processes what is queued, then ends the thread. Idempotent.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !stopped { condition.wait() }
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if let linger, !queue.isEmpty, !linger.enough(queue) {
                let deadline = Date(timeIntervalSinceNow: Double(linger.nanoseconds) / 1e9)
                lingering = true
                while !linger.enough(queue) && !stopping && hurry == 0 && condition.wait(until: deadline) {}
                lingering = false
            }
            if queue.isEmpty {
                stopped = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let batch = take(&queue)
            busy = true
            condition.unlock()

            process(batch)

            condition.lock()
            busy = false
            condition.broadcast()
            condition.unlock()
        }
    }
}
