import Foundation
import Testing

@testable import HeraldJournal

@Suite struct RecoveryTests {
    let segmentPath = "/j/segments/" + SegmentID(firstSequence: .first).fileName

    /// Cuts the last frame at every byte offset: each open truncates exactly the torn frame,
    /// keeps everything before it, accepts new appends, and verifies clean.
    @Test func tornTailAtEveryByteOfTheLastFrame() throws {
        let fs = SimulatedFileSystem()
        var generator = EventGenerator(seed: 10)
        let firstBatch = generator.entries(5)
        let journal = try Journal.open(at: "/j", options: simulatedOptions(fs))
        _ = try journal.appendAndWait(firstBatch)
        let committed = fs.contents(segmentPath)!.count
        _ = try journal.appendAndWait(generator.entries(4))
        journal.close()
        let full = fs.contents(segmentPath)!

        for cut in committed..<full.count {
            let trial = SimulatedFileSystem()
            try trial.createDirectory("/j/segments")
            trial.setContents(segmentPath, Array(full[0..<cut]))
            let reopened = try Journal.open(at: "/j", options: simulatedOptions(trial))
            #expect(reopened.head.sequence == SequenceNumber(5), "cut at \(cut)")
            #expect(reopened.recovery.truncatedBytes == Int64(cut - committed), "cut at \(cut)")
            #expect(trial.contents(segmentPath)!.count == committed)
            #expect(try readAll(reopened).map(\.data) == firstBatch.map(\.data))
            _ = try reopened.appendAndWait([JournalEntry(data: Array("after".utf8))])
            reopened.close()
            let report = try Journal.verify(at: "/j", options: simulatedOptions(trial))
            #expect(report.ok, "cut at \(cut): \(String(describing: report.damage))")
            #expect(report.head.sequence == SequenceNumber(6))
        }
    }

    /// Seeded power-loss simulation: appends in fsync mode, crashes at random points, and
    /// checks that every acknowledged record survives with its exact bytes.
    @Test(arguments: [11, 12, 13] as [UInt64])
    func seededCrashesLoseNothingAcknowledged(seed: UInt64) throws {
        let fs = SimulatedFileSystem()
        var random = SplitMix64(seed: seed)
        var generator = EventGenerator(seed: seed)
        var acknowledged: [JournalEntry] = []
        var tornTails = 0
        var options = simulatedOptions(fs)
        options.segmentBytesMax = 8192
        for round in 0..<30 {
            let journal = try Journal.open(at: "/j", options: options)
            #expect(journal.head.sequence.rawValue == UInt64(acknowledged.count), "round \(round)")
            if journal.recovery.truncatedBytes > 0 { tornTails += 1 }
            for _ in 0..<Int(random.next() % 6) {
                let batch = generator.entries(1 + Int(random.next() % 40))
                _ = try journal.appendAndWait(batch)
                acknowledged += batch
            }
            // An append in flight when the power goes: written, maybe partly, never acknowledged.
            let inFlight = generator.entries(1 + Int(random.next() % 40))
            fs.failNextSyncSilently()
            _ = try? journal.appendAndWait(inFlight)
            journal.close()
            fs.crash(seed: random.next())
            fs.clearFaults()
        }
        #expect(tornTails > 0, "the simulation never tore a write")
        let journal = try Journal.open(at: "/j", options: options)
        let records = try readAll(journal)
        #expect(records.count == acknowledged.count)
        #expect(records.map(\.data) == acknowledged.map(\.data))
        #expect(records.map(\.patterns) == acknowledged.map(\.patterns))
        #expect(try Journal.verify(at: "/j", options: options).ok)
    }

    /// Every single-bit flip anywhere in a segment is found by verify, which names the file,
    /// an offset at or before the flipped byte's frame, and fails.
    @Test func randomBitFlipsAreDetectedByVerify() throws {
        let fs = SimulatedFileSystem()
        var options = simulatedOptions(fs)
        options.segmentAgeMax = nil
        let journal = try Journal.open(at: "/j", options: options)
        var generator = EventGenerator(seed: 20)
        for _ in 0..<6 { _ = try journal.appendAndWait(generator.entries(25)) }
        journal.close()
        let pristine = fs.contents(segmentPath)!
        #expect(try Journal.verify(at: "/j", options: options).ok)
        var random = SplitMix64(seed: 21)
        for _ in 0..<300 {
            let byte = Int(random.next() % UInt64(pristine.count))
            let bit = Int(random.next() % 8)
            fs.setContents(segmentPath, pristine)
            fs.flipBit(segmentPath, byte: byte, bit: bit)
            let report = try Journal.verify(at: "/j", options: options)
            #expect(!report.ok, "flip of bit \(bit) at byte \(byte) went unnoticed")
            #expect(report.damage?.file == "segments/" + SegmentID(firstSequence: .first).fileName)
            #expect((report.damage?.offset ?? .max) <= Int64(byte), "flip at \(byte)")
        }
    }

