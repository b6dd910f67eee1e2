import Foundation

/// The second stage of the fsync-mode pipeline: while the writer thread encodes, compresses
/// and writes the next commit group, this thread fdatasyncs the groups already written. One
/// fdatasync covers every group written before it, so several groups often share one.
/// Only after the sync are the groups made visible to readers, handed to the indexer and
/// acknowledged. A queued file is only synced here; the writer drains this stage before it
/// closes that file.
final class JournalSyncer: Sendable {
    /// One written, not yet durable, commit group.
    struct Written {
        var file: any JournalFile
        var requests: [JournalWriter.Request]
        var ranges: [SequenceRange]
        /// Makes the group visible and indexes it; runs after the sync.
        var publish: () -> Void
    }

    private let worker: BatchingWorker<Written>

    /// `currentFailure` reports a sticky failure recorded since: groups written after a
    /// failed sync are never acknowledged, even if a later sync succeeds.
    init(
        counters: JournalCounters, onFailure: @escaping (JournalError) -> Void,
        currentFailure: @escaping () -> JournalError?
    ) {
        worker = BatchingWorker(name: "herald.journal.syncer") { groups in
            do {
                if let failure = currentFailure() { throw JournalError.writerFailed(failure.description) }
                // The writer drains this stage before switching files: all groups share one.
                try groups[groups.count - 1].file.sync()
                counters.synced()
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
        }
    }

    func start() { worker.start() }
    func enqueue(_ written: Written) { worker.enqueue(written) }
    /// Waits until every queued group is synced (or failed).
    func drain() { worker.drain() }
    func stop() { worker.stop() }
}
