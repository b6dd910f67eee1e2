import Foundation
import Logging

/// The journal's single writer: one thread that owns the active segment, assigns sequence
/// numbers and times, encodes, compresses, chains, writes and syncs.
///
/// Group commit: appends queue up while a write+fsync is in flight; the next pass takes
/// every queued append (up to `groupBytesMax`) into one write and one fsync. A failed
/// write or sync is sticky: every later append fails until the journal is reopened.
///
/// `@unchecked Sendable`: the queue, `failure` and `stopping` are guarded by `condition`;
/// everything else is touched only by the writer thread (after `start`).
final class JournalWriter: @unchecked Sendable {
    struct Request {
        var entries: [JournalEntry]
        var sizes: [Int]
        var bytes: Int
        var completion: @Sendable (Result<SequenceRange, JournalError>) -> Void
    }

    enum Work {
        case append(Request)
        /// Runs on the writer thread between commit groups (retention, tests).
        case task(@Sendable () -> Void)
    }

    private let condition = NSCondition()
    private var queue: [Work] = []
    private var stopping = false
    private var stopped = false
    private var failure: JournalError?
    /// A group is being committed (by the writer thread, or inline by `submitInline`'s
    /// caller): whoever set it owns the writer's state until it clears it.
    private var busy = false
    /// Commits so far (changed only by whoever holds `busy`): a periodic sync that ran
    /// while commits went on leaves the file dirty.
    private var commits: UInt64 = 0
    /// The commit in progress runs inline on a caller's thread: it never syncs (the writer
    /// thread does, without stopping commits).
    private var committingInline = false
    /// The writer thread waits for an inline commit to end (`waitWhileBusy`).
    private var waitingWhileBusy = false

    // Owned by the writer thread.
    private let segmentsDirectory: String
    private let options: JournalOptions
    private let catalog: SegmentCatalog
    private let indexer: JournalIndexer?
    private var active: ActiveSegment
    private var sealed: [SegmentID: SealedSegmentInfo]
    private var nextSequence: SequenceNumber
    private var lastTime: Nanoseconds
    private var chain: ChainHash
    private var dirty = false
    private var lastSync = DispatchTime.now().uptimeNanoseconds
    private let raw = GrowableBuffer(capacity: 1 << 20)
    private let output = GrowableBuffer(capacity: 1 << 20)
    private let sealer: FrameSealer
    private var thread: Thread?
    /// The fsync stage of the pipeline (fsync durability only).
    private var syncer: JournalSyncer?
    let counters = JournalCounters()

    init(
        segmentsDirectory: String, options: JournalOptions, catalog: SegmentCatalog, indexer: JournalIndexer?,
        active: ActiveSegment, sealed: [SegmentID: SealedSegmentInfo], head: JournalHead
    ) {
        self.segmentsDirectory = segmentsDirectory
        self.options = options
        self.catalog = catalog
        self.indexer = indexer
        self.active = active
        self.sealed = sealed
        self.nextSequence = head.sequence.next
        self.lastTime = head.time
        self.chain = head.chain
        self.sealer = FrameSealer(acceleration: options.lz4Acceleration)
    }

    func start() {
        if case .fsync = options.durability {
            let syncer = JournalSyncer(
                counters: counters,
                onFailure: { [self] failure in recordFailure(failure) }, currentFailure: { [self] in stickyFailure })
            syncer.start()
            self.syncer = syncer
        }
        // Weak: once `run` returns, the thread (which lives a moment longer) holds nothing.
        let thread = Thread { [weak self] in self?.run() }
        thread.name = "herald.journal.writer"
        thread.stackSize = 1 << 20
        self.thread = thread
        thread.start()
    }

    // MARK: Submitting (any thread)

    func submit(_ request: Request) {
        condition.lock()
        if stopping || stopped {
            condition.unlock()
            request.completion(.failure(.closed))
            return
        }
        if let failure {
            condition.unlock()
            request.completion(.failure(.writerFailed(failure.description)))
            return
        }
        queue.append(.append(request))
        condition.signal()
        condition.unlock()
    }

