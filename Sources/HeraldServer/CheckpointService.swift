import Dispatch
import Foundation
public import HeraldJournal
public import Logging
public import ServiceLifecycle
import Synchronization

/// The journal's Merkle tree and its signed checkpoints in heraldd, shared by the
/// checkpointer (`CheckpointService`) and the clients' audit requests: one tree, behind a
/// lock (a proof takes a millisecond or so; the checkpointer catches up once a second).
public final class AuditLog: Sendable {
    private final class Box: @unchecked Sendable {
        // Only touched under `lock`.
        var tree: MerkleTree?
    }

    public let journal: Journal
    public let directory: String
    public let origin: String
    public let key: AuditKey
    private let box = Box()
    private let lock = Mutex(())

    /// The node's key is created at the first start (`audit.key`, mode 0600).
    public init(journal: Journal, directory: String, origin: String, keyName: String) throws {
        self.journal = journal
        self.directory = directory
        self.origin = origin
        key = try AuditKey.loadOrCreate(directory: directory, name: keyName)
    }

    /// Runs `body` with the tree brought up to the journal's head, or by at most
    /// `catchUpLimit` records (opened on first use, and again after a failure).
    public func withTree<T>(catchUpLimit: Int = .max, _ body: (MerkleTree) throws -> T) throws -> T {
        try lock.withLock { _ in
            do {
                let tree = try box.tree ?? MerkleTree(journal: journal, directory: directory, writable: true)
                box.tree = tree
                try tree.catchUp(limit: catchUpLimit)
                return try body(tree)
            } catch {
                box.tree = nil
                throw error
            }
        }
    }

    /// The latest checkpoint written.
    public var latest: Checkpoint? { try? Checkpoint.latest(directory: directory) }

    /// Brings the tree up to the head in passes of at most `passRecordsMax` records (the
    /// lock is let go between passes), then signs and writes a checkpoint of the whole tree
    /// if it grew since `signed`; returns the size signed.
    func checkpoint(unless signed: UInt64?, passRecordsMax: Int = .max) throws -> UInt64 {
        while try withTree(catchUpLimit: passRecordsMax, { $0.size < journal.head.sequence.rawValue }) {}
        let (size, root) = try withTree { tree in (tree.size, tree.size == signed ? nil : try tree.root) }
        guard let root else { return size }
        try Checkpoint.sign(origin: origin, treeSize: size, rootHash: root, key: key).write(directory: directory)
        return size
    }
}

/// Keeps the Merkle tree up to date and, at least every `interval` while the journal
/// grows, signs a checkpoint of it (C2SP tlog-checkpoint + signed-note, Ed25519) with the
/// node's key and writes it to `<data-dir>/checkpoint` (`herald audit checkpoint`).
///
/// On a thread of its own at a low scheduling priority (nice `Self.nice`): hashing every
/// record again is the auditors' work, and appends come first. Under a load that keeps every
/// core busy the tree trails further and catches up when there is idle time (each pass takes
/// the tree's lock for at most `Self.passRecordsMax` records, so remote proofs still get in).
public struct CheckpointService: Service {
    static let nice: Int32 = 19
    static let passRecordsMax = 65_536

    let audit: AuditLog
    let interval: Duration
    let logger: Logger

    public init(audit: AuditLog, interval: Duration = .seconds(1), logger: Logger) {
        self.audit = audit
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        let stop = DispatchSemaphore(value: 0)
        let stopped = Mutex(false)
        let finished = DispatchSemaphore(value: 0)
        let (audit, logger) = (self.audit, self.logger)
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        let thread = Thread {
            // Linux: PRIO_PROCESS with 0 sets the calling thread's nice value.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Self.nice)
            var signed = audit.latest?.treeSize
            var lastFailure: String?
            while !stopped.withLock({ $0 }) {
                do {
                    signed = try audit.checkpoint(unless: signed, passRecordsMax: Self.passRecordsMax)
                    if lastFailure != nil { logger.info("checkpoints are signed again") }
                    lastFailure = nil
                } catch {
                    // Tried again every interval (a full disk may clear); said once per cause.
                    let failure = "\(error)"
                    if failure != lastFailure {
                        logger.error("the Merkle tree or its checkpoint failed", metadata: ["error": "\(failure)"])
                    }
                    lastFailure = failure
                }
                _ = stop.wait(timeout: .now() + seconds)
            }
            finished.signal()
        }
        thread.name = "herald-checkpoints"
        thread.start()
        try? await gracefulShutdown()
        stopped.withLock { $0 = true }
        stop.signal()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                finished.wait()
                continuation.resume()
            }
        }
    }
}
