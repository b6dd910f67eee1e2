import CLibCrypto
import Foundation

/// An Ed25519 signing key of a Herald node, in the C2SP signed-note key formats:
///
///     private (the key file):  PRIVATE+KEY+<name>+<key hash>+<base64(0x01 ‖ 32-byte seed)>
///     verifier (for auditors): <name>+<key hash>+<base64(0x01 ‖ 32-byte public key)>
///
/// The key hash is the first 4 bytes (8 hex digits) of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key).
public struct AuditKey: Sendable {
    public static let fileName = "audit.key"
    public let name: String
    let seed: [UInt8]
    public let publicKey: [UInt8]

    init(name: String, seed: [UInt8]) throws {
        guard Self.validName(name) else { throw CheckpointError.malformed("key name \"\(name)\"") }
        self.name = name
        self.seed = seed
        publicKey = try Ed25519.publicKey(seed: seed)
    }

    /// A key name: printable, no spaces, no "+".
    static func validName(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.allSatisfy { $0.value > 0x20 && $0 != "+" && $0.value != 0x7F }
    }

    public var keyHash: UInt32 { Self.keyHash(name: name, publicKey: publicKey) }

    static func keyHash(name: String, publicKey: [UInt8]) -> UInt32 {
        let digest = Ed25519.sha256(Array(name.utf8) + [0x0A, 0x01] + publicKey)
        return digest.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    public var verifierKey: String {
        "\(name)+\(String(format: "%08x", keyHash))+\(Data([0x01] + publicKey).base64EncodedString())"
    }

    var privateKeyText: String {
        "PRIVATE+KEY+\(name)+\(String(format: "%08x", keyHash))+\(Data([0x01] + seed).base64EncodedString())"
    }

    public init(privateKeyText text: String) throws {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(
            separator: "+", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "PRIVATE", parts[1] == "KEY",
            let raw = Data(base64Encoded: String(parts[4])), raw.count == 33, raw.first == 0x01
        else { throw CheckpointError.malformed("private key") }
        try self.init(name: String(parts[2]), seed: Array(raw.dropFirst()))
        guard String(format: "%08x", keyHash) == parts[3] else { throw CheckpointError.malformed("private key hash") }
    }

    /// The node's key in `directory` (`audit.key`), created (mode 0600) if there is none.
    public static func loadOrCreate(directory: String, name: String) throws -> AuditKey {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/" + fileName
        if let text = try? String(contentsOfFile: path, encoding: .utf8) { return try AuditKey(privateKeyText: text) }
        var seed = [UInt8](repeating: 0, count: 32)
        guard RAND_bytes(&seed, 32) == 1 else { throw CheckpointError.crypto("RAND_bytes") }
        let key = try AuditKey(name: name, seed: seed)
        let temporary = path + ".tmp"
        guard
            FileManager.default.createFile(
                atPath: temporary, contents: Data((key.privateKeyText + "\n").utf8),
                attributes: [.posixPermissions: 0o600])
        else { throw CheckpointError.io("cannot write \(temporary)") }
        guard rename(temporary, path) == 0 else {
            throw CheckpointError.io("cannot rename \(temporary): errno \(errno)")
        }
        return key
    }

    /// The key stored in `directory`.
    public static func load(directory: String) throws -> AuditKey {
        let path = directory + "/" + fileName
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CheckpointError.io("no \(path) (heraldd creates it at its first start)")
        }
        return try AuditKey(privateKeyText: text)
    }

    func sign(_ message: [UInt8]) throws -> [UInt8] { try Ed25519.sign(message, seed: seed) }
}

/// A checkpoint of the journal's Merkle tree in the C2SP `tlog-checkpoint` format, signed as
/// a C2SP `signed-note` with Ed25519:
///
///     <origin>
///     <tree size>
///     <base64 root hash>
///
///     — <key name> <base64(key hash ‖ signature)>
public struct Checkpoint: Hashable, Sendable {
    public static let fileName = "checkpoint"
    public var origin: String
    public var treeSize: UInt64
    public var rootHash: ChainHash
    /// The whole signed note.
    public var note: String

    /// The signed body: origin, size, root, each on a line.
    var body: String { "\(origin)\n\(treeSize)\n\(Data(rootHash.bytes).base64EncodedString())\n" }

    /// - Parameter origin: the log's name (the first line); every node of a cluster uses the
    ///   same one and signs with its own key.
    public static func sign(origin: String, treeSize: UInt64, rootHash: ChainHash, key: AuditKey) throws -> Checkpoint {
        guard AuditKey.validName(origin) else { throw CheckpointError.malformed("origin \"\(origin)\"") }
        var checkpoint = Checkpoint(origin: origin, treeSize: treeSize, rootHash: rootHash, note: "")
        let body = checkpoint.body
        let signature = try key.sign(Array(body.utf8))
        let hash = withUnsafeBytes(of: key.keyHash.bigEndian) { Array($0) }
        checkpoint.note = body + "\n— \(key.name) \(Data(hash + signature).base64EncodedString())\n"
        return checkpoint
    }

