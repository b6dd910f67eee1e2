import ArgumentParser
import Foundation
import HeraldJournal

/// `herald audit`: what an auditor records and later proves. The journal's hash chain
/// covers every frame; its value at a sequence number, written down somewhere else, lets
/// anyone prove later that nothing up to that point changed.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Record the journal's chain head; prove later that nothing before it changed.",
        subcommands: [
            AuditHead.self, AuditVerify.self, AuditKeyCommand.self, AuditCheckpoint.self, AuditProve.self,
            AuditConsistency.self, AuditCheckProof.self,
        ])
}

struct AuditHead: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "head",
        abstract: "Print the head: sequence number, time and chain hash (read-only).",
        discussion: """
            Record the last line (HASH@SEQ) somewhere the journal's operators cannot change; \
            `herald audit verify --against HASH@SEQ` proves later that the journal up to SEQ \
            is the one you saw. Works while heraldd runs.

            Example:
              herald audit head --data-dir /var/lib/herald >> ~/audit-log.txt
            """)

    @OptionGroup var data: DataDirectoryOptions

    @Flag(help: "Print as JSON.")
    var json = false

    func run() throws {
        data.requireJournal()
        let journal = running { try Journal.open(at: data.path, options: data.options(readOnly: true)) }
        let head = journal.head
        journal.close()
        let output = StandardOutput()
        if json {
            let object: [String: Any] = [
                "sequence": head.sequence.rawValue, "time": formatTime(head.time), "time_ns": head.time,
                "chain": head.chain.hex, "proof": "\(head.chain.hex)@\(head.sequence.rawValue)",
            ]
            output.write(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
            output.write("\n")
        } else {
            output.write(
                """
                sequence  \(head.sequence.rawValue)
                time      \(formatTime(head.time))
                chain     \(head.chain.hex)
                \(head.chain.hex)@\(head.sequence.rawValue)

                """)
        }
        output.flush()
    }
}

struct AuditVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute the hash chain over every frame; optionally prove a recorded head.",
        discussion: """
            Reads every retained segment (read-only; heraldd may run) and recomputes the chain. \
            With --against HASH@SEQ (a line `herald audit head` printed), the chain value \
            recomputed at SEQ must equal HASH.

            Exit 0: proved (or intact, without --against); 65: damaged or altered (the file, \
            byte offset and sequence number are named); 66: SEQ is beyond the head or older \
            than the oldest retained segment; 64: HASH@SEQ malformed, or SEQ is not where a \
            frame ends.

            Example:
              herald audit verify --against 9f2c…e1@48211
            """)

    @OptionGroup var data: DataDirectoryOptions

    @Option(help: "A recorded head, HASH@SEQ, to prove.")
    var against: String?

    @Flag(help: "Print as JSON.")
    var json = false

    func run() throws {
        data.requireJournal()
        var recorded: (chain: ChainHash, sequence: SequenceNumber)?
        if let against {
            let parts = against.split(separator: "@")
            guard parts.count == 2, let chain = ChainHash(hex: String(parts[0])), let sequence = UInt64(parts[1]) else {
                usageFailure("--against takes HASH@SEQ (64 hex digits, @, a sequence number), got \"\(against)\"")
            }
            recorded = (chain, SequenceNumber(sequence))
        }
        let report = running {
            try Journal.verify(at: data.path, options: data.options(readOnly: true), checkpoint: recorded?.sequence)
        }
        var verdict: String
        var status = ExitStatus.ok
        if let damage = report.damage {
            verdict = "damaged: \(damage)"
            status = .damaged
        } else if let recorded {
            if recorded.sequence > report.head.sequence {
                verdict = "not provable: sequence \(recorded.sequence) is beyond the head (\(report.head.sequence))"
                status = .notFound
            } else if recorded.sequence < report.oldest.previous {
                verdict =
                    "not provable: sequence \(recorded.sequence) is older than the oldest retained (\(report.oldest))"
                status = .notFound
            } else if let chain = report.checkpointChain {
                if chain == recorded.chain {
                    verdict = "proved: the journal up to \(recorded.sequence) hashes to the recorded \(chain.hex)"
                } else {
                    verdict =
                        "ALTERED: the chain recomputed at \(recorded.sequence) is \(chain.hex), "
                        + "the recorded value is \(recorded.chain.hex)"
                    status = .damaged
                }
            } else {
                verdict =
                    "no frame ends at sequence \(recorded.sequence): use a HASH@SEQ that `herald audit head` printed"
                status = .usage
            }
        } else {
            verdict = "intact: \(report.frames) frames, sequence \(report.oldest)...\(report.head.sequence)"
        }
        if status == .ok {
            switch merkleCheck() {
            case .agree(let text): verdict += "; \(text)"
            case .altered(let text):
                verdict = "ALTERED: \(text)"
                status = .damaged
            case nil: break
            }
        }
        let output = StandardOutput()
        if json {
            let object: [String: Any] = [
                "ok": status == .ok, "verdict": verdict, "frames": report.frames, "records": report.records,
                "oldest": report.oldest.rawValue, "head": report.head.sequence.rawValue,
                "head_chain": report.head.chain.hex,
                "checkpoint_chain": report.checkpointChain?.hex as Any,
                "damage": report.damage.map { $0.description } as Any,
            ]
            output.write(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
            output.write("\n")
        } else if status == .ok {
            output.write(verdict + "\n")
            output.write("head: \(report.head.chain.hex)@\(report.head.sequence)\n")
        }
        output.flush()
        if status != .ok {
            if !json { FileHandle.standardError.write(Data("herald: \(verdict)\n".utf8)) }
            throw ExitCode(status.rawValue)
        }
    }
}

