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

    init(
        name: String,
        take: @escaping (inout [Item]) -> [Item] = { queue in
            defer { queue.removeAll() }; return queue
        },
        process: @escaping ([Item]) -> Void
    ) {
        self.name = name
        self.take = take
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
        condition.signal()
        return true
    }

    /// Waits until everything queued so far has been processed.
    func drain() {
        condition.lock()
        while (!queue.isEmpty || busy) && !stopped { condition.wait() }
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