    /// Commits `request` on the calling thread, at once, when the writer has nothing to do
    /// (no queued work, no group in progress, no sync pipeline, the indexer has room, no
    /// segment roll due); its completion runs before this returns. False, doing nothing,
    /// otherwise: then `submit` it. Saves the hand-off to the writer thread and back for a
    /// lone request with `batch` or `none` durability (an fdatasync is never run inline:
    /// fsync durability always goes through the sync stage).
    func submitInline(_ request: Request) -> Bool {
        guard syncer == nil else { return false }
        condition.lock()
        guard !busy, queue.isEmpty, !stopping, !stopped, failure == nil else {
            condition.unlock()
            return false
        }
        busy = true
        condition.unlock()
        let inline =
            indexer.map { $0.backlogEvents < $0.backlogEventsMax } ?? true && !shouldRoll(now: options.clock.now())
        let wasDirty = dirty
        if inline {
            committingInline = true
            process([.append(request)])
            committingInline = false
        }
        condition.lock()
        busy = false
        // Wakes the writer thread only when it has something new to do: work queued
        // meanwhile, a stop, or a periodic sync to schedule or due now (it already waits for
        // the deadline of one that was scheduled).
        if !queue.isEmpty || stopping || waitingWhileBusy || (dirty && (!wasDirty || periodicSyncDue)) {
            condition.broadcast()
        }
        condition.unlock()
        return inline
    }

    /// Runs `body` on the writer thread and waits for it. Throws `.closed` after `stop`.
    func perform<T: Sendable>(_ body: @escaping @Sendable (JournalWriter) throws -> T) throws -> T {
        let box = ResultBox<T>()
        condition.lock()
        guard !stopping && !stopped else {
            condition.unlock()
            throw JournalError.closed
        }
        queue.append(
            .task { [self] in
                box.set(Result { try body(self) })
            })
        condition.signal()
        condition.unlock()
        return try box.wait().get()
    }

    var stickyFailure: JournalError? {
        condition.lock()
        defer { condition.unlock() }
        return failure
    }

    /// Drains queued appends, syncs, closes the active segment and ends the thread.
    func stop() {
        condition.lock()
        if stopped {
            condition.unlock()
            return
        }
        stopping = true
        condition.signal()
        while !stopped { condition.wait() }
        condition.unlock()
    }

    // MARK: The writer thread

    private func run() {
        while true {
            condition.lock()
            while (queue.isEmpty || busy) && !stopping {
                if busy {
                    // An inline commit: it wakes this thread when it ends.
                    waitingWhileBusy = true
                    condition.wait()
                    continue
                }
                waitingWhileBusy = false
                if dirty, case .batch(let interval) = options.durability {
                    let deadline = lastSync + UInt64(interval) * 1_000_000
                    let now = DispatchTime.now().uptimeNanoseconds
                    if now >= deadline { break }
                    _ = condition.wait(until: Date(timeIntervalSinceNow: Double(deadline - now) / 1e9))
                } else {
                    condition.wait()
                }
            }
            waitWhileBusy()  // stopping during an inline commit
            let work = takeGroup()
            let exiting = stopping && work.isEmpty
            busy = !exiting
            condition.unlock()

            if exiting {
                finish()
                return
            }
            if work.isEmpty {
                periodicSync()
                continue
            }
            process(work)
            condition.lock()
            busy = false
            condition.unlock()
        }
    }

    /// The periodic sync of `batch` durability, on the writer thread, without holding
    /// `busy` during the fdatasync: inline commits go on meanwhile (a lone publish never
    /// waits for a flush it did not ask for). Called with `busy` set by the caller's pass;
    /// clears it.
    private func periodicSync() {
        let file = active.file
        let before = commits
        var needed = false
        if case .batch = options.durability { needed = dirty }
        let start = DispatchTime.now().uptimeNanoseconds
        condition.lock()
        busy = false
        condition.unlock()
        guard needed, stickyFailure == nil else { return }
        do {
            try file.sync()
            counters.synced()
        } catch {
            recordFailure(error as? JournalError ?? .writerFailed("\(error)"))
            return
        }
        condition.lock()
        waitWhileBusy()
        // What was committed while the sync ran may not be covered: it stays dirty.
        if commits == before { dirty = false }
        lastSync = start
        condition.unlock()
    }

    /// Waits (the lock held) until no inline commit is in progress.
    private func waitWhileBusy() {
        while busy {
            waitingWhileBusy = true
            condition.wait()
        }
        waitingWhileBusy = false
    }

