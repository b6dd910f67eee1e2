import Foundation
import GRDB
import HeraldJournal
import Synchronization
import Testing

@testable import HeraldService

/// Collects a subscriber's deliveries in the background, acknowledging them if asked.
final class Collector: Sendable {
    final class Received: Sendable {
        let list = Mutex<[Delivery]>([])
    }

    let received = Received()
    let task: Task<Void, Never>

    init(_ subscriber: Subscriber, acknowledge: Bool = true) {
        let received = self.received
        task = Task {
            for await delivery in subscriber {
                received.list.withLock { $0.append(delivery) }
                if acknowledge { delivery.done() }
            }
        }
    }

    var deliveries: [Delivery] { received.list.withLock { $0 } }

    /// Waits (up to 5 s) until at least `count` deliveries arrived; returns them.
    func wait(for count: Int) async -> [Delivery] {
        for _ in 0..<500 {
            let now = deliveries
            if now.count >= count { return now }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return deliveries
    }
}

/// A subscriber whose every delivery is recorded (its sequence) and acknowledged at once.
final class AckingConsumer: Sendable {
    final class HandedOut: Sendable {
        let list = Mutex<[UInt64]>([])
    }

    let subscriber: Subscriber
    private let handedOut = HandedOut()
    let task: Task<Void, Never>

    init(_ subscriber: Subscriber) {
        self.subscriber = subscriber
        let handedOut = self.handedOut
        task = Task {
            for await delivery in subscriber {
                handedOut.list.withLock { $0.append(delivery.sequence.rawValue) }
                delivery.done()
            }
        }
    }

    var sequences: [UInt64] { handedOut.list.withLock { $0 } }
}

@Suite struct SubscriberTests {
    let channel = Array("cluster".utf8)

    func service(_ fs: SimulatedFileSystem = SimulatedFileSystem(), clock: ManualWallClock = ManualWallClock())
        async throws -> EventService
    {
        let options = simulatedOptions(fs, clock: clock)
        return try await EventService.open(journal: try Journal.open(at: "/j", options: options), clock: clock)
    }

    func publish(_ service: EventService, _ handle: ChannelHandle, _ pattern: String, retention: Nanoseconds = 0)
        async throws -> EventID
    {
        try await service.publish(
            handle, EventAttributes(patterns: [Array(pattern.utf8)], retention: retention), data: Array(pattern.utf8))
    }

    /// The delivery loop runs below the publishing path (Subscriber.loopPriority, on
    /// DeliveryExecutor's threads): the guard of that choice, whose effect tools/bench
    /// service and tools/soak-hostile measure.
    @Test func theDeliveryLoopRunsBelowThePublishers() async throws {
        let service = try await service()
        let handle = try await service.openChannel(channel, flags: .all)
        let subscriber = try await service.subscribe(handle, id: 1, filters: [])
        let collector = Collector(subscriber)
        _ = try await publish(service, handle, "one")
        _ = await collector.wait(for: 1)
        let started = subscriber.state.withLock { $0.loopStartedAt }
        #expect(started?.priority == .low, "\(String(describing: started))")
        #expect(Subscriber.loopPriority < TaskPriority.medium)
        // ... on the delivery threads, which the kernel schedules beside the rest,
        // not on the concurrency pool, where a busy request path starved them.
        #expect(started?.onDeliveryThread == true)
        let niceness = try await Self.niceOfDeliveryThread()
        #expect(niceness == DeliveryExecutor.shared.niceness)
        await service.shutdown()
    }

    /// The nice value of the delivery thread a task preferring the executor runs on
    /// (Linux: PRIO_PROCESS with 0 reads the calling thread's).
    static func niceOfDeliveryThread() async throws -> Int32 {
        await Task.detached(executorPreference: DeliveryExecutor.shared) {
            #expect(DeliveryExecutor.isCurrent)
            return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        }.value
    }

