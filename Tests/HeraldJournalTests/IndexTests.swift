import Foundation
import GRDB
import Testing

@testable import HeraldJournal

@Suite struct IndexTests {
    /// Every row of the index's three tables, in order, as text.
    func dump(_ directory: String) throws -> [String] {
        let queue = try DatabaseQueue(path: directory + "/index.sqlite")
        defer { try? queue.close() }
        return try queue.read { db in
            var lines: [String] = []
            for table in ["segments", "frames", "events"] {
                for row in try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY 1") {
                    lines.append("\(table) \(row)")
                }
            }
            return lines
        }
    }

    func makeJournal(_ directory: String, batches: Int, seed: UInt64) throws {
        var options = JournalOptions()
        options.segmentBytesMax = 16 << 10
        let journal = try Journal.open(at: directory, options: options)
        var generator = EventGenerator(seed: seed)
        for _ in 0..<batches { _ = try journal.appendAndWait(generator.entries(40)) }
        journal.close()
    }

    @Test func deletedIndexIsRebuiltIdentically() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        try makeJournal(directory.path, batches: 30, seed: 1)
        let before = try dump(directory.path)
        #expect(before.filter { $0.hasPrefix("events") }.count == 1200)
        JournalIndexStore.removeFiles(at: directory.path + "/index.sqlite")
        let journal = try Journal.open(at: directory.path)
        #expect(journal.recovery.indexRebuilt)
        #expect(journal.indexedThrough == SequenceNumber(1200))
        journal.close()
        #expect(try dump(directory.path) == before)
        #expect(try Journal.verify(at: directory.path).ok)
    }

    @Test func indexBehindCatchesUp() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        try makeJournal(directory.path, batches: 10, seed: 2)
        let saved = directory.path + "/saved.sqlite"
        try FileManager.default.copyItem(atPath: directory.path + "/index.sqlite", toPath: saved)
        try makeJournal(directory.path, batches: 10, seed: 3)
        let complete = try dump(directory.path)
        // Put the older index back: it lacks the last 400 events.
        JournalIndexStore.removeFiles(at: directory.path + "/index.sqlite")
        try FileManager.default.moveItem(atPath: saved, toPath: directory.path + "/index.sqlite")
        let lagging = try Journal.verify(at: directory.path)
        #expect(lagging.ok)
        #expect(lagging.indexLag == 400)
        let journal = try Journal.open(at: directory.path)
        #expect(!journal.recovery.indexRebuilt)
        #expect(journal.recovery.indexCaughtUpFrames == 10)
        journal.close()
        #expect(try dump(directory.path) == complete)
    }

    @Test func indexAheadOfTheSegmentsIsTrimmed() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        try makeJournal(directory.path, batches: 5, seed: 4)
        let shortCopy = TemporaryDirectory()
        defer { shortCopy.cleanup() }
        try FileManager.default.removeItem(atPath: shortCopy.path)
        try FileManager.default.copyItem(atPath: directory.path + "/segments", toPath: shortCopy.path)
        let short = try dump(directory.path)
        try makeJournal(directory.path, batches: 5, seed: 5)
        // The segments go back to 200 events; the index still describes 400.
        try FileManager.default.removeItem(atPath: directory.path + "/segments")
        try FileManager.default.copyItem(atPath: shortCopy.path, toPath: directory.path + "/segments")
        let ahead = try Journal.verify(at: directory.path)
        #expect(!ahead.ok)
        #expect(ahead.damage?.file == "index.sqlite")
        let journal = try Journal.open(at: directory.path)
        #expect(journal.recovery.indexTrimmedFrames == 5)
        #expect(journal.head.sequence == SequenceNumber(200))
        journal.close()
        #expect(try dump(directory.path) == short)
        #expect(try Journal.verify(at: directory.path).ok)
    }

    @Test func unreadableIndexIsRebuilt() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        try makeJournal(directory.path, batches: 3, seed: 6)
        let before = try dump(directory.path)
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: directory.path + "/index.sqlite"))
        let journal = try Journal.open(at: directory.path)
        #expect(journal.recovery.indexRebuilt)
        journal.close()
        #expect(try dump(directory.path) == before)
    }

    @Test func indexFromANewerHeraldIsRefused() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        try makeJournal(directory.path, batches: 1, seed: 7)
        let queue = try DatabaseQueue(path: directory.path + "/index.sqlite")
        try queue.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('9999_from_the_future')")
        }
        try queue.close()
        do {
            _ = try Journal.open(at: directory.path)
            Issue.record("opened an index with an unknown migration")
        } catch JournalError.indexTooNew(let text) {
            #expect(text.contains("9999_from_the_future"))
        }
    }

    @Test func indexLagsButNeverLeadsWhileAppending() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let journal = try Journal.open(at: directory.path)
        var generator = EventGenerator(seed: 8)
        for _ in 0..<50 {
            let range = try journal.appendAndWait(generator.entries(20))
            #expect(journal.indexedThrough <= range.last)
        }
        journal.waitForIndex()
        #expect(journal.indexedThrough == SequenceNumber(1000))
        let rows = try journal.index!.events(from: SequenceNumber(990), through: SequenceNumber(1000))
        let records = try readAll(journal, from: .sequence(SequenceNumber(990)))
        #expect(
            rows
                == records.map {
                    IndexedEvent(
                        sequence: $0.sequence, time: $0.time, channel: $0.channel, descriptor: $0.descriptor,
                        priority: $0.priority, publisher: $0.publisher)
                })
    }
}

@Suite struct LockTests {
    @Test func aSecondWriterIsRefusedUntilTheFirstCloses() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let first = try Journal.open(at: directory.path)
        #expect(throws: JournalError.locked(directory.path)) { try Journal.open(at: directory.path) }
        var readOnly = JournalOptions()
        readOnly.readOnly = true
        _ = try Journal.open(at: directory.path, options: readOnly)  // readers are welcome
        first.close()
        let second = try Journal.open(at: directory.path)
        second.close()
    }
}
