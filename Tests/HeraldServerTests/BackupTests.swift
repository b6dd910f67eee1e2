import Foundation
import HeraldClient
import HeraldWire
import Testing

/// `herald export` / `herald import` end to end, while heraldd keeps appending.
@Suite struct BackupTests {
    func manifest(_ folder: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/manifest.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func records(_ data: String, through: UInt64) async throws -> [Substring] {
        let (code, out, err) = try await runHerald(
            ["journal", "read", "--format", "json", "--data-dir", data], socket: "")
        #expect(code == 0, "\(err)")
        return Array(out.split(separator: "\n").prefix(Int(through)))
    }

    @Test func fullAndIncrementalBackupsRestoreTheJournalWhileAppendsContinue() async throws {
        let daemon = try await DaemonProcess.launch(arguments: ["--interface-poll", "0"])
        defer { daemon.cleanup() }
        let data = daemon.directory + "/data"
        let backups = daemon.directory + "/backups"
        let client = try await daemon.client()
        let channel = try await client.openChannel("ledger", flags: [.publisher, .create])
        // A publisher that keeps going during every export.
        let writer = Task {
            var round = 0
            while !Task.isCancelled {
                _ = try? await client.publish(channel, (0..<20).map { WireEvent(data: Array("r\(round)-\($0)".utf8)) })
                round += 1
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        try await Task.sleep(for: .milliseconds(200))
        var folders: [String] = []
        var next: UInt64? = nil
        for index in 0..<4 {
            let folder = "\(backups)/b\(index)"
            var arguments = ["export", "--to", folder, "--data-dir", data]
            if let next { arguments += ["--from", "seq:\(next)"] }
            let (code, _, err) = try await runHerald(arguments, socket: "")
            #expect(code == 0, "\(err)")
            #expect(err.isEmpty, "no progress output when stderr is not a terminal: \(err)")
            let manifest = try manifest(folder)
            if let next { #expect(manifest["firstSequence"] as? Int == Int(next)) }
            next = UInt64(manifest["lastSequence"] as! Int) + 1
            folders.append(folder)
            try await Task.sleep(for: .milliseconds(150))
        }
        writer.cancel()
        _ = await writer.result
        await client.close()
        let last = next! - 1

        // Full + 3 incrementals (given in any order) = the journal up to the last backup.
        let restored = daemon.directory + "/restored"
        var (code, out, err) = try await runHerald(
            ["import", "--data-dir", restored] + folders.reversed().flatMap { ["--from", $0] }, socket: "")
        #expect(code == 0, "\(err)")
        #expect(out.hasPrefix("restored sequence 1...\(last)"))
        let restoredRecords = try await records(restored, through: last)
        #expect(restoredRecords == (try await records(data, through: last)))
        let head = try #require(try manifest(folders[3])["headChain"] as? String)
        (code, out, err) = try await runHerald(
            ["audit", "verify", "--against", "\(head)@\(last)", "--data-dir", data], socket: "")
        #expect(code == 0, "the live journal still has the chain the backup recorded: \(err)")
        (code, out, _) = try await runHerald(["audit", "head", "--data-dir", restored], socket: "")
        #expect(out.hasSuffix("\(head)@\(last)\n"), "same chain head: \(out)")

        // A gap (an incremental left out) is refused, naming it; nothing is created.
        let gap = daemon.directory + "/gap"
        (code, _, err) = try await runHerald(
            ["import", "--data-dir", gap, "--from", folders[0], "--from", folders[2]], socket: "")
        #expect(code != 0 && err.contains("a backup is missing between them"), "\(err)")
        #expect(!FileManager.default.fileExists(atPath: gap))

        // Point in time: stops at the last frame ending at or before the sequence.
        let cut = UInt64(try manifest(folders[1])["lastSequence"] as! Int) + 3
        let pit = "\(backups)/pit"
        (code, _, err) = try await runHerald(
            ["export", "--to", pit, "--to-seq", "\(cut)", "--data-dir", data], socket: "")
        #expect(code == 0, "\(err)")
        let pitLast = UInt64(try manifest(pit)["lastSequence"] as! Int)
        #expect(pitLast <= cut && pitLast > cut - 25)
        (code, out, err) = try await runHerald(
            ["import", "--data-dir", daemon.directory + "/pit", "--from", pit], socket: "")
        #expect(code == 0 && out.hasPrefix("restored sequence 1...\(pitLast)"), "\(out)\(err)")
    }

    @Test func aChangedOrMissingBackupFileIsRefusedAndNamed() async throws {
        let daemon = try await DaemonProcess.launch(arguments: ["--interface-poll", "0"])
        defer { daemon.cleanup() }
        let data = daemon.directory + "/data"
        let client = try await daemon.client()
        let channel = try await client.openChannel("ledger", flags: [.publisher, .create])
        _ = try await client.publish(channel, (0..<50).map { WireEvent(data: Array("e\($0)".utf8)) })
        await client.close()
        let backup = daemon.directory + "/backup"
        var (code, _, err) = try await runHerald(["export", "--to", backup, "--data-dir", data], socket: "")
        #expect(code == 0, "\(err)")
        let file = try #require(
            try FileManager.default.contentsOfDirectory(atPath: backup).first { $0.hasSuffix(".hseg") })

        // Export refuses a folder that is not empty.
        (code, _, err) = try await runHerald(["export", "--to", backup, "--data-dir", data], socket: "")
        #expect(code == 64 && err.contains("not empty"), "\(err)")

        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: backup + "/" + file)))
        bytes[bytes.count - 10] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: backup + "/" + file))
        let target = daemon.directory + "/restored"
        (code, _, err) = try await runHerald(["import", "--data-dir", target, "--from", backup], socket: "")
        #expect(code == 65, "\(err)")
        #expect(err.contains(file) && err.contains("changed"), "\(err)")
        #expect(!FileManager.default.fileExists(atPath: target), "the target is left as it was")

        try FileManager.default.removeItem(atPath: backup + "/" + file)
        (code, _, err) = try await runHerald(["import", "--data-dir", target, "--from", backup], socket: "")
        #expect(code == 66 && err.contains("incomplete"), "\(err)")

        // A target that already holds a journal is refused and untouched.
        (code, _, err) = try await runHerald(["import", "--data-dir", data, "--from", backup], socket: "")
        #expect(code == 64 && err.contains("not empty"), "\(err)")
    }
}
