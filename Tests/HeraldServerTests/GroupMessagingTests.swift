import Foundation
import HeraldClient
import HeraldWire
import Testing

/// OCF group messaging through a real heraldd and the C libraries: an OCF requester
/// (GET_FD) casts to some nodes, a SaEvt program answers, the requester receives
/// OC_EV_GS_REPLY with its request's id, in journal order; a requester killed and restarted
/// under its durable name gets the reply published while it was away; a unicast to a name
/// nobody uses waits for that durable subscriber's first attach. (The 3-node version, where
/// only node 3's subscriber receives the cast, is in tools/cluster-test.)
@Suite(.serialized) struct GroupMessagingTests {
    /// The value of `key=` in a line of the C programs' output.
    func field(_ line: String, _ key: String) -> UInt64? {
        line.split(separator: " ").first { $0.hasPrefix(key + "=") }.flatMap { UInt64($0.dropFirst(key.count + 1)) }
    }

    @Test func anOCFRequesterGetsItsReplyFromASaEvtResponder() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let requester = try await CProgram.build("ocf/requester.c")
        let responder = try await CProgram.build("saevt/responder.c", library: "SaEvt")
        let environment = ["HERALD_SOCKET": daemon.socket]
        let answering = try Child(responder, ["rpc", "1"], environment: environment)
        try await answering.waitForLine("READY")

        // Cast to node 2, which no subscriber is on: nobody receives it (a single heraldd is node 1).
        let elsewhere = try Child(requester, ["-", "rpc", "nodes:2", "sent"], environment: environment)
        #expect(await elsewhere.wait() == 0, "\(elsewhere.output)\(elsewhere.errors)")
        let elsewhereID = try #require(elsewhere.lines.first.flatMap { field($0, "id") })

        // Cast to node 1: the responder answers; the requester gets the REPLY.
        let asking = try Child(requester, ["asker", "rpc", "nodes:1", "reply"], environment: environment)
        #expect(await asking.wait() == 0, "\(asking.output)\(asking.errors)")
        #expect(await answering.wait() == 0, "\(answering.output)\(answering.errors)")
        let sent = try #require(asking.lines.first { $0.hasPrefix("SENT") }.flatMap { field($0, "id") })
        let got = answering.lines.filter { $0.hasPrefix("GOT") }
        #expect(got.count == 1 && field(got[0], "id") == sent, "only the node-1 cast reached it: \(got)")
        #expect(got.first?.contains("cast=1") == true, "a multicast")
        #expect(!answering.output.contains("id=\(elsewhereID) "))
        let replied = try #require(answering.lines.first { $0.hasPrefix("REPLIED") }.flatMap { field($0, "id") })

        let reply = try #require(asking.lines.first { $0.hasPrefix("REPLY") })
        #expect(field(reply, "id") == replied)
        #expect(field(reply, "reply_to") == sent)
        #expect(reply.contains("cast=2") && reply.hasSuffix("data=re:request-asker"))
        // In the journal's order with the other GROUP events the requester saw.
        let sequences = asking.lines.compactMap { field($0, "seq") }
        #expect(sequences == sequences.sorted() && Set(sequences).count == sequences.count)
        let ownCast = try #require(asking.lines.first { $0.hasPrefix("CAST") && field($0, "id") == sent })
        #expect(field(ownCast, "seq")! < field(reply, "seq")!)

