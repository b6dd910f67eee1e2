import Foundation

/// What an export wrote: enough to check the files, place the backup in a chain of
/// backups, and prove it continues the one before (`baseChain` equals that one's
/// `headChain`). Written as `manifest.json` beside the segment files.
public struct BackupManifest: Codable, Hashable, Sendable {
    public struct File: Codable, Hashable, Sendable {
        public var name: String
        public var bytes: Int64
        public var sha256: String
    }

    public static let currentVersion = 1
    public var formatVersion: Int
    public var firstSequence: UInt64
    public var lastSequence: UInt64
    public var firstTime: Int64
    public var lastTime: Int64
    /// The chain value before the first frame (genesis for a journal's very start).
    public var baseChain: String
    /// The chain value after the last frame.
    public var headChain: String
    public var files: [File]
    public var exported: String

    public static let fileName = "manifest.json"
}

/// Where an export starts and ends. Frames are whole: a start inside a frame begins at that
/// frame, an end inside one stops before it.
public enum BackupBound: Hashable, Sendable {
    case sequence(SequenceNumber)
    case time(Nanoseconds)
}

/// Progress of a long backup operation: bytes done of bytes in all.
public typealias BackupProgress = (_ done: Int64, _ total: Int64) -> Void

extension Journal {
    /// Copies the frames of a range into `target` (a new folder): one segment file per
    /// source segment touched, cut at frame boundaries, with a header whose base chain is
    /// the chain before its first frame, plus `manifest.json`. Consistent while heraldd
    /// appends: the range ends at the head as it was when the export began.
    public static func export(
        from directory: String, to target: String, start: BackupBound? = nil, end: BackupBound? = nil,
        options: JournalOptions = JournalOptions(), progress: BackupProgress? = nil
    ) throws -> BackupManifest {
        var options = options
        options.readOnly = true
        let journal = try Journal.open(at: directory, options: options)
        defer { journal.close() }
        let snapshot = journal.catalog.snapshot
        let fs = options.fileSystem
        if FileManager.default.fileExists(atPath: target),
            !(try FileManager.default.contentsOfDirectory(atPath: target)).isEmpty
        {
            throw JournalError.invalidOptions("\(target) is not empty: export into a new folder")
        }
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)