    @Test func filtersSelectAndThePublisherReceivesItsOwnEvents() async throws {
        let service = try await service()
        let handle = try await service.openChannel(channel, flags: .all)
        let subscriber = try await service.subscribe(handle, id: 7, filters: [EventFilter(.prefix, "link")])
        let collector = Collector(subscriber)
        _ = try await publish(service, handle, "link-up")
        _ = try await publish(service, handle, "member-join")
        let last = try await publish(service, handle, "link-down")
        let got = await collector.wait(for: 2)
        #expect(got.map(\.data) == [Array("link-up".utf8), Array("link-down".utf8)])
        #expect(got.allSatisfy { $0.subscriptionID == 7 && !$0.redelivered && !$0.retained })
        #expect(got.last?.eventID == last)
        // Nothing else came before a marker published after them (waited for, not timed).
        let marker = try await publish(service, handle, "link-marker")
        let all = await collector.wait(for: 3)
        #expect(all.map(\.eventID) == [got[0].eventID, last, marker])
        await service.shutdown()
    }

    @Test func atMostOncePerOpenAndOncePerEachOpen() async throws {
        let service = try await service()
        let first = try await service.openChannel(channel, flags: .all)
        let second = try await service.openChannel(channel, flags: [.subscriber])
        try await service.subscribe(first, id: 5, filters: [EventFilter(.passAll)])
        let subscriber = try await service.subscribe(first, id: 2, filters: [EventFilter(.prefix, "li")])
        let other = try await service.subscribe(second, id: 1, filters: [])
        let a = Collector(subscriber)
        let b = Collector(other)
        _ = try await publish(service, first, "link")
        _ = try await publish(service, first, "zzz")
        let got = await a.wait(for: 2)
        #expect(got.map(\.subscriptionID) == [2, 5], "one delivery each, naming the lowest matching subscription")
        #expect(await b.wait(for: 2).count == 2)
        // No second delivery of either event to the first open before a later marker.
        _ = try await publish(service, first, "link-marker")
        #expect(await a.wait(for: 3).map(\.subscriptionID) == [2, 5, 2])
        #expect(await b.wait(for: 3).count == 3)
        await service.shutdown()
    }

    @Test func subscriptionErrors() async throws {
        let service = try await service()
        let publisher = try await service.openChannel(channel, flags: [.create, .publisher])
        let subscriberHandle = try await service.openChannel(channel, flags: [.subscriber])
        await #expect(throws: ServiceError.access) { try await service.subscribe(publisher, id: 1, filters: []) }
        try await service.subscribe(subscriberHandle, id: 1, filters: [])
        await #expect(throws: ServiceError.exist) { try await service.subscribe(subscriberHandle, id: 1, filters: []) }
        await #expect(throws: ServiceError.notExist) { try await service.unsubscribe(subscriberHandle, id: 9) }
        try await service.unsubscribe(subscriberHandle, id: 1)
        await service.shutdown()
    }

    @Test func retainedEventsReachALateSubscriberFirst() async throws {
        let clock = ManualWallClock(1_000_000_000)
        let service = try await service(clock: clock)
        let handle = try await service.openChannel(channel, flags: .all)
        let kept = try await publish(service, handle, "link-1", retention: 60_000_000_000)
        _ = try await publish(service, handle, "link-2")  // not retained
        _ = try await publish(service, handle, "link-3", retention: 1_000)  // expires
        _ = try await publish(service, handle, "other", retention: 60_000_000_000)  // filtered out
        clock.advance(by: 10_000)
        let late = try await service.openChannel(channel, flags: [.subscriber])
        let collector = Collector(try await service.subscribe(late, id: 1, filters: [EventFilter(.prefix, "link")]))
        let live = try await publish(service, handle, "link-4")
        let got = await collector.wait(for: 2)
        #expect(got.map(\.eventID) == [kept, live])
        #expect(got.map(\.retained) == [true, false])
        await service.shutdown()
    }

    /// Events read ahead of the window (for priority order) and not handed out yet hold the
    /// durable cursor back: acknowledging the first of five moves it to the first, not past
    /// the ones still waiting in the subscriber.
    @Test func eventsReadAheadHoldTheDurableCursorBack() async throws {
        let service = try await service()
        let handle = try await service.openChannel(channel, flags: .all)
        var published: [EventID] = []
        for i in 0..<5 { published.append(try await publish(service, handle, "e\(i)")) }
        let subscriber = try await service.subscriber(
            for: handle, options: SubscriberOptions(start: .oldest, durableName: "ahead", window: 1))
        try await service.subscribe(handle, id: 1, filters: [])
        let collector = Collector(subscriber, acknowledge: false)
        let first = await collector.wait(for: 1)
        #expect(first.map(\.eventID) == [published[0]])
        first[0].done()
        // The second comes only after the first is done: the cursor has moved by then.
        let two = await collector.wait(for: 2)
        #expect(two.map(\.eventID) == Array(published.prefix(2)))
        try await service.flushCursors()
        let cursor = try await service.storedCursors().first { $0.name == "ahead" }
        #expect(cursor?.acknowledged == first[0].sequence, "the cursor passed events not handed out yet")
        await service.shutdown()
    }

