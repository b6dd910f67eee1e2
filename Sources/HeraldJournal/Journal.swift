import Foundation
import Logging
import Synchronization

/// An append-only, crash-safe journal of records in LZ4-compressed segment files, indexed
/// in SQLite. See `docs/journal-format.md` for the bytes on disk.
///
/// One writer thread owns the active segment (`JournalWriter`); one indexer thread keeps
/// `index.sqlite` in step (`JournalIndexer`); readers are independent and never hold up the
/// writer. Thread-safe.
public final class Journal: Sendable {
    public let directory: String
    public let options: JournalOptions
    /// What `open` found and repaired.
    public let recovery: RecoveryReport
    let catalog: SegmentCatalog
    let index: JournalIndexStore?
    /// The newest frames, decompressed, for readers that keep up.
    let cache: FrameCache
    private let writer: JournalWriter?
    private let indexer: JournalIndexer?
    private let closed = Atomic<Bool>(false)
    /// The descriptor holding `<data-dir>/LOCK` (read-write opens on the real file system).
    private let lock: Int32?

    var segmentsDirectory: String { joinPath(directory, "segments") }

    init(
        directory: String, options: JournalOptions, recovery: RecoveryReport, catalog: SegmentCatalog,
        index: JournalIndexStore?, writer: JournalWriter?, indexer: JournalIndexer?, lock: Int32?,
        cache: FrameCache
    ) {
        self.lock = lock
        self.cache = cache
        self.directory = directory
        self.options = options
        self.recovery = recovery
        self.catalog = catalog
        self.index = index
        self.writer = writer
        self.indexer = indexer
    }

    deinit { close() }

    // MARK: Appending

    /// Appends `entries` as consecutive records and returns their sequence numbers once they
    /// are as durable as `options.durability` promises. Throws before writing anything if an
    /// entry is over a limit.
    public func append(_ entries: [JournalEntry]) async throws -> SequenceRange {
        let request = try makeRequest(entries)
        return try await withCheckedThrowingContinuation { continuation in
            var request = request
            request.completion = { continuation.resume(with: $0) }
            writer!.submit(request)
        }
    }

    /// Blocking form of `append`, for threads outside Swift concurrency (CLI, C callers).
    public func appendAndWait(_ entries: [JournalEntry]) throws -> SequenceRange {
        var request = try makeRequest(entries)
        let box = ResultBox<SequenceRange>()
        request.completion = { result in box.set(result.mapError { $0 }) }
        writer!.submit(request)
        return try box.wait().get()
    }

    /// Callback form of `append`: `completion` runs on the writer thread; keep it short.
    public func append(
        _ entries: [JournalEntry], completion: @escaping @Sendable (Result<SequenceRange, JournalError>) -> Void
    ) {
        do {
            var request = try makeRequest(entries)
            request.completion = completion
            writer!.submit(request)
        } catch {
            completion(.failure(error as? JournalError ?? .writerFailed("\(error)")))
        }
    }

    /// `append(_:completion:)` that may commit on the calling thread: when the writer is idle
    /// and durability is `batch` or `none`, the records are encoded and written here and
    /// `completion` runs before this returns (the lone request's round trip then has no
    /// thread hand-off); otherwise the writer thread does it, as `append` would. For a
    /// caller that may spend a write system call, not an fdatasync (heraldd's event loop).
    public func appendInline(
        _ entries: [JournalEntry], completion: @escaping @Sendable (Result<SequenceRange, JournalError>) -> Void
    ) {
        do {
            var request = try makeRequest(entries)
            request.completion = completion
            if !writer!.submitInline(request) { writer!.submit(request) }
        } catch {
            completion(.failure(error as? JournalError ?? .writerFailed("\(error)")))
        }
    }

    private func makeRequest(_ entries: [JournalEntry]) throws -> JournalWriter.Request {
        guard writer != nil else { throw JournalError.readOnly }
        guard !entries.isEmpty else { throw JournalError.emptyAppend }
        var sizes: [Int] = []
        sizes.reserveCapacity(entries.count)
        var bytes = 0
        for entry in entries {
            let size = try RecordCodec.encodedSize(of: entry, limits: options.limits)
            sizes.append(size)
            bytes += size
        }
        return JournalWriter.Request(entries: entries, sizes: sizes, bytes: bytes, completion: { _ in })
    }

    // MARK: State

    /// The newest record's sequence number, time and chain value.
    public var head: JournalHead { catalog.snapshot.head }

    /// Writes since open (zero for a read-only journal).
    public var counters: JournalCounters { writer?.counters ?? JournalCounters() }

    /// The oldest sequence number still retained.
    public var oldestSequence: SequenceNumber { catalog.snapshot.oldest }

    /// Segment files, oldest first; the last is the active one.
    public var segments: [SegmentID] { catalog.snapshot.segments }

