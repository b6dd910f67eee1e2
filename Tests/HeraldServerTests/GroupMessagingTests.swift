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
}
