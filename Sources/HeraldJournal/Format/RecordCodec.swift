/// The record layout inside a frame's decompressed bytes (all integers little-endian):
///
/// ```
/// 0   u32 length        bytes of the whole record, this field included
/// 4   u32 crc32c        over bytes [8, length)
/// 8   u64 sequence
/// 16  i64 time          ns since the Unix epoch
/// 24  u32 descriptor
/// 28  u32 channel
/// 32  u8  priority
/// 33  u8  flags
/// 34  u16 pattern count
/// 36  i64 retention     ns
/// 44  u16 publisher length
/// 46  u32 data length
/// 50  publisher bytes, then per pattern (u16 length, bytes), then data bytes
/// ```
public enum RecordCodec {
    public static let fixedHeaderBytes = 50
    /// Flag bit: the publisher field starts with the publisher's origin (uid, gid, pid as
    /// u32 LE each, `originBytes` in all, read by the daemon from the socket), then the
    /// publisher name the client gave. The index keeps the name alone.
    public static let originFlag: UInt8 = 0x10
    public static let originBytes = 12

    /// Flag bit: the publisher field continues, after the origin (if any), with the service
    /// layer's route block (where the event goes and what it answers), whose first two bytes
    /// are its length (u16, the length field included); then the publisher name.
    public static let routeFlag: UInt8 = 0x20

    /// The publisher name inside a publisher field (the field without its origin prefix and
    /// route block).
    static func publisherName(flags: UInt8, field: UnsafeRawBufferPointer) -> [UInt8] {
        Array(field[nameStart(flags: flags, field: field)...])
    }

    /// Where the publisher name starts in a publisher field: after the origin and the route
    /// block that `flags` announce (a field too short for them is all name).
    public static func nameStart(flags: UInt8, field: UnsafeRawBufferPointer) -> Int {
        var start = 0
        if flags & originFlag != 0 {
            guard field.count >= originBytes else { return 0 }
            start = originBytes
        }
        if flags & routeFlag != 0, field.count >= start + 2 {
            let length = Int(field[start]) | Int(field[start + 1]) << 8
            if length >= 2 && start + length <= field.count { start += length }
        }
        return start
    }

    /// Encoded size of `entry`, after checking it against `limits`.
    static func encodedSize(of entry: JournalEntry, limits: JournalLimits) throws(JournalError) -> Int {
        guard entry.publisher.count <= limits.publisherBytesMax else {
            throw .recordTooLarge(field: "publisher", bytes: entry.publisher.count, limit: limits.publisherBytesMax)
        }
        guard entry.patterns.count <= limits.patternCountMax else {
            throw .recordTooLarge(field: "pattern count", bytes: entry.patterns.count, limit: limits.patternCountMax)
        }
        guard entry.data.count <= limits.dataBytesMax else {
            throw .recordTooLarge(field: "data", bytes: entry.data.count, limit: limits.dataBytesMax)
        }
        var size = fixedHeaderBytes + entry.publisher.count + entry.data.count
        for pattern in entry.patterns {
            guard pattern.count <= limits.patternBytesMax else {
                throw .recordTooLarge(field: "pattern", bytes: pattern.count, limit: limits.patternBytesMax)
            }
            size += 2 + pattern.count
        }
        return size
    }

    /// Appends one encoded record to `buffer`. The entry must have passed `encodedSize`.
    static func encode(
        _ entry: JournalEntry, sequence: SequenceNumber, time: Nanoseconds, size: Int, into buffer: GrowableBuffer
    ) {
        buffer.reserve(size)
        let start = buffer.count
        buffer.append(UInt32(size))
        buffer.append(UInt32(0))  // CRC, filled below
        buffer.append(sequence.rawValue)
        buffer.append(time)
        buffer.append(entry.descriptor)
        buffer.append(entry.channel)
        buffer.append(entry.priority)
        buffer.append(entry.flags)
        buffer.append(UInt16(entry.patterns.count))
        buffer.append(entry.retention)
        buffer.append(UInt16(entry.publisher.count))
        buffer.append(UInt32(entry.data.count))
        buffer.append(entry.publisher)
        for pattern in entry.patterns {
            buffer.append(UInt16(pattern.count))
            buffer.append(pattern)
        }
        buffer.append(entry.data)
        precondition(buffer.count - start == size, "record size mismatch: \(buffer.count - start) vs \(size)")
        let crc = CRC32C.checksum(buffer.slice(start + 8, size - 8))
        buffer.store(crc, at: start + 4)
    }

    /// Encodes one record on its own (golden tests, tools).
    public static func encode(
        _ entry: JournalEntry, sequence: SequenceNumber, time: Nanoseconds, limits: JournalLimits = JournalLimits()
    ) throws(JournalError) -> [UInt8] {
        let size = try encodedSize(of: entry, limits: limits)
        let buffer = GrowableBuffer(capacity: size)
        encode(entry, sequence: sequence, time: time, size: size, into: buffer)
        return Array(buffer.bytes)
    }

