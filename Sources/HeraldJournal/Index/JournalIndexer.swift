import Foundation
import Logging

/// Applies committed frames to the SQLite index off the append path, on its own thread:
/// every queued frame since the last pass goes into one transaction (at most
/// `indexBatchFramesMax` frames each). The index only ever receives frames the writer has
/// already written, so it cannot run ahead of the segments.
///
/// If SQLite fails, indexing stops, the failure is logged and reported by `failure`, and
/// the journal keeps appending: the next open catches the index up from the segments.
///
/// `@unchecked Sendable`: all mutable state is guarded by `condition`.
final class JournalIndexer: @unchecked Sendable {
    enum Work {
        case frames([IndexedFrame])
        case segment(IndexedSegment)
        case trim(oldest: SequenceNumber, head: SequenceNumber, segments: [SegmentID])
    }

    private let store: JournalIndexStore
    private let logger: Logger
    private let batchFramesMax: Int
    private let condition = NSCondition()
    private var queue: [Work] = []
    private var busy = false
    private var stopping = false
    private var stopped = false
    private var indexed: SequenceNumber
    private var failed: JournalError?

    init(store: JournalIndexStore, indexedThrough: SequenceNumber, batchFramesMax: Int, logger: Logger) {
        self.store = store
        self.indexed = indexedThrough
        self.batchFramesMax = batchFramesMax
        self.logger = logger
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "herald.journal.indexer"
        thread.start()
    }

    func enqueue(frames: [IndexedFrame]) {
        guard !frames.isEmpty else { return }
        add(.frames(frames))
    }

    func enqueue(segment: IndexedSegment) { add(.segment(segment)) }

    func enqueue(trim oldest: SequenceNumber, head: SequenceNumber, segments: [SegmentID]) {
        add(.trim(oldest: oldest, head: head, segments: segments))
    }

    private func add(_ work: Work) {
        condition.lock()
        if !stopped && failed == nil {
            queue.append(work)
            condition.signal()
        }
        condition.unlock()
    }

    /// The newest sequence number in the index.
    var indexedThrough: SequenceNumber {
        condition.lock()
        defer { condition.unlock() }
        return indexed
    }

    var failure: JournalError? {
        condition.lock()
        defer { condition.unlock() }
        return failed
    }

    /// Waits until everything queued so far is in the index (or indexing failed).
    func flush() {
        condition.lock()
        while (!queue.isEmpty || busy) && failed == nil && !stopped { condition.wait() }
        condition.unlock()
    }

    /// Indexes what is queued, then ends the thread.
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
            if queue.isEmpty && stopping {
                stopped = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let work = takeBatch()
            busy = true
            condition.unlock()

            var error: JournalError?
            var newest: SequenceNumber?
            do {
                newest = try apply(work)
            } catch let failure {
                error = failure as? JournalError ?? .index("\(failure)")
                logger.error(
                    "index update failed; the index will catch up on the next open", metadata: ["error": "\(error!)"])
            }

            condition.lock()
            busy = false
            if let newest { indexed = newest }
            if let error {
                failed = error
                queue.removeAll()
            }
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Takes consecutive frame batches up to the frame limit, or one other item.
    private func takeBatch() -> [Work] {
        if case .frames = queue[0] {
            var frames = 0
            var taken = 0
            while taken < queue.count, case .frames(let batch) = queue[taken] {
                if taken > 0 && frames + batch.count > batchFramesMax { break }
                frames += batch.count
                taken += 1
            }
            let batch = Array(queue[0..<taken])
            queue.removeFirst(taken)
            return batch
        }
        return [queue.removeFirst()]
    }

    private func apply(_ work: [Work]) throws -> SequenceNumber? {
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