    /// Issue 18's case on the service (manual clock): events retained 10 s, read for a
    /// subscription (one handed out, one read ahead beyond a window of 1), the subscription
    /// ended, 15 s later a new one on the same open: neither the expired retained events nor
    /// what was read ahead for the ended subscription reach it; the next event does, first.
    @Test func anEndedSubscriptionsEventsAndExpiredRetainedOnesReachNoLaterSubscription() async throws {
        let clock = ManualWallClock(1_000_000_000)
        let service = try await service(clock: clock)
        let handle = try await service.openChannel(channel, flags: .all)
        let subscriber = try await service.subscriber(for: handle, options: SubscriberOptions(window: 1))
        try await service.subscribe(handle, id: 1, filters: [])
        let collector = Collector(subscriber, acknowledge: false)
        let tenSeconds: Nanoseconds = 10_000_000_000
        let first = try await publish(service, handle, "r1", retention: tenSeconds)
        _ = try await publish(service, handle, "r2", retention: tenSeconds)
        #expect(await collector.wait(for: 1).map(\.eventID) == [first])
        try await service.unsubscribe(handle, id: 1)
        clock.advance(by: 15_000_000_000)
        #expect(await service.retainedEvents(in: handle.channel).isEmpty)
        try await service.subscribe(handle, id: 2, filters: [])
        collector.deliveries[0].done()  // frees the window: r2 was read ahead for subscription 1
        let marker = try await publish(service, handle, "marker")
        let got = await collector.wait(for: 2)
        #expect(got.map(\.eventID) == [first, marker], "r2 or a retained event went to the new subscription")
        #expect(got.last?.subscriptionID == 2)
        await service.shutdown()
    }

    /// What was read ahead for a subscription that ends goes to another subscription of the
    /// same open that accepts it (openais' rule for undelivered events), not to nobody.
    @Test func readAheadForAnEndedSubscriptionGoesToAnotherThatAcceptsIt() async throws {
        let service = try await service()
        let handle = try await service.openChannel(channel, flags: .all)
        let subscriber = try await service.subscriber(for: handle, options: SubscriberOptions(window: 1))
        try await service.subscribe(handle, id: 1, filters: [])
        try await service.subscribe(handle, id: 5, filters: [EventFilter(.prefix, "b")])
        let collector = Collector(subscriber, acknowledge: false)
        let a = try await publish(service, handle, "a1")
        let b = try await publish(service, handle, "b1")
        let c = try await publish(service, handle, "a2")
        #expect(await collector.wait(for: 1).map(\.eventID) == [a])
        try await service.unsubscribe(handle, id: 1)
        collector.deliveries[0].done()
        let marker = try await publish(service, handle, "b-marker")
        var got = await collector.wait(for: 2)
        got.last?.done()
        got = await collector.wait(for: 3)
        #expect(got.map(\.eventID) == [a, b, marker], "a2 (\(c)) matches no remaining subscription")
        #expect(got.dropFirst().map(\.subscriptionID) == [5, 5])
        await service.shutdown()
    }

    @Test func windowOfOneDeliversTheNextEventOnlyAfterDone() async throws {
        let service = try await service()
        let handle = try await service.openChannel(channel, flags: .all)
        let subscriber = try await service.subscriber(for: handle, options: SubscriberOptions(window: 1))
        try await service.subscribe(handle, id: 1, filters: [])
        let collector = Collector(subscriber, acknowledge: false)
        for i in 0..<3 { _ = try await publish(service, handle, "e\(i)") }
        _ = await collector.wait(for: 1)
        try await Task.sleep(for: .milliseconds(50))
        #expect(collector.deliveries.count == 1)
        collector.deliveries[0].done()
        collector.deliveries[0].done()  // harmless twice
        _ = await collector.wait(for: 2)
        try await Task.sleep(for: .milliseconds(50))
        #expect(collector.deliveries.count == 2)
        collector.deliveries[1].done()
        #expect(await collector.wait(for: 3).map(\.data) == ["e0", "e1", "e2"].map { Array($0.utf8) })
        await service.shutdown()
    }

