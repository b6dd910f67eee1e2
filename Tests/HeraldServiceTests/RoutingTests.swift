import HeraldJournal
import HeraldWire
import Testing

@testable import HeraldService

/// OCF group messaging: multicast to nodes, unicast to a session or a durable name, replies
/// to an event's publisher. Addressed events reach only their addressees.
@Suite struct RoutingTests {
    let name = Array("grp".utf8)

    func service(_ fs: SimulatedFileSystem = SimulatedFileSystem()) async throws -> EventService {
        try await EventService.open(journal: try Journal.open(at: "/j", options: simulatedOptions(fs)), localNode: "n1")
    }

    /// Deliveries of a collector other than joins and leaves: (data, descriptor) pairs.
    func casts(_ collector: Collector, count: Int) async -> [Delivery] {
        let got = await collector.wait(for: count)
        return got.filter { $0.descriptor == .cast || $0.descriptor == .reply }
    }

    @Test func unicastToASessionReachesOnlyThatSessionsStreams() async throws {
        let service = try await service()
        let a = try await service.openChannel(name, flags: [.create, .subscriber, .publisher])
        let b = try await service.openChannel(name, flags: [.subscriber])
        let sessionA = SessionAddress([a.opener])
        let streamA = Collector(
            try await service.subscribe(a, id: 1, filters: [EventFilter(.passAll)], session: sessionA))
        let streamB = Collector(try await service.subscribe(b, id: 1, filters: [EventFilter(.passAll)]))
        // The OCF class stream of session A's connection, and one of another connection.
        let groupA = Collector(try await service.classSubscriber([.group], session: sessionA))
        let groupOther = Collector(try await service.classSubscriber([.group]))

        _ = try await service.publish(a, EventAttributes(), data: [1], route: EventRoute(target: .session(b.opener)))
        _ = try await service.publish(a, EventAttributes(), data: [2], route: EventRoute(target: .session(a.opener)))
        _ = try await service.publish(a, EventAttributes(), data: [3])  // everyone
        #expect(await streamA.wait(for: 2).map(\.data) == [[2], [3]])
        #expect(await streamB.wait(for: 2).map(\.data) == [[1], [3]])
        #expect(await casts(groupA, count: 2).map(\.data) == [[2], [3]])
        #expect(await casts(groupOther, count: 1).map(\.data) == [[3]])
        let routes = streamA.deliveries.map(\.route)
        #expect(routes.map { $0?.cast } == [.unicast, .broadcast])
        #expect(routes.allSatisfy { $0?.sender == a.opener }, "the sender is the publishing open")

        // A session with no open is refused, and nothing is journaled.
        let head = service.journal.head.sequence
        await #expect(throws: ServiceError.notExist) {
            try await service.publish(a, EventAttributes(), data: [4], route: EventRoute(target: .session(999_999)))
        }
        #expect(service.journal.head.sequence == head)
        await service.shutdown()
    }

    @Test func multicastReachesTheListedNodesOnly() async throws {
        let service = try await service()
        #expect(service.routeNode == 1, "a single node is node 1, as in its membership")
        let open = try await service.openChannel(name, flags: [.create, .subscriber, .publisher])
        let stream = Collector(try await service.subscribe(open, id: 1, filters: [EventFilter(.passAll)]))
        _ = try await service.publish(open, EventAttributes(), data: [1], route: EventRoute(target: .nodes([2, 3])))
        _ = try await service.publish(open, EventAttributes(), data: [2], route: EventRoute(target: .nodes([3, 1])))
        let got = await stream.wait(for: 1)
        try await Task.sleep(for: .milliseconds(50))
        #expect(got.map(\.data) == [[2]])
        #expect(stream.deliveries.count == 1)
        #expect(got.first?.route?.cast == .multicast)
        await #expect(throws: ServiceError.invalidParameter) {
            try await service.publish(open, EventAttributes(), data: [3], route: EventRoute(target: .nodes([])))
        }
        // Every node applies the same record: on node 3 the first one is delivered.
        let recipient = RouteRecipient(node: 3, durableName: nil, session: SessionAddress())
        let record = try #require(
            try service.journal.record(SequenceNumber(service.journal.head.sequence.rawValue - 1)))
        let routing = DeliveryContent.routing(flags: record.flags, publisher: record.publisher)
        #expect(recipient.admits(routing))
        let onNode1 = RouteRecipient(node: 1, durableName: nil, session: SessionAddress())
        #expect(!onNode1.admits(routing))
        await service.shutdown()
    }

    @Test func unicastToANameNobodyUsesWaitsForItsFirstAttach() async throws {
        let service = try await service()
        let open = try await service.openChannel(name, flags: [.create, .publisher])
        let id = try await service.publish(
            open, EventAttributes(), data: [9], route: EventRoute(target: .name(Array("billing".utf8))))
        _ = try await service.publish(open, EventAttributes(), data: [10])
        let other = Collector(
            try await service.classSubscriber(
                [.group], options: SubscriberOptions(start: .cursor, durableName: "audit")))
        let billing = Collector(
            try await service.classSubscriber(
                [.group], options: SubscriberOptions(start: .cursor, durableName: "billing")))
        #expect(await casts(billing, count: 2).map(\.eventID) == [id, EventID(rawValue: id.rawValue + 1)])
        #expect(await casts(other, count: 1).map(\.data) == [[10]])
        await service.shutdown()
    }

    @Test func aReplyGoesToTheRequestersSessionAsGroupReply() async throws {
        let service = try await service()
        let requester = try await service.openChannel(name, flags: [.create, .subscriber, .publisher])
        let responder = try await service.openChannel(name, flags: [.subscriber, .publisher])
        let session = SessionAddress([requester.opener])
        let group = Collector(try await service.classSubscriber([.group], session: session))
        let bystander = Collector(try await service.classSubscriber([.group]))
        let responderStream = Collector(try await service.subscribe(responder, id: 1, filters: [EventFilter(.passAll)]))

        let request = try await service.publish(
            requester, EventAttributes(), data: Array("ask".utf8), route: EventRoute(target: .nodes([1])))
        #expect(await responderStream.wait(for: 1).map(\.eventID) == [request])
        let reply = try await service.publish(
            responder, EventAttributes(), data: Array("answer".utf8), route: EventRoute(replyTo: request.rawValue))
        _ = try await service.publish(responder, EventAttributes(), data: Array("after".utf8))

        let got = await casts(group, count: 3)
        #expect(got.map(\.eventID) == [request, reply, EventID(rawValue: reply.rawValue + 1)], "in journal order")
        #expect(got[1].descriptor == .reply)
        #expect(got[1].route == DeliveryRoute(cast: .unicast, replyTo: request.rawValue, sender: responder.opener))
        #expect(await casts(bystander, count: 2).map(\.data) == [Array("ask".utf8), Array("after".utf8)])
        try await Task.sleep(for: .milliseconds(50))
        #expect(responderStream.deliveries.map(\.data) == [Array("ask".utf8), Array("after".utf8)])

        // Refused: a reply to an unknown id, to a record that is no published event (the
        // requester's open), to a reserved id; a reply with an address of its own.
        for bad in [reply.rawValue + 1000, EventID(sequence: SequenceNumber(requester.opener)).rawValue, 5] {
            await #expect(throws: ServiceError.notExist) {
                try await service.publish(responder, EventAttributes(), data: [], route: EventRoute(replyTo: bad))
            }
        }
        await #expect(throws: ServiceError.invalidParameter) {
            try await service.publish(
                responder, EventAttributes(), data: [],
                route: EventRoute(target: .nodes([1]), replyTo: request.rawValue))
        }
        await service.shutdown()
    }

    /// A requester that published under its durable name, went away and came back under
    /// the same name (a new session) still receives the reply published while it was away.
    @Test func aRestartedRequesterGetsItsRepliesByDurableName() async throws {
        let fs = SimulatedFileSystem()
        var service = try await service(fs)
        var open = try await service.openChannel(name, flags: [.create, .publisher])
        let first = try await service.classSubscriber(
            [.group], options: SubscriberOptions(start: .cursor, durableName: "req"),
            session: SessionAddress([open.opener]))
        let request = try await service.publish(
            open, EventAttributes(), data: [1], route: EventRoute(senderName: Array("req".utf8)))
        try await service.removeClassSubscriber(first)
        try await service.closeChannel(open)
        await service.shutdown()

        service = try await self.service(fs)
        let responder = try await service.openChannel(name, flags: [.publisher])
        let reply = try await service.publish(
            responder, EventAttributes(), data: [2], route: EventRoute(replyTo: request.rawValue))
        open = try await service.openChannel(name, flags: [.publisher])
        let again = Collector(
            try await service.classSubscriber(
                [.group], options: SubscriberOptions(start: .cursor, durableName: "req"),
                session: SessionAddress([open.opener])))
        let got = await casts(again, count: 2)
        #expect(got.map(\.eventID) == [request, reply])
        #expect(got.first { $0.eventID == reply }?.descriptor == .reply)
        await service.shutdown()
    }

    @Test func retainedAddressedEventsReachOnlyTheirAddressees() async throws {
        let service = try await service()
        let publisher = try await service.openChannel(name, flags: [.create, .publisher])
        let a = try await service.openChannel(name, flags: [.subscriber])
        let b = try await service.openChannel(name, flags: [.subscriber])
        _ = try await service.publish(
            publisher, EventAttributes(retention: 60_000_000_000), data: [1],
            route: EventRoute(target: .session(a.opener)))
        let streamA = Collector(try await service.subscribe(a, id: 1, filters: [EventFilter(.passAll)]))
        let streamB = Collector(try await service.subscribe(b, id: 1, filters: [EventFilter(.passAll)]))
        let got = await streamA.wait(for: 1)
        #expect(got.map(\.data) == [[1]] && got.allSatisfy(\.retained))
        try await Task.sleep(for: .milliseconds(50))
        #expect(streamB.deliveries.isEmpty)
        await service.shutdown()
    }

    /// Records journaled before routes existed (no route flag) are broadcasts, and have no
    /// publisher to reply to.
    @Test func recordsWithoutARouteAreBroadcasts() async throws {
        let service = try await service()
        let open = try await service.openChannel(name, flags: [.create, .subscriber, .publisher])
        let stream = Collector(try await service.subscribe(open, id: 1, filters: [EventFilter(.passAll)]))
        let old = JournalEntry(
            time: 1, descriptor: EventDescriptor.cast.rawValue, channel: open.channel, priority: 1,
            flags: ServiceRecordKind.publish.rawValue, publisher: Array("old".utf8), data: [7])
        let range = try await service.journal.append([old])
        _ = try await service.publish(open, EventAttributes(), data: [8])
        let got = await stream.wait(for: 2)
        #expect(got.map(\.data) == [[7], [8]])
        #expect(got[0].route == nil && got[0].attributes.publisherName == Array("old".utf8))
        await #expect(throws: ServiceError.notExist) {
            try await service.publish(
                open, EventAttributes(), data: [], route: EventRoute(replyTo: EventID(sequence: range.last).rawValue))
        }
        await service.shutdown()
    }

    /// The publisher name is the name alone, in deliveries and in the index, whatever route
    /// and origin the record carries.
    @Test func thePublisherNameExcludesOriginAndRoute() async throws {
        let service = try await service()
        let open = try await service.openChannel(name, flags: [.create, .subscriber, .publisher])
        let stream = Collector(try await service.subscribe(open, id: 1, filters: [EventFilter(.passAll)]))
        _ = try await service.publish(
            open, EventAttributes(publisherName: Array("pub".utf8)), data: [1],
            origin: PublisherOrigin(uid: 1, gid: 2, pid: 3),
            route: EventRoute(target: .session(open.opener), senderName: Array("me".utf8)))
        let got = try #require(await stream.wait(for: 1).first)
        #expect(got.attributes.publisherName == Array("pub".utf8))
        #expect(got.origin == PublisherOrigin(uid: 1, gid: 2, pid: 3))
        let record = try #require(try service.journal.record(got.sequence))
        #expect(record.publisherName == Array("pub".utf8))
        await service.shutdown()
    }
}

