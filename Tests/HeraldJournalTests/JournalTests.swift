import Foundation
import Synchronization
import Testing

@testable import HeraldJournal

@Suite struct JournalTests {
    @Test(arguments: [false, true])
    func appendThenReadBack(onDisk: Bool) async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let fs = SimulatedFileSystem()
        let options = onDisk ? JournalOptions() : simulatedOptions(fs)
        let root = onDisk ? directory.path : "/j"
        var generator = EventGenerator(seed: 1)
        let entries = generator.entries(500)
        let journal = try Journal.open(at: root, options: options)
        let first = try await journal.append(Array(entries[0..<200]))
        let second = try journal.appendAndWait(Array(entries[200...]))
        #expect(first == SequenceRange(first: SequenceNumber(1), last: SequenceNumber(200)))
        #expect(second == SequenceRange(first: SequenceNumber(201), last: SequenceNumber(500)))
        let records = try readAll(journal)
        #expect(records.count == 500)
        for (record, entry) in zip(records, entries) {
            var expected = entry
            expected.time = record.time
            #expect(record.entry == expected)
        }
        #expect(records.map(\.sequence.rawValue) == Array(1...500))
        journal.close()

        // Reopened, the same records come back.
        let reopened = try Journal.open(at: root, options: options)
        #expect(try readAll(reopened) == records)
        #expect(reopened.head.sequence == SequenceNumber(500))
        #expect(!reopened.recovery.droppedAnything)
    }

    @Test func timesNeverGoBackwards() throws {
        let fs = SimulatedFileSystem()
        let clock = ManualWallClock(1_000)
        let journal = try Journal.open(at: "/j", options: simulatedOptions(fs, clock: clock))
        _ = try journal.appendAndWait([JournalEntry(time: 500, data: [1]), JournalEntry(time: 400, data: [2])])
        _ = try journal.appendAndWait([JournalEntry(data: [3])])  // clock: 1000
        clock.set(900)
        _ = try journal.appendAndWait([JournalEntry(data: [4])])
        #expect(try readAll(journal).map(\.time) == [500, 500, 1000, 1000])
    }

    @Test func readFromSequenceAndTime() throws {
        let fs = SimulatedFileSystem()
        let clock = ManualWallClock(0)
        var options = simulatedOptions(fs, clock: clock)
        options.segmentBytesMax = 4096
        let journal = try Journal.open(at: "/j", options: options)
        var generator = EventGenerator(seed: 2)
        for batch in 0..<50 {
            clock.set(Int64(batch) * 1_000)
            _ = try journal.appendAndWait(generator.entries(10))
        }
        journal.waitForIndex()
        #expect(journal.segments.count > 3)
        for start in [1, 9, 10, 11, 250, 499, 500] {
            let records = try readAll(journal, from: .sequence(SequenceNumber(UInt64(start))))
            #expect(records.first?.sequence.rawValue == UInt64(start))
            #expect(records.count == 500 - start + 1)
        }
        #expect(try readAll(journal, from: .sequence(SequenceNumber(501))).isEmpty)
        let fromTime = try readAll(journal, from: .time(24_500))
        #expect(fromTime.first?.time == 25_000)
        #expect(fromTime.first?.sequence.rawValue == 251)
        #expect(try readAll(journal, from: .time(0)).count == 500)
        #expect(try readAll(journal, from: .end).isEmpty)
        #expect(try journal.record(SequenceNumber(321))?.sequence.rawValue == 321)
    }

    @Test func readerSeesNewAppendsAndNeverAPartialBatch() throws {
        let fs = SimulatedFileSystem()
        var options = simulatedOptions(fs)
        options.segmentBytesMax = 8192
        let journal = try Journal.open(at: "/j", options: options)
        let done = Atomic<Bool>(false)
        let writer = Thread {
            var generator = EventGenerator(seed: 3)
            for _ in 0..<200 { _ = try! journal.appendAndWait(generator.entries(7)) }
            done.store(true, ordering: .releasing)
        }
        writer.start()
        let reader = try journal.reader(from: .oldest)
        var seen: UInt64 = 0
        while true {
            let finished = done.load(ordering: .acquiring)
            var batch = 0
            try reader.nextView { view in
                #expect(view.sequence.rawValue == seen + 1)
                seen += 1
                batch += 1
                return true
            }
            // Batches are whole: what is visible is always a multiple of the batch size.
            #expect(seen % 7 == 0)
            if finished && batch == 0 { break }
        }
        #expect(seen == 1400)
    }

    @Test func concurrentAppendersGetNoGapsAndNoDuplicates() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let journal = try Journal.open(at: directory.path)
        let ranges = try await withThrowingTaskGroup(of: [SequenceRange].self) { group in
            for task in 0..<8 {
                group.addTask {
                    var generator = EventGenerator(seed: UInt64(task))
                    var ranges: [SequenceRange] = []
                    // Each appender's entries carry its own channel and a counter in the
                    // priority, so a range can be traced back to the appender and its order.
                    for _ in 0..<25 {
                        let entries = generator.entries(1 + task).enumerated().map { index, entry in
                            var entry = entry
                            entry.channel = UInt32(100 + task)
                            entry.priority = UInt8(index)
                            return entry
                        }
                        ranges.append(try await journal.append(entries))
                    }
                    return ranges
                }
            }
            var all: [SequenceRange] = []
            for try await ranges in group { all += ranges }
            return all
        }
        let assigned = ranges.flatMap { $0.first.rawValue...$0.last.rawValue }.sorted()
        let total = (0..<8).reduce(0) { $0 + 25 * (1 + $1) }
        #expect(assigned == Array(1...UInt64(total)))
        let records = try readAll(journal)
        #expect(records.map(\.sequence.rawValue) == Array(1...UInt64(total)))
        // Each range holds one appender's batch, contiguously, in its order: one channel
        // (the appender's), its size (the appender's batch size), priorities 0, 1, 2, ….
        var batchesPerAppender: [UInt32: Int] = [:]
        for range in ranges {
            let batch = records[Int(range.first.rawValue - 1)..<Int(range.last.rawValue)]
            let channels = Set(batch.map(\.channel))
            #expect(channels.count == 1)
            let channel = try #require(channels.first)
            #expect(batch.count == Int(channel) - 100 + 1, "a batch of appender \(channel - 100) was split or merged")
            #expect(batch.map(\.priority) == (0..<batch.count).map { UInt8($0) })
            batchesPerAppender[channel, default: 0] += 1
        }
        #expect(batchesPerAppender == Dictionary(uniqueKeysWithValues: (0..<8).map { (UInt32(100 + $0), 25) }))
    }

    @Test func segmentsRollBySizeAndAge() throws {
        let fs = SimulatedFileSystem()
        let clock = ManualWallClock()
        var options = simulatedOptions(fs, clock: clock)
        options.segmentBytesMax = 4096
        options.segmentAgeMax = 60 * 1_000_000_000
        let journal = try Journal.open(at: "/j", options: options)
        var generator = EventGenerator(seed: 4)
        _ = try journal.appendAndWait(generator.entries(100))  // > 4 KiB: the next append rolls
        _ = try journal.appendAndWait(generator.entries(1))
        #expect(journal.segments == [SegmentID(firstSequence: .first), SegmentID(firstSequence: SequenceNumber(101))])
        _ = try journal.appendAndWait(generator.entries(1))
        #expect(journal.segments.count == 2)
        clock.advance(by: 61 * 1_000_000_000)
        _ = try journal.appendAndWait(generator.entries(1))
        #expect(journal.segments.last == SegmentID(firstSequence: SequenceNumber(103)))
        #expect(try readAll(journal).count == 103)
        let names = try fs.contentsOfDirectory("/j/segments")
        #expect(names == journal.segments.map(\.fileName))
    }

    @Test func retentionRemovesWholeSealedSegmentsByAgeAndSize() throws {
        let fs = SimulatedFileSystem()
        let clock = ManualWallClock(0)
        var options = simulatedOptions(fs, clock: clock)
        options.segmentBytesMax = 4096
        options.segmentAgeMax = nil
        options.retentionAge = 100
        let journal = try Journal.open(at: "/j", options: options)
        var generator = EventGenerator(seed: 5)
        for step in 0..<10 {
            clock.set(Int64(step) * 10)
            _ = try journal.appendAndWait(generator.entries(60))
        }
        // Every segment is younger than 100 ns at time 90: nothing removed yet.
        let before = journal.segments
        #expect(before.count >= 5)
        clock.set(175)
        let report = try journal.applyRetention()
        // Segments whose newest record is older than 75 go; the active one always stays.
        #expect(!report.removedSegments.isEmpty)
        #expect(journal.segments == Array(before.dropFirst(report.removedSegments.count)))
        #expect(journal.oldestSequence == journal.segments[0].firstSequence)
        let records = try readAll(journal)
        #expect(records.first?.sequence == journal.oldestSequence)
        #expect(records.last?.sequence.rawValue == 600)
        #expect(throws: JournalError.notRetained(requested: .first, oldest: journal.oldestSequence)) {
            try journal.reader(from: .sequence(.first))
        }
        journal.close()

        // By size: keep at most ~2 segments' worth.
        var sized = simulatedOptions(fs, clock: clock)
        sized.segmentBytesMax = 4096
        sized.retentionBytes = 9000
        let reopened = try Journal.open(at: "/j", options: sized)
        #expect(reopened.oldestSequence == journal.oldestSequence)
        try reopened.applyRetention()
        let total = reopened.segments.reduce(0) { total, id in
            total + (fs.contents("/j/segments/\(id.fileName)")?.count ?? 0)
        }
        #expect(total <= 9000 || reopened.segments.count == 1)
        #expect(try readAll(reopened).last?.sequence.rawValue == 600)
        // Verify starts from the first retained segment's base chain.
        let report2 = try Journal.verify(at: "/j", options: sized)
        #expect(report2.ok, "\(String(describing: report2.damage))")
        #expect(report2.head == reopened.head)
    }

    @Test func fsyncFailureMakesAppendsFailUntilReopened() throws {
        let fs = SimulatedFileSystem()
        let journal = try Journal.open(at: "/j", options: simulatedOptions(fs))
        _ = try journal.appendAndWait([JournalEntry(data: [1])])
        fs.failNextSync()
        #expect(throws: JournalError.self) { try journal.appendAndWait([JournalEntry(data: [2])]) }
        // Sticky: later appends fail although the disk is fine again.
        #expect(journal.writeFailure != nil)
        do {
            _ = try journal.appendAndWait([JournalEntry(data: [3])])
            Issue.record("append after a failed fsync succeeded")
        } catch let error as JournalError {
            guard case .writerFailed = error else { throw error }
        }
        journal.close()
        let reopened = try Journal.open(at: "/j", options: simulatedOptions(fs))
        #expect(try readAll(reopened).map(\.data) == [[1]])
        _ = try reopened.appendAndWait([JournalEntry(data: [4])])
        #expect(try readAll(reopened).map(\.data) == [[1], [4]])
    }

    @Test func fullDiskRefusesAppendsLosesNothingAndResumesOnceThereIsSpace() throws {
        let fs = SimulatedFileSystem()
        let journal = try Journal.open(at: "/j", options: simulatedOptions(fs))
        var generator = EventGenerator(seed: 6)
        let kept = generator.entries(20)
        _ = try journal.appendAndWait(kept)
        let head = journal.head
        fs.failWrites(afterBytes: 100)  // ENOSPC part-way through the next frame
        #expect(throws: JournalError.self) { try journal.appendAndWait(generator.entries(50)) }
        #expect(journal.head == head, "nothing of the refused append is visible")
        #expect(throws: JournalError.self) { try journal.appendAndWait(generator.entries(5)) }
        // Space is made: the same journal appends again, numbering on from the last kept
        // event (no gap, no torn bytes left in the segment), without being reopened.
        fs.clearFaults()
        let later = generator.entries(10)
        let range = try journal.appendAndWait(later)
        #expect(range.first == head.sequence.next)
        #expect(try readAll(journal).map(\.data) == (kept + later).map(\.data))
        journal.close()
        let reopened = try Journal.open(at: "/j", options: simulatedOptions(fs))
        #expect(reopened.recovery.truncatedBytes == 0)
        #expect(try readAll(reopened).map(\.data) == (kept + later).map(\.data))
        #expect(try Journal.verify(at: "/j", options: simulatedOptions(fs)).ok)
    }

    @Test func fullDiskAtASegmentRollLeavesTheCurrentSegmentInUse() throws {
        let fs = SimulatedFileSystem()
        var options = simulatedOptions(fs)
        options.segmentBytesMax = 4_096
        let journal = try Journal.open(at: "/j", options: options)
        var generator = EventGenerator(seed: 7)
        // Past the segment's size: the next append rolls to a new segment first.
        var kept = generator.entries(200)
        _ = try journal.appendAndWait(kept)
        let segments = journal.segments
        fs.failWrites(afterBytes: 0)  // the new segment's header cannot be written
        #expect(throws: JournalError.self) { try journal.appendAndWait(generator.entries(10)) }
        #expect(journal.segments == segments, "no new segment")
        #expect(try fs.contentsOfDirectory("/j/segments").count == segments.count, "no partial segment file left")
        fs.clearFaults()
        let later = generator.entries(10)
        _ = try journal.appendAndWait(later)
        kept += later
        #expect(try readAll(journal).map(\.data) == kept.map(\.data))
        journal.close()
        #expect(try Journal.verify(at: "/j", options: options).ok)
    }

    @Test func oversizedEntryIsRejectedAndNothingIsWritten() throws {
        let fs = SimulatedFileSystem()
        var options = simulatedOptions(fs)
        options.limits.dataBytesMax = 16
        let journal = try Journal.open(at: "/j", options: options)
        #expect(throws: JournalError.recordTooLarge(field: "data", bytes: 17, limit: 16)) {
            try journal.appendAndWait([JournalEntry(data: [1]), JournalEntry(data: [UInt8](repeating: 0, count: 17))])
        }
        #expect(throws: JournalError.emptyAppend) { try journal.appendAndWait([]) }
        #expect(journal.head.sequence == .zero)
        _ = try journal.appendAndWait([JournalEntry(data: [1])])
        #expect(journal.head.sequence == .first)
    }

    @Test func closedAndReadOnlyJournalsRefuseAppends() throws {
        let fs = SimulatedFileSystem()
        let journal = try Journal.open(at: "/j", options: simulatedOptions(fs))
        _ = try journal.appendAndWait([JournalEntry(data: [1])])
        journal.close()
        #expect(throws: JournalError.closed) { try journal.appendAndWait([JournalEntry(data: [2])]) }
        var readOnly = simulatedOptions(fs)
        readOnly.readOnly = true
        let viewer = try Journal.open(at: "/j", options: readOnly)
        #expect(throws: JournalError.readOnly) { try viewer.appendAndWait([JournalEntry(data: [2])]) }
        #expect(try readAll(viewer).count == 1)
        #expect(throws: JournalError.notFound("/missing")) { try Journal.open(at: "/missing", options: readOnly) }
    }

    @Test func batchAndNoneDurabilitySyncLessOften() throws {
        for durability in [JournalOptions.Durability.batch(intervalMilliseconds: 1_000), .none] {
            let fs = SimulatedFileSystem()
            var options = simulatedOptions(fs)
            options.durability = durability
            let journal = try Journal.open(at: "/j", options: options)
            let syncsBefore = fs.syncCount
            for i in 0..<50 { _ = try journal.appendAndWait([JournalEntry(data: [UInt8(i)])]) }
            #expect(fs.syncCount - syncsBefore <= 1, "\(durability)")
            journal.close()
            // close() syncs what was written.
            fs.crash(seed: 1)
            let reopened = try Journal.open(at: "/j", options: simulatedOptions(fs))
            #expect(try readAll(reopened).count == 50, "\(durability)")
        }
    }
}

