/// Turns a batch of encoded records into one frame: LZ4-compresses it, checksums the
/// compressed bytes and extends the hash chain over the descriptor's chained fields and the
/// frame. The writer's and `FrameEncodingProbe`'s one way of doing it. Reuses its buffers
/// and contexts; not thread-safe.
final class FrameSealer {
    /// The last sealed frame's compressed bytes (valid until the next `seal`).
    let compressed = GrowableBuffer(capacity: 1 << 20)
    private let descriptorBytes = GrowableBuffer(capacity: 256)
    private let compressor: LZ4FrameCompressor
    private let hasher = SHA256Hasher()

    init(acceleration: Int) {
        compressor = LZ4FrameCompressor(acceleration: acceleration)
    }

    /// The descriptor of `raw` as one frame, its `chain` the value after `previous`.
    func seal(
        _ raw: GrowableBuffer, firstSequence: SequenceNumber, lastSequence: SequenceNumber, firstTime: Nanoseconds,
        lastTime: Nanoseconds, previous: ChainHash
    ) -> FrameDescriptor {
        compressed.removeAll()
        let dataLength = compressor.compress(raw.bytes, into: compressed)
        var descriptor = FrameDescriptor(
            firstSequence: firstSequence, recordCount: UInt32(lastSequence.rawValue - firstSequence.rawValue + 1),
            rawLength: UInt32(raw.count), firstTime: firstTime, lastTime: lastTime, dataLength: UInt32(dataLength),
            dataCRC: CRC32C.checksum(compressed.bytes), chain: .genesis)
        descriptorBytes.removeAll()
        descriptor.encode(into: descriptorBytes)
        descriptor.chain = previous.bytes.withUnsafeBytes { previousBytes in
            hasher.hash(
                previousBytes,
                descriptorBytes.slice(FrameDescriptor.chainedFields.lowerBound, FrameDescriptor.chainedFields.count),
                compressed.bytes)
        }
        return descriptor
    }
}
