import CLibCrypto

/// A 32-byte SHA-256 value of the journal's tamper-evident hash chain.
///
/// `chain(n) = SHA-256(chain(n-1) ‖ frame n's descriptor fields ‖ frame n's LZ4 bytes)`,
/// starting from `ChainHash.genesis` (32 zero bytes). The value after each frame is stored
/// in the frame's descriptor, so the head of the chain is known without rehashing.
public struct ChainHash: Hashable, Sendable, CustomStringConvertible {
    public static let byteCount = 32
    public static let genesis = ChainHash(bytes: [UInt8](repeating: 0, count: 32))

    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        precondition(bytes.count == Self.byteCount, "a chain hash is 32 bytes, got \(bytes.count)")
        self.bytes = bytes
    }

    /// Parses 64 hexadecimal digits.
    public init?(hex: String) {
        guard hex.utf8.count == 64, let bytes = Hex.decode(hex) else { return nil }
        self.bytes = bytes
    }

    public var hex: String { Hex.encode(bytes) }

    public var description: String { hex }

}

/// Lower-case hexadecimal text of bytes, and back (proofs, checkpoints, the console).
public enum Hex {
    public static func encode(_ bytes: [UInt8]) -> String {
        let table = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(table[Int(byte >> 4)])
            out.append(table[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of an even number of hex digits (either case); nil for anything else.
    public static func decode(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// Incremental SHA-256 over the system's libcrypto. Owns one EVP context, reused for every
/// hash; not thread-safe (each writer, verifier or recovery pass has its own).
final class SHA256Hasher {
    private let context: OpaquePointer

    init() {
        guard let context = EVP_MD_CTX_new() else {
            preconditionFailure("EVP_MD_CTX_new failed: out of memory")
        }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    /// SHA-256 fetched from the default provider once per process: an init with the legacy
    /// `EVP_sha256()` fetches it again (and allocates) every time.
    nonisolated(unsafe) private static let digest: OpaquePointer = {
        guard let digest = EVP_MD_fetch(nil, "SHA256", nil) else { preconditionFailure("EVP_MD_fetch(SHA256) failed") }
        return digest
    }()
    private var started = false

    /// Starts a hash fed piece by piece with `update`, ended by `finish`. After the first,
    /// the context's digest is reused (`EVP_DigestInit_ex2` with none): no allocation.
    func begin() {
        if started {
            precondition(EVP_DigestInit_ex2(context, nil, nil) == 1, "EVP_DigestInit_ex2 failed")
        } else {
            precondition(EVP_DigestInit_ex2(context, Self.digest, nil) == 1, "EVP_DigestInit_ex2 failed")
            started = true
        }
    }

    func update(_ part: UnsafeRawBufferPointer) {
        guard part.count > 0 else { return }
        precondition(EVP_DigestUpdate(context, part.baseAddress, part.count) == 1, "EVP_DigestUpdate failed")
    }

    func finish() -> ChainHash {
        var out = [UInt8](repeating: 0, count: ChainHash.byteCount)
        var length: UInt32 = 0
        out.withUnsafeMutableBufferPointer { buffer in
            precondition(EVP_DigestFinal_ex(context, buffer.baseAddress, &length) == 1, "EVP_DigestFinal_ex failed")
        }
        precondition(length == 32, "SHA-256 produced \(length) bytes")
        return ChainHash(bytes: out)
    }

    /// Hashes the concatenation of `parts`.
    func hash(_ parts: UnsafeRawBufferPointer...) -> ChainHash {
        begin()
        for part in parts { update(part) }
        return finish()
    }
}
