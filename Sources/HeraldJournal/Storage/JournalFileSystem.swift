/// The file operations the journal needs, injected so tests can tear writes, fail fsync
/// and flip bits deterministically (`SimulatedFileSystem`). Paths are plain strings.
/// Every failure is thrown as `JournalError.io`.
public protocol JournalFileSystem: Sendable {
    func createDirectory(_ path: String) throws
    func directoryExists(_ path: String) -> Bool
    func fileExists(_ path: String) -> Bool
    /// Names (not paths) of the entries of a directory.
    func contentsOfDirectory(_ path: String) throws -> [String]
    func openFile(_ path: String, mode: FileOpenMode) throws -> any JournalFile
    func removeFile(_ path: String) throws
    /// Makes the directory's entries (created or removed files) durable.
    func syncDirectory(_ path: String) throws
}

public enum FileOpenMode: Sendable {
    case readOnly
    case readWrite
    /// Read-write; creates the file, failing if it exists.
    case createNew
}

/// An open file. Owned by one thread at a time.
public protocol JournalFile: AnyObject {
    var path: String { get }
    func size() throws -> Int64
    /// Reads up to `buffer.count` bytes at `offset`; returns fewer only at end of file.
    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// Writes all of `bytes` at `offset`.
    func write(at offset: Int64, _ bytes: UnsafeRawBufferPointer) throws
    /// Makes written data durable (fdatasync).
    func sync() throws
    func truncate(to size: Int64) throws
    func close()
}

extension JournalFile {
    /// Reads exactly `count` bytes at `offset` into a new array, or fewer at end of file.
    func readBytes(at offset: Int64, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let got = try bytes.withUnsafeMutableBytes { try read(at: offset, into: $0) }
        if got < count { bytes.removeLast(count - got) }
        return bytes
    }
}

/// Joins path components with `/`.
func joinPath(_ base: String, _ name: String) -> String {
    base.hasSuffix("/") ? base + name : base + "/" + name
}