    /// The window is bounded in bytes as well as in deliveries: with 20 kB events and 50 kB
    /// of window, three are outstanding at once (two fit, the third passes the bound and
    /// closes it), and a bulk refill waits until a quarter of the bytes is free. An event
    /// bigger than the whole window still goes out, alone. Live (the dispatcher's read-ahead)
    /// and replaying (the subscriber's own reader) alike.
    @Test func theWindowIsBoundedInBytesToo() async throws {
        for replaying in [false, true] {
            let service = try await service()
            let handle = try await service.openChannel(channel, flags: .all)
            var options = SubscriberOptions(start: replaying ? .oldest : .now, window: 64)
            options.windowBytes = 50_000
            let events = (0..<9).map { index in
                (EventAttributes(patterns: [[UInt8(index)]]), [UInt8](repeating: UInt8(index), count: 20_000))
            }
            let huge = (EventAttributes(), [UInt8](repeating: 9, count: 60_000))
            if replaying { _ = try await service.publish(handle, events + [huge]) }
            let subscriber = try await service.subscriber(for: handle, options: options)
            try await service.subscribe(handle, id: 1, filters: [])
            let collector = Collector(subscriber, acknowledge: false)
            if !replaying { _ = try await service.publish(handle, events + [huge]) }
            _ = await collector.wait(for: 3)
            try await Task.sleep(for: .milliseconds(100))
            #expect(collector.deliveries.count == 3, "replaying \(replaying)")
            collector.deliveries[0].done()
            try await Task.sleep(for: .milliseconds(100))
            #expect(collector.deliveries.count == 3, "40 kB outstanding: no bulk refill yet")
            collector.deliveries[1].done()
            _ = await collector.wait(for: 5)
            try await Task.sleep(for: .milliseconds(100))
            #expect(collector.deliveries.count == 5, "20 kB outstanding: refilled up to the bound")
            for delivery in collector.deliveries { delivery.done() }
            _ = await collector.wait(for: 8)
            for delivery in collector.deliveries { delivery.done() }
            _ = await collector.wait(for: 10)
            for delivery in collector.deliveries { delivery.done() }
            let all = await collector.wait(for: 10)
            #expect(
                all.map(\.data.count) == Array(repeating: 20_000, count: 9) + [60_000], "in order, the huge one too")
            #expect(all.map(\.data.first) == (0..<10).map { UInt8($0) })
            await service.shutdown()
        }
    }

    /// A flush persists a snapshot of the cursor; an ack that lands (on another thread)
    /// between that snapshot and the end of the flush must keep the cursor dirty, or it is
    /// never persisted (a restart would redeliver an acknowledged event).
    @Test func anAckDuringAFlushKeepsTheCursorDirty() async throws {
        let service = try await EventService.open(
            journal: try Journal.open(at: "/j", options: simulatedOptions(SimulatedFileSystem())),
            cursors: try CursorStore(path: nil))
        let handle = try await service.openChannel(channel, flags: .all)
        let subscriber = try await service.subscriber(
            for: handle, options: SubscriberOptions(start: .oldest, durableName: "race", window: 10))
        try await service.subscribe(handle, id: 1, filters: [])
        let collector = Collector(subscriber, acknowledge: false)
        for i in 0..<2 { _ = try await publish(service, handle, "e\(i)") }
        let got = await collector.wait(for: 2)
        got[0].done()
        let snapshot = subscriber.cursorSnapshot  // what a flush would save
        got[1].done()  // arrives while that flush is writing
        subscriber.markClean(after: snapshot)
        #expect(subscriber.cursorSnapshot.dirty, "the second ack is still to be persisted")
        #expect(subscriber.cursorSnapshot.acknowledged == got[1].sequence)
        subscriber.markClean(after: subscriber.cursorSnapshot)
        #expect(!subscriber.cursorSnapshot.dirty)
        await service.shutdown()
    }

