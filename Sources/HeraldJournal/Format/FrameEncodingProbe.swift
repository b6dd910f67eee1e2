/// The writer's CPU work on the sequential path — encode every record with its CRC32C,
/// then seal each batch into a frame (`FrameSealer`, as the writer does: LZ4 at the
/// journal's acceleration, the frame's checksum, the hash chain) — without any I/O. For benchmarks: it measures what the
/// journal spends per byte before the disk, to set beside `lz4` at the same level.
public struct FrameEncodingProbe {
    public struct Totals: Sendable {
        /// Encoded record bytes (what `lz4 -dc` prints for a segment).
        public var recordBytes = 0
        /// LZ4 frame bytes, descriptors not included.
        public var compressedBytes = 0
        public var frames = 0
    }

    private let raw = GrowableBuffer(capacity: 1 << 20)
    private let sealer: FrameSealer
    private let limits: JournalLimits

    public init(options: JournalOptions = JournalOptions()) {
        sealer = FrameSealer(acceleration: options.lz4Acceleration)
        limits = options.limits
    }

    /// Encodes and compresses `entries` in frames of `batch` records, as appends of that
    /// size would.
    public func run(_ entries: [JournalEntry], batch: Int) throws(JournalError) -> Totals {
        var totals = Totals()
        var chain = ChainHash.genesis
        var sequence = SequenceNumber(1)
        var start = 0
        while start < entries.count {
            let end = min(start + batch, entries.count)
            raw.removeAll()
            let first = sequence
            for index in start..<end {
                let entry = entries[index]
                let size = try RecordCodec.encodedSize(of: entry, limits: limits)
                RecordCodec.encode(entry, sequence: sequence, time: Nanoseconds(index), size: size, into: raw)
                sequence = sequence.next
            }
            let descriptor = sealer.seal(
                raw, firstSequence: first, lastSequence: sequence.previous, firstTime: Nanoseconds(start),
                lastTime: Nanoseconds(end - 1), previous: chain)
            chain = descriptor.chain
            totals.recordBytes += raw.count
            totals.compressedBytes += Int(descriptor.dataLength)
            totals.frames += 1
            start = end
        }
        return totals
    }
}
