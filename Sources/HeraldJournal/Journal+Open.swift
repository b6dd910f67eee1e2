import Foundation
import Logging

extension Journal {
    /// Opens (creating if needed) the journal in `directory`, recovering from a crash:
    ///
    /// 1. Reads every segment header (format version, first sequence number).
    /// 2. Scans the last segment frame by frame; a torn tail (an incomplete or bad last
    ///    frame with nothing whole after it) is truncated and reported in `recovery`.
    ///    Damage followed by whole frames is not a torn write: the open fails and names it,
    ///    unless `options.truncateDamagedTail` is set.
    /// 3. Opens the index: trims rows past the head or before the oldest segment, catches
    ///    up from the segments if it is behind, rebuilds it if it is missing or unreadable.
    ///
    /// With `options.readOnly` nothing is written: a torn tail is only hidden from readers.
    public static func open(at directory: String, options: JournalOptions = JournalOptions()) throws -> Journal {
        try options.validate()
        if options.index == .dataDirectory && !(options.fileSystem is PosixFileSystem) {
            throw JournalError.invalidOptions("an index in the data directory needs the POSIX file system")
        }
        let fs = options.fileSystem
        let segmentsDirectory = joinPath(directory, "segments")
        var lock: Int32?
        if options.readOnly {
            guard fs.directoryExists(segmentsDirectory) else { throw JournalError.notFound(directory) }
        } else {
            try fs.createDirectory(segmentsDirectory)
            if fs is PosixFileSystem {
                lock = try PosixFileSystem.lockExclusively(joinPath(directory, "LOCK"), journal: directory)
            }
        }
        do {
            return try openLocked(
                directory: directory, segmentsDirectory: segmentsDirectory, options: options, lock: lock)
        } catch {
            if let lock { Glibc.close(lock) }
            throw error
        }
    }

    private static func openLocked(
        directory: String, segmentsDirectory: String, options: JournalOptions, lock: Int32?
    ) throws -> Journal {
        let fs = options.fileSystem

        var report = RecoveryReport()
        var (ids, headers) = try readHeaders(segmentsDirectory, options: options, report: &report)

        if ids.isEmpty && !options.readOnly {
            let header = SegmentHeader(
                firstSequence: .first, created: options.clock.now(), baseTime: 0, baseChain: .genesis)
            let file = try JournalWriter.createSegment(
                header: header, id: SegmentID(firstSequence: .first), directory: segmentsDirectory, fileSystem: fs)
            file.close()
            ids = [SegmentID(firstSequence: .first)]
            headers[ids[0]] = header
        }

        // Scan the last segment for its committed end.
        var head = JournalHead(sequence: .zero, time: 0, chain: .genesis)
        var activeEnd = Int64(SegmentHeader.byteCount)
        var activeFile: (any JournalFile)?
        var activeFrames = 0
        if let last = ids.last, let header = headers[last] {
            let path = joinPath(segmentsDirectory, last.fileName)
            let file = try fs.openFile(path, mode: options.readOnly ? .readOnly : .readWrite)
            let tail = try scanTail(file: file, segment: last, header: header, options: options, report: &report)
            head = tail.head
            activeEnd = tail.end
            activeFrames = tail.frames
            if options.readOnly { file.close() } else { activeFile = file }
        }

        var sealed: [SegmentID: SealedSegmentInfo] = [:]
        for (position, id) in ids.dropLast().enumerated() {
            let file = try fs.openFile(joinPath(segmentsDirectory, id.fileName), mode: .readOnly)
            sealed[id] = SealedSegmentInfo(bytes: try file.size(), lastTime: headers[ids[position + 1]]!.baseTime)
            file.close()
        }

        let catalog = SegmentCatalog(.init(segments: ids, activeEnd: activeEnd, head: head))
        let index = try openIndex(directory: directory, options: options, report: &report)
        var indexer: JournalIndexer?
        if let index, !options.readOnly {
            let through = try catchUpIndex(
                index, segmentsDirectory: segmentsDirectory, catalog: catalog.snapshot, headers: headers,
                options: options, report: &report)
            indexer = JournalIndexer(
                store: index, indexedThrough: through, batchFramesMax: options.indexBatchFramesMax,
                backlogEventsMax: options.indexBacklogEventsMax, logger: options.logger)
        }

        let cache = FrameCache(capacityBytes: options.readOnly ? 0 : options.tailCacheBytes)
        var writer: JournalWriter?
        if let activeFile, let last = ids.last, let header = headers[last] {
            writer = JournalWriter(
                segmentsDirectory: segmentsDirectory, options: options, catalog: catalog, indexer: indexer,
                active: ActiveSegment(
                    id: last, file: activeFile, size: activeEnd, created: header.created, frames: activeFrames),
                sealed: sealed, head: head)
        }
        indexer?.start()
        writer?.start()

        if report.droppedAnything {
            options.logger.warning(
                options.readOnly
                    ? "journal has an incomplete tail (read-only: left in place, hidden from readers)"
                    : "journal recovery dropped an incomplete tail",
                metadata: [
                    "segment":
                        "\(report.truncatedSegment?.description ?? report.removedIncompleteSegment?.description ?? "-")",
                    "offset": "\(report.truncatedAt ?? 0)", "bytes": "\(report.truncatedBytes)",
                    "reason": "\(report.truncationReason ?? "incomplete segment header")",
                ])
        }
        return Journal(
            directory: directory, options: options, recovery: report, catalog: catalog, index: index, writer: writer,
            indexer: indexer, lock: lock, cache: cache)
    }