    /// A durable subscriber whose cursor cannot be stored (the disk is full: SQLite says
    /// SQLITE_FULL) hands nothing out past its stored horizon and keeps its stream; once the
    /// horizon can be stored again it delivers everything, in order.
    @Test func aFullDiskHoldsADurableSubscriberBackWithoutEndingIt() async throws {
        let journal = try Journal.open(at: "/j", options: simulatedOptions(SimulatedFileSystem()))
        let service = try await EventService.open(journal: journal, cursors: try CursorStore(path: nil))
        let handle = try await service.openChannel(channel, flags: .all)
        for i in 0..<5 { _ = try await publish(service, handle, "e\(i)") }
        let full = Atomic<Bool>(true)
        let attempts = Atomic<Int>(0)
        let subscriber = Subscriber(
            selection: .classes([.group]), options: SubscriberOptions(start: .oldest, durableName: "d"),
            journal: journal, cursor: nil,
            persistHorizon: { _, _ in
                attempts.add(1, ordering: .relaxed)
                if full.load(ordering: .relaxed) { throw DatabaseError(resultCode: .SQLITE_FULL) }
            })
        subscriber.start(at: .oldest)
        let collector = Collector(subscriber)
        try await Task.sleep(for: .milliseconds(700))
        #expect(collector.deliveries.isEmpty, "nothing past the stored horizon")
        #expect(attempts.load(ordering: .relaxed) >= 2, "tried again")
        full.store(false, ordering: .relaxed)
        let got = await collector.wait(for: 6)  // the open's JOIN, then the 5 casts
        #expect(got.map(\.descriptor) == [.join] + Array(repeating: .cast, count: 5))
        #expect(got.filter { $0.descriptor == .cast }.map(\.data) == (0..<5).map { Array("e\($0)".utf8) })
        subscriber.cancel()
        await service.shutdown()
    }

