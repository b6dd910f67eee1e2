import Foundation
import HeraldClient
import HeraldJournal
import HeraldWire
import Testing

/// Merkle proofs and signed checkpoints end to end: heraldd signs checkpoints, `herald
/// audit prove / consistency` give proofs against them, `check-proof` verifies them offline,
/// openssl verifies the Ed25519 signature on its own, and damage is refused.
@Suite(.serialized) struct AuditProofTests {
    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// Waits until heraldd's checkpoint covers `size` leaves; returns its note.
    func checkpoint(covering size: UInt64, data: String) async throws -> (note: String, size: UInt64) {
        for _ in 0..<100 {
            let (code, out, _) = try await runHerald(["audit", "checkpoint", "--json", "--data-dir", data], socket: "")
            if code == 0, let object = try? json(out), let treeSize = (object["treeSize"] as? NSNumber)?.uint64Value,
                treeSize >= size
            {
                return (object["note"] as! String, treeSize)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("no checkpoint covering \(size) leaves")
        return ("", 0)
    }

    func write(_ text: String, _ path: String) throws { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) }

    @Test func proofsAgainstSignedCheckpointsVerifyOfflineAndDamageIsRefused() async throws {
        let daemon = try await DaemonProcess.launch(arguments: ["--interface-poll", "0"])
        defer { daemon.cleanup() }
        let data = daemon.directory + "/data"
        let folder = daemon.directory
        let client = try await daemon.client()
        let channel = try await client.openChannel("ledger", flags: [.publisher, .create])
        var ids: [UInt64] = []
        for batch in 0..<10 {
            ids += try await client.publish(channel, (0..<100).map { WireEvent(data: Array("e\(batch)-\($0)".utf8)) })
        }
        let status = try await client.status()
        let first = try await checkpoint(covering: status.headSequence, data: data)
        try write(first.note, folder + "/first.txt")
        var (code, out, err) = try await runHerald(["audit", "key", "--data-dir", data], socket: "")
        #expect(code == 0, "\(err)")
        let key = out.trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = key.split(separator: "+", maxSplits: 2)
        #expect(parts.count == 3 && parts[1].count == 8, "name+hash+base64: \(key)")

        // An inclusion proof of one event, verified offline against the signed checkpoint.
        let sequence = ids[437] - 1000
        (code, out, err) = try await runHerald(["audit", "prove", "\(sequence)", "--data-dir", data], socket: "")
        #expect(code == 0, "\(err)")
        let proof = try json(out)
        #expect((proof["leafIndex"] as? NSNumber)?.uint64Value == sequence - 1)
        #expect((proof["treeSize"] as? NSNumber)?.uint64Value == first.size)
        #expect((proof["auditPath"] as? [String])?.isEmpty == false)
        try write(out, folder + "/proof.json")
        (code, out, err) = try await runHerald(
            ["audit", "check-proof", folder + "/proof.json", "--checkpoint", folder + "/first.txt", "--key", key],
            socket: "")
        #expect(code == 0 && out.hasPrefix("verified"), "\(out)\(err)")

        // openssl, on its own, accepts the Ed25519 signature over the note's body.
        try opensslVerifies(note: first.note, key: key, folder: folder)

        // Refused: another leaf, a damaged checkpoint, a foreign key.
        var altered = proof
        var leaf = Array((altered["leaf"] as! String).utf8)
        leaf[leaf.count - 1] = leaf[leaf.count - 1] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        altered["leaf"] = String(decoding: leaf, as: UTF8.self)
        try write(
            String(decoding: try JSONSerialization.data(withJSONObject: altered), as: UTF8.self),
            folder + "/altered.json")
        (code, out, _) = try await runHerald(
            ["audit", "check-proof", folder + "/altered.json", "--checkpoint", folder + "/first.txt", "--key", key],
            socket: "")
        #expect(code == 65 && out.hasPrefix("NOT VERIFIED"), "\(out)")
        let lines = first.note.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var forged = lines
        forged[1] = "\(first.size + 1)"
        try write(forged.joined(separator: "\n"), folder + "/forged.txt")
        (code, out, _) = try await runHerald(
            ["audit", "check-proof", folder + "/proof.json", "--checkpoint", folder + "/forged.txt", "--key", key],
            socket: "")
        #expect(code == 65 && out.contains("no valid signature"), "\(out)")
        let foreign = "herald/other+" + parts[1] + "+" + parts[2]
        (code, _, _) = try await runHerald(
            ["audit", "check-proof", folder + "/proof.json", "--checkpoint", folder + "/first.txt", "--key", foreign],
            socket: "")
        #expect(code == 64, "a key whose hash does not match its name is malformed")

        // The journal grows; heraldd is killed and restarted (the tree survives); the new
        // checkpoint's tree extends the old one.
        for batch in 10..<13 {
            _ = try await client.publish(channel, (0..<100).map { WireEvent(data: Array("e\(batch)-\($0)".utf8)) })
        }
        await client.close()
        daemon.kill9()
        try await daemon.restart()
        let restarted = try await daemon.client()
        let later = try await checkpoint(covering: try await restarted.status().headSequence, data: data)
        await restarted.close()
        #expect(later.size > first.size)
        try write(later.note, folder + "/later.txt")
        (code, out, err) = try await runHerald(
            ["audit", "consistency", "--from", "\(first.size)", "--to", "\(later.size)", "--data-dir", data], socket: ""
        )
        #expect(code == 0, "\(err)")
        try write(out, folder + "/grew.json")
        (code, out, err) = try await runHerald(
            [
                "audit", "check-proof", folder + "/grew.json", "--checkpoint", folder + "/later.txt",
                "--old-checkpoint", folder + "/first.txt", "--key", key,
            ], socket: "")
        #expect(code == 0 && out.hasPrefix("verified"), "\(out)\(err)")
        // A proof that the later tree extends a checkpoint of another (forked) history: refused.
        var fork = try json(try String(contentsOfFile: folder + "/grew.json", encoding: .utf8))
        fork["firstRoot"] = String(repeating: "ab", count: 32)
        try write(
            String(decoding: try JSONSerialization.data(withJSONObject: fork), as: UTF8.self), folder + "/fork.json")
        (code, out, _) = try await runHerald(
            ["audit", "check-proof", folder + "/fork.json", "--checkpoint", folder + "/later.txt", "--key", key],
            socket: "")
        #expect(code == 65, "\(out)")

        // `audit verify` rebuilds the tree from every record: it matches the stored tree and
        // the signed checkpoint; an altered merkle.tiles is found.
        #expect(await daemon.stop() == 0)
        (code, out, err) = try await runHerald(["audit", "verify", "--data-dir", data], socket: "")
        #expect(code == 0 && out.contains("the Merkle tree and the signed checkpoint"), "\(out)\(err)")
        let tilesPath = data + "/merkle.tiles"
        let tiles = try Data(contentsOf: URL(fileURLWithPath: tilesPath))
        var alteredTiles = [UInt8](tiles)
        alteredTiles[3] ^= 1
        try Data(alteredTiles).write(to: URL(fileURLWithPath: tilesPath))
        (code, _, err) = try await runHerald(["audit", "verify", "--data-dir", data], socket: "")
        #expect(code == 65 && err.contains("merkle.tiles does not match"), "\(code) \(err)")
        try tiles.write(to: URL(fileURLWithPath: tilesPath))

        // A flipped byte in the segment holding the event: `prove` names the damage (65).
        let segments = try FileManager.default.contentsOfDirectory(atPath: data + "/segments").sorted()
        let segment = data + "/segments/" + segments[0]
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: segment)))
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: segment))
        (code, out, err) = try await runHerald(["audit", "prove", "\(sequence)", "--data-dir", data], socket: "")
        #expect(code == 65 && err.contains(segments[0]), "\(code) \(err)")
    }

    /// Checks the note's Ed25519 signature with the openssl command, from the verifier key
    /// alone (C2SP: the signature line's blob is the 4-byte key hash, then the signature).
    func opensslVerifies(note: String, key: String, folder: String) throws {
        let split = try #require(note.range(of: "\n\n"))
        let body = String(note[..<split.lowerBound]) + "\n"
        let signatureLine = try #require(note[split.upperBound...].split(separator: "\n").first)
        let blob = try #require(Data(base64Encoded: String(signatureLine.split(separator: " ")[2])))
        let publicKey = try #require(Data(base64Encoded: String(key.split(separator: "+", maxSplits: 2)[2])))
            .dropFirst()
        // SubjectPublicKeyInfo of an Ed25519 key: a fixed 12-byte DER prefix, then the key.
        let der = Data([0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]) + publicKey
        let pem = "-----BEGIN PUBLIC KEY-----\n\(der.base64EncodedString())\n-----END PUBLIC KEY-----\n"
        try write(pem, folder + "/public.pem")
        try write(body, folder + "/body.txt")
        try blob.dropFirst(4).write(to: URL(fileURLWithPath: folder + "/signature.bin"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", folder + "/public.pem", "-rawin", "-in",
            folder + "/body.txt", "-sigfile", folder + "/signature.bin",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "openssl pkeyutl -verify refused the checkpoint's signature")
    }

    /// The same through heraldd: a remote auditor with only a socket gets the checkpoint and
    /// proofs, equal to the CLI's, that verify against the checkpoint's signed root.
    @Test func aRemoteAuditorGetsCheckpointAndProofsThroughHeraldd() async throws {
        let daemon = try await DaemonProcess.launch(arguments: ["--interface-poll", "0"])
        defer { daemon.cleanup() }
        let data = daemon.directory + "/data"
        let client = try await daemon.client()
        let channel = try await client.openChannel("ledger", flags: [.publisher, .create])
        let ids = try await client.publish(channel, (0..<700).map { WireEvent(data: Array("r\($0)".utf8)) })
        let head = try await client.status().headSequence
        var note = ""
        for _ in 0..<100 {
            note = (try? await client.checkpoint()) ?? ""
            if let parsed = try? Checkpoint(note: note), parsed.treeSize >= head { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let checkpoint = try Checkpoint(note: note)
        let (_, key, _) = try await runHerald(["audit", "key", "--data-dir", data], socket: "")
        #expect(try checkpoint.verify(verifierKey: key.trimmingCharacters(in: .whitespacesAndNewlines)))

        let sequence = ids[345] - 1000
        let proof = try await client.prove(sequence: sequence)
        #expect(proof.treeSize == checkpoint.treeSize && proof.rootHash == checkpoint.rootHash.bytes)
        #expect(
            Merkle.verifyInclusion(
                leaf: Merkle.leafHash(proof.leaf), index: proof.leafIndex, size: proof.treeSize,
                path: proof.auditPath.map { ChainHash(bytes: $0) }, root: checkpoint.rootHash))
        let (code, out, _) = try await runHerald(["audit", "prove", "\(sequence)", "--data-dir", data], socket: "")
        #expect(code == 0)
        let cli = try json(out)
        #expect(cli["auditPath"] as? [String] == proof.auditPath.map { ChainHash(bytes: $0).hex })

        let grew = try await client.consistency(first: 100)
        #expect(grew.second == checkpoint.treeSize)
        #expect(
            Merkle.verifyConsistency(
                first: 100, second: grew.second, proof: grew.proof.map { ChainHash(bytes: $0) },
                firstRoot: ChainHash(bytes: grew.firstRoot), secondRoot: checkpoint.rootHash))
        // Beyond the tree: NOT_EXIST, and the connection goes on.
        await #expect(throws: HeraldClientError.self) { try await client.prove(sequence: head + 1000) }
        #expect(try await client.status().headSequence == head)
        await client.close()
    }
}