    /// A periodic sync is due (`batch` durability, dirty, the interval over). Reads the
    /// writer's state: call it holding `busy`, or under the lock while no one does.
    private var periodicSyncDue: Bool {
        guard dirty, case .batch(let interval) = options.durability else { return false }
        return DispatchTime.now().uptimeNanoseconds - lastSync >= UInt64(interval) * 1_000_000
    }

    /// Takes queued work: appends up to `groupBytesMax` (at least one), or one task.
    /// Called with the lock held.
    private func takeGroup() -> [Work] {
        guard !queue.isEmpty else { return [] }
        if case .task = queue[0] { return [queue.removeFirst()] }
        var taken = 0
        var bytes = 0
        while taken < queue.count, case .append(let request) = queue[taken] {
            if taken > 0 && bytes + request.bytes > options.groupBytesMax { break }
            bytes += request.bytes
            taken += 1
        }
        let group = Array(queue[0..<taken])
        queue.removeFirst(taken)
        return group
    }

    private func process(_ work: [Work]) {
        if work.count == 1, case .task(let body) = work[0] {
            body()
            return
        }
        let requests = work.compactMap { item -> Request? in
            if case .append(let request) = item { return request }
            return nil
        }
        if let failure = stickyFailure {
            for request in requests { request.completion(.failure(.writerFailed(failure.description))) }
            return
        }
        do {
            let written = try commit(requests)
            if let syncer {
                syncer.enqueue(written)
            } else {
                written.publish()
                for (request, range) in zip(requests, written.ranges) { request.completion(.success(range)) }
            }
        } catch let outOfSpace as OutOfSpace {
            // Not sticky: this group is refused, the journal is as before it.
            options.logger.warning("append refused: out of space", metadata: ["error": "\(outOfSpace.error)"])
            for request in requests { request.completion(.failure(outOfSpace.error)) }
        } catch {
            let journalError = error as? JournalError ?? .writerFailed("\(error)")
            recordFailure(journalError)
            for request in requests { request.completion(.failure(journalError)) }
        }
    }

    /// Makes a write or sync failure sticky.
    private func recordFailure(_ error: JournalError) {
        condition.lock()
        let first = failure == nil
        if first { failure = error }
        condition.unlock()
        if first {
            options.logger.error(
                "journal writer failed; refusing appends until reopened", metadata: ["error": "\(error)"])
        }
    }

    private func finish() {
        syncer?.drain()
        syncer?.stop()
        // The sync stage's callbacks and the thread's closure hold this writer: let go of
        // both, or every journal opened and closed keeps its writer (and its 2 MiB of
        // buffers) for good (found by tools/fuzz journal: LeakSanitizer).
        syncer = nil
        thread = nil
        if stickyFailure == nil {
            do {
                if dirty { try active.file.sync() }
            } catch {
                options.logger.error("final sync failed", metadata: ["error": "\(error)"])
            }
        }
        active.file.close()
        condition.lock()
        stopped = true
        let leftovers = queue
        queue.removeAll()
        condition.broadcast()
        condition.unlock()
        for item in leftovers {
            if case .append(let request) = item { request.completion(.failure(.closed)) }
        }
    }

    private func syncIfDue(force: Bool) {
        guard dirty, stickyFailure == nil else { return }
        guard case .batch(let interval) = options.durability else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard force || now - lastSync >= UInt64(interval) * 1_000_000 else { return }
        do {
            try active.file.sync()
            counters.synced()
            dirty = false
            lastSync = now
        } catch {
            recordFailure(error as? JournalError ?? .writerFailed("\(error)"))
        }
    }

    // MARK: Committing one group