    /// The newest sequence number in the SQLite index (it may lag the head).
    public var indexedThrough: SequenceNumber {
        indexer?.indexedThrough ?? (try? index?.lastFrame()?.lastSequence) ?? .zero
    }

    /// Set when a write or sync failed: appends are refused until the journal is reopened.
    public var writeFailure: JournalError? { writer?.stickyFailure }

    /// Set when updating the index failed (appends go on; the next open catches up).
    public var indexFailure: JournalError? { indexer?.failure }

    /// Waits until every append acknowledged so far is in the index.
    public func waitForIndex() { indexer?.flush() }

    /// Event rows handed to the indexer and not yet in SQLite (bounded by
    /// `JournalOptions.indexBacklogEventsMax` plus one commit).
    var indexBacklogEvents: Int { indexer?.backlogEvents ?? 0 }

    /// The writer object (tests: that closing lets it go).
    var writerObject: AnyObject? { writer }

    /// Runs `body` on the writer thread between commit groups and waits for it (tests: a busy
    /// writer).
    func performOnWriter(_ body: @escaping @Sendable () -> Void) throws {
        guard let writer else { throw JournalError.readOnly }
        try writer.perform { _ in body() }
    }

    /// Removes sealed segments past the retention limits now.
    @discardableResult
    public func applyRetention() throws -> RetentionReport {
        guard let writer else { throw JournalError.readOnly }
        return try writer.perform { try $0.applyRetention(now: $0.now) }
    }

    /// Seals the active segment (if it holds anything) and starts a new one.
    public func rollSegment() throws {
        guard let writer else { throw JournalError.readOnly }
        try writer.perform { try $0.rollNow() }
    }

    /// Drains queued appends, syncs, stops the writer and indexer threads and closes the index
    /// (checkpointing its WAL). Appends and reads after `close` fail with `.closed`.
    /// Idempotent; called by `deinit` too.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        writer?.stop()
        indexer?.stop()
        index?.close()
        catalog.close()
        if let lock { Glibc.close(lock) }
    }

    /// Returns once a record past `sequence` is readable (durable as promised), the journal
    /// is closed, or the calling task is cancelled: the live tail's wake-up.
    public func waitForAppend(after sequence: SequenceNumber) async {
        await catalog.wait(beyond: sequence)
    }

    /// Calls `wake` once, from the thread that makes the append visible (keep it short), when
    /// a record past `sequence` is readable or the journal closes — at once if that is
    /// already so. The callback form of `waitForAppend`, for loops that also wait on other
    /// things. Returns a watch to cancel, or nil if `wake` already ran.
    public func watchAppend(after sequence: SequenceNumber, _ wake: @escaping @Sendable () -> Void) -> AppendWatch? {
        catalog.watch(beyond: sequence, wake).map { AppendWatch(key: $0, catalog: catalog) }
    }

    /// Whether `close` was called.
    public var isClosed: Bool { closed.load(ordering: .acquiring) }

    // MARK: Reading

    /// A reader positioned at `position`.
    public func reader(from position: ReadPosition) throws -> JournalReader {
        try JournalReader(journal: self, position: position)
    }

    /// The record with sequence number `sequence`, or nil past the head.
    public func record(_ sequence: SequenceNumber) throws -> JournalRecord? {
        let reader = try reader(from: .sequence(sequence))
        guard let record = try reader.next(), record.sequence == sequence else { return nil }
        return record
    }
}

/// A pending `watchAppend`.
public struct AppendWatch: Sendable {
    let key: UInt64
    let catalog: SegmentCatalog

    /// Forgets the watch; true if it had not fired (its callback will never run).
    @discardableResult
    public func cancel() -> Bool { catalog.cancelWatch(key) }
}

/// Where a reader starts.
public enum ReadPosition: Hashable, Sendable {
    /// The oldest retained record.
    case oldest
    /// The record with this sequence number (or the next one written, past the head).
    case sequence(SequenceNumber)
    /// The first record published at or after this time.
    case time(Nanoseconds)
    /// After the current head: only records appended from now on.
    case end
}

/// What `Journal.open` found and did.
public struct RecoveryReport: Hashable, Sendable {
    /// The segment whose torn tail was cut, the offset it was cut at and how many bytes went.
    public var truncatedSegment: SegmentID?
    public var truncatedAt: Int64?
    public var truncatedBytes: Int64 = 0
    public var truncationReason: String?
    /// A last segment whose header was never completely written, removed.
    public var removedIncompleteSegment: SegmentID?
    /// The index was missing or unreadable and was built again from the segments.
    public var indexRebuilt = false
    /// Frames added to the index because it was behind.
    public var indexCaughtUpFrames = 0
    /// Index rows removed because they described frames no longer in the segments.
    public var indexTrimmedFrames = 0

    public var droppedAnything: Bool { truncatedBytes > 0 || removedIncompleteSegment != nil }
}