/// The subscriber's cache of the last publisher field: decoded once for a run of records
/// from one publisher, and what it gives is what decoding each field alone gives.
@Suite struct PublisherCacheTests {
    let origin = PublisherOrigin(uid: 7, gid: 8, pid: 9)
    let flags = PublisherOrigin.flag | RecordCodec.routeFlag

    func route(_ cached: DeliveryContent.Routing) -> (EventRoute?, DeliveryRoute?) {
        switch cached {
        case .none, .undecodable: return (nil, nil)
        case .everyone(let delivered): return (nil, delivered)
        case .routed(let route, let delivered): return (route, delivered)
        }
    }

    @Test func aRunOfOnePublishersRecordsIsDecodedOnce() {
        var cache = Subscriber.PublisherCache()
        let unicast = PublisherOrigin.publisherField(
            origin, route: EventRoute(target: .session(42), sender: 5), name: Array("pub".utf8))
        let broadcast = PublisherOrigin.publisherField(
            origin, route: EventRoute(target: .everyone, sender: 6), name: Array("pub".utf8))
        for _ in 0..<100 {
            let fields = cache.fields(flags: flags, publisher: unicast[...])
            #expect(fields.origin == origin && fields.name == Array("pub".utf8))
            #expect(route(fields.routing).0 == EventRoute(target: .session(42), sender: 5))
        }
        #expect(cache.decoded == 1)
        // Another publisher field, then the same bytes with other flags: decoded again each.
        let other = cache.fields(flags: flags, publisher: broadcast)
        #expect(route(other.routing).0 == nil)
        #expect(route(other.routing).1 == DeliveryRoute(cast: .broadcast, replyTo: 0, sender: 6))
        let unrouted = cache.fields(flags: PublisherOrigin.flag, publisher: broadcast)
        #expect(route(unrouted.routing).1 == nil && unrouted.origin == origin)
        #expect(cache.decoded == 3)
        // Each as decoding the field alone gives it.
        for field in [unicast, broadcast] {
            let alone = route(DeliveryContent.routing(flags: flags, publisher: field))
            let cached = route(cache.fields(flags: flags, publisher: field).routing)
            #expect(alone.0 == cached.0 && alone.1 == cached.1)
        }
    }
}
