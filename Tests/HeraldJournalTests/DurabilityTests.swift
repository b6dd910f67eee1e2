import Foundation
import Synchronization
import Testing

@testable import HeraldJournal

/// `batch:MS`: appends are acknowledged once written and share one fdatasync per interval;
/// what is written is synced within the interval even when no append follows.
@Suite struct DurabilityTests {
    private func waitForSync(_ journal: Journal, after count: UInt64, seconds: Double) -> Double? {
        let start = DispatchTime.now().uptimeNanoseconds
        while true {
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if journal.counters.syncs > count { return elapsed }
            if elapsed > seconds { return nil }
            usleep(1_000)
        }
    }

    @Test func batchDurabilitySyncsWithinItsIntervalAndSharesOneSyncAmongAppends() throws {
        let folder = TemporaryDirectory("herald-batch")
        defer { folder.cleanup() }
        var options = JournalOptions()
        options.durability = .batch(intervalMilliseconds: 300)
        let journal = try Journal.open(at: folder.path, options: options)
        defer { journal.close() }
        var generator = EventGenerator(seed: 9)
        // Settle: the first append after an idle interval syncs at once.
        _ = try journal.appendAndWait(generator.entries(10))
        #expect(waitForSync(journal, after: 0, seconds: 2) != nil)

        // Many appends in a burst: acknowledged without waiting for a sync each.
        let before = journal.counters.syncs
        for _ in 0..<20 { _ = try journal.appendAndWait(generator.entries(10)) }
        #expect(journal.counters.syncs - before <= 2, "one sync per interval, not per append")
        // One more is on disk within the interval (+ scheduling slack), with no further
        // append to trigger it (or synced by its own append, if the interval was over).
        let synced = journal.counters.syncs
        _ = try journal.appendAndWait(generator.entries(10))
        let elapsed = waitForSync(journal, after: synced, seconds: 2)
        let waited = try #require(elapsed, "the written appends were never synced")
        #expect(waited <= 0.3 + 0.4, "synced after \(waited) s")
    }

    /// `appendInline` commits on the calling thread when the writer is idle (the completion
    /// has run when it returns), never overtakes work the writer has, and what it writes
    /// is synced within the interval by the writer thread, with no append after it.
    @Test func inlineAppendsCommitOnTheCallerAndAreSyncedWithinTheInterval() throws {
        let folder = TemporaryDirectory("herald-inline")
        defer { folder.cleanup() }
        var options = JournalOptions()
        options.durability = .batch(intervalMilliseconds: 300)
        let journal = try Journal.open(at: folder.path, options: options)
        defer { journal.close() }
        var generator = EventGenerator(seed: 11)
        _ = try journal.appendAndWait(generator.entries(1))
        #expect(waitForSync(journal, after: 0, seconds: 2) != nil)
        var ranges: [SequenceRange] = []
        for _ in 0..<20 {
            let done = Mutex<SequenceRange?>(nil)
            journal.appendInline(generator.entries(1)) { result in done.withLock { $0 = try? result.get() } }
            let range = try #require(done.withLock { $0 }, "committed on the caller's thread")
            ranges.append(range)
        }
        #expect(ranges.map(\.first.rawValue) == (2...21).map { UInt64($0) })
        let synced = journal.counters.syncs
        let elapsed = try #require(waitForSync(journal, after: synced, seconds: 2), "inline appends never synced")
        #expect(elapsed <= 0.3 + 0.4, "synced after \(elapsed) s")

        // The writer busy with a task: an inline append waits its turn behind it.
        let release = DispatchSemaphore(value: 0)
        let running = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            try? journal.performOnWriter {
                running.signal()
                release.wait()
            }
        }
        running.wait()
        let late = Mutex<SequenceRange?>(nil)
        let finished = DispatchSemaphore(value: 0)
        journal.appendInline(generator.entries(1)) { result in
            late.withLock { $0 = try? result.get() }
            finished.signal()
        }
        #expect(late.withLock { $0 } == nil, "not committed while the writer was busy")
        release.signal()
        finished.wait()
        #expect(late.withLock { $0 }?.first.rawValue == 22)
    }

    /// The periodic sync of `batch` durability runs on the writer thread without holding
    /// commits back: while the disk takes its time over an fdatasync, a lone append still
    /// commits inline, and what it wrote is synced by a later pass.
    @Test func aSlowPeriodicSyncDoesNotHoldInlineAppendsBack() throws {
        let fs = SimulatedFileSystem()
        var options = simulatedOptions(fs)
        options.durability = .batch(intervalMilliseconds: 20)
        let journal = try Journal.open(at: "/j", options: options)
        var generator = EventGenerator(seed: 12)
        _ = try journal.appendAndWait(generator.entries(1))
        #expect(waitForSync(journal, after: 0, seconds: 2) != nil)
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let holding = Atomic<Bool>(true)
        fs.beforeSync {
            guard holding.exchange(false, ordering: .relaxed) else { return }
            entered.signal()
            release.wait()
        }
        _ = try journal.appendAndWait(generator.entries(1))  // dirty: a periodic sync comes
        #expect(entered.wait(timeout: .now() + 2) == .success, "the periodic sync started")
        let done = Mutex<SequenceRange?>(nil)
        journal.appendInline(generator.entries(1)) { result in done.withLock { $0 = try? result.get() } }
        #expect(done.withLock { $0 }?.first.rawValue == 3, "committed while the sync was held")
        // The held sync started before that commit: when it completes the file stays dirty,
        // and a later pass syncs it.
        let synced = journal.counters.syncs
        release.signal()
        #expect(waitForSync(journal, after: synced + 1, seconds: 2) != nil, "the inline append synced later")
        journal.close()
    }

    /// A closed journal lets go of its writer in every durability (the fsync stage's
    /// callbacks and the writer thread's closure held it: 2 MiB of buffers per open, found
    /// by `tools/fuzz journal` with LeakSanitizer).
    @Test(arguments: [JournalOptions.Durability.fsync, .batch(intervalMilliseconds: 5), .none])
    func aClosedJournalReleasesItsWriter(_ durability: JournalOptions.Durability) throws {
        weak var writer: AnyObject?
        do {
            var options = simulatedOptions(SimulatedFileSystem())
            options.durability = durability
            let journal = try Journal.open(at: "/j", options: options)
            _ = try journal.appendAndWait([JournalEntry(data: [1])])
            writer = journal.writerObject
            #expect(writer != nil)
            journal.close()
        }
        // The writer thread ends just after `close` returns: a moment's grace, then it must
        // be gone (a leak stays).
        for _ in 0..<200 where writer != nil { usleep(10_000) }
        #expect(writer == nil, "\(durability)")
    }
}
