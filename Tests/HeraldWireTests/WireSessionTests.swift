import Testing

@testable import HeraldWire

@Suite struct WireSessionTests {
    private func requests(_ session: inout WireServerSession) throws -> [ClientMessage] {
        var out: [ClientMessage] = []
        while let (_, message) = try session.next() { out.append(message) }
        return out
    }

    @Test func helloThenRequestsThenGoodbye() throws {
        var session = WireServerSession()
        let messages: [ClientMessage] = [
            .hello(WireHello(pid: 1, clientName: "t")), .ping, .listChannels, .goodbye, .ping,
        ]
        session.receive(messages.flatMap { $0.frame(correlation: 1).encoded })
        #expect(try requests(&session) == Array(messages.prefix(4)))
        #expect(session.state == .closed)
    }

    @Test func aRequestBeforeHelloIsOutOfSequence() throws {
        var session = WireServerSession()
        session.receive(ClientMessage.ping.frame(correlation: 1).encoded)
        #expect(throws: WireError.outOfSequence("ping before hello")) { try session.next() }
        #expect(throws: WireError.self) { try session.next() }  // stays failed
        let error = WireServerSession.errorFrame(for: .outOfSequence("ping before hello"))
        #expect(
            try ServerMessage(frame: error) == .error(code: 20, message: "frame out of sequence: ping before hello"))
    }

    @Test func aSecondHelloIsOutOfSequence() throws {
        var session = WireServerSession()
        let hello = ClientMessage.hello(WireHello(pid: 1, clientName: "t")).frame(correlation: 1).encoded
        session.receive(hello + hello)
        #expect(try session.next() != nil)
        #expect(throws: WireError.outOfSequence("a second hello")) { try session.next() }
    }

    @Test func incompatibleVersionsGetAClearError() {
        var session = WireServerSession()
        session.receive(
            ClientMessage.hello(WireHello(versionMin: 5, versionMax: 6, pid: 1, clientName: "future"))
                .frame(correlation: 1).encoded)
        #expect(throws: WireError.handshake("client speaks versions 5...6, server speaks 2...4")) { try session.next() }
    }

    /// A version-2 client is still served (as version 2), but a routed publish is a
    /// version-3 request: out of sequence for it.
    @Test func aVersion2ClientIsServedWithoutRoutes() throws {
        var session = WireServerSession()
        session.receive(
            ClientMessage.hello(WireHello(versionMin: 2, versionMax: 2, pid: 1, clientName: "old"))
                .frame(correlation: 1).encoded)
        #expect(try session.next() != nil)
        #expect(session.state == .established(version: 2))
        session.receive(ClientMessage.publish(handle: 1, events: [WireEvent(data: [])]).frame(correlation: 2).encoded)
        #expect(try session.next()?.message == .publish(handle: 1, events: [WireEvent(data: [])]))
        session.receive(
            ClientMessage.publishRouted(
                handle: 1, route: EventRoute(target: .session(5)), events: [WireEvent(data: [])]
            )
            .frame(correlation: 3).encoded)
        #expect(throws: WireError.outOfSequence("publishRouted in protocol version 2 (it needs 3)")) {
            try session.next()
        }
        var current = WireServerSession()
        current.receive(ClientMessage.hello(WireHello(pid: 1, clientName: "new")).frame(correlation: 1).encoded)
        #expect(try current.next() != nil)
        #expect(current.state == .established(version: 4))
    }

    /// The route block a publish record carries: every target round-trips, the broadcast
    /// test reads the kind without decoding, and damaged blocks decode to nothing.
    @Test func routeRecordBlocksRoundTripAndRefuseDamage() {
        let routes = [
            EventRoute(sender: 7),
            EventRoute(target: .nodes([1, 3]), sender: 7, senderName: Array("req".utf8)),
            EventRoute(target: .name(Array("billing".utf8)), sender: 9),
            EventRoute(target: .session(1234), sender: 9),
            EventRoute(target: .requester(session: 1234, name: Array("req".utf8)), replyTo: 1_000_001, sender: 11),
        ]
        for route in routes {
            let block = route.recordBlock
            #expect(EventRoute(recordBlock: block) == route)
            #expect(EventRoute.isBroadcast(recordBlock: block) == (route.target == .everyone))
            #expect(Int(block[0]) | Int(block[1]) << 8 == block.count)
            for cut in 0..<block.count { #expect(EventRoute(recordBlock: block[0..<cut]) == nil) }
            var badKind = block
            badKind[2] = 9
            #expect(EventRoute(recordBlock: badKind) == nil)
        }
        #expect(EventRoute(sender: 7).recordBlock == [12, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0])
        // Pinned: a reply's block (what the journal keeps for every reply).
        let reply = EventRoute(target: .requester(session: 5, name: [0x61]), replyTo: 1001, sender: 9)
        let pinned: [UInt8] = [
            30, 0, 4, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0xE9, 3, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1, 0x61,
        ]
        #expect(reply.recordBlock == pinned)
    }

    /// Seeded random input: one million cases of random bytes and of valid frames with
    /// random bytes changed, each fed to a fresh session. Nothing may crash or hang; every
    /// case ends in requests, a need for more bytes, or a WireError.
    @Test func oneMillionRandomAndMutatedInputs() throws {
        var generator = SplitMix64(seed: 0x4845_5241_4C44)
        let valid = sampleClientMessages.map { $0.frame(correlation: 3).encoded }
        let hello = ClientMessage.hello(WireHello(pid: 1, clientName: "fuzz")).frame(correlation: 0).encoded
        var limits = WireLimits()
        limits.frameBytesMax = 4096
        var outcomes = [0, 0, 0]  // requests only, needs more, error
        for index in 0..<1_000_000 {
            var input: [UInt8]
            if index % 4 == 0 {
                input = (0..<Int(generator.next() % 48)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            } else {
                input = valid[Int(generator.next() % UInt64(valid.count))]
                for _ in 0...Int(generator.next() % 3) where !input.isEmpty {
                    input[Int(generator.next() % UInt64(input.count))] = UInt8(truncatingIfNeeded: generator.next())
                }
                if generator.next() % 8 == 0 { input.removeLast(Int(generator.next() % UInt64(input.count))) }
                input = hello + input
            }
            var session = WireServerSession(limits: limits)
            session.receive(input)
            do {
                var count = 0
                while try session.next() != nil { count += 1 }
                outcomes[count > 0 && session.state != .awaitingHello ? 0 : 1] += 1
            } catch {
                outcomes[2] += 1
            }
        }
        #expect(outcomes.reduce(0, +) == 1_000_000)
        #expect(outcomes.allSatisfy { $0 > 1000 }, "every outcome reached: \(outcomes)")
    }
}
