/// A reusable, growable byte buffer for the hot encode/compress paths: one allocation kept
/// across batches, little-endian stores, no per-value bounds checks beyond `reserve`.
/// Not thread-safe; each owner (writer, reader) keeps its own.
final class GrowableBuffer {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    var count: Int = 0

    init(capacity: Int = 64 * 1024) {
        self.capacity = max(capacity, 64)
        self.base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    /// Makes room for `extra` more bytes after `count`.
    @inline(__always)
    func reserve(_ extra: Int) {
        let needed = count + extra
        if needed > capacity { grow(to: needed) }
    }

    private func grow(to needed: Int) {
        var newCapacity = capacity
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newBase.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inline(__always)
    func append<T: FixedWidthInteger>(_ value: T) {
        reserve(MemoryLayout<T>.size)
        base.storeBytes(of: value.littleEndian, toByteOffset: count, as: T.self)
        count += MemoryLayout<T>.size
    }

    @inline(__always)
    func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        (base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    @inline(__always)
    func store<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        precondition(offset + MemoryLayout<T>.size <= count, "store past the written bytes")
        base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    func slice(_ offset: Int, _ length: Int) -> UnsafeRawBufferPointer {
        precondition(offset >= 0 && length >= 0 && offset + length <= count, "slice out of range")
        return UnsafeRawBufferPointer(start: base + offset, count: length)
    }

    func removeAll() { count = 0 }

    /// Empties the buffer and gives its memory back when it holds more than `keep` bytes
    /// (one big frame must not keep a parked reader large).
    func release(keepingCapacity keep: Int) {
        count = 0
        guard capacity > keep else { return }
        base.deallocate()
        capacity = max(keep, 64)
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    /// Gives `body` the `length` bytes after `count` to fill, then advances `count` by
    /// what `body` returns (at most `length`).
    func appendUnsafe(maxLength length: Int, _ body: (UnsafeMutableRawPointer) throws -> Int) rethrows {
        reserve(length)
        let written = try body(base + count)
        precondition(written >= 0 && written <= length, "appendUnsafe wrote \(written) of \(length)")
        count += written
    }
}

extension UnsafeRawBufferPointer {
    /// Little-endian load at `offset`; the caller has checked the bounds.
    @inline(__always)
    func loadLE<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