    /// Parses a signed note's checkpoint (the signature is not checked: `verify` does).
    public init(note: String) throws {
        guard let split = note.range(of: "\n\n") else { throw CheckpointError.malformed("no signature block") }
        let lines = note[..<split.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 3, !lines[0].isEmpty, let size = UInt64(lines[1]),
            let root = Data(base64Encoded: String(lines[2])), root.count == 32
        else { throw CheckpointError.malformed("checkpoint body") }
        self.init(origin: String(lines[0]), treeSize: size, rootHash: ChainHash(bytes: Array(root)), note: note)
    }

    init(origin: String, treeSize: UInt64, rootHash: ChainHash, note: String) {
        self.origin = origin
        self.treeSize = treeSize
        self.rootHash = rootHash
        self.note = note
    }

    /// Whether the note carries a valid signature by `verifierKey` (`name+hash+base64`).
    public func verify(verifierKey: String) throws -> Bool {
        // The base64 key may contain "+": the name and hash never do.
        let parts = verifierKey.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 2)
        guard parts.count == 3, let hash = UInt32(parts[1], radix: 16),
            let raw = Data(base64Encoded: String(parts[2])), raw.count == 33, raw.first == 0x01
        else { throw CheckpointError.malformed("verifier key") }
        let name = String(parts[0])
        let publicKey = Array(raw.dropFirst())
        guard AuditKey.keyHash(name: name, publicKey: publicKey) == hash else {
            throw CheckpointError.malformed("verifier key hash")
        }
        guard let split = note.range(of: "\n\n") else { return false }
        let signed = Array(note[..<split.lowerBound].utf8) + [0x0A]
        for line in note[split.upperBound...].split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 3, fields[0] == "—", fields[1] == name,
                let blob = Data(base64Encoded: String(fields[2])), blob.count == 68,
                blob.prefix(4).reduce(UInt32(0), { $0 << 8 | UInt32($1) }) == hash
            else { continue }
            if Ed25519.verify(Array(blob.dropFirst(4)), of: signed, publicKey: publicKey) { return true }
        }
        return false
    }
}

public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case crypto(String)
    case io(String)

    public var description: String {
        switch self {
        case .malformed(let what): return "malformed \(what)"
        case .crypto(let call): return "libcrypto failed: \(call)"
        case .io(let what): return what
        }
    }
}

/// Ed25519 from the system's libcrypto (OpenSSL 3).
enum Ed25519 {
    static func withKey<T>(seed: [UInt8], _ body: (OpaquePointer) throws -> T) throws -> T {
        guard let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, seed, seed.count) else {
            throw CheckpointError.crypto("EVP_PKEY_new_raw_private_key")
        }
        defer { EVP_PKEY_free(key) }
        return try body(key)
    }

    static func publicKey(seed: [UInt8]) throws -> [UInt8] {
        try withKey(seed: seed) { key in
            var out = [UInt8](repeating: 0, count: 32)
            var length = 32
            guard EVP_PKEY_get_raw_public_key(key, &out, &length) == 1, length == 32 else {
                throw CheckpointError.crypto("EVP_PKEY_get_raw_public_key")
            }
            return out
        }
    }

    static func sign(_ message: [UInt8], seed: [UInt8]) throws -> [UInt8] {
        try withKey(seed: seed) { key in
            guard let context = EVP_MD_CTX_new() else { throw CheckpointError.crypto("EVP_MD_CTX_new") }
            defer { EVP_MD_CTX_free(context) }
            var signature = [UInt8](repeating: 0, count: 64)
            var length = 64
            guard EVP_DigestSignInit(context, nil, nil, nil, key) == 1,
                EVP_DigestSign(context, &signature, &length, message, message.count) == 1, length == 64
            else { throw CheckpointError.crypto("EVP_DigestSign") }
            return signature
        }
    }

    static func verify(_ signature: [UInt8], of message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard let key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, publicKey, publicKey.count) else {
            return false
        }
        defer { EVP_PKEY_free(key) }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        return EVP_DigestVerifyInit(context, nil, nil, nil, key) == 1
            && EVP_DigestVerify(context, signature, signature.count, message, message.count) == 1
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { SHA256Hasher().hash($0).bytes }
    }
}

extension Checkpoint {
    /// Writes the note to `directory/checkpoint` atomically (a reader sees the old one or the new one).
    public func write(directory: String) throws {
        let path = directory + "/" + Self.fileName
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(note.utf8)) else {
            throw CheckpointError.io("cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            throw CheckpointError.io("cannot rename \(temporary): errno \(errno)")
        }
    }

    /// The latest checkpoint heraldd wrote in `directory`, if any.
    public static func latest(directory: String) throws -> Checkpoint? {
        guard let note = try? String(contentsOfFile: directory + "/" + fileName, encoding: .utf8) else { return nil }
        return try Checkpoint(note: note)
    }
}
