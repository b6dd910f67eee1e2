import HeraldJournal
import Synchronization
import Testing

@testable import HeraldService

/// 100 subscribers on one channel, each with its own mix of filters, window and way of
/// taking deliveries (one by one, or whole batches acknowledged at once): each receives
/// exactly the events a brute-force filter of what was published gives, in journal order,
/// each once, with the lowest matching subscription id.
@Suite struct ManySubscribersTests {
    static let vocabulary = ["link", "link-up", "link-down", "node/1", "node/2", "quorum", "", "up"]

    struct Plan {
        var subscriptions: [(id: UInt32, filters: [EventFilter])]
        var window: Int
        var batches: Bool
    }

    @Test func hundredSubscribersEachGetExactlyTheirEventsInOrder() async throws {
        var random = SplitMix64(seed: 11)
        func pick() -> String { Self.vocabulary[Int(random.next() % UInt64(Self.vocabulary.count))] }
        let journal = try Journal.open(at: "/j", options: simulatedOptions(SimulatedFileSystem()))
        let service = try await EventService.open(journal: journal)
        let name = Array("cluster".utf8)
        let publisher = try await service.openChannel(name, flags: .all)

        // Every subscriber also has subscription 999 (exact "marker" on the first pattern):
        // the marker published last tells that everything before it has been delivered.
        var plans: [Plan] = []
        var collectors: [BatchCollector] = []
        for index in 0..<100 {
            var subscriptions: [(id: UInt32, filters: [EventFilter])] = []
            for id in 1...UInt32(1 + random.next() % 3) {
                let filters = (0..<Int(random.next() % 3)).map { _ in
                    EventFilter(FilterType.allCases[Int(random.next() % 4)], pick())
                }
                subscriptions.append((id * 10 + UInt32(index % 7), filters))
            }
            subscriptions.append((999, [EventFilter(.exact, "marker")]))
            let plan = Plan(
                subscriptions: subscriptions, window: [1, 7, 64, 512][Int(random.next() % 4)],
                batches: random.next() % 2 == 0)
            let open = try await service.openChannel(name, flags: [.subscriber])
            let subscriber = try await service.subscriber(
                for: open, options: SubscriberOptions(start: .oldest, window: plan.window))
            for subscription in plan.subscriptions {
                try await service.subscribe(open, id: subscription.id, filters: subscription.filters)
            }
            plans.append(plan)
            collectors.append(BatchCollector(subscriber, batches: plan.batches))
        }

        var published: [(sequence: SequenceNumber, patterns: [[UInt8]])] = []
        for _ in 0..<30 {
            var events: [(EventAttributes, [UInt8])] = []
            for _ in 0..<100 {
                let patterns = (0..<Int(random.next() % 4)).map { _ in Array(pick().utf8) }
                events.append((EventAttributes(patterns: patterns), [UInt8(random.next() % 256)]))
            }
            let ids = try await service.publish(publisher, events)
            for (id, event) in zip(ids, events) { published.append((try #require(id.sequence), event.0.patterns)) }
        }
        let marker = try await service.publish(
            publisher, EventAttributes(patterns: [Array("marker".utf8)]), data: [])
        published.append((try #require(marker.sequence), [Array("marker".utf8)]))

        for (index, (plan, collector)) in zip(plans, collectors).enumerated() {
            let received = try await collector.waitFor(try #require(marker.sequence))
            let expected = published.compactMap { event -> (SequenceNumber, UInt32)? in
                let matching = plan.subscriptions.filter { EventFilter.matches($0.filters, patterns: event.patterns) }
                guard let lowest = matching.map(\.id).min() else { return nil }
                return (event.sequence, lowest)
            }
            let got = received
            #expect(got.map(\.sequence) == expected.map { $0.0 }, "subscriber \(index): sequences differ")
            #expect(got.map(\.subscriptionID) == expected.map { $0.1 }, "subscriber \(index): subscription ids differ")
            #expect(received.last?.sequence == marker.sequence)
        }
        for collector in collectors { collector.task.cancel() }
    }

    /// The records read for subscribers stay about one per record appended however many
    /// subscribers wait at the head: the live dispatcher reads each record once and looks
    /// only at the subscribers of its channel (each of these 44 subscribers reading the
    /// journal for itself read every record, 44 per record appended).
    @Test func recordsAreReadOnceHoweverManySubscribersWaitAtTheHead() async throws {
        let journal = try Journal.open(at: "/j", options: simulatedOptions(SimulatedFileSystem()))
        let service = try await EventService.open(journal: journal)
        let busy = try await service.openChannel(Array("busy".utf8), flags: .all)
        var quiet: [BatchCollector] = []
        for index in 0..<40 {
            let open = try await service.openChannel(Array("quiet\(index)".utf8), flags: [.create, .subscriber])
            quiet.append(BatchCollector(try await service.subscribe(open, id: 1, filters: []), batches: true))
        }
        var loud: [(collector: BatchCollector, prefix: String?)] = []
        for index in 0..<4 {
            let open = try await service.openChannel(Array("busy".utf8), flags: [.subscriber])
            let prefix = index % 2 == 0 ? nil : "odd"
            let filters = prefix.map { [EventFilter(.prefix, $0)] } ?? []
            loud.append(
                (BatchCollector(try await service.subscribe(open, id: 1, filters: filters), batches: true), prefix))
        }
        for _ in 0..<2000 where service.liveSubscriberCount < 44 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(service.liveSubscriberCount == 44, "every subscriber reached the head")

        let readBefore = service.recordsReadForSubscribers
        let headBefore = journal.head.sequence
        var odd: [SequenceNumber] = []
        for batch in 0..<20 {
            let events = (0..<100).map { index in
                (EventAttributes(patterns: [Array((index % 2 == 1 ? "odd" : "even").utf8)]), [UInt8(batch)])
            }
            let ids = try await service.publish(busy, events)
            odd += ids.enumerated().filter { $0.offset % 2 == 1 }.compactMap(\.element.sequence)
        }
        let last = journal.head.sequence
        for (collector, prefix) in loud {
            let got = try await collector.waitFor(prefix == nil ? last : odd.last!).map(\.sequence)
            #expect(got.count == (prefix == nil ? 2000 : 1000))
            if prefix != nil { #expect(got == odd) }
        }
        let read = service.recordsReadForSubscribers - readBefore
        let appended = last.rawValue - headBefore.rawValue
        #expect(read >= appended, "every record appended was looked at")
        #expect(read < 3 * appended, "records read for subscribers: \(read) for \(appended) appended")
        #expect(quiet.allSatisfy { $0.received.isEmpty }, "nothing for the other channels' subscribers")
        // Decoded once for all: the deliveries of a record share its content (6 000 deliveries
        // of 2 000 records would be 6 000 contents if each subscriber copied; a subscriber that
        // left the dispatcher under load and read on its own adds its own at most).
        let deliveries = loud.flatMap { $0.collector.received.filter { $0.sequence > headBefore } }
        #expect(deliveries.count == 6000)
        let contents = Set(deliveries.map { ObjectIdentifier($0.content) }).count
        #expect(contents < 4000, "\(contents) contents for \(deliveries.count) deliveries of \(appended) records")
        for collector in quiet + loud.map(\.collector) { collector.task.cancel() }
        await service.shutdown()
    }
}

/// Takes a subscriber's deliveries one by one (acknowledging each) or batch by batch
/// (acknowledging each batch at once), and lets a test wait for a sequence number.
final class BatchCollector: Sendable {
    final class Received: Sendable {
        let list = Mutex<[Delivery]>([])
    }

    private let store = Received()
    let task: Task<Void, Never>

    init(_ subscriber: Subscriber, batches: Bool) {
        let received = store
        if batches {
            task = Task {
                for await batch in subscriber.batches {
                    received.list.withLock { $0 += batch }
                    subscriber.acknowledge(batch.map(\.sequence))
                }
            }
        } else {
            task = Task {
                for await delivery in subscriber {
                    received.list.withLock { $0.append(delivery) }
                    delivery.done()
                }
            }
        }
    }

    var received: [Delivery] { store.list.withLock { $0 } }

    /// The deliveries once `sequence` was delivered (at most 20 s).
    func waitFor(_ sequence: SequenceNumber) async throws -> [Delivery] {
        for _ in 0..<2000 {
            let now = store.list.withLock { $0 }
            if now.contains(where: { $0.sequence == sequence }) { return now }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw CancellationError()
    }
}