    /// Decodes the record at the start of `bytes`, checking its length, checksum and field
    /// bounds. Throws `RecordDecodeError` naming what is wrong.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(RecordDecodeError) -> RecordView {
        guard bytes.count >= fixedHeaderBytes else { throw .truncated(needed: fixedHeaderBytes, have: bytes.count) }
        let length = Int(bytes.loadLE(UInt32.self, at: 0))
        guard length >= fixedHeaderBytes else { throw .badLength(length) }
        guard length <= bytes.count else { throw .truncated(needed: length, have: bytes.count) }
        let stored = bytes.loadLE(UInt32.self, at: 4)
        let record = UnsafeRawBufferPointer(rebasing: bytes[0..<length])
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: record[8...]))
        guard stored == computed else { throw .checksumMismatch(stored: stored, computed: computed) }
        let patternCount = Int(record.loadLE(UInt16.self, at: 34))
        let publisherLength = Int(record.loadLE(UInt16.self, at: 44))
        let dataLength = Int(record.loadLE(UInt32.self, at: 46))
        var offset = fixedHeaderBytes + publisherLength
        guard offset <= length else { throw .fieldOverrun("publisher") }
        let patternsStart = offset
        for _ in 0..<patternCount {
            guard offset + 2 <= length else { throw .fieldOverrun("pattern length") }
            offset += 2 + Int(record.loadLE(UInt16.self, at: offset))
            guard offset <= length else { throw .fieldOverrun("pattern") }
        }
        guard offset + dataLength == length else { throw .fieldOverrun("data") }
        return RecordView(bytes: record, patternCount: patternCount, patternsStart: patternsStart, dataStart: offset)
    }
}

/// Why a record's bytes did not decode.
public enum RecordDecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    case truncated(needed: Int, have: Int)
    case badLength(Int)
    case checksumMismatch(stored: UInt32, computed: UInt32)
    case fieldOverrun(String)

    public var description: String {
        switch self {
        case .truncated(let needed, let have): return "record truncated: needs \(needed) bytes, \(have) left"
        case .badLength(let length): return "record length \(length) is below the minimum"
        case .checksumMismatch(let stored, let computed):
            return "record checksum mismatch (stored \(hex(stored)), computed \(hex(computed)))"
        case .fieldOverrun(let field): return "record field '\(field)' runs past the record's end"
        }
    }

    private func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }
}

/// A decoded record that borrows its bytes (valid only while the buffer it came from is):
/// the zero-copy form used by replay. `materialize()` copies it out.
public struct RecordView {
    public let bytes: UnsafeRawBufferPointer
    let patternCount: Int
    let patternsStart: Int
    let dataStart: Int

    public var length: Int { bytes.count }
    public var sequence: SequenceNumber { SequenceNumber(bytes.loadLE(UInt64.self, at: 8)) }
    public var time: Nanoseconds { bytes.loadLE(Int64.self, at: 16) }
    public var descriptor: UInt32 { bytes.loadLE(UInt32.self, at: 24) }
    public var channel: UInt32 { bytes.loadLE(UInt32.self, at: 28) }
    public var priority: UInt8 { bytes.loadLE(UInt8.self, at: 32) }
    public var flags: UInt8 { bytes.loadLE(UInt8.self, at: 33) }
    public var retention: Nanoseconds { bytes.loadLE(Int64.self, at: 36) }
    public var publisher: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[RecordCodec.fixedHeaderBytes..<patternsStart])
    }
    public var data: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[dataStart...]) }

    /// The patterns as views into the record's bytes (valid while the view is), in order:
    /// for matching filters without copying them.
    public var patternBytes: PatternBytes { PatternBytes(bytes: bytes, count: patternCount, start: patternsStart) }

    public struct PatternBytes: Sequence, IteratorProtocol {
        let bytes: UnsafeRawBufferPointer
        var count: Int
        var start: Int

        public mutating func next() -> UnsafeRawBufferPointer? {
            guard count > 0 else { return nil }
            count -= 1
            let length = Int(bytes.loadLE(UInt16.self, at: start))
            defer { start += 2 + length }
            return UnsafeRawBufferPointer(rebasing: bytes[(start + 2)..<(start + 2 + length)])
        }
    }

    public var patterns: [[UInt8]] {
        var result: [[UInt8]] = []
        result.reserveCapacity(patternCount)
        var offset = patternsStart
        for _ in 0..<patternCount {
            let length = Int(bytes.loadLE(UInt16.self, at: offset))
            result.append(Array(bytes[(offset + 2)..<(offset + 2 + length)]))
            offset += 2 + length
        }
        return result
    }

    public func materialize() -> JournalRecord {
        JournalRecord(
            sequence: sequence, time: time, descriptor: descriptor, channel: channel, priority: priority,
            flags: flags, retention: retention, publisher: Array(publisher), patterns: patterns, data: Array(data))
    }
}
