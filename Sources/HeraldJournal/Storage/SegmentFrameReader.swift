/// Walks the frames of one segment file: descriptor, then the LZ4 frame it describes.
/// Reads through a window (1 MiB read-ahead) so small frames cost no syscall each.
/// Checks each descriptor's CRC and the CRC of the LZ4 bytes; not thread-safe.
final class SegmentFrameReader {
    /// One frame found in the file. `data` is valid until the next call.
    struct Frame {
        var descriptor: FrameDescriptor
        /// Offset of the descriptor in the file.
        var offset: Int64
        var data: UnsafeRawBufferPointer
        var end: Int64 { offset + Int64(descriptor.frameLength) }
    }

    enum Step {
        case frame(Frame)
        /// No whole frame starts at the offset before `limit`.
        case end
        case damaged(offset: Int64, sequence: SequenceNumber?, reason: String)
    }

    static let readAhead = 1 << 20

    let file: any JournalFile
    let segment: SegmentID
    private let window = GrowableBuffer(capacity: 64 << 10)
    private var windowStart: Int64 = 0

    init(file: any JournalFile, segment: SegmentID) {
        self.file = file
        self.segment = segment
    }

    /// Forgets the read-ahead and gives back its memory beyond `keep` bytes.
    func releaseWindow(keepingCapacity keep: Int) {
        window.release(keepingCapacity: keep)
        windowStart = 0
    }

    /// Bytes of read-ahead the reader holds room for.
    var windowCapacity: Int { window.capacity }

    /// The bytes [offset, offset + count), or nil when they reach past `limit`.
    func bytes(at offset: Int64, count: Int, limit: Int64) throws -> UnsafeRawBufferPointer? {
        guard offset + Int64(count) <= limit else { return nil }
        if offset >= windowStart && offset + Int64(count) <= windowStart + Int64(window.count) {
            return window.slice(Int(offset - windowStart), count)
        }
        let want = Int(min(Int64(max(count, Self.readAhead)), limit - offset))
        window.removeAll()
        windowStart = offset
        var got = 0
        try window.appendUnsafe(maxLength: want) { destination in
            got = try file.read(at: offset, into: UnsafeMutableRawBufferPointer(start: destination, count: want))
            return got
        }
        guard got >= count else { return nil }
        return window.slice(0, count)
    }

    /// The frame starting at `offset`, reading no byte at or past `limit`.
    /// `expected` is the sequence number the frame must start with, when known.
    func frame(at offset: Int64, limit: Int64, expected: SequenceNumber?) throws -> Step {
        guard let head = try bytes(at: offset, count: FrameDescriptor.byteCount, limit: limit) else {
            return offset >= limit
                ? .end : .damaged(offset: offset, sequence: nil, reason: "truncated frame descriptor")
        }
        let descriptor: FrameDescriptor
        do {
            descriptor = try FrameDescriptor.decode(head)
        } catch {
            return .damaged(offset: offset, sequence: expected, reason: "bad frame descriptor (\(error))")
        }
        if let expected, descriptor.firstSequence != expected {
            return .damaged(
                offset: offset, sequence: expected,
                reason: "frame starts at sequence \(descriptor.firstSequence), expected \(expected)")
        }
        let dataOffset = offset + Int64(FrameDescriptor.byteCount)
        guard let data = try bytes(at: dataOffset, count: Int(descriptor.dataLength), limit: limit) else {
            return .damaged(offset: offset, sequence: descriptor.firstSequence, reason: "truncated LZ4 frame")
        }
        guard CRC32C.checksum(data) == descriptor.dataCRC else {
            return .damaged(offset: offset, sequence: descriptor.firstSequence, reason: "LZ4 frame checksum mismatch")
        }
        return .frame(Frame(descriptor: descriptor, offset: offset, data: data))
    }

    /// Whether a whole, checksum-valid frame starts anywhere in (offset, limit): tells a
    /// torn tail (nothing valid after the damage) from damage in the middle.
    func validFrameExists(after offset: Int64, limit: Int64) throws -> Int64? {
        var position = offset + 1
        while position + Int64(FrameDescriptor.byteCount) <= limit {
            let chunk = Int(min(Int64(Self.readAhead), limit - position))
            // A copy: frame(at:) below moves the window.
            guard let window = try bytes(at: position, count: chunk, limit: limit) else { return nil }
            let copy = [UInt8](window)
            var index = 0
            while index + 4 <= copy.count {
                if copy[index] == 0x51 && copy[index + 1] == 0x2A && copy[index + 2] == 0x4D && copy[index + 3] == 0x18
                {
                    let candidate = position + Int64(index)
                    if case .frame = try frame(at: candidate, limit: limit, expected: nil) { return candidate }
                }
                index += 1
            }
            position += Int64(max(1, chunk - 3))
        }
        return nil
    }
}
