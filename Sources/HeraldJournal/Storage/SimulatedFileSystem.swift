import Foundation
import Synchronization

/// An in-memory file system for deterministic crash and corruption tests.
///
/// Each file keeps what was last made durable (`sync`) beside its current bytes. `crash`
/// replaces every file's current bytes with its durable bytes plus a seeded-random prefix
/// of the bytes written since (a torn write), as a power loss would. Faults can be armed:
/// fail the next writes or syncs with an errno, or flip a bit. Directory entries are
/// treated as durable at once (a simplification: the journal syncs its directory anyway).
public final class SimulatedFileSystem: JournalFileSystem {
    // @unchecked-free: all state lives in one Mutex.
    private let state = Mutex(State())

    struct State {
        var directories: Set<String> = ["/"]
        var files: [String: SimulatedNode] = [:]
        var failWritesErrno: Int32?
        var failWritesAfterBytes: Int = 0
        var failSyncErrno: Int32?
        var failSyncDiscards = true
        var syncCount = 0
        var writeCount = 0
        var beforeSync: (@Sendable () -> Void)?
    }

    public init() {}

    // MARK: Faults

    /// Every write after `bytes` more bytes fails with `errno` (ENOSPC by default), writing
    /// only what fits before the limit.
    public func failWrites(afterBytes bytes: Int = 0, errno: Int32 = 28 /* ENOSPC */) {
        state.withLock {
            $0.failWritesErrno = errno
            $0.failWritesAfterBytes = bytes
        }
    }

    /// The next `sync` fails with `errno` (EIO by default). With `discardUnsynced` the
    /// unsynced bytes are dropped, as Linux drops dirty pages after a writeback error;
    /// without it they stay unsynced, as when the power goes before the sync completes
    /// (a `crash` then keeps a random prefix of them).
    public func failNextSync(errno: Int32 = 5 /* EIO */, discardUnsynced: Bool = true) {
        state.withLock {
            $0.failSyncErrno = errno
            $0.failSyncDiscards = discardUnsynced
        }
    }

    /// Runs `body` at the start of every file sync, outside the file system's lock (a slow
    /// disk: `body` may block until the test lets the sync go on); nil removes it.
    public func beforeSync(_ body: (@Sendable () -> Void)?) { state.withLock { $0.beforeSync = body } }

    public func clearFaults() {
        state.withLock {
            $0.failWritesErrno = nil
            $0.failSyncErrno = nil
        }
    }

    /// Power loss: each file keeps its durable bytes plus a random prefix of what came after.
    public func crash(seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        state.withLock { state in
            for path in state.files.keys.sorted() {
                let node = state.files[path]!
                node.crash(using: &generator)
            }
        }
    }

    /// Flips one bit of a file's current and durable bytes.
    public func flipBit(_ path: String, byte: Int, bit: Int) {
        state.withLock { state in
            guard let node = state.files[path] else { preconditionFailure("no file \(path)") }
            node.flip(byte: byte, bit: bit)
        }
    }

    /// A copy of a file's current bytes.
    public func contents(_ path: String) -> [UInt8]? { state.withLock { $0.files[path]?.current } }

    /// Replaces a file's bytes (current and durable).
    public func setContents(_ path: String, _ bytes: [UInt8]) {
        state.withLock { state in
            let node = state.files[path] ?? SimulatedNode()
            node.current = bytes
            node.durable = bytes
            state.files[path] = node
        }
    }

    public var syncCount: Int { state.withLock { $0.syncCount } }

    // MARK: JournalFileSystem

    public func createDirectory(_ path: String) throws {
        state.withLock { state in
            var current = ""
            for component in path.split(separator: "/") {
                current += "/" + component
                state.directories.insert(current)
            }
        }
    }

    public func directoryExists(_ path: String) -> Bool { state.withLock { $0.directories.contains(normalize(path)) } }

    public func fileExists(_ path: String) -> Bool {
        state.withLock { $0.files[path] != nil || $0.directories.contains(normalize(path)) }
    }

    public func contentsOfDirectory(_ path: String) throws -> [String] {
        let directory = normalize(path)
        return try state.withLock { state in
            guard state.directories.contains(directory) else {
                throw JournalError.io(operation: "list", path: path, errno: ENOENT)
            }
            let prefix = directory == "/" ? "/" : directory + "/"
            var names = Set<String>()
            for name in state.files.keys where name.hasPrefix(prefix) {
                let rest = name.dropFirst(prefix.count)
                if !rest.contains("/") { names.insert(String(rest)) }
            }
            for name in state.directories where name.hasPrefix(prefix) {
                let rest = name.dropFirst(prefix.count)
                if !rest.isEmpty && !rest.contains("/") { names.insert(String(rest)) }
            }
            return names.sorted()
        }
    }

