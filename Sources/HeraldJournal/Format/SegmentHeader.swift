/// The first bytes of every segment: an LZ4 *skippable* frame that `lz4 -dc` ignores.
///
/// ```
/// 0   u32 0x184D2A50   LZ4 skippable-frame magic (nibble 0)
/// 4   u32 68           payload size
/// 8   "HRLD"           Herald magic
/// 12  u16 version      format version (1)
/// 14  u16 flags        0
/// 16  u64 first sequence
/// 24  i64 created      ns since the Unix epoch
/// 32  i64 base time    publish time of the record before this segment's first (0 if none)
/// 40  32 bytes         base chain: the hash-chain value before this segment's first frame
/// 72  u32 crc32c       over bytes [8, 72)
/// ```
public struct SegmentHeader: Hashable, Sendable {
    public static let skippableMagic: UInt32 = 0x184D_2A50
    public static let heraldMagic: [UInt8] = Array("HRLD".utf8)
    public static let formatVersion: UInt16 = 1
    public static let byteCount = 76
    static let payloadBytes = UInt32(byteCount - 8)

    public var firstSequence: SequenceNumber
    public var created: Nanoseconds
    public var baseTime: Nanoseconds
    public var baseChain: ChainHash

    public init(firstSequence: SequenceNumber, created: Nanoseconds, baseTime: Nanoseconds, baseChain: ChainHash) {
        self.firstSequence = firstSequence
        self.created = created
        self.baseTime = baseTime
        self.baseChain = baseChain
    }

    public func encoded() -> [UInt8] {
        let buffer = GrowableBuffer(capacity: Self.byteCount)
        buffer.append(Self.skippableMagic)
        buffer.append(Self.payloadBytes)
        buffer.append(Self.heraldMagic)
        buffer.append(Self.formatVersion)
        buffer.append(UInt16(0))
        buffer.append(firstSequence.rawValue)
        buffer.append(created)
        buffer.append(baseTime)
        buffer.append(baseChain.bytes)
        buffer.append(CRC32C.checksum(buffer.slice(8, buffer.count - 8)))
        precondition(buffer.count == Self.byteCount)
        return Array(buffer.bytes)
    }

    /// Why a header did not decode.
    public enum DecodeError: Error, Hashable, Sendable {
        case truncated
        case notASegment
        case checksumMismatch
        case versionTooNew(UInt16)
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> SegmentHeader {
        guard bytes.count >= byteCount else { throw .truncated }
        guard bytes.loadLE(UInt32.self, at: 0) == skippableMagic,
            bytes.loadLE(UInt32.self, at: 4) == payloadBytes,
            Array(bytes[8..<12]) == heraldMagic
        else { throw .notASegment }
        let stored = bytes.loadLE(UInt32.self, at: 72)
        guard stored == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[8..<72])) else {
            throw .checksumMismatch
        }
        let version = bytes.loadLE(UInt16.self, at: 12)
        guard version <= formatVersion else { throw .versionTooNew(version) }
        return SegmentHeader(
            firstSequence: SequenceNumber(bytes.loadLE(UInt64.self, at: 16)),
            created: bytes.loadLE(Int64.self, at: 24),
            baseTime: bytes.loadLE(Int64.self, at: 32),
            baseChain: ChainHash(bytes: Array(bytes[40..<72])))
    }
}
