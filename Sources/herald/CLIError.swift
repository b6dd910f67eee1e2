import ArgumentParser
import Foundation
import HeraldJournal

/// The CLI's exit codes (sysexits-style), one per kind of failure.
enum ExitStatus: Int32 {
    case ok = 0
    case failure = 1
    case usage = 64
    case damaged = 65
    case notFound = 66
    /// heraldd is not reachable (EX_UNAVAILABLE).
    case unavailable = 69
    case io = 74
    case busy = 75
    case tooNew = 78

    static func of(_ error: JournalError) -> ExitStatus {
        switch error {
        case .corrupt: return .damaged
        case .notFound, .notRetained: return .notFound
        case .io, .writerFailed: return .io
        case .formatTooNew, .indexTooNew: return .tooNew
        case .invalidOptions, .recordTooLarge, .emptyAppend: return .usage
        case .locked: return .busy
        case .index, .closed, .readOnly: return .failure
        }
    }
}

/// Prints one error line to stderr and exits with the matching status.
func fail(_ error: any Error) -> Never {
    let message: String
    let status: ExitStatus
    if let error = error as? JournalError {
        message = error.description
        status = .of(error)
    } else if let error = error as? MerkleError {
        message = error.description
        switch error {
        case .beyondTree, .notRetained, .notHashed: status = .notFound
        case .tileMismatch: status = .damaged
        }
    } else if let error = error as? CheckpointError {
        message = error.description
        switch error {
        case .malformed: status = .usage
        case .io: status = .notFound
        case .crypto: status = .failure
        }
    } else {
        message = "\(error)"
        status = .failure
    }
    FileHandle.standardError.write(Data("herald: \(message)\n".utf8))
    exit(status.rawValue)
}

/// Runs `body`, turning any error into one line on stderr and an exit status.
@discardableResult
func running<T>(_ body: () throws -> T) -> T {
    do {
        return try body()
    } catch let error as ExitCode {
        exit(error.rawValue)
    } catch {
        fail(error)
    }
}