    public func openFile(_ path: String, mode: FileOpenMode) throws -> any JournalFile {
        let node: SimulatedNode = try state.withLock { state in
            let parent = normalize(String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]))
            switch mode {
            case .readOnly, .readWrite:
                guard let node = state.files[path] else {
                    throw JournalError.io(operation: "open", path: path, errno: ENOENT)
                }
                return node
            case .createNew:
                guard state.files[path] == nil else {
                    throw JournalError.io(operation: "open", path: path, errno: EEXIST)
                }
                guard state.directories.contains(parent) else {
                    throw JournalError.io(operation: "open", path: path, errno: ENOENT)
                }
                let node = SimulatedNode()
                state.files[path] = node
                return node
            }
        }
        return SimulatedFile(path: path, node: node, fileSystem: self, writable: mode != .readOnly)
    }

    public func removeFile(_ path: String) throws {
        try state.withLock { state in
            guard state.files.removeValue(forKey: path) != nil else {
                throw JournalError.io(operation: "unlink", path: path, errno: ENOENT)
            }
        }
    }

    public func syncDirectory(_ path: String) throws {}

    // MARK: File operations (called by SimulatedFile)

    func read(_ node: SimulatedNode, at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        state.withLock { _ in
            let start = Int(offset)
            guard start < node.current.count else { return 0 }
            let count = min(buffer.count, node.current.count - start)
            node.current.withUnsafeBytes { source in
                buffer.baseAddress!.copyMemory(from: source.baseAddress! + start, byteCount: count)
            }
            return count
        }
    }

    func write(_ node: SimulatedNode, path: String, at offset: Int64, _ bytes: UnsafeRawBufferPointer) throws {
        try state.withLock { state in
            state.writeCount += 1
            var allowed = bytes.count
            var failure: Int32?
            if let errno = state.failWritesErrno {
                allowed = min(bytes.count, state.failWritesAfterBytes)
                state.failWritesAfterBytes -= allowed
                if allowed < bytes.count { failure = errno }
            }
            node.write(at: Int(offset), UnsafeRawBufferPointer(rebasing: bytes[0..<allowed]))
            if let failure { throw JournalError.io(operation: "pwrite", path: path, errno: failure) }
        }
    }

    func sync(_ node: SimulatedNode, path: String) throws {
        state.withLock { $0.beforeSync }?()
        try state.withLock { state in
            state.syncCount += 1
            if let errno = state.failSyncErrno {
                state.failSyncErrno = nil
                if state.failSyncDiscards { node.current = node.durable }
                throw JournalError.io(operation: "fdatasync", path: path, errno: errno)
            }
            node.durable = node.current
        }
    }

    func truncate(_ node: SimulatedNode, to size: Int64) {
        state.withLock { _ in
            if Int(size) < node.current.count { node.current.removeLast(node.current.count - Int(size)) }
        }
    }

    func size(_ node: SimulatedNode) -> Int64 { state.withLock { _ in Int64(node.current.count) } }

    private func normalize(_ path: String) -> String {
        var result = path
        while result.count > 1 && result.hasSuffix("/") { result.removeLast() }
        return result.isEmpty ? "/" : result
    }
}

/// One file's bytes. Guarded by the owning `SimulatedFileSystem`'s mutex.
final class SimulatedNode: @unchecked Sendable {
    // @unchecked Sendable: every access happens inside SimulatedFileSystem.state.withLock.
    var current: [UInt8] = []
    var durable: [UInt8] = []

    func write(at offset: Int, _ bytes: UnsafeRawBufferPointer) {
        if current.count < offset { current.append(contentsOf: repeatElement(0, count: offset - current.count)) }
        let overlap = min(bytes.count, current.count - offset)
        if overlap > 0 { current.replaceSubrange(offset..<(offset + overlap), with: bytes[0..<overlap]) }
        if overlap < bytes.count { current.append(contentsOf: bytes[overlap...]) }
    }

    func crash(using generator: inout SplitMix64) {
        if current.count > durable.count && current.starts(with: durable) {
            let unsynced = current.count - durable.count
            let kept = Int(generator.next() % UInt64(unsynced + 1))
            current = Array(current[0..<(durable.count + kept)])
        } else {
            current = durable
        }
        durable = current
    }

    func flip(byte: Int, bit: Int) {
        precondition(byte < current.count, "flip past the end")
        current[byte] ^= UInt8(1) << UInt8(bit & 7)
        if byte < durable.count { durable[byte] ^= UInt8(1) << UInt8(bit & 7) }
    }
}

final class SimulatedFile: JournalFile {
    let path: String
    private let node: SimulatedNode
    private let fileSystem: SimulatedFileSystem
    private let writable: Bool
    private var closed = false

    init(path: String, node: SimulatedNode, fileSystem: SimulatedFileSystem, writable: Bool) {
        self.path = path
        self.node = node
        self.fileSystem = fileSystem
        self.writable = writable
    }

    private func check(_ operation: String, write: Bool = false) throws {
        if closed || (write && !writable) { throw JournalError.io(operation: operation, path: path, errno: EBADF) }
    }

    func size() throws -> Int64 {
        try check("fstat")
        return fileSystem.size(node)
    }

    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try check("pread")
        return fileSystem.read(node, at: offset, into: buffer)
    }

    func write(at offset: Int64, _ bytes: UnsafeRawBufferPointer) throws {
        try check("pwrite", write: true)
        try fileSystem.write(node, path: path, at: offset, bytes)
    }

    func sync() throws {
        try check("fdatasync", write: true)
        try fileSystem.sync(node, path: path)
    }

    func truncate(to size: Int64) throws {
        try check("ftruncate", write: true)
        fileSystem.truncate(node, to: size)
    }

    func close() { closed = true }
}

/// A small, fast, seedable generator (SplitMix64) for reproducible simulations.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