    // MARK: Steps

    private static func readHeaders(_ segmentsDirectory: String, options: JournalOptions, report: inout RecoveryReport)
        throws -> ([SegmentID], [SegmentID: SegmentHeader])
    {
        let fs = options.fileSystem
        var ids = try fs.contentsOfDirectory(segmentsDirectory).compactMap(SegmentID.init(fileName:)).sorted()
        var headers: [SegmentID: SegmentHeader] = [:]
        for (position, id) in ids.enumerated() {
            let path = joinPath(segmentsDirectory, id.fileName)
            let file = try fs.openFile(path, mode: .readOnly)
            defer { file.close() }
            let bytes = try file.readBytes(at: 0, count: SegmentHeader.byteCount)
            do {
                let header = try bytes.withUnsafeBytes { try SegmentHeader.decode($0) }
                guard header.firstSequence == id.firstSequence else {
                    throw JournalError.corrupt(
                        DamageLocation(
                            file: "segments/\(id.fileName)", offset: 0, sequence: id.firstSequence,
                            reason: "header says first sequence \(header.firstSequence)"))
                }
                headers[id] = header
            } catch let error as SegmentHeader.DecodeError {
                if case .versionTooNew(let version) = error {
                    throw JournalError.formatTooNew(
                        file: "segments/\(id.fileName)", version: version, supported: SegmentHeader.formatVersion)
                }
                // A crash while creating the newest segment leaves a short header and no frames.
                let isLast = position == ids.count - 1
                let size = try file.size()
                if isLast && size <= Int64(SegmentHeader.byteCount)
                    && (position > 0 || id.firstSequence == .first)
                {
                    if !options.readOnly {
                        try fs.removeFile(path)
                        try fs.syncDirectory(segmentsDirectory)
                    }
                    report.removedIncompleteSegment = id
                    ids.removeLast()
                    break
                }
                throw JournalError.corrupt(
                    DamageLocation(
                        file: "segments/\(id.fileName)", offset: 0, sequence: id.firstSequence,
                        reason: "bad segment header (\(error))"))
            }
        }
        return (ids, headers)
    }

    private struct Tail {
        var head: JournalHead
        var end: Int64
        var frames: Int
    }

    private static func scanTail(
        file: any JournalFile, segment: SegmentID, header: SegmentHeader, options: JournalOptions,
        report: inout RecoveryReport
    ) throws -> Tail {
        let size = try file.size()
        let reader = SegmentFrameReader(file: file, segment: segment)
        var offset = Int64(SegmentHeader.byteCount)
        var expected = header.firstSequence
        var tail = Tail(
            head: JournalHead(sequence: header.firstSequence.previous, time: header.baseTime, chain: header.baseChain),
            end: offset, frames: 0)
        scan: while true {
            switch try reader.frame(at: offset, limit: size, expected: expected) {
            case .frame(let frame):
                offset = frame.end
                expected = frame.descriptor.lastSequence.next
                tail.head = JournalHead(
                    sequence: frame.descriptor.lastSequence, time: frame.descriptor.lastTime,
                    chain: frame.descriptor.chain)
                tail.frames += 1
            case .end:
                break scan
            case .damaged(let at, let sequence, let reason):
                if let later = try reader.validFrameExists(after: at, limit: size), !options.truncateDamagedTail {
                    throw JournalError.corrupt(
                        DamageLocation(
                            file: "segments/\(segment.fileName)", offset: at, sequence: sequence,
                            reason: "\(reason); whole frames follow at byte \(later), so this is not a torn write"))
                }
                report.truncatedSegment = segment
                report.truncatedAt = at
                report.truncatedBytes = size - at
                report.truncationReason = reason
                if !options.readOnly {
                    try file.truncate(to: at)
                    try file.sync()
                }
                break scan
            }
        }
        tail.end = offset
        return tail
    }

    private static func openIndex(directory: String, options: JournalOptions, report: inout RecoveryReport) throws
        -> JournalIndexStore?
    {
        guard options.index == .dataDirectory else {
            if options.readOnly { return nil }
            report.indexRebuilt = true
            return try JournalIndexStore.open(path: nil, readOnly: false)
        }
        let path = joinPath(directory, JournalIndexStore.fileName)
        let exists = options.fileSystem.fileExists(path)
        if options.readOnly {
            guard exists else { return nil }
            do {
                return try JournalIndexStore.open(path: path, readOnly: true)
            } catch JournalError.indexTooNew(let text) {
                throw JournalError.indexTooNew(text)
            } catch {
                options.logger.warning("index unreadable; reading segments only", metadata: ["error": "\(error)"])
                return nil
            }
        }
        do {
            let store = try JournalIndexStore.open(path: path, readOnly: false)
            if !exists { report.indexRebuilt = true }
            return store
        } catch JournalError.indexTooNew(let text) {
            throw JournalError.indexTooNew(text)
        } catch {
            options.logger.warning("index unreadable; rebuilding it from the segments", metadata: ["error": "\(error)"])
            JournalIndexStore.removeFiles(at: path)
            report.indexRebuilt = true
            return try JournalIndexStore.open(path: path, readOnly: false)
        }
    }