        // A reply to an id the journal does not hold is refused (ENOENT from the client's
        // side: SA_AIS_ERR_NOT_EXIST on the wire).
        let client = try await daemon.client()
        let channel = try await client.openChannel("rpc", flags: [.publisher])
        await #expect(throws: HeraldClientError.self) {
            try await client.publish(channel, WireEvent(data: []), route: EventRoute(replyTo: replied + 1000))
        }
        await client.close()
    }

    @Test func aRestartedRequesterGetsTheReplyPublishedWhileItWasAway() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let requester = try await CProgram.build("ocf/requester.c")
        let environment = ["HERALD_SOCKET": daemon.socket]
        let first = try Child(requester, ["billing-req", "rpc", "all", "reply"], environment: environment)
        try await first.waitForLine("SENT")
        let sent = try #require(first.lines.first.flatMap { field($0, "id") })
        first.kill9()

        // Answered while the requester is away, by a Swift client.
        let client = try await daemon.client()
        let channel = try await client.openChannel("rpc", flags: [.publisher])
        let reply = try await client.publish(
            channel, WireEvent(data: Array("late answer".utf8)), route: EventRoute(replyTo: sent))
        let other = try await client.publish(channel, WireEvent(data: Array("unrelated".utf8)))

        let again = try Child(requester, ["billing-req", "rpc", "none", "reply"], environment: environment)
        #expect(await again.wait() == 0, "\(again.output)\(again.errors)")
        let line = try #require(again.lines.first { $0.hasPrefix("REPLY") })
        #expect(field(line, "id") == reply && field(line, "reply_to") == sent)
        #expect(line.hasSuffix("data=late answer"))
        #expect(again.lines.filter { $0.hasPrefix("REPLY") }.count == 1)
        let unrelated = try #require(again.lines.first { $0.contains("data=unrelated") })
        #expect(unrelated.hasPrefix("CAST") && field(unrelated, "id") == other && unrelated.contains("cast=0"))
        await client.close()
    }

    @Test func aUnicastToANameNobodyUsesWaitsForItsFirstAttach() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let requester = try await CProgram.build("ocf/requester.c")
        let environment = ["HERALD_SOCKET": daemon.socket]
        let client = try await daemon.client()
        let channel = try await client.openChannel("rpc", flags: [.publisher, .create])
        let id = try await client.publish(
            channel, WireEvent(data: Array("for-late".utf8)), route: EventRoute(target: .name(Array("late".utf8))))
        _ = try await client.publish(channel, WireEvent(data: Array("for-all".utf8)))

        // Another durable name replays the same journal without the unicast.
        let other = try Child(requester, ["someone", "rpc", "none", "data=for-all"], environment: environment)
        #expect(await other.wait() == 0, "\(other.output)\(other.errors)")
        #expect(!other.output.contains("for-late"))

        let late = try Child(requester, ["late", "rpc", "none", "data=for-late"], environment: environment)
        #expect(await late.wait() == 0, "\(late.output)\(late.errors)")
        let line = try #require(late.lines.first { $0.contains("data=for-late") })
        #expect(field(line, "id") == id && line.contains("cast=2"))
        await client.close()
    }

    /// `herald publish --to / --reply-to` and `herald query`'s addressing, reply links and
    /// `--replies-to`; bad addresses are usage errors, a reply to an unknown id exit 66.
    @Test func theCLISendsAddressedEventsAndRepliesAndQueryShowsThem() async throws {
        let daemon = try await DaemonProcess.launch(arguments: ["--interface-poll", "0"])
        defer { daemon.cleanup() }
        let data = daemon.directory + "/data"
        func publish(_ arguments: [String]) async throws -> UInt64 {
            let (code, out, err) = try await runHerald(
                ["publish", "--channel", "rpc"] + arguments, socket: daemon.socket)
            #expect(code == 0, "\(arguments): \(err)")
            return try #require(UInt64(out.trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        let request = try await publish(["--to", "node:1", "--to", "node:3", "question"])
        let named = try await publish(["--to", "name:auditor", "for the auditor"])
        let first = try await publish(["--reply-to", "\(request)", "answer one"])
        let second = try await publish(["--reply-to", "\(request)", "answer two"])
        _ = try await publish(["--reply-to", "\(named)", "not this one"])

        var (code, out, err) = try await runHerald(
            ["query", "--replies-to", "\(request)", "--format", "jsonl", "--data-dir", data], socket: "")
        #expect(code == 0, "\(err)")
        let rows = try out.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(rows.map { $0["data"] as? String } == ["answer one", "answer two"])
        #expect(rows.map { $0["seq"] as? UInt64 } == [first - 1000, second - 1000])
        let route = try #require(rows.first?["route"] as? [String: Any])
        #expect(route["reply_to"] as? UInt64 == request && route["to"] as? String == "reply:\(request)")
        #expect(rows.first?["event"] as? Int == 4, "OC_EV_GS_REPLY")
        (code, out, _) = try await runHerald(
            ["query", "--replies-to", "\(request)", "--count", "--data-dir", data], socket: "")
        #expect(out == "2\n")

        (code, out, err) = try await runHerald(["query", "--format", "csv", "--data-dir", data], socket: "")
        #expect(code == 0, "\(err)")
        #expect(out.contains(",\"node:1,3\","), "\(out)")
        #expect(out.contains(",name:auditor,"), "\(out)")

        // Every row has a kind; records that are not published events have their fields decoded.
        (code, out, err) = try await runHerald(
            ["query", "--kind", "reply", "--kind", "channel.create", "--kind", "membership", "--data-dir", data],
            socket: "")
        #expect(code == 0, "\(err)")
        let kinds = try out.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(kinds.filter { $0["kind"] as? String == "reply" }.count == 3)
        let created = try #require(kinds.first { $0["kind"] as? String == "channel.create" })
        #expect((created["fields"] as? [String: Any])?["name"] as? String == "rpc")
        #expect(kinds.contains { $0["kind"] as? String == "membership" && $0["membership"] != nil })
        #expect(Set(kinds.compactMap { $0["kind"] as? String }) == ["reply", "channel.create", "membership"])
        (code, out, _) = try await runHerald(["query", "--kind", "open", "--count", "--data-dir", data], socket: "")
        #expect(
            code == 0 && Int(out.trimmingCharacters(in: .whitespacesAndNewlines))! >= 5,
            "one publisher open per publish: \(out)")
        (code, _, _) = try await runHerald(["query", "--kind", "bogus", "--data-dir", data], socket: "")
        #expect(code == 64)

        // Refusals: an unknown id (not exist: 66), addresses that are not addresses (64).
        (code, _, err) = try await runHerald(
            ["publish", "--channel", "rpc", "--reply-to", "\(second + 5000)", "x"], socket: daemon.socket)
        #expect(code == 66 && err.contains("not a published event"), "\(code) \(err)")
        for bad in [
            ["--to", "node:x"], ["--to", "host:3"], ["--to", "name:a", "--to", "name:b"],
            ["--to", "node:1", "--reply-to", "\(request)"],
        ] {
            (code, _, err) = try await runHerald(["publish", "--channel", "rpc"] + bad + ["x"], socket: daemon.socket)
            #expect(code == 64, "\(bad): \(code) \(err)")
        }
    }
}
