import Foundation
import GRDB
import Logging
import Synchronization

/// Applies committed frames to the SQLite index off the append path, on its own thread:
/// every queued frame since the last pass goes into one transaction (at most
/// `indexBatchFramesMax` frames each). The index only ever receives frames the writer has
/// already written, so it cannot run ahead of the segments.
///
/// If SQLite fails, indexing stops, the failure is logged and reported by `failure`, and
/// the journal keeps appending: the next open catches the index up from the segments. A
/// full disk (SQLITE_FULL) is not such a failure: the same batch is tried again (every
/// write is idempotent: INSERT OR REPLACE, range deletes) until there is space, so the
/// index catches up by itself once space is made; only a stop ends the retrying.
final class JournalIndexer: Sendable {
    enum Work {
        case frames([IndexedFrame])
        case segment(IndexedSegment)
        case trim(oldest: SequenceNumber, head: SequenceNumber, segments: [SegmentID])
    }

    private struct State {
        var indexed: SequenceNumber
        var failed: JournalError?
        var stopping = false
    }

    /// Shared with the worker's closure (a `Mutex` cannot be captured by itself).
    private final class Shared: Sendable {
        let state: Mutex<State>
        /// Event rows queued and not yet in SQLite, and the writer waiting for room.
        let backlog = Backlog()
        init(_ state: State) { self.state = Mutex(state) }
    }

    /// Bounds the memory of a trailing index: appends wait while more than `max` event
    /// rows are queued (backpressure instead of an ever-growing queue).
    final class Backlog: @unchecked Sendable {
        private let condition = NSCondition()
        private var queued = 0
        private var open = true

        func add(_ count: Int) {
            condition.lock()
            if open { queued += count }
            condition.unlock()
        }

        func remove(_ count: Int) {
            condition.lock()
            queued = max(0, queued - count)
            condition.broadcast()
            condition.unlock()
        }

        /// No more waiting (indexing failed or stopped).
        func release() {
            condition.lock()
            open = false
            queued = 0
            condition.broadcast()
            condition.unlock()
        }

        func wait(untilAtMost max: Int) {
            condition.lock()
            while open && queued > max { condition.wait() }
            condition.unlock()
        }

        var count: Int {
            condition.lock()
            defer { condition.unlock() }
            return queued
        }
    }

    private let shared: Shared
    private let worker: BatchingWorker<Work>
    let backlogEventsMax: Int

    /// Commits, or event rows, that make a pass at once; fewer wait up to
    /// `lingerNanoseconds` for more.
    static let lingerCommits = 32
    static let lingerRows = 512

    init(
        store: JournalIndexStore, indexedThrough: SequenceNumber, batchFramesMax: Int, backlogEventsMax: Int = .max,
        lingerNanoseconds: UInt64 = 2_000_000, logger: Logger
    ) {
        let shared = Shared(State(indexed: indexedThrough))
        self.shared = shared
        self.backlogEventsMax = backlogEventsMax
        worker = BatchingWorker(
            name: "herald.journal.indexer",
            take: { queue in Self.takeBatch(&queue, framesMax: batchFramesMax) },
            // A trickle of small commits (one request each) is indexed a few milliseconds
            // late in one transaction, instead of one transaction and one wake-up per commit.
            linger: .init(nanoseconds: lingerNanoseconds) { queue in
                var rows = 0
                for item in queue {
                    guard case .frames(let frames) = item else { return true }
                    for frame in frames { rows += frame.events.count }
                }
                return queue.count >= Self.lingerCommits || rows >= Self.lingerRows
            },
            process: { work in
                // After a failure, what is still queued is dropped as it comes up.
                guard shared.state.withLock({ $0.failed == nil }) else { return }
                let rows = work.reduce(0) { total, item in
                    guard case .frames(let frames) = item else { return total }
                    return total + frames.reduce(0) { $0 + $1.events.count }
                }
                defer { shared.backlog.remove(rows) }
                do {
                    let newest = try Self.applyRetryingWhileFull(work, to: store, shared: shared, logger: logger)
                    if let newest { shared.state.withLock { $0.indexed = newest } }
                } catch {
                    shared.backlog.release()
                    let failure = error as? JournalError ?? .index("\(error)")
                    logger.error(
                        "index update failed; the index will catch up on the next open",
                        metadata: ["error": "\(failure)"])
                    shared.state.withLock { $0.failed = failure }
                }
            })
    }

    func start() { worker.start() }

    func enqueue(frames: [IndexedFrame]) {
        guard !frames.isEmpty else { return }
        shared.backlog.add(frames.reduce(0) { $0 + $1.events.count })
        worker.enqueue(.frames(frames))
    }

    /// Blocks the caller (the writer, before it commits more) while the index trails by
    /// more than `backlogEventsMax` event rows.
    func waitForRoom() {
        guard backlogEventsMax < .max else { return }
        shared.backlog.wait(untilAtMost: backlogEventsMax)
    }

    /// Event rows queued for SQLite.
    var backlogEvents: Int { shared.backlog.count }

    func enqueue(segment: IndexedSegment) { worker.enqueue(.segment(segment)) }

    func enqueue(trim oldest: SequenceNumber, head: SequenceNumber, segments: [SegmentID]) {
        worker.enqueue(.trim(oldest: oldest, head: head, segments: segments))
    }

    /// The newest sequence number in the index.
    var indexedThrough: SequenceNumber { shared.state.withLock { $0.indexed } }

    var failure: JournalError? { shared.state.withLock { $0.failed } }

    /// Waits until everything queued so far is in the index (or indexing failed).
    func flush() { worker.drain() }

    /// Indexes what is queued, then ends the thread.
    func stop() {
        shared.state.withLock { $0.stopping = true }  // no more waiting for disk space
        worker.stop()
        shared.backlog.release()
    }

    /// Takes consecutive frame batches up to the frame limit, or one other item.
    private static func takeBatch(_ queue: inout [Work], framesMax: Int) -> [Work] {
        guard case .frames = queue[0] else { return [queue.removeFirst()] }
        var frames = 0
        var taken = 0
        while taken < queue.count, case .frames(let batch) = queue[taken] {
            if taken > 0 && frames + batch.count > framesMax { break }
            frames += batch.count
            taken += 1
        }
        let batch = Array(queue[0..<taken])
        queue.removeFirst(taken)
        return batch
    }

    /// `apply`, tried again every 200 ms while SQLite says the disk is full (until a stop).
    private static func applyRetryingWhileFull(
        _ work: [Work], to store: JournalIndexStore, shared: Shared, logger: Logger
    ) throws -> SequenceNumber? {
        var waited = false
        while true {
            do {
                let newest = try apply(work, to: store)
                if waited { logger.notice("index updates resumed: there is space again") }
                return newest
            } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
                if shared.state.withLock({ $0.stopping }) { throw error }
                if !waited {
                    logger.warning(
                        "index update refused, the disk is full; retrying until there is space",
                        metadata: ["error": "\(error)"])
                    waited = true
                }
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
    }

    private static func apply(_ work: [Work], to store: JournalIndexStore) throws -> SequenceNumber? {
        var frames: [IndexedFrame] = []
        var newest: SequenceNumber?
        for item in work {
            switch item {
            case .frames(let batch):
                frames.append(contentsOf: batch)
                newest = batch.last?.location.lastSequence
            case .segment(let segment):
                try store.insertSegment(segment)
            case .trim(let oldest, let head, let segments):
                try store.trim(oldest: oldest, head: head, segments: segments)
            }
        }
        try store.insert(frames)
        return newest
    }
}