    /// Brings the index in line with the segments; returns the newest indexed sequence number.
    private static func catchUpIndex(
        _ index: JournalIndexStore, segmentsDirectory: String, catalog: SegmentCatalog.Snapshot,
        headers: [SegmentID: SegmentHeader], options: JournalOptions, report: inout RecoveryReport
    ) throws -> SequenceNumber {
        report.indexTrimmedFrames = try index.trim(
            oldest: catalog.oldest, head: catalog.head.sequence, segments: catalog.segments)

        // The newest indexed frame must be where the segments have it; otherwise the
        // segments were replaced (restore) and the index is rebuilt from scratch.
        var start: (segment: SegmentID, offset: Int64, expected: SequenceNumber)?
        if let last = try index.lastFrame() {
            if try frameMatches(last, segmentsDirectory: segmentsDirectory, options: options) {
                start = (last.segment, last.offset + Int64(last.length), last.lastSequence.next)
            } else {
                options.logger.warning("index does not match the segments; rebuilding it")
                try index.removeAll()
                report.indexRebuilt = true
            }
        }
        let known = Set(try index.segments().map(\.id))
        for id in catalog.segments where !known.contains(id) {
            let header = headers[id]!
            try index.insertSegment(IndexedSegment(id: id, created: header.created, baseChain: header.baseChain))
        }
        guard let first = catalog.segments.first else { return .zero }
        // Built from nothing: rows first, secondary indexes after (sorted, not inserted).
        let deferredIndexes = start == nil ? try index.dropSecondaryIndexes() : []
        var position = start ?? (first, Int64(SegmentHeader.byteCount), first.firstSequence)
        let decoder = FrameDecoder()
        var pending: [IndexedFrame] = []
        var indexed = position.expected.previous
        for segment in catalog.segments where segment >= position.segment {
            let path = joinPath(segmentsDirectory, segment.fileName)
            let file = try options.fileSystem.openFile(path, mode: .readOnly)
            defer { file.close() }
            let limit = catalog.isActive(segment) ? catalog.activeEnd : try file.size()
            let reader = SegmentFrameReader(file: file, segment: segment)
            if segment != position.segment {
                position = (segment, Int64(SegmentHeader.byteCount), segment.firstSequence)
            }
            var offset = position.offset
            frames: while true {
                switch try reader.frame(at: offset, limit: limit, expected: position.expected) {
                case .frame(let frame):
                    if let damage = decoder.decode(frame) {
                        throw JournalError.corrupt(
                            DamageLocation(
                                file: "segments/\(segment.fileName)", offset: frame.offset, sequence: damage.sequence,
                                reason: damage.reason))
                    }
                    var events: [IndexedEvent] = []
                    events.reserveCapacity(decoder.count)
                    for i in 0..<decoder.count { events.append(IndexedEvent(decoder.record(i))) }
                    pending.append(
                        IndexedFrame(
                            location: FrameLocation(
                                segment: segment, offset: frame.offset, descriptor: frame.descriptor),
                            events: events))
                    offset = frame.end
                    position.expected = frame.descriptor.lastSequence.next
                    indexed = frame.descriptor.lastSequence
                    report.indexCaughtUpFrames += 1
                    if pending.count >= options.indexBatchFramesMax {
                        try index.insert(pending)
                        pending.removeAll()
                    }
                case .end:
                    break frames
                case .damaged(let at, let sequence, let reason):
                    throw JournalError.corrupt(
                        DamageLocation(
                            file: "segments/\(segment.fileName)", offset: at, sequence: sequence, reason: reason))
                }
            }
        }
        try index.insert(pending)
        try index.createIndexes(deferredIndexes)
        if report.indexCaughtUpFrames > 0 {
            options.logger.info(
                "index caught up from the segments", metadata: ["frames": "\(report.indexCaughtUpFrames)"])
        }
        return indexed
    }

    private static func frameMatches(_ location: FrameLocation, segmentsDirectory: String, options: JournalOptions)
        throws
        -> Bool
    {
        let path = joinPath(segmentsDirectory, location.segment.fileName)
        guard options.fileSystem.fileExists(path) else { return false }
        let file = try options.fileSystem.openFile(path, mode: .readOnly)
        defer { file.close() }
        let bytes = try file.readBytes(at: location.offset, count: FrameDescriptor.byteCount)
        guard let descriptor = try? bytes.withUnsafeBytes({ try FrameDescriptor.decode($0) }) else { return false }
        return descriptor.firstSequence == location.firstSequence && descriptor.chain == location.chain
            && descriptor.frameLength == location.length
    }
}