        var startSequence = SequenceNumber.first
        if case .sequence(let sequence) = start { startSequence = sequence }
        let segments = try openSegments(of: journal, snapshot.segments, fs: fs)
        defer { for (_, file) in segments { file.close() } }
        // A start older than what is retained is refused, not silently moved.
        if case .sequence = start, let oldest = segments.first?.0.firstSequence, startSequence < oldest {
            throw JournalError.notRetained(requested: startSequence, oldest: oldest)
        }
        var total: Int64 = 0
        for (id, file) in segments { total += id == snapshot.segments.last ? snapshot.activeEnd : try file.size() }
        var done: Int64 = 0
        let hasher = SHA256Hasher()
        var files: [BackupManifest.File] = []
        var chain = ChainHash.genesis
        var baseChain: ChainHash?
        var lastTime: Nanoseconds = 0
        var first: (SequenceNumber, Nanoseconds)?
        var last: (SequenceNumber, Nanoseconds)?
        segments: for (position, (id, file)) in segments.enumerated() {
            let header = try file.readBytes(at: 0, count: SegmentHeader.byteCount).withUnsafeBytes {
                try SegmentHeader.decode($0)
            }
            if position == 0 {
                chain = header.baseChain
                lastTime = header.baseTime
            }
            let limit = id == snapshot.segments.last ? snapshot.activeEnd : try file.size()
            let reader = SegmentFrameReader(file: file, segment: id)
            var offset = Int64(SegmentHeader.byteCount)
            var output: FileHandle?
            var outputName = ""
            defer { try? output?.close() }
            frames: while true {
                switch try reader.frame(at: offset, limit: limit, expected: nil) {
                case .end:
                    break frames
                case .damaged(let at, let sequence, let reason):
                    throw JournalError.corrupt(
                        DamageLocation(
                            file: "segments/\(id.fileName)", offset: at, sequence: sequence, reason: reason))
                case .frame(let frame):
                    let d = frame.descriptor
                    let afterEnd: Bool
                    switch end {
                    case .sequence(let sequence): afterEnd = d.lastSequence > sequence
                    case .time(let time): afterEnd = d.lastTime > time
                    case nil: afterEnd = false
                    }
                    // Not part of the backup: the chain stays the one after the last frame copied.
                    if afterEnd { break segments }
                    defer {
                        offset = frame.end
                        chain = d.chain
                        lastTime = d.lastTime
                        done += Int64(d.frameLength)
                        progress?(done, total)
                    }
                    let beforeStart: Bool
                    switch start {
                    case .time(let time): beforeStart = d.lastTime < time
                    default: beforeStart = d.lastSequence < startSequence
                    }
                    if beforeStart { continue }
                    if output == nil {
                        outputName = SegmentID(firstSequence: d.firstSequence).fileName
                        let path = target + "/" + outputName
                        guard FileManager.default.createFile(atPath: path, contents: nil),
                            let handle = FileHandle(forWritingAtPath: path)
                        else { throw JournalError.io(operation: "create", path: path, errno: errno) }
                        output = handle
                        let cut = SegmentHeader(
                            firstSequence: d.firstSequence, created: header.created, baseTime: lastTime,
                            baseChain: chain)
                        try handle.write(contentsOf: cut.encoded())
                        files.append(BackupManifest.File(name: outputName, bytes: 0, sha256: ""))
                        if baseChain == nil { baseChain = chain }
                    }
                    let bytes = try file.readBytes(at: frame.offset, count: Int(d.frameLength))
                    try output!.write(contentsOf: bytes)
                    if first == nil { first = (d.firstSequence, d.firstTime) }
                    last = (d.lastSequence, d.lastTime)
                }
            }
        }
        for index in files.indices {
            let path = target + "/" + files[index].name
            // On disk before the manifest says the backup is complete.
            try Self.sync(path)
            let (bytes, digest) = try Self.digest(path, hasher: hasher)
            files[index].bytes = bytes
            files[index].sha256 = digest.hex
        }
        guard let first, let last, let baseChain else {
            throw JournalError.notFound("no whole frame in the requested range")
        }
        let manifest = BackupManifest(
            formatVersion: BackupManifest.currentVersion, firstSequence: first.0.rawValue,
            lastSequence: last.0.rawValue, firstTime: first.1, lastTime: last.1, baseChain: baseChain.hex,
            headChain: chain.hex, files: files, exported: ISO8601DateFormatter().string(from: Date()))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let manifestPath = target + "/" + BackupManifest.fileName
        try encoder.encode(manifest).write(to: URL(fileURLWithPath: manifestPath))
        // A backup that a power loss can take away is not a backup: the manifest and the
        // folder's entries are synced too before export reports success.
        try Self.sync(manifestPath)
        try Self.sync(target)
        return manifest
    }

    /// Opens every segment of the export's snapshot before reading any: retention may remove
    /// segments while the export runs, and an open file stays readable after its removal, so
    /// the backup stays one contiguous range. Segments already removed between the snapshot
    /// and this (retention removes the oldest first, so only a prefix can be) are left out:
    /// the backup starts at the oldest segment still there.
    static func openSegments(of journal: Journal, _ ids: [SegmentID], fs: any JournalFileSystem) throws
        -> [(SegmentID, any JournalFile)]
    {
        var opened: [(SegmentID, any JournalFile)] = []
        for id in ids {
            do {
                opened.append((id, try fs.openFile(journal.segmentPath(id), mode: .readOnly)))
            } catch JournalError.io(_, _, let code) where code == ENOENT && opened.count == 0 {
                continue  // removed by retention before it could be opened: not part of the range
            } catch {
                for (_, file) in opened { file.close() }
                throw error
            }
        }
        guard !opened.isEmpty else { throw JournalError.notFound("no segment left to export (retention removed them)") }
        return opened
    }

    /// fsync of a file or a folder (its entries), by path.
    static func sync(_ path: String) throws {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw JournalError.io(operation: "open", path: path, errno: errno) }
        defer { Glibc.close(descriptor) }
        while fsync(descriptor) != 0 {
            guard errno == EINTR else { throw JournalError.io(operation: "fsync", path: path, errno: errno) }
        }
    }

    static func digest(_ path: String, hasher: SHA256Hasher) throws -> (Int64, ChainHash) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw JournalError.notFound(path) }
        defer { try? handle.close() }
        hasher.begin()
        var bytes: Int64 = 0
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            bytes += Int64(chunk.count)
            chunk.withUnsafeBytes { hasher.update($0) }
        }
        return (bytes, hasher.finish())
    }

    /// Restores backups (a full one and the incrementals that continue it) into `target`, a
    /// new folder: checks every file against its manifest, that each backup continues the
    /// one before (sequence and chain), and the whole hash chain, in a staging folder; only
    /// then moves it into place and builds the index. On any failure the target is left as
    /// it was and the error names what is wrong.
    public static func importBackups(
        _ backups: [String], into target: String, options: JournalOptions = JournalOptions(),
        progress: BackupProgress? = nil
    ) throws -> VerifyReport {
        guard !backups.isEmpty else { throw JournalError.invalidOptions("no backup to import") }
        if FileManager.default.fileExists(atPath: target),
            !(try FileManager.default.contentsOfDirectory(atPath: target)).isEmpty
        {
            throw JournalError.invalidOptions("\(target) is not empty: import into a new folder")
        }
        var manifests: [(String, BackupManifest)] = []
        for backup in backups {
            let path = backup + "/" + BackupManifest.fileName
            guard let data = FileManager.default.contents(atPath: path) else {
                throw JournalError.notFound("\(path) (not a backup: no manifest)")
            }
            let manifest: BackupManifest
            do {
                manifest = try JSONDecoder().decode(BackupManifest.self, from: data)
            } catch {
                throw JournalError.corrupt(
                    DamageLocation(file: path, offset: 0, sequence: nil, reason: "unreadable manifest: \(error)"))
            }
            guard manifest.formatVersion <= BackupManifest.currentVersion else {
                throw JournalError.formatTooNew(
                    file: path, version: UInt16(clamping: manifest.formatVersion),
                    supported: UInt16(BackupManifest.currentVersion))
            }
            manifests.append((backup, manifest))
        }
        manifests.sort { $0.1.firstSequence < $1.1.firstSequence }
        for (previous, next) in zip(manifests, manifests.dropFirst()) {
            guard next.1.firstSequence == previous.1.lastSequence + 1 else {
                throw JournalError.invalidOptions(
                    "\(next.0) starts at sequence \(next.1.firstSequence), but \(previous.0) ends at "
                        + "\(previous.1.lastSequence): a backup is missing between them")
            }
            guard next.1.baseChain == previous.1.headChain else {
                throw JournalError.corrupt(
                    DamageLocation(
                        file: next.0, offset: 0, sequence: SequenceNumber(next.1.firstSequence),
                        reason: "its base chain does not continue \(previous.0)'s head chain: not the same journal"))
            }
        }
        let total = manifests.reduce(Int64(0)) { $0 + $1.1.files.reduce(0) { $0 + $1.bytes } }
        let parent = URL(fileURLWithPath: target).deletingLastPathComponent().path
        let staging = parent + "/.herald-import-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: staging + "/segments", withIntermediateDirectories: true)
        var installed = false
        defer { if !installed { try? FileManager.default.removeItem(atPath: staging) } }
        let hasher = SHA256Hasher()
        var done: Int64 = 0
        for (backup, manifest) in manifests {
            for file in manifest.files {
                let source = backup + "/" + file.name
                guard FileManager.default.fileExists(atPath: source) else {
                    throw JournalError.notFound("\(source) (listed in the manifest): the backup is incomplete")
                }
                let (bytes, digest) = try digest(source, hasher: hasher)
                guard bytes == file.bytes, digest.hex == file.sha256 else {
                    throw JournalError.corrupt(
                        DamageLocation(
                            file: source, offset: 0, sequence: nil,
                            reason: "its SHA-256 or size differs from the manifest: the file was changed"))
                }
                let installedPath = staging + "/segments/" + file.name
                try FileManager.default.copyItem(atPath: source, toPath: installedPath)
                try Self.sync(installedPath)  // on disk before the folder is renamed into place
                done += bytes
                progress?(done, total)
            }
        }
        let report = try verify(at: staging, options: options)
        if let damage = report.damage { throw JournalError.corrupt(damage) }
        guard report.head.chain.hex == manifests.last!.1.headChain else {
            throw JournalError.corrupt(
                DamageLocation(
                    file: manifests.last!.0, offset: 0, sequence: report.head.sequence,
                    reason: "the restored chain head differs from the manifest's"))
        }
        try Self.sync(staging + "/segments")
        try Self.sync(staging)
        try? FileManager.default.removeItem(atPath: target)  // empty (checked above)
        try FileManager.default.moveItem(atPath: staging, toPath: target)
        installed = true
        try Self.sync(parent)  // the rename itself
        // Builds the index from the segments.
        var openOptions = options
        openOptions.readOnly = false
        try Journal.open(at: target, options: openOptions).close()
        return report
    }

    func segmentPath(_ id: SegmentID) -> String { joinPath(segmentsDirectory, id.fileName) }
}