@Suite struct LiveTailTests {
    @Test func waitForAppendWakesOnDurableAppendAndOnClose() async throws {
        let fs = SimulatedFileSystem()
        let journal = try Journal.open(at: "/j", options: simulatedOptions(fs))
        async let woke: Void = journal.waitForAppend(after: .zero)
        try await Task.sleep(for: .milliseconds(20))
        _ = try await journal.append([JournalEntry(data: [1])])
        await woke
        #expect(journal.head.sequence == .first)
        // Already past: returns at once.
        await journal.waitForAppend(after: .zero)
        async let released: Void = journal.waitForAppend(after: .first)
        journal.close()
        await released
        #expect(journal.isClosed)
    }
}

@Suite struct TailCacheTests {
    /// A reader that keeps up is served from memory: once a first reader has decoded the
    /// frames, damage the segment bytes behind the journal's back and a second reader still
    /// reads the records; with the cache off it meets the damage.
    @Test func readersThatKeepUpAreServedFromMemory() throws {
        for cacheBytes in [64 << 20, 0] {
            let fs = SimulatedFileSystem()
            var options = simulatedOptions(fs)
            options.tailCacheBytes = cacheBytes
            let journal = try Journal.open(at: "/j", options: options)
            var generator = EventGenerator(seed: 9)
            let entries = generator.entries(50)
            _ = try journal.appendAndWait(entries)
            #expect(try readAll(journal).count == 50)
            let path = "/j/segments/" + SegmentID(firstSequence: .first).fileName
            fs.flipBit(path, byte: fs.contents(path)!.count - 20, bit: 1)
            if cacheBytes > 0 {
                #expect(try readAll(journal).map(\.data) == entries.map(\.data))
            } else {
                #expect(throws: JournalError.self) { try readAll(journal) }
            }
        }
    }

