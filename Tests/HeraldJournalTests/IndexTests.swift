import Foundation
import GRDB
import Synchronization
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

    /// Events of which every third carries an origin prefix (flag 0x10) before its name.
    func makeJournalWithOrigins(_ directory: String, count: Int) throws -> [JournalRecord] {
        let journal = try Journal.open(at: directory)
        var generator = EventGenerator(seed: 11)
        var entries: [JournalEntry] = []
        for i in 0..<count {
            var entry = generator.entry(channel: UInt32(i % 5))
            if i % 3 == 0 {
                entry.flags = RecordCodec.originFlag
                entry.publisher = [UInt8](repeating: UInt8(i % 7), count: RecordCodec.originBytes) + entry.publisher
            }
            entries.append(entry)
        }
        _ = try journal.appendAndWait(entries)
        let records = try readAll(journal)
        journal.close()
        return records
    }

    @Test func publisherQueriesUseTheirIndex() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let records = try makeJournalWithOrigins(directory.path, count: 600)
        let journal = try Journal.open(at: directory.path, options: readOnlyOptions())
        defer { journal.close() }
        var query = JournalQuery()
        query.publishers = [Array("node-3".utf8)]
        var found: [JournalRecord] = []
        try journal.query(query) {
            found.append($0)
            return true
        }
        let expected = records.filter { $0.publisherName == Array("node-3".utf8) }
        #expect(found == expected)
        #expect(expected.contains { $0.flags & RecordCodec.originFlag != 0 })
        #expect(expected.contains { $0.flags & RecordCodec.originFlag == 0 })
        #expect(try journal.count(query) == expected.count)
        query.channels = [2]
        #expect(try journal.count(query) == expected.filter { $0.channel == 2 }.count)

        let queue = try DatabaseQueue(path: directory.path + "/index.sqlite")
        defer { try? queue.close() }
        let plan = try queue.read { db in
            try Row.fetchAll(
                db, sql: "EXPLAIN QUERY PLAN SELECT seq FROM events WHERE seq BETWEEN 1 AND 600 AND publisher = x'00'"
            ).map { $0["detail"] as String }.joined(separator: "; ")
        }
        #expect(plan.contains("events_by_publisher"), "\(plan)")
    }

    @Test func schemaOneIndexIsMigratedAndRebuilt() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let records = try makeJournalWithOrigins(directory.path, count: 300)
        let current = try dump(directory.path)
        // Turn the index back into schema 1: whole publisher fields, no secondary indexes.
        let queue = try DatabaseQueue(path: directory.path + "/index.sqlite")
        try queue.write { db in
            try db.execute(sql: "DROP INDEX events_by_publisher")
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier != '0001_initial'")
            try db.execute(sql: "DELETE FROM events")
            for record in records {
                try db.execute(
                    sql: "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)",
                    arguments: [
                        Int64(record.sequence.rawValue), record.time, Int64(record.channel),
                        Int64(record.descriptor), Int64(record.priority), Data(record.publisher),
                    ])
            }
        }
        try queue.close()
        // Read-only, the old index is not used (the answer comes from the segments).
        let readOnly = try Journal.open(at: directory.path, options: readOnlyOptions())
        var query = JournalQuery()
        query.publishers = [Array("node-5".utf8)]
        let expected = records.filter { $0.publisherName == Array("node-5".utf8) }
        #expect(try readOnly.count(query) == expected.count)
        readOnly.close()
        // Read-write, it is migrated and its rows are rebuilt from the segments.
        let journal = try Journal.open(at: directory.path)
        #expect(journal.recovery.indexCaughtUpFrames > 0)
        journal.close()
        #expect(try dump(directory.path) == current)
        #expect(try Journal.verify(at: directory.path).ok)
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

private func readOnlyOptions() -> JournalOptions {
    var options = JournalOptions()
    options.readOnly = true
    return options
}

@Suite struct IndexBacklogTests {
    /// The bound holds: appended one batch at a time (so that one commit is one batch of
    /// 40), the rows waiting for SQLite, sampled all along, never exceed the bound plus one
    /// commit.
    @Test func theBacklogNeverExceedsItsBoundByMoreThanOneCommit() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        var options = JournalOptions()
        options.indexBacklogEventsMax = 50
        options.durability = .none
        let journal = try Journal.open(at: directory.path, options: options)
        var generator = EventGenerator(seed: 22)
        let largest = Atomic<Int>(0)
        let done = Atomic<Bool>(false)
        let sampler = Thread {
            while !done.load(ordering: .relaxed) {
                let now = journal.indexBacklogEvents
                if now > largest.load(ordering: .relaxed) { largest.store(now, ordering: .relaxed) }
            }
        }
        sampler.start()
        for _ in 0..<300 { _ = try journal.appendAndWait(generator.entries(40)) }
        done.store(true, ordering: .relaxed)
        while !sampler.isFinished { usleep(1000) }
        journal.waitForIndex()
        #expect(largest.load(ordering: .relaxed) > 0, "the sampler never saw a backlog")
        #expect(
            largest.load(ordering: .relaxed) <= 50 + 40, "backlog \(largest.load(ordering: .relaxed)) > bound + commit")
        #expect(journal.indexedThrough == SequenceNumber(12_000))
        journal.close()
    }

    /// With a tiny backlog bound the writer waits for the indexer instead of queueing
    /// without limit: every append still completes and the index ends complete.
    @Test func appendsWaitForATrailingIndexAndNothingIsLost() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        var options = JournalOptions()
        options.indexBacklogEventsMax = 50
        options.durability = .none
        let journal = try Journal.open(at: directory.path, options: options)
        var generator = EventGenerator(seed: 21)
        let batches = (0..<100).map { _ in generator.entries(40) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for batch in batches { group.addTask { _ = try await journal.append(batch) } }
            try await group.waitForAll()
        }
        journal.waitForIndex()
        #expect(journal.head.sequence == SequenceNumber(4000))
        #expect(journal.indexedThrough == SequenceNumber(4000))
        journal.close()
        #expect(try Journal.verify(at: directory.path).ok)
    }
}
