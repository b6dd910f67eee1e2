/// Decompresses one frame and checks every record in it: length, CRC32C, consecutive
/// sequence numbers from the descriptor's first, non-decreasing times inside the
/// descriptor's range, and the exact record count and raw length. Reuses its buffers;
/// not thread-safe.
final class FrameDecoder {
    private let decompressor = LZ4FrameDecompressor()
    /// Grows to the largest frame decoded (1 MiB after ordinary frames); small until then,
    /// so that a reader made and parked before it reads costs little.
    private let buffer = GrowableBuffer(capacity: JournalReader.idleBufferBytes)
    private var offsets: [Int] = []
    private(set) var descriptor: FrameDescriptor?
    /// A frame served from the tail cache instead of decoded here.
    private var cached: CachedFrame?
    /// The cached frame's shared values, once asked for.
    private var sharedValues: AnyObject?

    var count: Int { cached?.offsets.count ?? offsets.count }
    /// Whether the records come from the tail cache (their payloads are shared).
    var isCached: Bool { cached != nil }

    /// Serves the records of an already verified, cached frame.
    func load(_ frame: CachedFrame) {
        cached = frame
        sharedValues = nil
        descriptor = frame.descriptor
    }

    /// For a cached frame, `make` of its `index`th record, made once for the whole frame
    /// and shared with every reader of it; nil for a frame decoded here.
    func shared<Value: Sendable>(_ index: Int, _ make: (RecordView) -> Value) -> Value? {
        guard let cached else { return nil }
        if let shared = sharedValues, ObjectIdentifier(type(of: shared)) == ObjectIdentifier(SharedValues<Value>.self) {
            return unsafeDowncast(shared, to: SharedValues<Value>.self).values[index]
        }
        let shared = cached.shared(make)
        sharedValues = shared
        return shared.values[index]
    }

    /// Decodes `frame`; on damage returns why (and which sequence, when known).
    func decode(_ frame: SegmentFrameReader.Frame) -> (reason: String, sequence: SequenceNumber?)? {
        offsets.removeAll(keepingCapacity: true)
        descriptor = nil
        cached = nil
        sharedValues = nil
        let d = frame.descriptor
        if let failure = decompressor.decompress(frame.data, rawLength: Int(d.rawLength), into: buffer) {
            return (failure, d.firstSequence)
        }
        let bytes = buffer.bytes
        var offset = 0
        var expected = d.firstSequence
        var previousTime = d.firstTime
        while offset < bytes.count {
            let view: RecordView
            do {
                view = try RecordCodec.decode(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            } catch {
                return ("record \(offsets.count) of the frame: \(error)", expected)
            }
            guard view.sequence == expected else {
                return ("record has sequence \(view.sequence), expected \(expected)", expected)
            }
            guard view.time >= previousTime, view.time <= d.lastTime else {
                return ("record time \(view.time) outside the frame's ordered range", expected)
            }
            previousTime = view.time
            offsets.append(offset)
            offset += view.length
            expected = expected.next
        }
        guard offsets.count == Int(d.recordCount) else {
            return ("frame holds \(offsets.count) records, its descriptor says \(d.recordCount)", d.firstSequence)
        }
        descriptor = d
        return nil
    }

    /// Forgets the frame and gives back its buffers beyond `keep` bytes.
    func releaseMemory(keepingCapacity keep: Int) {
        offsets = []
        descriptor = nil
        cached = nil
        sharedValues = nil
        buffer.release(keepingCapacity: keep)
    }

    /// Bytes of decompressed frame the decoder holds room for.
    var capacityBytes: Int { buffer.capacity }

    /// A copy of the decoded frame for the tail cache.
    func cachedCopy(segment: SegmentID, offset: Int64) -> CachedFrame? {
        guard cached == nil, let descriptor else { return nil }
        return CachedFrame(
            segment: segment, offset: offset, descriptor: descriptor, records: buffer.bytes, offsets: offsets)
    }

    /// The `index`th record of the decoded frame; valid until the next `decode`.
    func record(_ index: Int) -> RecordView {
        if let cached { return cached.record(index) }
        let start = offsets[index]
        let end = index + 1 < offsets.count ? offsets[index + 1] : buffer.count
        // Already validated by decode(): re-derive the view without re-checking the CRC.
        let bytes = buffer.slice(start, end - start)
        return RecordCodec.viewUnchecked(bytes)
    }
}

extension RecordCodec {
    /// A view of a record that `decode` has already validated.
    static func viewUnchecked(_ record: UnsafeRawBufferPointer) -> RecordView {
        let patternCount = Int(record.loadLE(UInt16.self, at: 34))
        let publisherLength = Int(record.loadLE(UInt16.self, at: 44))
        let dataLength = Int(record.loadLE(UInt32.self, at: 46))
        return RecordView(
            bytes: record, patternCount: patternCount, patternsStart: fixedHeaderBytes + publisherLength,
            dataStart: record.count - dataLength)
    }
}
