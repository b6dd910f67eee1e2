import Testing

@testable import HeraldWire

/// One of every message, with fields that exercise every branch (binary bytes, empty and
/// full arrays, every start and target kind).
let sampleClientMessages: [ClientMessage] = [
    .hello(WireHello(pid: 4242, clientName: "tail ✓")),
    .openChannel(name: [0, 1, 0xFF, 0x41], flags: 7),
    .closeChannel(handle: 0x0102_0304_0506_0708),
    .unlinkChannel(name: Array("orders".utf8)),
    .publish(
        handle: 9,
        events: [
            WireEvent(
                priority: 0, retention: 5_000_000_000, publisherName: Array("pub".utf8), patterns: [[0], [], [1, 2]],
                data: [0, 0xFF]),
            WireEvent(data: []),
        ]),
    .publishRouted(handle: 9, route: EventRoute(target: .nodes([3, 0xFFFF_FFFF])), events: [WireEvent(data: [1])]),
    .publishRouted(
        handle: 9, route: EventRoute(target: .name(Array("billing".utf8)), senderName: Array("req".utf8)),
        events: [WireEvent(data: [])]),
    .publishRouted(handle: 9, route: EventRoute(target: .session(1234)), events: [WireEvent(data: [2])]),
    .publishRouted(handle: 9, route: EventRoute(replyTo: 1_000_042), events: [WireEvent(data: [3])]),
    .auditCheckpoint, .auditProve(sequence: 42, treeSize: 0), .auditConsistency(first: 3, second: 1000),
    .subscribe(
        handle: 9, subscription: 77, filters: [WireFilter(type: 1, pattern: [0xAB]), WireFilter(type: 4, pattern: [])]),
    .unsubscribe(handle: 9, subscription: 77),
    .attach(WireAttach(target: .channel(handle: 9), start: .oldest, durableName: "audit", window: 1, lagMax: 0)),
    .attach(WireAttach(target: .classes(5), start: .sequence(123), window: 64, lagMax: 1000)),
    .attach(WireAttach(target: .channel(handle: 1), start: .time(-5))),
    .attach(WireAttach(target: .channel(handle: 1), start: .cursor, durableName: "x")),
    .attach(WireAttach(target: .channel(handle: 1), start: .now)),
    .detach(stream: 3),
    .ack(stream: 3, sequences: [1, 2, UInt64.max]),
    .clearRetention(handle: 9, eventID: 1001),
    .listChannels, .listCursors, .status, .ping, .goodbye,
    .systemEvent(descriptor: 0x80_0001, data: [1, 2, 3]),
]

let sampleServerMessages: [ServerMessage] = [
    .welcome(
        WireWelcome(
            version: 1, serverName: "heraldd", nodeName: "node-a", peer: WireOrigin(uid: 1000, gid: 100, pid: 77),
            limits: WireLimits())),
    .ok, .pong,
    .error(code: 12, message: "no such channel"),
    .channelOpened(handle: 55, channel: 2),
    .published(first: 1001, count: 3),
    .attached(stream: 1),
    .channels([WireChannelInfo(id: 1, name: [0, 1], linked: true, openers: 2, retained: 0)]),
    .cursors([WireCursor(name: "audit", acknowledged: 10, deliveredThrough: 12, updated: 1_700_000_000_000_000_000)]),
    .status(
        WireStatus(headSequence: 10, oldestSequence: 1, headTime: 5, headChain: "ab12", segments: 1, connections: 3)),
    .deliveries(
        stream: 1,
        [
            WireDelivery(
                sequence: 5, eventID: 1005, descriptor: 0x80_0003, subscriptionID: 77, flags: [.redelivered],
                publishTime: 99, origin: WireOrigin(uid: 1, gid: 2, pid: 3),
                event: WireEvent(priority: 1, retention: 0, publisherName: [], patterns: [[1]], data: [2, 3])),
            WireDelivery(
                sequence: 6, eventID: 1, descriptor: 0, subscriptionID: 0, flags: [.retained], publishTime: 100,
                origin: nil, event: WireEvent(data: [])),
            WireDelivery(
                sequence: 7, eventID: 1007, descriptor: 0xC0_0004, channelID: 2, subscriptionID: 0, flags: [],
                publishTime: 101, origin: WireOrigin(uid: 1, gid: 2, pid: 3),
                route: DeliveryRoute(cast: .unicast, replyTo: 1005, sender: 44), event: WireEvent(data: [9])),
        ]),
    .streamEnded(stream: 1, code: 0),
    .streamEnded(
        stream: 2, code: 21,
        message: "journal damaged: segments/00000000000000000001.hseg at byte 4096 (sequence 17): frame checksum"),
    .checkpoint(note: "herald/a\n3\nAAAA\n\n— herald/a xyz\n"),
    .inclusionProof(
        WireInclusionProof(
            leafIndex: 4, treeSize: 9, leaf: [1, 2, 3], rootHash: [UInt8](repeating: 7, count: 32),
            auditPath: [[UInt8](repeating: 1, count: 32), [UInt8](repeating: 2, count: 32)])),
    .consistencyProof(
        WireConsistencyProof(
            first: 3, second: 9, firstRoot: [UInt8](repeating: 3, count: 32),
            secondRoot: [UInt8](repeating: 9, count: 32),
            proof: [])),
]

