import Foundation
import GRDB
import GRDBSQLite

/// The SQLite index of a journal (`index.sqlite`, WAL mode): frames, events, segments.
///
/// Derived data: it may lag the segments but never run ahead of them; `Journal.open`
/// trims, catches up or rebuilds it. One writer (the indexer thread, or `open`), pooled
/// readers (seeks, queries). Schema from `migrations/`, embedded in the binary.
final class JournalIndexStore: Sendable {
    let writer: any DatabaseWriter
    let path: String?

    static let fileName = "index.sqlite"

    /// Opens (creating if needed) and migrates the index. Throws `indexTooNew` when the
    /// file was migrated by a newer Herald; other open failures are thrown as `.index`.
    static func open(path: String?, readOnly: Bool) throws -> JournalIndexStore {
        var configuration = Configuration()
        configuration.readonly = readOnly
        configuration.label = "herald.index"
        configuration.prepareDatabase { db in
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                // 64 MiB of page cache: the events table, its index by publisher (inserts
                // scattered over the file) and the frames table take inserts at three places
                // of the file; with SQLite's 2 MiB default a 10 M-row build spends its time
                // re-reading evicted pages.
                try db.execute(sql: "PRAGMA cache_size = -65536")
            }
        }
        do {
            let writer: any DatabaseWriter
            if let path {
                writer = try DatabasePool(path: path, configuration: configuration)
            } else {
                writer = try DatabaseQueue(configuration: configuration)
            }
            let store = JournalIndexStore(writer: writer, path: path)
            try store.migrate(readOnly: readOnly)
            return store
        } catch let error as JournalError {
            throw error
        } catch let error as DatabaseError {
            throw JournalError.index(
                "\(path ?? ":memory:"): SQLite error \(error.resultCode.rawValue): \(error.message ?? "")")
        }
    }

    private init(writer: any DatabaseWriter, path: String?) {
        self.writer = writer
        self.path = path
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in EmbeddedMigrations.all {
            let sql = migration.sql
            migrator.registerMigration(migration.identifier) { db in try db.execute(sql: sql) }
        }
        return migrator
    }

    private func migrate(readOnly: Bool) throws {
        let migrator = Self.migrator
        let known = Set(EmbeddedMigrations.all.map(\.identifier))
        let applied = try writer.read { db in try migrator.appliedIdentifiers(db) }
        let unknown = applied.subtracting(known)
        if !unknown.isEmpty {
            throw JournalError.indexTooNew(
                "it has migrations \(unknown.sorted().joined(separator: ", ")) that this binary does not know")
        }
        if readOnly {
            guard applied == known else {
                throw JournalError.index("index.sqlite is not fully migrated (open it read-write once)")
            }
            return
        }
        try migrator.migrate(writer)
    }

    /// Checkpoints the WAL into `index.sqlite`, so the file alone is a complete index.
    /// Connections stay open until the store is released: readers still running after the
    /// journal closes (a subscriber winding down) must not meet a closed connection.
    func close() {
        guard path != nil else { return }
        _ = try? writer.writeWithoutTransaction { try $0.checkpoint(.truncate) }
    }

    // MARK: Writes

    func insert(_ frames: [IndexedFrame]) throws {
        guard !frames.isEmpty else { return }
        try writer.write { db in
            let frameStatement = try db.cachedStatement(
                sql: """
                    INSERT OR REPLACE INTO frames
                    (first_seq, last_seq, segment, offset, length, raw_length, first_time, last_time, chain)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            let eventStatement = try db.cachedStatement(
                sql:
                    "INSERT OR REPLACE INTO events (seq, time, channel, descriptor, priority, publisher) VALUES (?, ?, ?, ?, ?, ?)"
            )
            let f = frameStatement.sqliteStatement
            let e = eventStatement.sqliteStatement
            for frame in frames {
                let l = frame.location
                sqlite3_bind_int64(f, 1, Int64(bitPattern: l.firstSequence.rawValue))
                sqlite3_bind_int64(f, 2, Int64(bitPattern: l.lastSequence.rawValue))
                sqlite3_bind_int64(f, 3, Int64(bitPattern: l.segment.rawValue))
                sqlite3_bind_int64(f, 4, l.offset)
                sqlite3_bind_int64(f, 5, Int64(l.length))
                sqlite3_bind_int64(f, 6, Int64(l.rawLength))
                sqlite3_bind_int64(f, 7, l.firstTime)
                sqlite3_bind_int64(f, 8, l.lastTime)
                l.chain.bytes.withUnsafeBytes { _ = sqlite3_bind_blob(f, 9, $0.baseAddress, 32, SQLITE_TRANSIENT_FN) }
                try Self.step(f, db)
                for event in frame.events {
                    sqlite3_bind_int64(e, 1, Int64(bitPattern: event.sequence.rawValue))
                    sqlite3_bind_int64(e, 2, event.time)
                    sqlite3_bind_int64(e, 3, Int64(event.channel))
                    sqlite3_bind_int64(e, 4, Int64(event.descriptor))
                    sqlite3_bind_int64(e, 5, Int64(event.priority))
                    event.publisher.withUnsafeBytes {
                        // A zero-length blob must still be a blob, not NULL.
                        _ = sqlite3_bind_blob(
                            e, 6, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32($0.count),
                            SQLITE_TRANSIENT_FN)
                    }
                    try Self.step(e, db)
                }
            }
        }
    }

    /// Drops the events table's secondary indexes and returns their SQL, for a bulk build:
    /// SQLite builds an index over existing rows by sorting them, much faster than taking
    /// 10 M inserts at scattered places.
    func dropSecondaryIndexes() throws -> [String] {
        try writer.write { db in
            let rows = try Row.fetchAll(
                db,
                sql:
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL"
            )
            for row in rows { try db.execute(sql: "DROP INDEX \(row["name"] as String)") }
            return rows.map { $0["sql"] as String }
        }
    }

    func createIndexes(_ statements: [String]) throws {
        guard !statements.isEmpty else { return }
        try writer.write { db in
            for sql in statements { try db.execute(sql: sql) }
        }
    }

    private static func step(_ statement: OpaquePointer, _ db: Database) throws {
        let code = sqlite3_step(statement)
        sqlite3_reset(statement)
        guard code == SQLITE_DONE else {
            throw JournalError.index(
                "insert failed: SQLite error \(code): \(String(cString: sqlite3_errmsg(db.sqliteConnection)))")
        }
    }

    func insertSegment(_ segment: IndexedSegment) throws {
        try writer.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO segments (id, created_ns, base_chain) VALUES (?, ?, ?)",
                arguments: [Int64(bitPattern: segment.id.rawValue), segment.created, Data(segment.baseChain.bytes)])
        }
    }

    /// Removes every row outside [oldest, head]: rows of segments removed by retention,
    /// and rows past a truncated tail. Returns how many frame rows went.
    @discardableResult
    func trim(oldest: SequenceNumber, head: SequenceNumber, segments: [SegmentID]) throws -> Int {
        try writer.write { db in
            let low = Int64(bitPattern: oldest.rawValue)
            let high = Int64(bitPattern: head.rawValue)
            try db.execute(sql: "DELETE FROM frames WHERE first_seq < ? OR last_seq > ?", arguments: [low, high])
            let frames = db.changesCount
            try db.execute(sql: "DELETE FROM events WHERE seq < ? OR seq > ?", arguments: [low, high])
            let ids = segments.map { Int64(bitPattern: $0.rawValue) }
            try db.execute(
                sql: "DELETE FROM segments WHERE id NOT IN (\(ids.map { _ in "?" }.joined(separator: ",")))",
                arguments: StatementArguments(ids))
            return frames
        }
    }

    func removeAll() throws {
        try writer.write { db in
            try db.execute(sql: "DELETE FROM frames; DELETE FROM events; DELETE FROM segments;")
        }
    }

    // MARK: Reads

    /// The newest indexed frame.
    func lastFrame() throws -> FrameLocation? {
        try writer.read { db in
            try Self.frame(db, sql: "SELECT * FROM frames ORDER BY first_seq DESC LIMIT 1", arguments: [])
        }
    }

    /// The indexed frame holding `sequence`, or else the last indexed frame before it.
    func frame(atOrBefore sequence: SequenceNumber) throws -> FrameLocation? {
        try writer.read { db in
            try Self.frame(
                db, sql: "SELECT * FROM frames WHERE first_seq <= ? ORDER BY first_seq DESC LIMIT 1",
                arguments: [Int64(bitPattern: sequence.rawValue)])
        }
    }

    /// The indexed frame that starts at `sequence`.
    func frame(firstSequence sequence: SequenceNumber) throws -> FrameLocation? {
        try writer.read { db in
            try Self.frame(
                db, sql: "SELECT * FROM frames WHERE first_seq = ?", arguments: [Int64(bitPattern: sequence.rawValue)])
        }
    }

    /// The first indexed frame whose last record is at or after `time`.
    func firstFrame(endingAtOrAfter time: Nanoseconds) throws -> FrameLocation? {
        try writer.read { db in
            try Self.frame(
                db, sql: "SELECT * FROM frames WHERE last_time >= ? ORDER BY last_time, first_seq LIMIT 1",
                arguments: [time])
        }
    }

    func events(from: SequenceNumber, through: SequenceNumber) throws -> [IndexedEvent] {
        try writer.read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq",
                arguments: [Int64(bitPattern: from.rawValue), Int64(bitPattern: through.rawValue)])
            return rows.map { row in
                IndexedEvent(
                    sequence: SequenceNumber(UInt64(bitPattern: row["seq"])), time: row["time"],
                    channel: UInt32(truncatingIfNeeded: row["channel"] as Int64),
                    descriptor: UInt32(truncatingIfNeeded: row["descriptor"] as Int64),
                    priority: UInt8(truncatingIfNeeded: row["priority"] as Int64),
                    publisher: [UInt8]((row["publisher"] as Data?) ?? Data()))
            }
        }
    }

    func segments() throws -> [IndexedSegment] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM segments ORDER BY id").map { row in
                IndexedSegment(
                    id: SegmentID(rawValue: UInt64(bitPattern: row["id"])), created: row["created_ns"],
                    baseChain: ChainHash(bytes: [UInt8](row["base_chain"] as Data)))
            }
        }
    }

    struct Totals: Sendable {
        var frames: Int
        var events: Int
        var rawBytes: Int64
        var eventRows: Int
    }

    func totals() throws -> Totals {
        try writer.read { db in
            let row = try Row.fetchOne(
                db,
                sql:
                    "SELECT COUNT(*) AS n, COALESCE(SUM(raw_length), 0) AS raw, COALESCE(SUM(last_seq - first_seq + 1), 0) AS events FROM frames"
            )!
            let eventRows = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0
            return Totals(frames: row["n"], events: row["events"], rawBytes: row["raw"], eventRows: eventRows)
        }
    }

    static func frame(_ db: Database, sql: String, arguments: StatementArguments) throws -> FrameLocation? {
        try Row.fetchOne(db, sql: sql, arguments: arguments).map(location)
    }

    private static func location(_ row: Row) -> FrameLocation {
        FrameLocation(
            segment: SegmentID(rawValue: UInt64(bitPattern: row["segment"])), offset: row["offset"],
            length: row["length"], firstSequence: SequenceNumber(UInt64(bitPattern: row["first_seq"])),
            lastSequence: SequenceNumber(UInt64(bitPattern: row["last_seq"])), firstTime: row["first_time"],
            lastTime: row["last_time"], rawLength: row["raw_length"],
            chain: ChainHash(bytes: [UInt8](row["chain"] as Data)))
    }

    /// Deletes an index file and its WAL companions.
    static func removeFiles(at path: String) {
        for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
    }
}

/// SQLite's "copy the bytes now" destructor.
let SQLITE_TRANSIENT_FN = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
