import Synchronization

/// The head of a journal: its newest record and the chain value after it.
public struct JournalHead: Hashable, Sendable {
    /// The newest sequence number (0 for an empty journal).
    public var sequence: SequenceNumber
    /// Publish time of the newest record (0 for an empty journal).
    public var time: Nanoseconds
    /// Hash-chain value after the newest frame (`ChainHash.genesis` for an empty journal).
    public var chain: ChainHash
}

/// What readers may see: the segment files in order and how far the newest one is
/// committed. Written by the journal's writer thread, read by everyone, under one mutex.
final class SegmentCatalog: Sendable {
    struct Snapshot: Sendable {
        /// Segments in order; the last one is the active segment.
        var segments: [SegmentID]
        /// Bytes of the active segment that hold whole, committed frames.
        var activeEnd: Int64
        var head: JournalHead
        /// The first sequence number still retained.
        var oldest: SequenceNumber { segments.first?.firstSequence ?? .first }

        /// The segment that holds `sequence` (or would hold it, past the head).
        func segment(containing sequence: SequenceNumber) -> SegmentID? {
            var found: SegmentID?
            for segment in segments {
                if segment.firstSequence <= sequence { found = segment } else { break }
            }
            return found
        }

        func isActive(_ segment: SegmentID) -> Bool { segments.last == segment }

        func next(after segment: SegmentID) -> SegmentID? { segments.first { $0 > segment } }
    }

    private struct State {
        var snapshot: Snapshot
        var waiters: [UInt64: (after: SequenceNumber, wake: @Sendable () -> Void)] = [:]
        var nextWaiter: UInt64 = 0
        var closed = false
    }

    private let state: Mutex<State>

    init(_ snapshot: Snapshot) { state = Mutex(State(snapshot: snapshot)) }

    var snapshot: Snapshot { state.withLock { $0.snapshot } }

    /// Changes the snapshot; wakes the waiters whose sequence number the head has passed.
    func update(_ body: (inout Snapshot) -> Void) {
        let ready = state.withLock { state in
            body(&state.snapshot)
            let head = state.snapshot.head.sequence
            guard !state.waiters.isEmpty else { return [@Sendable () -> Void]() }
            let keys = state.waiters.filter { $0.value.after < head }.map(\.key)
            return keys.map { state.waiters.removeValue(forKey: $0)!.wake }
        }
        for wake in ready { wake() }
    }

    /// Calls `wake` once, when the head passes `sequence` or the journal closes (at once if
    /// it already has). Returns a key for `cancelWatch`, or nil if `wake` already ran.
    func watch(beyond sequence: SequenceNumber, _ wake: @escaping @Sendable () -> Void) -> UInt64? {
        let key: UInt64? = state.withLock { state in
            if state.closed || state.snapshot.head.sequence > sequence { return nil }
            state.nextWaiter += 1
            state.waiters[state.nextWaiter] = (sequence, wake)
            return state.nextWaiter
        }
        if key == nil { wake() }
        return key
    }

    /// Forgets a watch; true if it had not fired (then `wake` will never run).
    @discardableResult
    func cancelWatch(_ key: UInt64) -> Bool {
        state.withLock { $0.waiters.removeValue(forKey: key) } != nil
    }

    /// Returns once the head is past `sequence`, the journal is closed, or the task is
    /// cancelled.
    func wait(beyond sequence: SequenceNumber) async {
        let key = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.closed || state.snapshot.head.sequence > sequence || Task.isCancelled { return true }
                    state.waiters[key] = (sequence, { continuation.resume() })
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: key) }?.wake()
        }
    }

    /// Wakes every waiter for good (the journal is closing).
    func close() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters.removeAll() }
            return state.waiters.values.map(\.wake)
        }
        for wake in waiters { wake() }
    }
}