    /// The acknowledged cursor never passes an event that was not handed out yet, while
    /// acknowledgements race the delivery loop (window 2, each delivery acknowledged at once,
    /// read-ahead held beyond the window): a cursor stored past an event not handed out would
    /// lose it for good after a crash.
    @Test func theCursorNeverPassesAnEventNotHandedOut() async throws {
        let service = try await service()
        let handle = try await service.openChannel(channel, flags: .all)
        let consumer = AckingConsumer(
            try await service.subscriber(
                for: handle, options: SubscriberOptions(start: .oldest, durableName: "racer", window: 2)))
        let subscriber = consumer.subscriber
        try await service.subscribe(handle, id: 1, filters: [])
        let total = 3_000
        let publisher = Task {
            for index in 0..<total { _ = try await publish(service, handle, "e\(index)") }
        }
        // (acknowledged, how many were handed out then), sampled while it runs.
        var samples: [(UInt64, Int)] = []
        while consumer.sequences.count < total {
            let acknowledged = subscriber.cursorSnapshot.acknowledged.rawValue
            samples.append((acknowledged, consumer.sequences.count))
            await Task.yield()
        }
        try await publisher.value
        let all = consumer.sequences
        #expect(all == all.sorted() && Set(all).count == total)
        let broken = samples.filter { acknowledged, count in count < all.count && all[count] <= acknowledged }
        #expect(
            broken.isEmpty, "\(broken.count) of \(samples.count) samples: the cursor passed an event not handed out")
        consumer.task.cancel()
        subscriber.cancel()
        await service.shutdown()
    }

    /// A subscriber cancelled at a random moment (its client went away) while its loop
    /// reads ahead: acknowledging everything it handed out never moves its cursor past an
    /// event it did not hand out (the loop's pass that the cancel cut short used to count
    /// what it had read as done: the kill soak's killed subscribers lost up to a read-ahead
    /// of events for good).
    @Test func aCancelNeverCountsReadAheadAsDone() async throws {
        let service = try await service()
        let handle = try await service.openChannel(channel, flags: .all)
        for index in 0..<600 { _ = try await publish(service, handle, "e\(index)") }
        // The channel's sequences, from a subscriber that takes them all.
        let whole = Collector(
            try await service.subscriber(for: handle, options: SubscriberOptions(start: .oldest, window: 1_000)))
        try await service.subscribe(handle, id: 1, filters: [])
        let sequences = await whole.wait(for: 600).map(\.sequence.rawValue)
        #expect(sequences.count == 600)
        try await service.unsubscribe(handle, id: 1)
        try await service.removeSubscriber(for: handle)
        var generator = SplitMix64(seed: 7)
        var broken = 0
        for round in 0..<300 {
            let name = "c\(round)"
            let consumer = AckingConsumer(
                try await service.subscriber(
                    for: handle, options: SubscriberOptions(start: .oldest, durableName: name, window: 4)))
            let subscriber = consumer.subscriber
            try await service.subscribe(handle, id: 1, filters: [])
            let pause = Int(generator.next() % 3_000)
            try await Task.sleep(for: .microseconds(pause))
            subscriber.cancel()
            await consumer.task.value
            let all = consumer.sequences
            let acknowledged = subscriber.cursorSnapshot.acknowledged.rawValue
            let next = all.last.map { last in sequences.first { $0 > last } } ?? sequences.first
            if let next, acknowledged >= next {
                broken += 1
                print(
                    "cancel \(round) after \(pause) µs: \(all.count) handed out, last \(all.last ?? 0), next \(next), acknowledged \(acknowledged)"
                )
            }
            try await service.unsubscribe(handle, id: 1)
            try await service.removeSubscriber(for: handle)
        }
        #expect(broken == 0, "\(broken) of 300 cancels counted events never handed out as acknowledged")
        await service.shutdown()
    }

    /// Two writers of one cursor (the delivery loop's horizon, the flush's snapshot taken a
    /// moment earlier): the later write with the older position does not move the stored
    /// cursor back (the kill soak found events delivered again unmarked after a crash).
    /// A durable attachment that starts elsewhere than its cursor starts the cursor anew.
    @Test func storedCursorsOnlyMoveForwardWithinAnAttachment() async throws {
        let store = try CursorStore(path: nil)
        func cursor(_ acknowledged: UInt64, _ through: UInt64) -> CursorStore.Cursor {
            CursorStore.Cursor(
                name: "audit", acknowledged: SequenceNumber(acknowledged), deliveredThrough: SequenceNumber(through),
                updated: 1)
        }
        try store.save([cursor(5, 20)])
        try store.save([cursor(7, 12)])  // a snapshot of acknowledged 7, taken before horizon 20
        let stored = try #require(try store.cursor(named: "audit"))
        #expect(stored.acknowledged.rawValue == 7 && stored.deliveredThrough.rawValue == 20)

        let service = try await EventService.open(
            journal: try Journal.open(at: "/j", options: simulatedOptions(SimulatedFileSystem())), cursors: store)
        let handle = try await service.openChannel(channel, flags: .all)
        let subscriber = try await service.subscriber(
            for: handle, options: SubscriberOptions(start: .oldest, durableName: "audit", window: 10))
        try await service.subscribe(handle, id: 1, filters: [])
        let collector = Collector(subscriber)
        _ = try await publish(service, handle, "e0")
        let first = await collector.wait(for: 1)
        #expect(first.map(\.redelivered) == [false], "a new start: nothing is marked as delivered before")
        try await Task.sleep(for: .milliseconds(30))
        try await service.flushCursors()
        let restarted = try #require(try await service.storedCursors().first)
        #expect(restarted.acknowledged == first[0].sequence, "the old attachment's 7 and 20 are gone")
        #expect(restarted.deliveredThrough == first[0].sequence)
        await service.shutdown()
    }

    @Test func durableCursorSurvivesARestartAndMarksRedeliveries() async throws {
        let fs = SimulatedFileSystem()
        let clock = ManualWallClock()
        let cursorDirectory = NSTemporaryDirectory() + "herald-cursors-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: cursorDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: cursorDirectory) }
        let options = simulatedOptions(fs, clock: clock)
        let durable = SubscriberOptions(start: .cursor, durableName: "audit", window: 10)

        var service = try await EventService.open(
            journal: try Journal.open(at: "/j", options: options),
            cursors: try CursorStore(path: cursorDirectory + "/cursors.sqlite"), clock: clock)
        var handle = try await service.openChannel(channel, flags: .all)
        var subscriber = try await service.subscriber(for: handle, options: durable)
        try await service.subscribe(handle, id: 1, filters: [])
        var collector = Collector(subscriber, acknowledge: false)
        for i in 0..<5 { _ = try await publish(service, handle, "e\(i)") }
        let first = await collector.wait(for: 5)
        for delivery in first.prefix(3) { delivery.done() }
        try await service.flushCursors()
        let stored = try await service.storedCursors()
        #expect(stored.first?.acknowledged == first[2].sequence)
        await service.shutdown()

        service = try await EventService.open(
            journal: try Journal.open(at: "/j", options: options),
            cursors: try CursorStore(path: cursorDirectory + "/cursors.sqlite"), clock: clock)
        handle = try await service.openChannel(channel, flags: .all)
        subscriber = try await service.subscriber(for: handle, options: durable)
        try await service.subscribe(handle, id: 1, filters: [])
        collector = Collector(subscriber)
        _ = try await publish(service, handle, "e5")
        let second = await collector.wait(for: 3)
        #expect(second.map(\.data) == ["e3", "e4", "e5"].map { Array($0.utf8) })
        #expect(second.map(\.redelivered) == [true, true, false])
        try await Task.sleep(for: .milliseconds(30))
        try await service.flushCursors()
        #expect(try await service.storedCursors().first?.acknowledged == second[2].sequence)
        await service.shutdown()
    }

    @Test func aSubscriberThatFallsTooFarBehindGetsOneLostEvent() async throws {
        let service = try await service()
        let handle = try await service.openChannel(channel, flags: .all)
        let subscriber = try await service.subscriber(
            for: handle, options: SubscriberOptions(window: 1, lagMax: 5))
        try await service.subscribe(handle, id: 1, filters: [])
        let collector = Collector(subscriber, acknowledge: false)
        _ = try await publish(service, handle, "first")
        _ = await collector.wait(for: 1)
        for i in 0..<20 { _ = try await publish(service, handle, "burst \(i)") }
        collector.deliveries[0].done()
        let got = await collector.wait(for: 2)
        #expect(got.count == 2)
        #expect(got[1].isLostEvent)
        #expect(got[1].attributes.patterns == [Delivery.lostEventPattern])
        #expect(got[1].attributes.priority == 0)
        got[1].done()
        let after = try await publish(service, handle, "after")
        #expect(await collector.wait(for: 3).last?.eventID == after, "resumes after the lost event")
        await service.shutdown()
    }

    @Test func readyEventsGoHigherPriorityFirstAndInOrderWithinAPriority() async throws {
        let service = try await service()
        let handle = try await service.openChannel(channel, flags: .all)
        for (name, priority) in [("a", 3), ("b", 1), ("c", 0), ("d", 3), ("e", 1)] as [(String, UInt8)] {
            _ = try await service.publish(handle, EventAttributes(priority: priority), data: Array(name.utf8))
        }
        let subscriber = try await service.subscriber(
            for: handle, options: SubscriberOptions(start: .oldest, window: 10))
        try await service.subscribe(handle, id: 1, filters: [])
        let collector = Collector(subscriber)
        let got = await collector.wait(for: 5)
        #expect(got.map { String(decoding: $0.data, as: UTF8.self) } == ["c", "b", "e", "a", "d"])
        await service.shutdown()
    }

    /// A narrow window over mixed priorities: each refill takes the highest waiting, and
    /// once only one priority is left it goes in journal order (the held set counts its
    /// priorities instead of walking them).
    @Test func aNarrowWindowRefillsHighestPriorityFirst() async throws {
        let service = try await service()
        let handle = try await service.openChannel(channel, flags: .all)
        let published: [(String, UInt8)] = [("a", 3), ("b", 1), ("c", 0), ("d", 3), ("e", 1), ("f", 3), ("g", 0)]
        for (name, priority) in published {
            _ = try await service.publish(handle, EventAttributes(priority: priority), data: Array(name.utf8))
        }
        let subscriber = try await service.subscriber(
            for: handle, options: SubscriberOptions(start: .oldest, window: 2))
        try await service.subscribe(handle, id: 1, filters: [])
        let collector = Collector(subscriber)
        let got = await collector.wait(for: 7)
        #expect(got.map { String(decoding: $0.data, as: UTF8.self) } == ["c", "g", "b", "e", "a", "d", "f"])
        await service.shutdown()
    }

    @Test func aLaterSubscriptionGetsOlderRetainedEventsAfterLiveOnes() async throws {
        let service = try await service()
        let handle = try await service.openChannel(channel, flags: .all)
        let subscriber = try await service.subscribe(handle, id: 1, filters: [EventFilter(.prefix, "a")])
        let collector = Collector(subscriber, acknowledge: false)
        let old = try await publish(service, handle, "b-old", retention: 1_000_000_000_000)
        _ = try await publish(service, handle, "a-live")
        _ = await collector.wait(for: 1)
        try await service.subscribe(handle, id: 2, filters: [EventFilter(.prefix, "b")])
        let got = await collector.wait(for: 2)
        #expect(got.map(\.subscriptionID) == [1, 2])
        #expect(got[1].eventID == old && got[1].retained)
        for delivery in got { delivery.done() }
        await service.shutdown()
    }

    @Test func aStuckSubscriberDoesNotHoldUpTheOthers() async throws {
        let service = try await service()
        let publisher = try await service.openChannel(channel, flags: [.create, .publisher])
        var collectors: [Collector] = []
        for index in 0..<5 {
            let handle = try await service.openChannel(channel, flags: [.subscriber])
            let subscriber = try await service.subscriber(for: handle, options: SubscriberOptions(window: 16))
            try await service.subscribe(handle, id: 1, filters: [])
            collectors.append(Collector(subscriber, acknowledge: index != 0))  // the first never acks
        }
        for batch in 0..<20 {
            _ = try await service.publish(
                publisher, (0..<50).map { (EventAttributes(), Array("event \(batch * 50 + $0)".utf8)) })
        }
        for collector in collectors.dropFirst() {
            let got = await collector.wait(for: 1000)
            #expect(got.count == 1000)
            #expect(got.last?.data == Array("event 999".utf8))
        }
        #expect(collectors[0].deliveries.count == 16, "the stuck one stops at its window")
        await service.shutdown()
    }
}

