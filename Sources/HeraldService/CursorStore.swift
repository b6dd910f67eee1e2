import Foundation
import GRDB
public import HeraldJournal

/// Durable cursors: for each durable subscriber name, the last acknowledged sequence number
/// (everything at or before it is done) and how far deliveries had gone. Unlike the index
/// this is not derivable from the segments, so it has its own file, `cursors.sqlite` (WAL),
/// never rebuilt. Updates are batched: many acks, one transaction.
public final class CursorStore: Sendable {
    public struct Cursor: Hashable, Sendable {
        public var name: String
        public var acknowledged: SequenceNumber
        public var deliveredThrough: SequenceNumber
        public var updated: Nanoseconds

        public init(name: String, acknowledged: SequenceNumber, deliveredThrough: SequenceNumber, updated: Nanoseconds)
        {
            self.name = name
            self.acknowledged = acknowledged
            self.deliveredThrough = deliveredThrough
            self.updated = updated
        }
    }

    private let queue: DatabaseQueue

    public static let fileName = "cursors.sqlite"

    /// Opens `path` (nil: in memory), creating the table if needed.
    public init(path: String?) throws {
        var configuration = Configuration()
        configuration.label = "herald.cursors"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // The write-ahead log restarts well before it outgrows the room reserved below.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Self.reservedPages / 4)")
        }
        queue =
            try path.map { try DatabaseQueue(path: $0, configuration: configuration) }
            ?? DatabaseQueue(configuration: configuration)
        if path != nil { try queue.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_mode = WAL") } }
        var migrator = DatabaseMigrator()
        migrator.registerMigration("0001_cursors") { db in
            try db.execute(
                sql: """
                    CREATE TABLE cursors (
                        name              TEXT    PRIMARY KEY,
                        acknowledged      INTEGER NOT NULL,
                        delivered_through INTEGER NOT NULL,
                        updated_ns        INTEGER NOT NULL
                    )
                    """)
        }
        try migrator.migrate(queue)
        if path != nil { try reserveRoom() }
    }

    /// Pages of room reserved at open (256 KiB of 4 KiB pages).
    static let reservedPages = 64

    /// Makes the files big enough that storing cursors never needs more disk: a blob of
    /// `reservedPages` pages written (the write-ahead log grows by that much and keeps its
    /// size: SQLite reuses it from the start after each checkpoint) and dropped (its pages
    /// stay in the database file as free pages for new rows). So a durable subscriber can
    /// still store its cursor — and go on delivering — when the disk is full.
    private func reserveRoom() throws {
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS room (bytes BLOB)")
            try db.execute(sql: "INSERT INTO room VALUES (zeroblob(?))", arguments: [Self.reservedPages * 4096])
        }
        try queue.write { db in try db.execute(sql: "DROP TABLE room") }
    }

    public func cursor(named name: String) throws -> Cursor? {
        try queue.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM cursors WHERE name = ?", arguments: [name]).map(Self.cursor)
        }
    }

    public func all() throws -> [Cursor] {
        try queue.read { db in try Row.fetchAll(db, sql: "SELECT * FROM cursors ORDER BY name").map(Self.cursor) }
    }

    /// Writes every cursor in one transaction. Positions only move forward: a write with an
    /// older position than the stored one (two writers racing) keeps the newer.
    public func save(_ cursors: [Cursor]) throws {
        guard !cursors.isEmpty else { return }
        try queue.write { db in
            // The delivery loop (the horizon before a hand-out) and the periodic flush (a
            // snapshot taken a moment earlier) both write a cursor: the later write may carry
            // the older position, and replacing the row with it let the stored horizon go
            // back (after a crash, events delivered past it came again unmarked: found by the
            // kill soak). An attachment that starts elsewhere than its cursor removes the row
            // first (`remove(named:)`).
            let statement = try db.cachedStatement(
                sql: """
                    INSERT INTO cursors (name, acknowledged, delivered_through, updated_ns) VALUES (?, ?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET
                        acknowledged = max(acknowledged, excluded.acknowledged),
                        delivered_through = max(delivered_through, excluded.delivered_through),
                        updated_ns = excluded.updated_ns
                    """
            )
            for cursor in cursors {
                try statement.execute(arguments: [
                    cursor.name, Int64(bitPattern: cursor.acknowledged.rawValue),
                    Int64(bitPattern: cursor.deliveredThrough.rawValue), cursor.updated,
                ])
            }
        }
    }

    /// Whether `error` (from `save`) says the disk is full: SQLite could not grow the
    /// database or its write-ahead log. Space made later lets the same write succeed.
    public static func isOutOfSpace(_ error: any Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return error.resultCode == .SQLITE_FULL || error.extendedResultCode == .SQLITE_IOERR_WRITE
    }

    public func remove(named name: String) throws {
        try queue.write { db in try db.execute(sql: "DELETE FROM cursors WHERE name = ?", arguments: [name]) }
    }

    /// Checkpoints the WAL (connections close when the store is released).
    public func close() { _ = try? queue.writeWithoutTransaction { try $0.checkpoint(.truncate) } }

    private static func cursor(_ row: Row) -> Cursor {
        Cursor(
            name: row["name"], acknowledged: SequenceNumber(UInt64(bitPattern: row["acknowledged"])),
            deliveredThrough: SequenceNumber(UInt64(bitPattern: row["delivered_through"])), updated: row["updated_ns"])
    }
}
