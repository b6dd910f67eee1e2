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
            ClientMessage.hello(WireHello(versionMin: 3, versionMax: 4, pid: 1, clientName: "future"))
                .frame(correlation: 1).encoded)
        #expect(throws: WireError.handshake("client speaks versions 3...4, server speaks 2")) { try session.next() }
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
