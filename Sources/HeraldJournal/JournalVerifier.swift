/// The result of `Journal.verify`.
public struct VerifyReport: Hashable, Sendable {
    public var segments = 0
    public var frames = 0
    public var records = 0
    /// The newest whole record and the chain value after it.
    public var head = JournalHead(sequence: .zero, time: 0, chain: .genesis)
    /// The chain value the verification started from (the first retained segment's base).
    public var baseChain = ChainHash.genesis
    public var oldest = SequenceNumber.first
    /// Index rows compared with the segments, and how far the index lags the head.
    public var indexedFramesChecked = 0
    public var indexLag: UInt64 = 0
    public var indexPresent = false
    /// The first damage found; nil when everything checks out.
    public var damage: DamageLocation?
    /// With `verify(at:options:checkpoint:)`: the chain value recomputed where a frame ends
    /// at the checkpoint sequence (nil when no retained frame ends there).
    public var checkpointChain: ChainHash?

    public var ok: Bool { damage == nil }
}

extension Journal {
    /// Checks a journal read-only: every segment header, frame descriptor and checksum,
    /// every record (length, CRC32C, sequence continuity, time order), the hash chain
    /// recomputed from the first retained segment's base value, and the index's rows
    /// against the segments. Stops at the first damage and names its file, offset and
    /// sequence number.
    ///
    /// - Parameter checkpoint: a sequence number where a frame ends (what `head` said at
    ///   some time): the report's `checkpointChain` is the chain value recomputed there, for
    ///   comparing with a value recorded elsewhere.
    public static func verify(
        at directory: String, options: JournalOptions = JournalOptions(), checkpoint: SequenceNumber? = nil
    ) throws -> VerifyReport {
        var options = options
        options.readOnly = true
        let fs = options.fileSystem
        let segmentsDirectory = joinPath(directory, "segments")
        guard fs.directoryExists(segmentsDirectory) else { throw JournalError.notFound(directory) }
        var report = VerifyReport()
        let ids = try fs.contentsOfDirectory(segmentsDirectory).compactMap(SegmentID.init(fileName:)).sorted()
        report.segments = ids.count

        var index: JournalIndexStore?
        let indexPath = joinPath(directory, JournalIndexStore.fileName)
        if options.index == .dataDirectory && fs.fileExists(indexPath) {
            do {
                index = try JournalIndexStore.open(path: indexPath, readOnly: true)
                report.indexPresent = true
            } catch JournalError.indexTooNew(let text) {
                throw JournalError.indexTooNew(text)
            } catch {
                report.damage = DamageLocation(
                    file: JournalIndexStore.fileName, offset: 0, sequence: nil, reason: "unreadable: \(error)")
                return report
            }
        }

        let hasher = SHA256Hasher()
        let decoder = FrameDecoder()
        var chain = ChainHash.genesis
        var expected: SequenceNumber?
        var lastTime: Nanoseconds = 0
        var indexEnded = false
        var indexedRecords = 0
        var indexedThrough = SequenceNumber.zero

        func damage(_ file: String, _ offset: Int64, _ sequence: SequenceNumber?, _ reason: String) -> VerifyReport {
            var failed = report
            failed.damage = DamageLocation(file: file, offset: offset, sequence: sequence, reason: reason)
            return failed
        }

        for (position, id) in ids.enumerated() {
            let name = "segments/\(id.fileName)"
            let file = try fs.openFile(joinPath(segmentsDirectory, id.fileName), mode: .readOnly)
            defer { file.close() }
            let headerBytes = try file.readBytes(at: 0, count: SegmentHeader.byteCount)
            let header: SegmentHeader
            do {
                header = try headerBytes.withUnsafeBytes { try SegmentHeader.decode($0) }
            } catch {
                return damage(name, 0, id.firstSequence, "bad segment header (\(error))")
            }
            guard header.firstSequence == id.firstSequence else {
                return damage(name, 0, id.firstSequence, "header says first sequence \(header.firstSequence)")
            }
            if position == 0 {
                chain = header.baseChain
                report.baseChain = chain
                report.oldest = header.firstSequence
                lastTime = header.baseTime
                report.head = JournalHead(sequence: header.firstSequence.previous, time: header.baseTime, chain: chain)
                if checkpoint == header.firstSequence.previous { report.checkpointChain = chain }
            } else {
                guard header.firstSequence == expected else {
                    return damage(
                        name, 0, header.firstSequence,
                        "segment starts at \(header.firstSequence), expected \(expected!)")
                }
                guard header.baseChain == chain else {
                    return damage(
                        name, 0, header.firstSequence,
                        "segment's base chain does not continue the previous segment's chain")
                }
            }
            expected = header.firstSequence
            let size = try file.size()
            let reader = SegmentFrameReader(file: file, segment: id)
            var offset = Int64(SegmentHeader.byteCount)
            frames: while true {
                switch try reader.frame(at: offset, limit: size, expected: expected) {
                case .end:
                    break frames
                case .damaged(let at, let sequence, let reason):
                    let later = try reader.validFrameExists(after: at, limit: size)
                    let isTail = position == ids.count - 1 && later == nil
                    return damage(
                        name, at, sequence, isTail ? "\(reason) (a torn tail: the next open truncates it)" : reason)
                case .frame(let frame):
                    let d = frame.descriptor
                    if let failure = decoder.decode(frame) {
                        return damage(name, frame.offset, failure.sequence, failure.reason)
                    }
                    guard d.firstTime >= lastTime else {
                        return damage(name, frame.offset, d.firstSequence, "frame time goes backwards")
                    }
                    let fields = d.encoded()
                    let next = fields.withUnsafeBytes { fieldBytes in
                        chain.bytes.withUnsafeBytes { previous in
                            hasher.hash(
                                previous, UnsafeRawBufferPointer(rebasing: fieldBytes[FrameDescriptor.chainedFields]),
                                frame.data)
                        }
                    }
                    guard next == d.chain else {
                        return damage(
                            name, frame.offset, d.firstSequence,
                            "hash chain broken: the frame's stored chain value does not match its bytes")
                    }
                    chain = next
                    lastTime = d.lastTime
                    report.frames += 1
                    report.records += decoder.count
                    report.head = JournalHead(sequence: d.lastSequence, time: d.lastTime, chain: chain)
                    if checkpoint == d.lastSequence { report.checkpointChain = chain }

                    // The index must describe a prefix of these frames exactly.
                    if let index, let row = try index.frame(firstSequence: d.firstSequence) {
                        guard !indexEnded else {
                            return damage(
                                JournalIndexStore.fileName, 0, d.firstSequence,
                                "index has a row for sequence \(d.firstSequence) but not for an earlier frame")
                        }
                        guard row == FrameLocation(segment: id, offset: frame.offset, descriptor: d) else {
                            return damage(
                                JournalIndexStore.fileName, 0, d.firstSequence,
                                "index row for the frame at \(name) byte \(frame.offset) differs from the segment")
                        }
                        let events = try index.events(from: d.firstSequence, through: d.lastSequence)
                        guard events.count == decoder.count else {
                            return damage(
                                JournalIndexStore.fileName, 0, d.firstSequence,
                                "index has \(events.count) event rows for a frame of \(decoder.count) records")
                        }
                        for (i, event) in events.enumerated() where event != IndexedEvent(decoder.record(i)) {
                            return damage(
                                JournalIndexStore.fileName, 0, event.sequence,
                                "index event row differs from the record in \(name)")
                        }
                        report.indexedFramesChecked += 1
                        indexedRecords += decoder.count
                        indexedThrough = d.lastSequence
                    } else {
                        indexEnded = true
                    }
                    offset = frame.end
                    expected = d.lastSequence.next
                }
            }
        }
        if let index {
            let totals = try index.totals()
            guard totals.frames == report.indexedFramesChecked else {
                return damage(
                    JournalIndexStore.fileName, 0, nil,
                    "index has \(totals.frames) frame rows, \(report.indexedFramesChecked) of them match the segments")
            }
            guard totals.eventRows == indexedRecords else {
                return damage(
                    JournalIndexStore.fileName, 0, nil,
                    "index has \(totals.eventRows) event rows, \(indexedRecords) of them match the segments")
            }
            report.indexLag =
                report.head.sequence.rawValue - min(indexedThrough.rawValue, report.head.sequence.rawValue)
        } else {
            report.indexLag =
                report.head.sequence.rawValue - min(report.head.sequence.rawValue, report.oldest.rawValue - 1)
        }
        return report
    }
}