    /// Encodes and writes one commit group. In fsync mode the caller hands the result to the
    /// syncer; otherwise it is already as durable as promised and can be published at once.
    private func commit(_ requests: [Request]) throws -> JournalSyncer.Written {
        indexer?.waitForRoom()
        let now = options.clock.now()
        if shouldRoll(now: now) { try roll(now: now) }

        let saved = (nextSequence: nextSequence, lastTime: lastTime, chain: chain)
        output.removeAll()
        raw.removeAll()
        var frames: [IndexedFrame] = []
        var events: [IndexedEvent] = []
        var ranges: [SequenceRange] = []
        ranges.reserveCapacity(requests.count)
        var frameFirst = nextSequence
        var frameFirstTime = lastTime
        let frameStart = active.size

        func flushFrame() {
            guard raw.count > 0 else { return }
            let offset = frameStart + Int64(output.count)
            let descriptor = appendFrame(
                firstSequence: frameFirst, lastSequence: nextSequence.previous, firstTime: frameFirstTime)
            frames.append(
                IndexedFrame(
                    location: FrameLocation(segment: active.id, offset: offset, descriptor: descriptor), events: events)
            )
            events = []
            raw.removeAll()
        }

        for request in requests {
            let first = nextSequence
            for (entry, size) in zip(request.entries, request.sizes) {
                if raw.count > 0 && raw.count + size > options.frameRawBytesMax { flushFrame() }
                let time = max(entry.time ?? now, lastTime)
                if raw.count == 0 {
                    frameFirst = nextSequence
                    frameFirstTime = time
                }
                RecordCodec.encode(entry, sequence: nextSequence, time: time, size: size, into: raw)
                if indexer != nil {
                    events.append(
                        IndexedEvent(
                            sequence: nextSequence, time: time, channel: entry.channel, descriptor: entry.descriptor,
                            priority: entry.priority,
                            publisher: entry.publisher.withUnsafeBytes {
                                RecordCodec.publisherName(flags: entry.flags, field: $0)
                            }))
                }
                lastTime = time
                nextSequence = nextSequence.next
            }
            ranges.append(SequenceRange(first: first, last: nextSequence.previous))
            if options.framePerAppend { flushFrame() }
        }
        flushFrame()

        do {
            try active.file.write(at: active.size, output.bytes)
        } catch let error as JournalError where error.isOutOfSpace {
            // None of the group is committed: the numbering, time and chain go back, and the
            // part of it that reached the file is cut (if that fails too, the failure is
            // sticky, as any other write failure).
            (nextSequence, lastTime, chain) = saved
            try active.file.truncate(to: active.size)
            throw OutOfSpace(error: error)
        }
        counters.wrote(records: Int(nextSequence.rawValue - ranges[0].first.rawValue), bytes: output.count)
        commits &+= 1
        active.size += Int64(output.count)
        active.frames += frames.count
        switch options.durability {
        case .fsync:
            dirty = true  // until the syncer's fdatasync; `roll` and `finish` drain it first
        case .batch:
            dirty = true
            if !committingInline {
                syncIfDue(force: false)
                if let failure = stickyFailure { throw failure }
            }
        case .none:
            dirty = true
        }

        let head = JournalHead(sequence: nextSequence.previous, time: lastTime, chain: chain)
        let end = active.size
        let catalog = self.catalog
        let indexer = self.indexer
        return JournalSyncer.Written(
            file: active.file, requests: requests, ranges: ranges,
            publish: {
                catalog.update { snapshot in
                    // Groups publish in order, so the newest head wins.
                    snapshot.activeEnd = end
                    snapshot.head = head
                }
                indexer?.enqueue(frames: frames)
            })
    }

    /// Compresses `raw` into one LZ4 frame, chains it, and appends descriptor + frame to `output`.
    private func appendFrame(firstSequence: SequenceNumber, lastSequence: SequenceNumber, firstTime: Nanoseconds)
        -> FrameDescriptor
    {
        let descriptor = sealer.seal(
            raw, firstSequence: firstSequence, lastSequence: lastSequence, firstTime: firstTime, lastTime: lastTime,
            previous: chain)
        descriptor.encode(into: output)
        output.append(sealer.compressed.bytes)
        chain = descriptor.chain
        return descriptor
    }

    // MARK: Segments

    private func shouldRoll(now: Nanoseconds) -> Bool {
        guard active.frames > 0 else { return false }
        if active.size >= options.segmentBytesMax { return true }
        if let age = options.segmentAgeMax, now - active.created >= age { return true }
        return false
    }