    @Test func theCacheKeepsOnlyTheNewestFrames() throws {
        let fs = SimulatedFileSystem()
        var options = simulatedOptions(fs)
        options.tailCacheBytes = 4096
        let journal = try Journal.open(at: "/j", options: options)
        var generator = EventGenerator(seed: 10)
        for _ in 0..<20 { _ = try journal.appendAndWait(generator.entries(10)) }
        #expect(try readAll(journal).count == 200)
        #expect(journal.cache.frame(startingAt: .first) == nil, "evicted")
        #expect(journal.cache.frame(startingAt: SequenceNumber(191)) != nil)
        #expect(try readAll(journal).count == 200, "older frames come from the segments")
    }

    @Test func aParkedReaderGivesBackTheBuffersABigFrameGrew() throws {
        let fs = SimulatedFileSystem()
        var options = simulatedOptions(fs)
        options.tailCacheBytes = 0  // the reader decodes every frame itself
        let journal = try Journal.open(at: "/j", options: options)
        var generator = EventGenerator(seed: 12)
        var random = SplitMix64(seed: 12)
        // One frame of forty 64 KiB events (2.5 MiB decompressed), then small ones.
        let big = (0..<40).map { _ in
            var entry = generator.entry()
            entry.data = (0..<(64 << 10)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            return entry
        }
        _ = try journal.appendAndWait(big)
        _ = try journal.appendAndWait(generator.entries(10))
        let reader = try journal.reader(from: .oldest)
        var sequences: [UInt64] = []
        _ = try reader.nextView { view in
            sequences.append(view.sequence.rawValue)
            return sequences.count < 3
        }
        #expect(reader.bufferCapacity > 2 << 20, "the big frame grew the buffers")
        #expect(!reader.releaseMemory(), "in the middle of a frame nothing is given back")
        _ = try reader.nextView { view in
            sequences.append(view.sequence.rawValue)
            return sequences.count < 40
        }
        #expect(reader.releaseMemory(), "the big frame is all read")
        #expect(reader.bufferCapacity <= 2 * JournalReader.idleBufferBytes)
        while let record = try reader.next() { sequences.append(record.sequence.rawValue) }
        _ = try journal.appendAndWait(generator.entries(5))
        #expect(reader.releaseMemory(), "at the head")
        while let record = try reader.next() { sequences.append(record.sequence.rawValue) }
        #expect(sequences == Array(1...55), "nothing skipped or read twice around the releases")
    }
}
