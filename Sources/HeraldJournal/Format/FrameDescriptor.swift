/// Precedes every committed batch: an LZ4 skippable frame describing the standard LZ4
/// frame right after it, so recovery, indexing and seeking never decompress to find
/// sequence or time ranges, and `lz4 -dc` still decodes the segment.
///
/// ```
/// 0   u32 0x184D2A51   LZ4 skippable-frame magic (nibble 1)
/// 4   u32 80           payload size
/// 8   u64 first sequence
/// 16  u32 record count
/// 20  u32 raw length       decompressed bytes of the LZ4 frame
/// 24  i64 first time
/// 32  i64 last time
/// 40  u32 data length      bytes of the LZ4 frame that follows
/// 44  u32 data crc32c      over those bytes
/// 48  u32 flags            0
/// 52  32 bytes chain       hash-chain value after this frame
/// 84  u32 crc32c           over bytes [8, 84)
/// ```
///
/// `chain = SHA-256(previous chain ‖ bytes [8, 52) of this descriptor ‖ LZ4 frame bytes)`.
public struct FrameDescriptor: Hashable, Sendable {
    public static let skippableMagic: UInt32 = 0x184D_2A51
    public static let byteCount = 88
    static let payloadBytes = UInt32(byteCount - 8)
    /// Bytes [8, 52): the fields the chain hash covers.
    static let chainedFields = 8..<52

    public var firstSequence: SequenceNumber
    public var recordCount: UInt32
    public var rawLength: UInt32
    public var firstTime: Nanoseconds
    public var lastTime: Nanoseconds
    public var dataLength: UInt32
    public var dataCRC: UInt32
    public var chain: ChainHash

    public var lastSequence: SequenceNumber { SequenceNumber(firstSequence.rawValue + UInt64(recordCount) - 1) }
    public var frameLength: Int { Self.byteCount + Int(dataLength) }

    public init(
        firstSequence: SequenceNumber, recordCount: UInt32, rawLength: UInt32, firstTime: Nanoseconds,
        lastTime: Nanoseconds, dataLength: UInt32, dataCRC: UInt32, chain: ChainHash
    ) {
        self.firstSequence = firstSequence
        self.recordCount = recordCount
        self.rawLength = rawLength
        self.firstTime = firstTime
        self.lastTime = lastTime
        self.dataLength = dataLength
        self.dataCRC = dataCRC
        self.chain = chain
    }

    /// Appends the descriptor; `chain` is written as given.
    func encode(into buffer: GrowableBuffer) {
        let start = buffer.count
        buffer.append(Self.skippableMagic)
        buffer.append(Self.payloadBytes)
        buffer.append(firstSequence.rawValue)
        buffer.append(recordCount)
        buffer.append(rawLength)
        buffer.append(firstTime)
        buffer.append(lastTime)
        buffer.append(dataLength)
        buffer.append(dataCRC)
        buffer.append(UInt32(0))
        buffer.append(chain.bytes)
        buffer.append(CRC32C.checksum(buffer.slice(start + 8, 76)))
        precondition(buffer.count - start == Self.byteCount)
    }

    public func encoded() -> [UInt8] {
        let buffer = GrowableBuffer(capacity: Self.byteCount)
        encode(into: buffer)
        return Array(buffer.bytes)
    }

    /// Why a descriptor did not decode.
    public enum DecodeError: Error, Hashable, Sendable {
        case truncated
        case notADescriptor
        case checksumMismatch
        case invalid(String)
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> FrameDescriptor {
        guard bytes.count >= byteCount else { throw .truncated }
        guard bytes.loadLE(UInt32.self, at: 0) == skippableMagic, bytes.loadLE(UInt32.self, at: 4) == payloadBytes
        else { throw .notADescriptor }
        guard bytes.loadLE(UInt32.self, at: 84) == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[8..<84]))
        else { throw .checksumMismatch }
        let descriptor = FrameDescriptor(
            firstSequence: SequenceNumber(bytes.loadLE(UInt64.self, at: 8)),
            recordCount: bytes.loadLE(UInt32.self, at: 16),
            rawLength: bytes.loadLE(UInt32.self, at: 20),
            firstTime: bytes.loadLE(Int64.self, at: 24),
            lastTime: bytes.loadLE(Int64.self, at: 32),
            dataLength: bytes.loadLE(UInt32.self, at: 40),
            dataCRC: bytes.loadLE(UInt32.self, at: 44),
            chain: ChainHash(bytes: Array(bytes[52..<84])))
        guard descriptor.recordCount > 0 else { throw .invalid("frame with no records") }
        guard descriptor.firstSequence.rawValue > 0 else { throw .invalid("sequence 0") }
        guard descriptor.firstTime <= descriptor.lastTime else { throw .invalid("time range goes backwards") }
        return descriptor
    }
}