extension AuditVerify {
    enum MerkleVerdict {
        case agree(String)
        case altered(String)
    }

    /// The Merkle tree rebuilt from every record, against the stored tree (`merkle.tiles`)
    /// and the latest signed checkpoint: nil when the journal no longer holds its first
    /// records (retention), so the tree cannot be rebuilt.
    func merkleCheck() -> MerkleVerdict? {
        let journal = running { try Journal.open(at: data.path, options: data.options(readOnly: true)) }
        defer { journal.close() }
        guard journal.oldestSequence.rawValue <= 1 else { return nil }
        let scratch = NSTemporaryDirectory() + "herald-verify-" + UUID().uuidString.prefix(8)
        let rebuilt = running { try MerkleTree(journal: journal, directory: scratch, writable: false) }
        let size = rebuilt.size
        guard size > 0 else { return nil }
        do {
            let stored = try MerkleTree(journal: journal, directory: data.path, writable: false)
            if let node = try stored.firstDifference(from: rebuilt) {
                return .altered(
                    "\(MerkleTree.fileName) does not match the records at sequences \(node.first + 1)...\(node.end) "
                        + "(remove the file: heraldd rebuilds it from the segments)")
            }
        } catch let error as MerkleError {
            return .altered("\(error)")
        } catch {
            return .altered("\(MerkleTree.fileName) cannot be read: \(error)")
        }
        guard let checkpoint = try? Checkpoint.latest(directory: data.path), checkpoint.treeSize <= size else {
            return .agree("the Merkle tree of \(size) records matches \(MerkleTree.fileName)")
        }
        guard let root = try? rebuilt.root(size: checkpoint.treeSize), root == checkpoint.rootHash else {
            return .altered(
                "the latest signed checkpoint (tree size \(checkpoint.treeSize)) does not match the records: "
                    + "the journal was changed after it was signed")
        }
        if let key = try? AuditKey.load(directory: data.path),
            (try? checkpoint.verify(verifierKey: key.verifierKey)) != true
        {
            return .altered("the latest checkpoint's signature does not verify with this node's key")
        }
        return .agree("the Merkle tree and the signed checkpoint (tree size \(checkpoint.treeSize)) match the records")
    }
}

/// One line on stderr, exit 64.
func usageFailure(_ message: String) -> Never {
    FileHandle.standardError.write(Data("herald: \(message)\n".utf8))
    exit(ExitStatus.usage.rawValue)
}
