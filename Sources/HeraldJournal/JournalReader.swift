/// Reads records in sequence order from a position, frame by frame, while appends go on.
/// It sees only whole committed batches, holds its own file handles and buffers, and never
/// blocks the writer. Not thread-safe: one reader per task or thread.
public final class JournalReader {
    private let journal: Journal
    private let decoder = FrameDecoder()
    private var segment: SegmentID?
    private var frameReader: SegmentFrameReader?
    private var offset: Int64 = 0
    private var expected: SequenceNumber
    private var skipBefore: SequenceNumber
    private var skipTimeBefore: Nanoseconds?
    private var recordIndex = 0
    private var loaded = false

    /// The sequence number the next record will have (if it exists yet).
    public private(set) var nextSequence: SequenceNumber

    init(journal: Journal, position: ReadPosition) throws {
        self.journal = journal
        let snapshot = journal.catalog.snapshot
        let headerEnd = Int64(SegmentHeader.byteCount)
        var start: (SegmentID?, Int64, SequenceNumber)
        skipBefore = .zero
        switch position {
        case .oldest:
            start = (snapshot.segments.first, headerEnd, snapshot.oldest)
        case .end:
            start = (snapshot.segments.last, snapshot.activeEnd, snapshot.head.sequence.next)
        case .sequence(let sequence):
            guard sequence >= snapshot.oldest || snapshot.segments.isEmpty else {
                throw JournalError.notRetained(requested: sequence, oldest: snapshot.oldest)
            }
            skipBefore = sequence
            let segment = snapshot.segment(containing: sequence)
            start = (segment, headerEnd, segment?.firstSequence ?? .first)
            if let segment, let location = try journal.index?.frame(atOrBefore: sequence), location.segment == segment {
                start = (segment, location.offset, location.firstSequence)
            }
        case .time(let time):
            skipTimeBefore = time
            start = (snapshot.segments.first, headerEnd, snapshot.oldest)
            let known = Set(snapshot.segments)
            if let location = try journal.index?.firstFrame(endingAtOrAfter: time), known.contains(location.segment) {
                start = (location.segment, location.offset, location.firstSequence)
            } else if let location = try journal.index?.lastFrame(), known.contains(location.segment) {
                start = (location.segment, location.offset, location.firstSequence)
            }
        }
        segment = start.0
        offset = start.1
        expected = start.2
        nextSequence = max(start.2, skipBefore)
        if let segment { try open(segment) }
    }

    private func open(_ id: SegmentID) throws {
        let path = joinPath(journal.segmentsDirectory, id.fileName)
        let file: any JournalFile
        do {
            file = try journal.options.fileSystem.openFile(path, mode: .readOnly)
        } catch {
            let oldest = journal.catalog.snapshot.oldest
            if id.firstSequence < oldest { throw JournalError.notRetained(requested: expected, oldest: oldest) }
            throw error
        }
        frameReader?.file.close()
        frameReader = SegmentFrameReader(file: file, segment: id)
        segment = id
    }

    deinit { frameReader?.file.close() }

    /// Loads the next frame that has records to return; false when caught up with the head.
    private func loadFrame() throws -> Bool {
        while true {
            guard let segment, let frameReader else { return false }
            // A reader that keeps up finds the next frame in the tail cache.
            if let cached = journal.cache.frame(startingAt: expected), cached.segment == segment,
                cached.offset == offset
            {
                offset = cached.end
                expected = cached.descriptor.lastSequence.next
                if cached.descriptor.lastSequence < skipBefore { continue }
                if let skipTimeBefore, cached.descriptor.lastTime < skipTimeBefore { continue }
                decoder.load(cached)
                recordIndex = 0
                loaded = true
                return true
            }
            let snapshot = journal.catalog.snapshot
            let limit = snapshot.isActive(segment) ? snapshot.activeEnd : try frameReader.file.size()
            switch try frameReader.frame(at: offset, limit: limit, expected: expected) {
            case .frame(let frame):
                offset = frame.end
                expected = frame.descriptor.lastSequence.next
                if frame.descriptor.lastSequence < skipBefore { continue }
                if let skipTimeBefore, frame.descriptor.lastTime < skipTimeBefore { continue }
                if let damage = decoder.decode(frame) {
                    throw JournalError.corrupt(
                        DamageLocation(
                            file: "segments/\(segment.fileName)", offset: frame.offset, sequence: damage.sequence,
                            reason: damage.reason))
                }
                // Frames of the active segment are what readers that keep up want next — and
                // what other readers behind the head, as many as there are, read too. (Leaving
                // out frames far from the head saved a lone late joiner its copy of each, and
                // made a thousand readers behind a flood of big events each decode every frame
                // for itself: measured, tools/soak-hostile.)
                if journal.cache.capacityBytes > 0, snapshot.isActive(segment),
                    let copy = decoder.cachedCopy(segment: segment, offset: frame.offset)
                {
                    journal.cache.insert(copy)
                }
                recordIndex = 0
                loaded = true
                return true
            case .end:
                // A sealed segment (limit = its file size) read to its end: move on. The active
                // one has no successor in the same snapshot, so the reader stops at the head.
                guard let next = snapshot.next(after: segment) else { return false }
                try open(next)
                offset = Int64(SegmentHeader.byteCount)
                expected = next.firstSequence
            case .damaged(let at, let sequence, let reason):
                throw JournalError.corrupt(
                    DamageLocation(file: "segments/\(segment.fileName)", offset: at, sequence: sequence, reason: reason)
                )
            }
        }
    }

