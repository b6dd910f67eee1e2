import CHeraldSupport

/// CRC32C (Castagnoli), the per-record and per-frame checksum of the journal format.
public enum CRC32C {
    public static func checksum(_ bytes: UnsafeRawBufferPointer, extending crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return herald_crc32c(crc, base, bytes.count)
    }

    public static func checksum(_ bytes: some Collection<UInt8>) -> UInt32 {
        if let crc = bytes.withContiguousStorageIfAvailable({ checksum(UnsafeRawBufferPointer($0)) }) {
            return crc
        }
        return Array(bytes).withUnsafeBytes { checksum($0) }
    }

    /// The table-driven path, for tests that compare it with the hardware path.
    static func portableChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return 0 }
        return herald_crc32c_portable(0, base, bytes.count)
    }

    static var usesHardware: Bool { herald_crc32c_hardware() != 0 }
}
