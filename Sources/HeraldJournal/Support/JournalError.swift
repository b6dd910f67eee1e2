import Foundation

/// Where damage was found in a journal: the first bad byte a reader or verifier met.
public struct DamageLocation: Hashable, Sendable, CustomStringConvertible {
    /// The segment file's name (`segments/<20 digits>.hseg`) or `index.sqlite`.
    public var file: String
    /// Byte offset in that file of the frame, header or record that failed.
    public var offset: Int64
    /// The sequence number involved, when it is known.
    public var sequence: SequenceNumber?
    public var reason: String

    public init(file: String, offset: Int64, sequence: SequenceNumber?, reason: String) {
        self.file = file
        self.offset = offset
        self.sequence = sequence
        self.reason = reason
    }

    public var description: String {
        var text = "\(file) at byte \(offset)"
        if let sequence { text += " (sequence \(sequence))" }
        return text + ": " + reason
    }
}

/// Operating errors of the journal: thrown, typed, each with a message an operator can act on.
/// Broken invariants are preconditions instead.
public enum JournalError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The options given to `open` are inconsistent.
    case invalidOptions(String)
    /// A field of an appended entry is over its limit; nothing was written.
    case recordTooLarge(field: String, bytes: Int, limit: Int)
    /// An append with no entries.
    case emptyAppend
    /// A system call failed.
    case io(operation: String, path: String, errno: Int32)
    /// An earlier write or fsync failed; appends are refused until the journal is reopened.
    case writerFailed(String)
    /// A segment or the index holds damaged bytes.
    case corrupt(DamageLocation)
    /// The data folder does not exist (read-only open) or is not a journal.
    case notFound(String)
    /// A segment was written by a newer format version than this binary reads.
    case formatTooNew(file: String, version: UInt16, supported: UInt16)
    /// The index was migrated by a newer Herald than this binary.
    case indexTooNew(String)
    /// SQLite reported an error on the index.
    case index(String)
    /// The requested position was removed by retention.
    case notRetained(requested: SequenceNumber, oldest: SequenceNumber)
    /// Another process has the journal open for writing (`<data-dir>/LOCK` is held).
    case locked(String)
    /// The journal was closed, or opened read-only and asked to write.
    case closed
    case readOnly

    /// A write refused for lack of space: ENOSPC, EDQUOT (a quota) or EFBIG (the file size
    /// limit). The writer refuses only the append that met it (see `JournalWriter`).
    public var isOutOfSpace: Bool {
        guard case .io(_, _, let code) = self else { return false }
        return code == ENOSPC || code == EDQUOT || code == EFBIG
    }

    public var description: String {
        switch self {
        case .invalidOptions(let text): return "invalid journal options: \(text)"
        case .recordTooLarge(let field, let bytes, let limit):
            return "record too large: \(field) is \(bytes), the limit is \(limit)"
        case .emptyAppend: return "append needs at least one entry"
        case .io(let operation, let path, let errno):
            return "\(operation) \(path): \(String(cString: strerror(errno))) (errno \(errno))"
        case .writerFailed(let cause):
            return "the journal refuses appends after a write failure (\(cause)); reopen it to recover"
        case .corrupt(let location): return "journal damaged: \(location)"
        case .notFound(let path): return "no journal at \(path)"
        case .formatTooNew(let file, let version, let supported):
            return "\(file) has format version \(version); this Herald reads up to \(supported)"
        case .indexTooNew(let text): return "index.sqlite is newer than this Herald: \(text)"
        case .index(let text): return "index error: \(text)"
        case .notRetained(let requested, let oldest):
            return "sequence \(requested) was removed by retention; the oldest retained is \(oldest)"
        case .locked(let path):
            return "another process has the journal at \(path) open for writing (its LOCK file is held)"
        case .closed: return "the journal is closed"
        case .readOnly: return "the journal is open read-only"
        }
    }
}