    /// The next record, or nil when the reader has caught up with the journal's head (call
    /// again later to see newer appends).
    public func next() throws -> JournalRecord? {
        var result: JournalRecord?
        _ = try nextView { view in
            result = view.materialize()
            return false
        }
        return result
    }

    func nextWholeFrame() throws -> JournalFrame? {
        loaded = false
        guard try loadFrame(), let descriptor = decoder.descriptor else { return nil }
        var records: [JournalRecord] = []
        records.reserveCapacity(decoder.count)
        for i in 0..<decoder.count { records.append(decoder.record(i).materialize()) }
        recordIndex = decoder.count
        loaded = false
        nextSequence = descriptor.lastSequence.next
        return JournalFrame(
            firstSequence: descriptor.firstSequence, lastSequence: descriptor.lastSequence, chain: descriptor.chain,
            records: records)
    }

    /// For the record `nextView` is showing its body now, when it is in a frame from the
    /// tail cache: the value `make` derives from it, made for every record of that frame by
    /// the first reader that asks and shared with every other (so that many subscribers of
    /// the same recent events decode and copy each of them once). Nil for a frame this
    /// reader decoded itself: derive from the view then.
    public func currentShared<Value: Sendable>(_ make: (RecordView) -> Value) -> Value? {
        precondition(loaded && recordIndex > 0, "currentShared outside a nextView body")
        return decoder.shared(recordIndex - 1, make)
    }

    /// Buffer bytes a parked reader may keep: `releaseMemory` gives back what is beyond.
    public static let idleBufferBytes = 64 << 10

    /// Bytes the reader's buffers hold room for (the decompressed frame and the read-ahead
    /// of the segment file).
    public var bufferCapacity: Int { decoder.capacityBytes + (frameReader?.windowCapacity ?? 0) }

    /// Gives back the buffers beyond `idleBufferBytes` when every record of the current
    /// frame was returned (nothing to decode again); returns whether it did. For a reader
    /// about to wait a long time: a frame of big events grows the buffers to its size (up to
    /// `frameRawBytesMax`), and a thousand parked readers must not each keep that.
    @discardableResult
    public func releaseMemory() -> Bool {
        guard !loaded || recordIndex >= decoder.count else { return false }
        loaded = false
        decoder.releaseMemory(keepingCapacity: Self.idleBufferBytes)
        frameReader?.releaseWindow(keepingCapacity: Self.idleBufferBytes)
        return true
    }

    /// Zero-copy iteration: calls `body` with each next record (valid only during the call)
    /// until `body` returns false or the reader catches up. Returns how many records it saw.
    @discardableResult
    public func nextView(_ body: (RecordView) throws -> Bool) throws -> Int {
        var seen = 0
        while true {
            if !loaded || recordIndex >= decoder.count {
                loaded = false
                guard try loadFrame() else { return seen }
            }
            while recordIndex < decoder.count {
                let view = decoder.record(recordIndex)
                recordIndex += 1
                if view.sequence < skipBefore { continue }
                if let skipTimeBefore {
                    if view.time < skipTimeBefore { continue }
                    self.skipTimeBefore = nil
                }
                nextSequence = view.sequence.next
                seen += 1
                if try !body(view) { return seen }
            }
        }
    }
}

/// One committed frame's records and the hash-chain value after it: what a node sends
/// another so that the receiver, appending the records as one append, rebuilds the same
/// frame (with `JournalOptions.framePerAppend`) and so the same chain.
public struct JournalFrame: Sendable {
    public var firstSequence: SequenceNumber
    public var lastSequence: SequenceNumber
    public var chain: ChainHash
    public var records: [JournalRecord]
}

extension JournalReader {
    /// The next whole frame (records before the reader's start position included), or nil
    /// at the head. Call it only at a frame boundary: not after `next()` returned part of a
    /// frame.
    public func nextFrame() throws -> JournalFrame? {
        try nextWholeFrame()
    }
}