@Suite struct WireCodecTests {
    @Test func everyClientMessageRoundTrips() throws {
        for message in sampleClientMessages {
            let frame = message.frame(correlation: 17)
            var decoder = WireFrameDecoder()
            decoder.feed(frame.encoded)
            let decoded = try #require(try decoder.next())
            #expect(decoded == frame)
            #expect(try ClientMessage(frame: decoded) == message)
        }
        #expect(Set(sampleClientMessages.map(\.type)) == Set(FrameType.allCases.filter(\.isRequest)))
    }

    @Test func everyServerMessageRoundTrips() throws {
        for message in sampleServerMessages {
            let frame = message.frame(correlation: 9)
            #expect(
                try ServerMessage(frame: WireFrame(type: frame.type, correlation: 9, payload: frame.payload)) == message
            )
        }
        #expect(Set(sampleServerMessages.map(\.type)) == Set(FrameType.allCases.filter { !$0.isRequest }))
    }

    /// The one-buffer encoding heraldd uses for deliveries gives exactly the frame's bytes,
    /// whatever the capacity hint.
    @Test func encodedFrameEqualsTheFramesBytes() {
        for message in sampleServerMessages {
            for capacity in [nil, 0, 1, 4096] as [Int?] {
                let oneBuffer = message.encodedFrame(correlation: 9, capacity: capacity)
                #expect(oneBuffer == message.frame(correlation: 9).encoded)
            }
        }
    }

    @Test func clientEncodedFrameEqualsTheFramesBytes() {
        for message in sampleClientMessages {
            #expect(message.encodedFrame(correlation: 17) == message.frame(correlation: 17).encoded)
        }
    }

    /// heraldd's direct encoder writes the same bytes as the message, and they decode back.
    @Test func deliveriesFrameEncoderEqualsTheMessage() throws {
        for message in sampleServerMessages {
            guard case .deliveries(let stream, let deliveries) = message else { continue }
            let size =
                DeliveriesFrameEncoder.frameHeaderBytes
                + deliveries.reduce(0) {
                    $0
                        + DeliveriesFrameEncoder.deliveryBytes(
                            publisherName: $1.event.publisherName, patterns: $1.event.patterns, data: $1.event.data,
                            routed: $1.flags.contains(.routed))
                }
            // Exactly the size, and more than needed: the frame is what was written.
            for capacity in [size, size + 100] {
                let bytes = DeliveriesFrameEncoder.encode(stream: stream, bytes: capacity) { encoder in
                    for delivery in deliveries {
                        encoder.append(
                            sequence: delivery.sequence, eventID: delivery.eventID, descriptor: delivery.descriptor,
                            channelID: delivery.channelID, subscriptionID: delivery.subscriptionID,
                            flags: delivery.flags,
                            publishTime: delivery.publishTime,
                            origin: delivery.flags.contains(.hasOrigin) ? delivery.origin : nil,
                            route: delivery.flags.contains(.routed) ? delivery.route : nil,
                            priority: delivery.event.priority, retention: delivery.event.retention,
                            publisherName: delivery.event.publisherName, patterns: delivery.event.patterns,
                            data: delivery.event.data)
                    }
                }
                #expect(bytes == message.frame(correlation: 0).encoded)
                var decoder = WireFrameDecoder()
                decoder.feed(bytes)
                #expect(try ServerMessage(frame: try #require(try decoder.next())) == message)
            }
        }
    }

    /// Deliveries are read in place (`WireDeliveryView`, which `ServerMessage` uses too): they
    /// give back the deliveries encoded; every truncated frame is refused; a frame with a
    /// corrupted byte is refused or decodes to deliveries that read back the same once encoded
    /// again, under the default limits and tight ones.
    @Test func deliveryViewsDecodeWhatWasEncodedAndRefuseDamage() throws {
        var checked = 0
        for message in sampleServerMessages {
            guard case .deliveries(let stream, let deliveries) = message else { continue }
            let frame = message.frame(correlation: 0)
            let parsed = try WireDeliveryView.parse(frame)
            #expect(parsed.stream == stream)
            #expect(parsed.deliveries.map(\.delivery) == deliveries)
            #expect(parsed.deliveries.map(\.dataCount) == deliveries.map(\.event.data.count))
            for (view, delivery) in zip(parsed.deliveries, deliveries) {
                #expect(view.withData { Array($0) } == delivery.event.data)
                // Kept alone, it holds only its own variable bytes, and reads the same.
                let compact = view.compacted()
                #expect(compact.delivery == delivery)
                #expect(compact.withData { Array($0) } == delivery.event.data)
                let own =
                    2 + delivery.event.patterns.reduce(0) { $0 + 2 + $1.count } + 4 + delivery.event.data.count
                #expect(compact.withPayload { $0.count } == delivery.event.publisherName.count + own)
            }
            var tight = WireLimits()
            tight.patternsMax = 1
            tight.patternBytesMax = 2
            tight.dataBytesMax = 3
            for limits in [WireLimits(), tight] {
                for cut in 0..<frame.payload.count {
                    let short = WireFrame(type: .deliveries, correlation: 0, payload: Array(frame.payload.prefix(cut)))
                    #expect(throws: WireError.self, "cut at \(cut)") {
                        try WireDeliveryView.parse(short, limits: limits)
                    }
                    checked += 1
                }
                for index in frame.payload.indices {
                    var bytes = frame.payload
                    bytes[index] ^= 0xFF
                    let damaged = WireFrame(type: .deliveries, correlation: 0, payload: bytes)
                    if let (id, views) = try? WireDeliveryView.parse(damaged, limits: limits) {
                        // What was read is what the bytes say: encoded again, it reads back the same.
                        let decoded = views.map(\.delivery)
                        let again = ServerMessage.deliveries(stream: id, decoded).frame(correlation: 0)
                        let reread = try WireDeliveryView.parse(again, limits: limits).deliveries.map(\.delivery)
                        #expect(reread == decoded, "byte \(index) flipped and misread")
                    }
                    checked += 1
                }
            }
        }
        #expect(checked > 100)
    }

    /// The copy guard of the client's hot path: the deliveries of a frame read their data in
    /// the frame's own bytes (one shared payload), so decoding copies no event data.
    @Test func deliveryViewsShareTheFramesBytes() throws {
        var deliveries: [WireDelivery] = []
        for index in 0..<64 {
            let event = WireEvent(patterns: [[1, 2]], data: [UInt8](repeating: UInt8(index), count: 128))
            let number = UInt64(index + 1)
            deliveries.append(
                WireDelivery(
                    sequence: number, eventID: number, descriptor: 3 << 22, channelID: 1, subscriptionID: 1,
                    flags: [], publishTime: 0, origin: nil, event: event))
        }
        let frame = ServerMessage.deliveries(stream: 1, deliveries).frame(correlation: 0)
        let views = try WireDeliveryView.parse(frame).deliveries
        #expect(views.map { $0.delivery } == deliveries)
        var addresses: [UInt] = []
        for view in views {
            addresses.append(view.withData { UInt(bitPattern: $0.baseAddress) })
        }
        let payloadRange = views[0].withPayload { buffer in
            UInt(bitPattern: buffer.baseAddress)..<UInt(bitPattern: buffer.baseAddress) + UInt(buffer.count)
        }
        #expect(addresses.allSatisfy { payloadRange.contains($0) }, "event data was copied out of the frame")
        #expect(Set(addresses).count == views.count)
    }

    /// The bytes of a frame are pinned: a refactor cannot silently change the protocol.
    @Test func goldenBytes() {
        let ping = ClientMessage.ping.frame(correlation: 0x0102_0304).encoded
        #expect(ping == [5, 0, 0, 0, 0x1D, 4, 3, 2, 1])
        let open = ClientMessage.openChannel(name: Array("ab".utf8), flags: 3).frame(correlation: 1).encoded
        #expect(open == [10, 0, 0, 0, 0x10, 1, 0, 0, 0, 2, 0, 0x61, 0x62, 3])
        let hello = ClientMessage.hello(WireHello(pid: 1, clientName: "c")).frame(correlation: 0).encoded
        #expect(hello == [20, 0, 0, 0, 0x01, 0, 0, 0, 0, 0x48, 0x52, 0x4C, 0x44, 2, 0, 4, 0, 1, 0, 0, 0, 1, 0, 0x63])
        // Version 3: a routed publish (unicast to a name, under a durable name) and a routed
        // delivery (flag 8, then cast, reply-to, sender after the origin).
        let routed = ClientMessage.publishRouted(
            handle: 2, route: EventRoute(target: .name([0x64]), senderName: [0x72]), events: [WireEvent(data: [0xAA])]
        ).frame(correlation: 1).encoded
        let routedRoute: [UInt8] = [2, 1, 0x64, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x72]
        let routedEvent: [UInt8] = [1, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0xAA]
        #expect(routed == [48, 0, 0, 0, 0x20, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0] + routedRoute + routedEvent)
        let reply = ServerMessage.deliveries(
            stream: 1,
            [
                WireDelivery(
                    sequence: 5, eventID: 1005, descriptor: 0xC0_0004, channelID: 7, subscriptionID: 2, flags: [],
                    publishTime: 9, origin: nil, route: DeliveryRoute(cast: .unicast, replyTo: 1001, sender: 3),
                    event: WireEvent(data: [0xAA]))
            ]
        ).frame(correlation: 0).encoded
        let replyFields: [UInt8] = [4, 0, 0xC0, 0, 7, 0, 0, 0, 2, 0, 0, 0, 8, 9, 0, 0, 0, 0, 0, 0, 0]
        let replyRoute: [UInt8] = [2, 0xE9, 3, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]
        let replyEvent: [UInt8] = [3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0xAA]
        #expect(
            reply == [
                97, 0, 0, 0, 0xA0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0xED, 3, 0, 0, 0, 0, 0,
                0,
            ]
                + replyFields + [UInt8](repeating: 0, count: 12) + replyRoute + replyEvent)
        let delivery = ServerMessage.deliveries(
            stream: 1,
            [
                WireDelivery(
                    sequence: 5, eventID: 1005, descriptor: 0xC0_0003, channelID: 7, subscriptionID: 2, flags: [],
                    publishTime: 9, origin: nil, event: WireEvent(data: [0xAA]))
            ]
        ).frame(correlation: 0).encoded
        let deliveryHeader: [UInt8] = [80, 0, 0, 0, 0xA0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
        let deliveryIDs: [UInt8] = [5, 0, 0, 0, 0, 0, 0, 0, 0xED, 3, 0, 0, 0, 0, 0, 0]
        let deliveryFields: [UInt8] = [3, 0, 0xC0, 0, 7, 0, 0, 0, 2, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0]
        let deliveryEvent: [UInt8] = [3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0xAA]
        #expect(
            delivery == deliveryHeader + deliveryIDs + deliveryFields + [UInt8](repeating: 0, count: 12) + deliveryEvent
        )
        let error = ServerMessage.error(code: 12, message: "x").frame(correlation: 2).encoded
        #expect(error == [12, 0, 0, 0, 0xFF, 2, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0x78])
    }

    /// `streamEnded` as versions 2 and 3 send it (stream, code) still decodes, with no
    /// message, and a stream ended without a reason is encoded exactly so; version 4 adds
    /// the reason after the code.
    @Test func streamEndedOfEveryVersion() throws {
        let version3: [UInt8] = [13, 0, 0, 0, 0xA1, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]
        var decoder = WireFrameDecoder()
        decoder.feed(version3)
        let frame = try #require(try decoder.next())
        #expect(try ServerMessage(frame: frame) == .streamEnded(stream: 3, code: 0, message: ""))
        #expect(ServerMessage.streamEnded(stream: 3, code: 0).frame(correlation: 0).encoded == version3)
        let version4 = ServerMessage.streamEnded(stream: 3, code: 21, message: "x").frame(correlation: 0).encoded
        #expect(version4 == [16, 0, 0, 0, 0xA1, 0, 0, 0, 0, 3, 0, 0, 0, 21, 0, 0, 0, 1, 0, 0x78])
        var damaged = WireFrameDecoder()
        damaged.feed([14, 0, 0, 0, 0xA1, 0, 0, 0, 0, 3, 0, 0, 0, 21, 0, 0, 0, 1])
        let short = try #require(try damaged.next())
        #expect(throws: WireError.self) { try ServerMessage(frame: short) }
    }

    @Test func dripFedAndCoalescedStreamsGiveTheSameFrames() throws {
        let frames = sampleClientMessages.enumerated().map { $1.frame(correlation: UInt32($0)) }
        let stream = frames.flatMap(\.encoded)
        // Byte by byte.
        var decoder = WireFrameDecoder()
        var dripped: [WireFrame] = []
        for byte in stream {
            decoder.feed([byte])
            while let frame = try decoder.next() { dripped.append(frame) }
        }
        #expect(dripped == frames)
        // All at once, and in random chunks.
        var generator = SplitMix64(seed: 7)
        for chunkMax in [stream.count, 1, 3, 17, 100] {
            var decoder = WireFrameDecoder()
            var decoded: [WireFrame] = []
            var offset = 0
            while offset < stream.count {
                let size = min(stream.count - offset, Int(generator.next() % UInt64(chunkMax)) + 1)
                decoder.feed(stream[offset..<offset + size])
                offset += size
                while let frame = try decoder.next() { decoded.append(frame) }
            }
            #expect(decoded == frames)
            #expect(decoder.buffered == 0)
        }
    }

    @Test func oversizedLengthIsRefusedBeforeThePayloadArrives() {
        var decoder = WireFrameDecoder(frameBytesMax: 1024)
        decoder.feed([0x01, 0x04, 0, 0, 0x13, 0, 0, 0, 0])  // length 1025, no payload
        #expect(throws: WireError.badLength(1025, max: 1024)) { try decoder.next() }
        // Failed for good: more bytes do not revive it.
        decoder.feed(ClientMessage.ping.frame(correlation: 1).encoded)
        #expect(throws: WireError.self) { try decoder.next() }
        var short = WireFrameDecoder()
        short.feed([4, 0, 0, 0, 0x1D, 0, 0, 0, 0])
        #expect(throws: WireError.badLength(4, max: WireLimits().frameBytesMax)) { try short.next() }
    }

    @Test func unknownTypeTruncatedPayloadAndTrailingBytesAreNamed() throws {
        var decoder = WireFrameDecoder()
        decoder.feed([5, 0, 0, 0, 0x7E, 0, 0, 0, 0])
        #expect(throws: WireError.unknownType(0x7E)) { try decoder.next() }

        let truncated = WireFrame(type: .closeChannel, correlation: 1, payload: [1, 2, 3])
        #expect(throws: WireError.truncated(field: "handle")) { try ClientMessage(frame: truncated) }
        let trailing = WireFrame(type: .ping, correlation: 1, payload: [0])
        #expect(throws: WireError.trailingBytes(1)) { try ClientMessage(frame: trailing) }
        let serverFrame = ServerMessage.ok.frame(correlation: 1)
        #expect(throws: WireError.self) { try ClientMessage(frame: serverFrame) }
    }

    @Test func limitsAreCheckedBeforeAllocating() throws {
        var limits = WireLimits()
        limits.patternsMax = 2
        limits.dataBytesMax = 4
        limits.batchMax = 2
        let tooManyPatterns = ClientMessage.publish(handle: 1, events: [WireEvent(patterns: [[], [], []], data: [])])
        #expect(throws: WireError.limitExceeded(field: "pattern count", value: 3, max: 2)) {
            try ClientMessage(frame: tooManyPatterns.frame(correlation: 1), limits: limits)
        }
        let tooMuchData = ClientMessage.publish(handle: 1, events: [WireEvent(data: [1, 2, 3, 4, 5])])
        #expect(throws: WireError.limitExceeded(field: "event data", value: 5, max: 4)) {
            try ClientMessage(frame: tooMuchData.frame(correlation: 1), limits: limits)
        }
        let tooManyEvents = ClientMessage.publish(handle: 1, events: Array(repeating: WireEvent(data: []), count: 3))
        #expect(throws: WireError.limitExceeded(field: "event count", value: 3, max: 2)) {
            try ClientMessage(frame: tooManyEvents.frame(correlation: 1), limits: limits)
        }
        // A count that claims more elements than the bytes present is refused as truncated
        // (no array of 4 billion is reserved).
        var writer = WireWriter()
        writer.u32(1)
        writer.u32(60_000)
        let lying = WireFrame(type: .ack, correlation: 1, payload: writer.bytes)
        #expect(throws: WireError.truncated(field: "ack count")) { try ClientMessage(frame: lying) }
    }

    @Test func badUTF8InANameIsRefused() {
        var writer = WireWriter()
        writer.raw(WireHello.magic)
        writer.u16(1)
        writer.u16(1)
        writer.u32(1)
        writer.bytes16([0xC3, 0x28])
        let frame = WireFrame(type: .hello, correlation: 0, payload: writer.bytes)
        #expect(throws: WireError.badUTF8(field: "client name")) { try ClientMessage(frame: frame) }
    }
}

/// A small seeded generator, so random tests replay exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
