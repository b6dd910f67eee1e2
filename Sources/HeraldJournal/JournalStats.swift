/// Size and shape of a journal, for `herald journal stats`.
public struct JournalStats: Hashable, Sendable, Codable {
    public var events: UInt64
    public var firstSequence: UInt64
    public var lastSequence: UInt64
    public var segments: Int
    public var frames: Int
    /// Bytes of records before compression, and of segment files on disk.
    public var rawBytes: Int64
    public var diskBytes: Int64
    public var compressionRatio: Double
    public var indexedThrough: UInt64
    public var indexLag: UInt64
    public var headChain: String
    /// Bytes of an incomplete last batch that the open found (and, opened read-write, cut).
    public var tornTailBytes: Int64
}

extension Journal {
    /// Counts events, frames and bytes. Reads frame descriptors only (no decompression).
    public func stats() throws -> JournalStats {
        let snapshot = catalog.snapshot
        var frames = 0
        var raw: Int64 = 0
        var disk: Int64 = 0
        for segment in snapshot.segments {
            let file = try options.fileSystem.openFile(joinPath(segmentsDirectory, segment.fileName), mode: .readOnly)
            defer { file.close() }
            let limit = snapshot.isActive(segment) ? snapshot.activeEnd : try file.size()
            disk += limit
            let reader = SegmentFrameReader(file: file, segment: segment)
            var offset = Int64(SegmentHeader.byteCount)
            while case .frame(let frame) = try reader.frame(at: offset, limit: limit, expected: nil) {
                frames += 1
                raw += Int64(frame.descriptor.rawLength)
                offset = frame.end
            }
        }
        let head = snapshot.head.sequence.rawValue
        let first = snapshot.oldest.rawValue
        let indexed = min(indexedThrough.rawValue, head)
        return JournalStats(
            events: head >= first ? head - first + 1 : 0, firstSequence: first, lastSequence: head,
            segments: snapshot.segments.count, frames: frames, rawBytes: raw, diskBytes: disk,
            compressionRatio: disk > 0 ? Double(raw) / Double(disk) : 0, indexedThrough: indexed,
            indexLag: head - max(indexed, first - 1), headChain: snapshot.head.chain.hex,
            tornTailBytes: recovery.truncatedBytes)
    }
}