    /// Seals the active segment and starts the next one at `nextSequence`.
    private func roll(now: Nanoseconds) throws {
        syncer?.drain()
        if let failure = stickyFailure { throw failure }
        try active.file.sync()
        dirty = false
        lastSync = DispatchTime.now().uptimeNanoseconds

        // The new segment first: when the disk is full, nothing has changed yet (the partial
        // file is removed) and the journal keeps appending to the current one later.
        let header = SegmentHeader(firstSequence: nextSequence, created: now, baseTime: lastTime, baseChain: chain)
        let id = SegmentID(firstSequence: nextSequence)
        let file: any JournalFile
        do {
            file = try Self.createSegment(
                header: header, id: id, directory: segmentsDirectory, fileSystem: options.fileSystem)
        } catch let error as JournalError where error.isOutOfSpace {
            try? options.fileSystem.removeFile(joinPath(segmentsDirectory, id.fileName))
            throw OutOfSpace(error: error)
        }
        active.file.close()
        sealed[active.id] = SealedSegmentInfo(bytes: active.size, lastTime: lastTime)
        active = ActiveSegment(id: id, file: file, size: Int64(SegmentHeader.byteCount), created: now, frames: 0)
        catalog.update { snapshot in
            snapshot.segments.append(id)
            snapshot.activeEnd = Int64(SegmentHeader.byteCount)
        }
        indexer?.enqueue(segment: IndexedSegment(id: id, created: now, baseChain: chain))
        options.logger.debug("segment rolled", metadata: ["segment": "\(id)"])
        _ = try applyRetention(now: now)
    }

    /// A commit group refused because the disk (or a quota, or the file size limit) is full,
    /// with the writer's state and the active segment put back as they were before it: not
    /// sticky — the next append tries again, so publishing resumes once space is made.
    struct OutOfSpace: Error {
        let error: JournalError
    }

    static func createSegment(
        header: SegmentHeader, id: SegmentID, directory: String, fileSystem: any JournalFileSystem
    )
        throws -> any JournalFile
    {
        let file = try fileSystem.openFile(joinPath(directory, id.fileName), mode: .createNew)
        let bytes = header.encoded()
        try bytes.withUnsafeBytes { try file.write(at: 0, $0) }
        try file.sync()
        try fileSystem.syncDirectory(directory)
        return file
    }

    /// Removes whole sealed segments, oldest first, by age and total size. Writer thread only.
    func applyRetention(now: Nanoseconds) throws -> RetentionReport {
        var report = RetentionReport()
        let snapshot = catalog.snapshot
        var total = snapshot.segments.reduce(Int64(0)) { $0 + (sealed[$1]?.bytes ?? 0) } + active.size
        var removed: [SegmentID] = []
        for segment in snapshot.segments.dropLast() {
            guard let info = sealed[segment] else { break }
            let tooOld = options.retentionAge.map { info.lastTime < now - $0 } ?? false
            let tooBig = options.retentionBytes.map { total > $0 } ?? false
            guard tooOld || tooBig else { break }
            removed.append(segment)
            total -= info.bytes
            report.removedBytes += info.bytes
        }
        report.oldest = snapshot.segments.dropFirst(removed.count).first?.firstSequence ?? snapshot.oldest
        guard !removed.isEmpty else { return report }
        catalog.update { $0.segments.removeFirst(removed.count) }
        for segment in removed {
            try options.fileSystem.removeFile(joinPath(segmentsDirectory, segment.fileName))
            sealed[segment] = nil
        }
        try options.fileSystem.syncDirectory(segmentsDirectory)
        report.removedSegments = removed
        let remaining = catalog.snapshot
        indexer?.enqueue(trim: remaining.oldest, head: remaining.head.sequence, segments: remaining.segments)
        options.logger.info(
            "retention removed segments",
            metadata: ["count": "\(removed.count)", "bytes": "\(report.removedBytes)", "oldest": "\(report.oldest)"])
        return report
    }

    /// Seals the active segment now (if it holds frames), as a roll would.
    func rollNow() throws {
        guard active.frames > 0 else { return }
        try roll(now: options.clock.now())
    }

    var now: Nanoseconds { options.clock.now() }
}

/// A one-shot result handed from the writer thread to a waiting caller.
final class ResultBox<T: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: `result` is guarded by `condition`.
    private let condition = NSCondition()
    private var result: Result<T, any Error>?

    func set(_ value: Result<T, any Error>) {
        condition.lock()
        result = value
        condition.signal()
        condition.unlock()
    }

    func wait() -> Result<T, any Error> {
        condition.lock()
        defer { condition.unlock() }
        while result == nil { condition.wait() }
        return result!
    }
}
