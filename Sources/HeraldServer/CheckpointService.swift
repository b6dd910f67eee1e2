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

    /// Runs `body` with the tree brought up to the journal's head (opened on first use, and
    /// again after a failure).
    public func withTree<T>(_ body: (MerkleTree) throws -> T) throws -> T {
        try lock.withLock { _ in
            do {
                let tree = try box.tree ?? MerkleTree(journal: journal, directory: directory, writable: true)
                box.tree = tree
                try tree.catchUp()
                return try body(tree)
            } catch {
                box.tree = nil
                throw error
            }
        }
    }

    /// The latest checkpoint written.
    public var latest: Checkpoint? { try? Checkpoint.latest(directory: directory) }

    /// Signs and writes a checkpoint of the whole tree if it grew since `signed`; returns the
    /// size signed.
    func checkpoint(unless signed: UInt64?) throws -> UInt64 {
        let (size, root) = try withTree { tree in (tree.size, tree.size == signed ? nil : try tree.root) }
        guard let root else { return size }
        try Checkpoint.sign(origin: origin, treeSize: size, rootHash: root, key: key).write(directory: directory)
        return size
    }
}

/// Keeps the Merkle tree up to date and, at least every `interval` while the journal
/// grows, signs a checkpoint of it (C2SP tlog-checkpoint + signed-note, Ed25519) with the
/// node's key and writes it to `<data-dir>/checkpoint` (`herald audit checkpoint`).
public struct CheckpointService: Service {
    let audit: AuditLog
    let interval: Duration
    let logger: Logger

    public init(audit: AuditLog, interval: Duration = .seconds(1), logger: Logger) {
        self.audit = audit
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        var signed = audit.latest?.treeSize
        var lastFailure: String?
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                signed = try audit.checkpoint(unless: signed)
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
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
