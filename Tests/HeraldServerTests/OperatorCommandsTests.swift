import Foundation
import HeraldClient
import HeraldWire
import Testing

/// `herald channels / cursors / stats` through heraldd, and `herald audit head / verify` on
/// a data folder that heraldd is writing.
@Suite struct OperatorCommandsTests {
    func json(_ text: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func channelsCursorsAndStatsSayWhatHeralddHolds() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let client = try await daemon.client()
        let channel = try await client.openChannel("ledger", flags: [.publisher, .subscriber, .create])
        let stream = try await client.attach(
            WireAttach(target: .channel(handle: channel.handle), start: .oldest, durableName: "auditor"))
        _ = try await client.subscribe(channel, id: 1, filters: [WireFilter(type: 4, pattern: [])])
        _ = try await client.publish(channel, (0..<5).map { WireEvent(data: [UInt8($0)]) })
        let got = try await collect(stream, count: 3, ack: false)
        for delivery in got { delivery.done() }
        try await Task.sleep(for: .milliseconds(200))  // acks reach the daemon and its cursor store
        let status = try await client.status()

        var (code, out, err) = try await runHerald(["channels", "--json"], socket: daemon.socket)
        #expect(code == 0, "\(err)")
        let channels = try #require(try json(out)["channels"] as? [[String: Any]])
        #expect(channels.first { $0["name"] as? String == "ledger" }?["openers"] as? Int == 1)
        (code, out, _) = try await runHerald(["channels"], socket: daemon.socket)
        #expect(out.hasPrefix("ID  NAME") && out.contains("ledger  linked"))

        (code, out, err) = try await runHerald(["cursors", "--json"], socket: daemon.socket)
        #expect(code == 0, "\(err)")
        let cursor = try #require((try json(out)["cursors"] as? [[String: Any]])?.first)
        #expect(cursor["name"] as? String == "auditor")
        let position = try #require(cursor["acknowledged"] as? Int)
        #expect(UInt64(position) == got[2].sequence)
        #expect(UInt64(cursor["lag"] as? Int ?? -1) == status.headSequence - got[2].sequence)

        (code, out, err) = try await runHerald(["stats", "--json"], socket: daemon.socket)
        #expect(code == 0, "\(err)")
        let stats = try json(out)
        #expect(stats["head_chain"] as? String == status.headChain)
        #expect(stats["cursors"] as? Int == 1 && stats["channels"] as? Int == 1)
        await client.close()

        (code, _, err) = try await runHerald(["stats"], socket: daemon.directory + "/nobody.sock")
        #expect(code == 69, "heraldd unreachable: \(err)")
    }

    @Test func auditHeadIsProvedLaterAndTamperingIsNamed() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let data = daemon.directory + "/data"
        let client = try await daemon.client()
        let channel = try await client.openChannel("audited", flags: [.publisher, .create])
        _ = try await client.publish(channel, (0..<20).map { WireEvent(data: Array("event \($0)".utf8)) })

        var (code, out, err) = try await runHerald(["audit", "head", "--data-dir", data], socket: "")
        #expect(code == 0, "\(err)")
        let proof = try #require(out.split(separator: "\n").last.map(String.init))
        let head = try json(try await runHerald(["audit", "head", "--json", "--data-dir", data], socket: "").1)
        #expect(head["proof"] as? String == proof)
        let (hash, sequence) = (String(proof.split(separator: "@")[0]), String(proof.split(separator: "@")[1]))

        // More events after the record: the recorded head is still proved.
        _ = try await client.publish(channel, (0..<20).map { WireEvent(data: Array("later \($0)".utf8)) })
        (code, out, err) = try await runHerald(["audit", "verify", "--against", proof, "--data-dir", data], socket: "")
        #expect(code == 0, "\(err)")
        #expect(out.hasPrefix("proved: the journal up to \(sequence)"))

        // A wrong hash, a sequence beyond the head, malformed input, a mid-frame sequence.
        let wrong = String(repeating: "0", count: 64) + "@" + sequence
        (code, _, err) = try await runHerald(["audit", "verify", "--against", wrong, "--data-dir", data], socket: "")
        #expect(code == 65 && err.contains("ALTERED"), "\(err)")
        (code, _, err) = try await runHerald(
            ["audit", "verify", "--against", hash + "@99999999", "--data-dir", data], socket: "")
        #expect(code == 66 && err.contains("beyond the head"), "\(err)")
        (code, _, err) = try await runHerald(["audit", "verify", "--against", "xyz@1", "--data-dir", data], socket: "")
        #expect(code == 64, "\(err)")
        let midFrame = hash + "@" + String(UInt64(sequence)! + 5)  // the 20 later events are one frame
        (code, _, err) = try await runHerald(
            ["audit", "verify", "--against", midFrame, "--data-dir", data], socket: "")
        #expect(code == 64 && err.contains("no frame ends"), "\(err)")

        // One byte changed in the live journal (past the segment header): named, exit 65.
        await client.close()
        #expect(await daemon.stop() == 0)
        let segments = try FileManager.default.contentsOfDirectory(atPath: data + "/segments").sorted()
        let file = data + "/segments/" + segments[0]
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: file)))
        bytes[bytes.count / 2] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        (code, _, err) = try await runHerald(["audit", "verify", "--against", proof, "--data-dir", data], socket: "")
        #expect(code == 65, "\(err)")
        #expect(err.contains("segments/\(segments[0])"), "the damaged file is named: \(err)")
    }
}
