import ArgumentParser
import Foundation
import HeraldJournal

// `herald audit key | checkpoint | prove | consistency | check-proof`: RFC 9162 proofs over
// the journal's Merkle tree and the signed checkpoints heraldd writes (docs/cli.md).

func writeJSON(_ object: [String: Any]) {
    let output = StandardOutput()
    output.write(
        running { try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) })
    output.write("\n")
    output.flush()
}

/// The journal (read-only) and its Merkle tree, brought up to date in memory.
func openTree(_ data: DataDirectoryOptions) -> (Journal, MerkleTree) {
    data.requireJournal()
    let journal = running { try Journal.open(at: data.path, options: data.options(readOnly: true)) }
    let tree = running { try MerkleTree(journal: journal, directory: data.path, writable: false) }
    return (journal, tree)
}

struct AuditKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Print the verifier key of this node's checkpoints (C2SP signed-note, Ed25519).",
        discussion: """
            heraldd creates the node's key at its first start (<data-dir>/audit.key, mode 0600) \
            and signs checkpoints with it. Give this line to auditors: `herald audit check-proof \
            --key` and any C2SP note verifier accept it.
            """)

    @OptionGroup var data: DataDirectoryOptions

    func run() throws {
        let key = running { try AuditKey.load(directory: data.path) }
        print(key.verifierKey)
    }
}

struct AuditCheckpoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Print the latest signed checkpoint of the journal's Merkle tree (read-only).",
        discussion: """
            heraldd signs one at least every second while the journal grows (C2SP \
            tlog-checkpoint: origin, tree size, base64 root hash, then the signature line). \
            Keep it: `herald audit prove` and `consistency` give proofs against it, and \
            `check-proof` verifies them without the journal.
            """)

    @OptionGroup var data: DataDirectoryOptions
    @Flag(help: "Print as JSON (treeSize, rootHash in hex, origin, note).") var json = false

    func run() throws {
        guard let checkpoint = running({ try Checkpoint.latest(directory: data.path) }) else {
            FileHandle.standardError.write(Data("herald: no checkpoint in \(data.path) yet (heraldd writes it)\n".utf8))
            throw ExitCode(ExitStatus.notFound.rawValue)
        }
        if json {
            writeJSON([
                "treeSize": checkpoint.treeSize, "rootHash": checkpoint.rootHash.hex, "origin": checkpoint.origin,
                "note": checkpoint.note,
            ])
        } else {
            print(checkpoint.note, terminator: "")
        }
    }
}

struct AuditProve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prove",
        abstract: "An inclusion proof (RFC 9162) of the event with sequence number SEQ, as JSON.",
        discussion: """
            Leaf i of the tree is the record with sequence number i + 1, exactly as the segments \
            hold it. The proof is for the latest checkpoint's tree size (or --tree-size N, or the \
            whole tree without a checkpoint). Exit 66: SEQ is beyond the tree or not retained; 65: \
            the records do not hash to the stored tree (named).

            Example:
              herald audit prove 48211 > proof.json
            """)

    @OptionGroup var data: DataDirectoryOptions
    @Argument(help: "The event's sequence number.") var sequence: UInt64
    @Option(name: .customLong("tree-size"), help: "Prove against this tree size.") var treeSize: UInt64?
    @Flag(help: "Print as JSON (the only format; accepted for symmetry).") var json = false

    func run() throws {
        guard sequence > 0 else { usageFailure("sequence numbers start at 1") }
        let (journal, tree) = openTree(data)
        defer { journal.close() }
        let checkpointSize = (try? Checkpoint.latest(directory: data.path))??.treeSize
        let size = treeSize ?? checkpointSize.map { min($0, tree.size) } ?? tree.size
        let index = sequence - 1
        let path = running { try tree.inclusionProof(index: index, size: size) }
        let leaf = running { try tree.leaf(index) }
        writeJSON([
            "leafIndex": index, "treeSize": size, "leafHash": Merkle.leafHash(leaf).hex, "leaf": Hex.encode(leaf),
            "auditPath": path.map(\.hex), "rootHash": running { try tree.root(size: size) }.hex,
        ])
    }
}

struct AuditConsistency: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consistency",
        abstract: "A consistency proof (RFC 9162) that the tree of --from leaves is a prefix of --to's, as JSON.",
        discussion: """
            Shows that the journal only grew between two checkpoints (their tree sizes). Exit 66: \
            a size beyond the tree.

            Example:
              herald audit consistency --from 40000 --to 48211 > grew.json
            """)

    @OptionGroup var data: DataDirectoryOptions
    @Option(help: "The older tree size.") var from: UInt64
    @Option(help: "The newer tree size (default: the latest checkpoint's, or the whole tree).") var to: UInt64?
    @Flag(help: "Print as JSON (the only format; accepted for symmetry).") var json = false

    func run() throws {
        let (journal, tree) = openTree(data)
        defer { journal.close() }
        let second =
            to ?? ((try? Checkpoint.latest(directory: data.path))??.treeSize).map { min($0, tree.size) } ?? tree.size
        guard from <= second else { usageFailure("--from \(from) is beyond --to \(second)") }
        let proof = running { try tree.consistencyProof(first: from, second: second) }
        writeJSON([
            "first": from, "second": second, "firstRoot": running { try tree.root(size: from) }.hex,
            "secondRoot": running { try tree.root(size: second) }.hex, "proof": proof.map(\.hex),
        ])
    }
}

