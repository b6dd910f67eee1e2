import Foundation

/// The second stage of the fsync-mode pipeline: while the writer thread encodes, compresses
/// and writes the next commit group, this thread fdatasyncs the groups already written. One
/// fdatasync covers every group written before it, so several groups often share one.
/// Only after the sync are the groups made visible to readers, handed to the indexer and
/// acknowledged.
///
/// `@unchecked Sendable`: the queue and flags are guarded by `condition`. A queued file is
/// only synced here; the writer drains this stage (`drain`) before it closes that file.
final class JournalSyncer: @unchecked Sendable {
    /// One written, not yet durable, commit group.
    struct Written {
        var file: any JournalFile
        var requests: [JournalWriter.Request]
        var ranges: [SequenceRange]
        /// Makes the group visible and indexes it; runs after the sync.
        var publish: () -> Void
    }

    private let condition = NSCondition()
    private var queue: [Written] = []
    private var busy = false
    private var stopping = false
    private var stopped = false
    private let onFailure: (JournalError) -> Void
    private let currentFailure: () -> JournalError?

    /// `currentFailure` reports a sticky failure recorded since: groups written after a
    /// failed sync are never acknowledged, even if a later sync succeeds.
    init(onFailure: @escaping (JournalError) -> Void, currentFailure: @escaping () -> JournalError?) {
        self.onFailure = onFailure
        self.currentFailure = currentFailure
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "herald.journal.syncer"
        thread.start()
    }

    func enqueue(_ written: Written) {
        condition.lock()
        queue.append(written)
        condition.signal()
        condition.unlock()
    }

    /// Waits until every queued group is synced (or failed).
    func drain() {
        condition.lock()
        while !queue.isEmpty || busy { condition.wait() }
        condition.unlock()
    }

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
            let groups = queue
            queue.removeAll()
            busy = true
            condition.unlock()

            do {
                if let failure = currentFailure() { throw JournalError.writerFailed(failure.description) }
                // The writer drains this stage before switching files: all groups share one.
                try groups[groups.count - 1].file.sync()
                for group in groups {
                    group.publish()
                    for (request, range) in zip(group.requests, group.ranges) { request.completion(.success(range)) }
                }
            } catch {
                let failure = error as? JournalError ?? .writerFailed("\(error)")
                onFailure(failure)
                for group in groups {
                    for request in group.requests { request.completion(.failure(failure)) }
                }
            }

            condition.lock()
            busy = false
            condition.broadcast()
            condition.unlock()
        }
    }
}