/// A failure to persist durable cursors is reported, not swallowed: `cursors.sqlite` made
/// unreadable under the open store (its bytes overwritten), the flush throws with SQLite's
/// message and `shutdown()` returns it (heraldd then exits 74 instead of 0).
@Suite struct CursorFlushFailureTests {
    @Test func aCursorFlushFailureIsReportedAtShutdown() async throws {
        let directory = NSTemporaryDirectory() + "herald-cursors-" + String(UUID().uuidString.prefix(8))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let service = try await EventService.open(at: directory)
        let handle = try await service.openChannel(Array("c".utf8), flags: .all)
        let subscriber = try await service.subscriber(
            for: handle, options: SubscriberOptions(start: .oldest, durableName: "kept"))
        try await service.subscribe(handle, id: 1, filters: [])
        let collector = Collector(subscriber)
        _ = try await service.publish(handle, EventAttributes(), data: [1])
        _ = await collector.wait(for: 1)
        // Garbage over the database file, its WAL and shared index, in place (the store
        // keeps them open).
        for name in [CursorStore.fileName, CursorStore.fileName + "-wal", CursorStore.fileName + "-shm"] {
            let path = directory + "/" + name
            guard let handle = FileHandle(forWritingAtPath: path) else { continue }
            try handle.write(contentsOf: Data(repeating: 0xA5, count: 8192))
            try handle.close()
        }
        // A newer acknowledgement makes the cursor dirty again; persisting it fails.
        let second = try await service.publish(handle, EventAttributes(), data: [2])
        _ = await collector.wait(for: 2)
        let secondSequence = try #require(second.sequence)
        for _ in 0..<5000 where subscriber.cursorSnapshot.acknowledged < secondSequence {  // the ack is applied
            try await Task.sleep(for: .milliseconds(1))
        }
        await #expect(throws: ServiceError.library) { try await service.flushCursors() }
        #expect(await service.cursorFlushFailure != nil)
        let failure = await service.shutdown()
        #expect(failure != nil, "shutdown did not report the lost cursor")
    }
}