struct AuditCheckProof: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-proof",
        abstract: "Verify a saved proof against a signed checkpoint, offline (no journal needed).",
        discussion: """
            Checks the checkpoint's signature with the verifier key, then the proof (from `prove` \
            or `consistency`) against the checkpoint's tree: an inclusion proof must be for its \
            size and root; a consistency proof must end at it (and start at --old-checkpoint's, \
            if given, itself verified). Exit 0: verified; 65: not (the reason is printed); 64: \
            a malformed file or key.

            Example:
              herald audit check-proof proof.json --checkpoint cp.txt --key "$(cat verifier.key)"
            """)

    @Argument(help: "The proof (JSON from `herald audit prove` or `consistency`).") var proof: String
    @Option(help: "The signed checkpoint (the note text `herald audit checkpoint` printed).") var checkpoint: String
    @Option(name: .customLong("old-checkpoint"), help: "For a consistency proof: the older signed checkpoint.")
    var oldCheckpoint: String?
    @Option(help: "The verifier key (`herald audit key`).") var key: String

    func load(_ path: String) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            FileHandle.standardError.write(Data("herald: cannot read \(path)\n".utf8))
            Foundation.exit(ExitStatus.notFound.rawValue)
        }
        return text
    }

    func signedCheckpoint(_ path: String) -> Checkpoint {
        let checkpoint = running { try Checkpoint(note: load(path)) }
        guard running({ try checkpoint.verify(verifierKey: key) }) else {
            refuse("\(path): no valid signature by this key")
        }
        return checkpoint
    }

    func refuse(_ reason: String) -> Never {
        print("NOT VERIFIED: \(reason)")
        Foundation.exit(ExitStatus.damaged.rawValue)
    }

    func run() throws {
        let checkpoint = signedCheckpoint(self.checkpoint)
        guard let object = try? JSONSerialization.jsonObject(with: Data(load(proof).utf8)) as? [String: Any] else {
            usageFailure("\(proof) is not a proof (JSON)")
        }
        func hash(_ key: String) -> ChainHash? { (object[key] as? String).flatMap { ChainHash(hex: $0) } }
        func number(_ key: String) -> UInt64? { (object[key] as? NSNumber)?.uint64Value }
        func hashes(_ key: String) -> [ChainHash]? {
            guard let list = object[key] as? [String] else { return nil }
            let parsed = list.compactMap { ChainHash(hex: $0) }
            return parsed.count == list.count ? parsed : nil
        }
        if let index = number("leafIndex") {
            guard let size = number("treeSize"), let path = hashes("auditPath"), var leafHash = hash("leafHash") else {
                usageFailure("\(proof): an inclusion proof needs treeSize, leafHash and auditPath")
            }
            if let leaf = (object["leaf"] as? String).flatMap(Hex.decode) {
                guard Merkle.leafHash(leaf) == leafHash else { refuse("the leaf does not hash to leafHash") }
                leafHash = Merkle.leafHash(leaf)
            }
            guard size == checkpoint.treeSize else {
                refuse("the proof is for tree size \(size), the checkpoint's is \(checkpoint.treeSize)")
            }
            guard
                Merkle.verifyInclusion(leaf: leafHash, index: index, size: size, path: path, root: checkpoint.rootHash)
            else { refuse("leaf \(index) is not in the checkpoint's tree (the path does not lead to its root)") }
            print(
                "verified: leaf \(index) (sequence \(index + 1)) is in the tree of \(size) signed by \(checkpoint.origin)"
            )
        } else if let first = number("first") {
            guard let second = number("second"), let proofHashes = hashes("proof"), var firstRoot = hash("firstRoot")
            else { usageFailure("\(proof): a consistency proof needs first, second, firstRoot and proof") }
            guard second == checkpoint.treeSize else {
                refuse("the proof ends at tree size \(second), the checkpoint's is \(checkpoint.treeSize)")
            }
            if let oldCheckpoint {
                let old = signedCheckpoint(oldCheckpoint)
                guard old.treeSize == first else {
                    refuse("the proof starts at \(first), the old checkpoint is \(old.treeSize)")
                }
                firstRoot = old.rootHash
            }
            guard
                Merkle.verifyConsistency(
                    first: first, second: second, proof: proofHashes, firstRoot: firstRoot,
                    secondRoot: checkpoint.rootHash)
            else { refuse("the tree of \(first) is not a prefix of the checkpoint's tree of \(second)") }
            print("verified: the tree of \(first) is a prefix of the tree of \(second) signed by \(checkpoint.origin)")
        } else {
            usageFailure("\(proof) is neither an inclusion nor a consistency proof")
        }
    }
}
