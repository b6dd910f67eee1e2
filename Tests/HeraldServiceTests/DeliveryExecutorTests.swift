import Foundation
import HeraldJournal
import Synchronization
import Testing

@testable import HeraldService

final class Flag: Sendable {
    let value = Atomic<Bool>(false)
}

/// The delivery loops' threads and the bound on what their parked readers keep.
@Suite struct DeliveryExecutorTests {
    /// A GROUP cast record, as a publish appends it (what a class subscriber takes).
    static func cast(_ data: [UInt8]) -> JournalEntry {
        JournalEntry(
            time: 1, descriptor: EventDescriptor.cast.rawValue, channel: 1, priority: 0,
            flags: ServiceRecordKind.publish.rawValue, data: data)
    }

    /// Every thread of the concurrency pool busy, at every priority, never suspending: a
    /// delivery loop there did not run at all until they stopped; on the delivery threads
    /// it goes on.
    @Test func deliveriesGoOnWhileTheConcurrencyPoolIsBusy() async throws {
        let journal = try Journal.open(at: "/j", options: simulatedOptions(SimulatedFileSystem()))
        defer { journal.close() }
        let subscriber = Subscriber(
            selection: .classes([.group]), options: SubscriberOptions(start: .oldest), journal: journal, cursor: nil,
            persistHorizon: nil)
        subscriber.start(at: .oldest)
        defer { subscriber.cancel() }
        let stop = Flag()
        let busy = 2 * max(2, ProcessInfo.processInfo.activeProcessorCount)
        for priority in [TaskPriority.high, .medium, .low, .background] {
            for _ in 0..<busy {
                Task.detached(priority: priority) {
                    while !stop.value.load(ordering: .relaxed) {}
                }
            }
        }
        // From a thread of its own (the pool is taken): append, then watch for the delivery.
        let delivered = await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
            Thread {
                usleep(100_000)  // the busy tasks have the pool
                _ = try? journal.appendAndWait([Self.cast([1, 2, 3])])
                var seen = false
                for _ in 0..<2_000 where !seen {
                    seen = subscriber.state.withLock { $0.outstanding.count } > 0
                    if !seen { usleep(1_000) }
                }
                stop.value.store(true, ordering: .relaxed)
                done.resume(returning: seen)
            }.start()
        }
        #expect(delivered, "handed out while every pool thread was busy")
    }

    @Test func aBudgetTakesWhatFitsAndGetsItBack() {
        let budget = ByteBudget(limit: 100)
        #expect(budget.take(60))
        #expect(!budget.take(41), "past the limit: refused, nothing taken")
        #expect(budget.take(40))
        #expect(budget.taken == 100)
        budget.give(60)
        #expect(budget.taken == 40)
        #expect(budget.take(60))
    }

    /// A subscriber whose window is full in the middle of a frame of big events: within the
    /// budget its reader keeps its buffers; past it, it gives them back (a new reader at the
    /// same place) — and either way every event arrives once, in order, when acknowledged.
    @Test(arguments: [0, 1 << 30])
    func aParkedReaderKeepsItsBuffersOnlyWithinTheBudget(limit: Int) async throws {
        let journal = try Journal.open(at: "/j", options: simulatedOptions(SimulatedFileSystem()))
        defer { journal.close() }
        let events = 100
        _ = try journal.appendAndWait((0..<events).map { Self.cast([UInt8](repeating: UInt8($0), count: 8_192)) })
        let budget = ByteBudget(limit: limit)
        var options = SubscriberOptions(start: .oldest, window: 4)
        options.windowBytes = 1 << 20
        let subscriber = Subscriber(
            selection: .classes([.group]), options: options, journal: journal, cursor: nil, readerBudget: budget,
            persistHorizon: nil)
        subscriber.start(at: .oldest)
        defer { subscriber.cancel() }
        var parked: Int?
        for _ in 0..<500 where parked == nil {
            parked = subscriber.state.withLock { $0.parkedReaderBytes }
            if parked == nil { try await Task.sleep(for: .milliseconds(10)) }
        }
        let bytes = try #require(parked, "the window filled and the reader parked")
        if limit == 0 {
            #expect(bytes <= 2 * JournalReader.idleBufferBytes, "gave its buffers back: \(bytes)")
            #expect(budget.taken == 0)
        } else {
            #expect(bytes > 512 * 1024, "kept the frame it reads: \(bytes)")
            #expect(budget.taken == bytes)
        }
        let collector = Collector(subscriber)
        let got = await collector.wait(for: events)
        #expect(got.map { $0.data.first ?? 0 } == (0..<events).map { UInt8($0) }, "each once, in order")
        collector.task.cancel()
    }
}
