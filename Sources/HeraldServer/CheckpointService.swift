import Foundation
public import HeraldJournal
public import Logging
public import ServiceLifecycle

/// Keeps the journal's Merkle tree up to date and, at least every `interval` while the
/// journal grows, signs a checkpoint of it (C2SP tlog-checkpoint + signed-note, Ed25519)
/// with the node's key and writes it to `<data-dir>/checkpoint` (`herald audit checkpoint`).
public struct CheckpointService: Service {
    let journal: Journal
    let directory: String
    let origin: String
    let key: AuditKey
    let interval: Duration
    let logger: Logger

    /// The node's key is created at the first start (`audit.key`, mode 0600).
    public init(
        journal: Journal, directory: String, origin: String, keyName: String, interval: Duration = .seconds(1),
        logger: Logger
    ) throws {
        self.journal = journal
        self.directory = directory
        self.origin = origin
        self.key = try AuditKey.loadOrCreate(directory: directory, name: keyName)
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        var tree: MerkleTree?
        var signed = try? Checkpoint.latest(directory: directory)?.treeSize
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                if tree == nil { tree = try MerkleTree(journal: journal, directory: directory, writable: true) }
                if let tree {
                    try tree.catchUp()
                    if tree.size != signed {
                        let checkpoint = try Checkpoint.sign(
                            origin: origin, treeSize: tree.size, rootHash: try tree.root, key: key)
                        try checkpoint.write(directory: directory)
                        signed = tree.size
                    }
                }
            } catch {
                logger.error("the Merkle tree or its checkpoint failed", metadata: ["error": "\(error)"])
                tree = nil
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
