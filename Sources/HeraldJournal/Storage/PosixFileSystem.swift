import Foundation
import SystemPackage

/// The real file system, through swift-system's `FileDescriptor` (EINTR retried) and
/// `fdatasync`/`fsync` for durability.
public struct PosixFileSystem: JournalFileSystem {
    public init() {}

    public func createDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw JournalError.io(operation: "mkdir", path: path, errno: Self.errno(of: error, fallback: EACCES))
        }
    }

    public func directoryExists(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    public func fileExists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }

    public func contentsOfDirectory(_ path: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw JournalError.io(operation: "list", path: path, errno: Self.errno(of: error, fallback: ENOENT))
        }
    }

    public func openFile(_ path: String, mode: FileOpenMode) throws -> any JournalFile {
        let access: FileDescriptor.AccessMode
        var options: FileDescriptor.OpenOptions = [.closeOnExec]
        switch mode {
        case .readOnly: access = .readOnly
        case .readWrite: access = .readWrite
        case .createNew:
            access = .readWrite
            options.formUnion([.create, .exclusiveCreate])
        }
        do {
            let fd = try FileDescriptor.open(
                FilePath(path), access, options: options, permissions: [.ownerReadWrite, .groupRead, .otherRead])
            return PosixFile(path: path, fd: fd)
        } catch let error as Errno {
            throw JournalError.io(operation: "open", path: path, errno: error.rawValue)
        }
    }

    public func removeFile(_ path: String) throws {
        if unlink(path) != 0 {
            throw JournalError.io(operation: "unlink", path: path, errno: Glibc.errno)
        }
    }

    public func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw JournalError.io(operation: "open", path: path, errno: Glibc.errno) }
        defer { Glibc.close(fd) }
        if fsync(fd) != 0 { throw JournalError.io(operation: "fsync", path: path, errno: Glibc.errno) }
    }

    /// Takes an exclusive, non-blocking `flock` on `path` (created if missing) for the
    /// life of the returned descriptor; throws `.locked` if another process holds it.
    ///
    /// A refusal is tried again for up to `lockRetryMilliseconds`: a lock this process just
    /// released can still be held for a moment by a child it is spawning (between fork and
    /// exec the child has a copy of the descriptor, and an flock belongs to the open file,
    /// not to the descriptor; seen as a rare test failure while other threads spawned
    /// processes). A journal really held by another process is still refused.
    static func lockExclusively(_ path: String, journal: String) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw JournalError.io(operation: "open", path: path, errno: Glibc.errno) }
        var waited = 0
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = Glibc.errno
            if code == EINTR { continue }
            if code == EWOULDBLOCK && waited < lockRetryMilliseconds {
                usleep(10_000)
                waited += 10
                continue
            }
            Glibc.close(fd)
            if code == EWOULDBLOCK { throw JournalError.locked(journal) }
            throw JournalError.io(operation: "flock", path: path, errno: code)
        }
        return fd
    }

    static let lockRetryMilliseconds = 300

    static func errno(of error: any Error, fallback: Int32) -> Int32 {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain
        {
            return Int32(underlying.code)
        }
        if nsError.domain == NSPOSIXErrorDomain { return Int32(nsError.code) }
        return fallback
    }
}

/// One open file descriptor.
final class PosixFile: JournalFile {
    let path: String
    private var fd: FileDescriptor?

    init(path: String, fd: FileDescriptor) {
        self.path = path
        self.fd = fd
    }

    deinit { close() }

    private func descriptor(_ operation: String) throws -> FileDescriptor {
        guard let fd else { throw JournalError.io(operation: operation, path: path, errno: EBADF) }
        return fd
    }

    func size() throws -> Int64 {
        let fd = try descriptor("fstat")
        var info = stat()
        guard fstat(fd.rawValue, &info) == 0 else {
            throw JournalError.io(operation: "fstat", path: path, errno: Glibc.errno)
        }
        return Int64(info.st_size)
    }

    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let fd = try descriptor("pread")
        var total = 0
        while total < buffer.count {
            let got: Int
            do {
                got = try fd.read(
                    fromAbsoluteOffset: offset + Int64(total),
                    into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...]))
            } catch let error as Errno {
                throw JournalError.io(operation: "pread", path: path, errno: error.rawValue)
            }
            if got == 0 { break }
            total += got
        }
        return total
    }

    func write(at offset: Int64, _ bytes: UnsafeRawBufferPointer) throws {
        let fd = try descriptor("pwrite")
        var total = 0
        while total < bytes.count {
            do {
                total += try fd.write(
                    toAbsoluteOffset: offset + Int64(total), UnsafeRawBufferPointer(rebasing: bytes[total...]))
            } catch let error as Errno {
                throw JournalError.io(operation: "pwrite", path: path, errno: error.rawValue)
            }
        }
    }

    func sync() throws {
        let fd = try descriptor("fdatasync")
        if fdatasync(fd.rawValue) != 0 {
            throw JournalError.io(operation: "fdatasync", path: path, errno: Glibc.errno)
        }
    }

    func truncate(to size: Int64) throws {
        let fd = try descriptor("ftruncate")
        do {
            try fd.resize(to: size)
        } catch let error as Errno {
            throw JournalError.io(operation: "ftruncate", path: path, errno: error.rawValue)
        }
    }

    func close() {
        if let fd {
            try? fd.close()
            self.fd = nil
        }
    }
}