    /// Damage in the middle of the last segment, with whole frames after it, is not a torn
    /// write: open refuses and names it rather than dropping acknowledged records.
    @Test func damageBeforeWholeFramesIsNotTruncatedSilently() throws {
        let fs = SimulatedFileSystem()
        let journal = try Journal.open(at: "/j", options: simulatedOptions(fs))
        var generator = EventGenerator(seed: 30)
        _ = try journal.appendAndWait(generator.entries(10))
        let firstFrameEnd = fs.contents(segmentPath)!.count
        _ = try journal.appendAndWait(generator.entries(10))
        _ = try journal.appendAndWait(generator.entries(10))
        journal.close()
        fs.flipBit(segmentPath, byte: firstFrameEnd + 100, bit: 3)
        do {
            _ = try Journal.open(at: "/j", options: simulatedOptions(fs))
            Issue.record("open accepted a damaged segment")
        } catch JournalError.corrupt(let location) {
            #expect(location.offset == Int64(firstFrameEnd))
            #expect(location.sequence == SequenceNumber(11))
            #expect(location.reason.contains("not a torn write"))
        }
        // The operator may choose to cut there.
        var repair = simulatedOptions(fs)
        repair.truncateDamagedTail = true
        let repaired = try Journal.open(at: "/j", options: repair)
        #expect(repaired.head.sequence == SequenceNumber(10))
        #expect(repaired.recovery.truncatedAt == Int64(firstFrameEnd))
    }

    @Test func incompleteNewSegmentHeaderIsRemoved() throws {
        let fs = SimulatedFileSystem()
        var options = simulatedOptions(fs)
        options.segmentBytesMax = 4096
        let journal = try Journal.open(at: "/j", options: options)
        var generator = EventGenerator(seed: 40)
        _ = try journal.appendAndWait(generator.entries(100))
        journal.close()
        // A crash while creating the next segment: a few bytes of its header.
        let next = "/j/segments/" + SegmentID(firstSequence: SequenceNumber(101)).fileName
        fs.setContents(
            next,
            Array(
                SegmentHeader(firstSequence: SequenceNumber(101), created: 0, baseTime: 0, baseChain: .genesis)
                    .encoded()[0..<30]))
        let reopened = try Journal.open(at: "/j", options: options)
        #expect(reopened.recovery.removedIncompleteSegment == SegmentID(firstSequence: SequenceNumber(101)))
        #expect(reopened.head.sequence == SequenceNumber(100))
        _ = try reopened.appendAndWait(generator.entries(1))
        #expect(try readAll(reopened).count == 101)
    }

    @Test func newerSegmentFormatIsRefusedClearly() throws {
        let fs = SimulatedFileSystem()
        try fs.createDirectory("/j/segments")
        var header = SegmentHeader(firstSequence: .first, created: 0, baseTime: 0, baseChain: .genesis).encoded()
        header[12] = 2  // format version 2
        let crc = CRC32C.checksum(Array(header[8..<72]))
        withUnsafeBytes(of: crc.littleEndian) { header.replaceSubrange(72..<76, with: $0) }
        fs.setContents(segmentPath, header)
        #expect(
            throws: JournalError.formatTooNew(
                file: "segments/" + SegmentID(firstSequence: .first).fileName, version: 2, supported: 1)
        ) { try Journal.open(at: "/j", options: simulatedOptions(fs)) }
    }
}

extension SimulatedFileSystem {
    /// The next sync "fails" in the sense of a power loss before it completes: the append
    /// errors, the bytes stay unsynced, and a crash may keep any prefix of them.
    func failNextSyncSilently() { failNextSync(errno: 5, discardUnsynced: false) }
}
