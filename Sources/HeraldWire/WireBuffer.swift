/// Appends little-endian fields to a byte array.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func u8(_ value: UInt8) { bytes.append(value) }
    public mutating func u16(_ value: UInt16) { append(value) }
    public mutating func u32(_ value: UInt32) { append(value) }
    public mutating func u64(_ value: UInt64) { append(value) }
    public mutating func i64(_ value: Int64) { append(UInt64(bitPattern: value)) }

    /// Bytes with a 16-bit length prefix (names, patterns). The caller keeps them ≤ 65535.
    public mutating func bytes16(_ value: [UInt8]) {
        precondition(value.count <= Int(UInt16.max), "bytes16 field of \(value.count) bytes")
        u16(UInt16(value.count))
        bytes.append(contentsOf: value)
    }

    /// Bytes with a 32-bit length prefix (event data).
    public mutating func bytes32(_ value: [UInt8]) {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func string(_ value: String) { bytes16(Array(value.utf8)) }

    public mutating func raw(_ value: [UInt8]) { bytes.append(contentsOf: value) }

    mutating func patch(u32 value: UInt32, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { source in
            for index in 0..<4 { bytes[offset + index] = source[index] }
        }
    }

    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}

/// Reads little-endian fields from a payload, bounds-checked: a short payload throws
/// `WireError.truncated` naming the field, and every length is compared with what is left
/// and with its limit before bytes are copied.
public struct WireReader {
    private let bytes: ArraySlice<UInt8>
    private var position: Int

    public init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    public var remaining: Int { bytes.endIndex - position }

    public mutating func u8(_ field: String) throws(WireError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated(field: field) }
        defer { position += 1 }
        return bytes[position]
    }

    public mutating func u16(_ field: String) throws(WireError) -> UInt16 { try integer(field) }
    public mutating func u32(_ field: String) throws(WireError) -> UInt32 { try integer(field) }
    public mutating func u64(_ field: String) throws(WireError) -> UInt64 { try integer(field) }
    public mutating func i64(_ field: String) throws(WireError) -> Int64 { Int64(bitPattern: try integer(field)) }

    public mutating func bytes16(_ field: String, max: Int) throws(WireError) -> [UInt8] {
        let count = Int(try lengthPrefix(UInt16.self, field))
        return try take(count, field: field, max: max)
    }

    public mutating func bytes32(_ field: String, max: Int) throws(WireError) -> [UInt8] {
        let count = Int(try lengthPrefix(UInt32.self, field))
        return try take(count, field: field, max: max)
    }

    /// A length prefix; the error's label ("<field> length") is built only on failure, not
    /// for every field read.
    private mutating func lengthPrefix<T: FixedWidthInteger>(_: T.Type, _ field: String) throws(WireError) -> T {
        guard remaining >= MemoryLayout<T>.size else { throw .truncated(field: field + " length") }
        return try integer(field)
    }

    public mutating func string(_ field: String, max: Int) throws(WireError) -> String {
        let raw = try bytes16(field, max: max)
        guard let text = String(validating: raw, as: UTF8.self) else { throw .badUTF8(field: field) }
        return text
    }

    /// A count, checked against its limit and against the bytes left (each element needs
    /// at least `elementBytesMin`), before any array is reserved.
    public mutating func count16(_ field: String, max: Int, elementBytesMin: Int) throws(WireError) -> Int {
        let count = Int(try u16(field))
        try checkCount(count, field: field, max: max, elementBytesMin: elementBytesMin)
        return count
    }

    public mutating func count32(_ field: String, max: Int, elementBytesMin: Int) throws(WireError) -> Int {
        let count = Int(try u32(field))
        try checkCount(count, field: field, max: max, elementBytesMin: elementBytesMin)
        return count
    }

    public func finish() throws(WireError) {
        guard remaining == 0 else { throw .trailingBytes(remaining) }
    }

    /// Where the next field starts, as an index of the bytes given to `init`.
    public var index: Int { position }

    /// Skips a 16-bit-length-prefixed field, checked as `bytes16` checks it; returns where
    /// its bytes are (no copy).
    public mutating func skipBytes16(_ field: String, max: Int) throws(WireError) -> Range<Int> {
        let count = Int(try lengthPrefix(UInt16.self, field))
        return try skip(count, field: field, max: max)
    }

    /// The same for a 32-bit length prefix (`bytes32`).
    public mutating func skipBytes32(_ field: String, max: Int) throws(WireError) -> Range<Int> {
        let count = Int(try lengthPrefix(UInt32.self, field))
        return try skip(count, field: field, max: max)
    }

    private mutating func skip(_ count: Int, field: String, max: Int) throws(WireError) -> Range<Int> {
        guard count <= max else { throw .limitExceeded(field: field, value: count, max: max) }
        guard count <= remaining else { throw .truncated(field: field) }
        defer { position += count }
        return position..<position + count
    }

    public mutating func raw(_ count: Int, field: String) throws(WireError) -> [UInt8] {
        try take(count, field: field, max: count)
    }

    private func checkCount(_ count: Int, field: String, max: Int, elementBytesMin: Int) throws(WireError) {
        guard count <= max else { throw .limitExceeded(field: field, value: count, max: max) }
        guard count * elementBytesMin <= remaining else { throw .truncated(field: field) }
    }

    private mutating func take(_ count: Int, field: String, max: Int) throws(WireError) -> [UInt8] {
        guard count <= max else { throw .limitExceeded(field: field, value: count, max: max) }
        guard count <= remaining else { throw .truncated(field: field) }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    private mutating func integer<T: FixedWidthInteger>(_ field: String) throws(WireError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw .truncated(field: field) }
        let offset = position - bytes.startIndex
        let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
        position += size
        return T(littleEndian: value)
    }
}
