import Foundation
import GRDB

/// An auditor's question to the journal. Every condition given must hold; empty lists mean
/// "any". The index serves all of them: sequence and time bounds narrow the range of event
/// rows (time through the frames' time index), the other conditions filter those rows, and
/// only the frames that hold matching rows are read and decoded.
public struct JournalQuery: Hashable, Sendable {
    public var fromSequence: SequenceNumber?
    public var toSequence: SequenceNumber?
    /// Inclusive, ns since 1970.
    public var fromTime: Nanoseconds?
    public var toTime: Nanoseconds?
    public var channels: [UInt32] = []
    public var descriptors: [UInt32] = []
    /// OCF classes (the descriptor's upper 10 bits).
    public var classes: [UInt32] = []
    public var priorities: [UInt8] = []
    /// Publisher names (without the origin prefix, see `JournalRecord.publisherName`).
    public var publishers: [[UInt8]] = []
    /// Newest first.
    public var reverse = false

    public init() {}
}

extension Journal {
    /// Matching event rows fetched per round trip to SQLite: what bounds memory for any
    /// result size.
    static let queryChunk = 1024

    /// Calls `body` with each matching record, in sequence order (or reversed), until it
    /// returns false. Records the index has not caught up with yet are read from the
    /// segments and filtered the same way, so the answer is complete up to the head.
    public func query(_ query: JournalQuery, _ body: (JournalRecord) throws -> Bool) throws {
        let head = self.head.sequence
        guard head >= oldestSequence else { return }
        var low = max(query.fromSequence ?? oldestSequence, oldestSequence)
        var high = min(query.toSequence ?? head, head)
        guard let index else {
            try scan(query, from: low, through: high, body)
            return
        }
        if let from = query.fromTime, let frame = try index.firstFrame(endingAtOrAfter: from) {
            low = max(low, frame.firstSequence)
        }
        if let to = query.toTime, let frame = try index.lastFrame(startingAtOrBefore: to) {
            high = min(high, frame.lastSequence)
        }
        guard low <= high else { return }
        let indexed = min(high, try index.lastFrame()?.lastSequence ?? .zero)
        // Newest first: the part the index has not caught up with comes first.
        if query.reverse && high > indexed {
            guard try scanReversed(query, from: max(low, indexed.next), through: high, body) else { return }
        }
        if low <= indexed {
            guard try indexedRecords(query, from: low, through: indexed, body) else { return }
        }
        if !query.reverse && high > indexed { try scan(query, from: max(low, indexed.next), through: high, body) }
    }

    /// How many records match, from the index alone where it has caught up (a COUNT over
    /// the event rows of the range), reading only the records past its end.
    public func count(_ query: JournalQuery) throws -> Int {
        let head = self.head.sequence
        guard head >= oldestSequence else { return 0 }
        var low = max(query.fromSequence ?? oldestSequence, oldestSequence)
        var high = min(query.toSequence ?? head, head)
        guard let index else {
            var count = 0
            try scan(query, from: low, through: high) { _ in
                count += 1
                return true
            }
            return count
        }
        if let from = query.fromTime, let frame = try index.firstFrame(endingAtOrAfter: from) {
            low = max(low, frame.firstSequence)
        }
        if let to = query.toTime, let frame = try index.lastFrame(startingAtOrBefore: to) {
            high = min(high, frame.lastSequence)
        }
        guard low <= high else { return 0 }
        let indexed = min(high, try index.lastFrame()?.lastSequence ?? .zero)
        let (condition, arguments) = Self.conditions(query)
        var count =
            low <= indexed
            ? try index.countEvents(from: low, through: indexed, condition: condition, arguments: arguments) : 0
        try scan(query, from: max(low, indexed.next), through: high) { _ in
            count += 1
            return true
        }
        return count
    }

    /// The SQL condition and arguments of everything but the sequence range.
    private static func conditions(_ query: JournalQuery) -> (String, StatementArguments) {
        var clauses: [String] = []
        var arguments: [any DatabaseValueConvertible] = []
        if let from = query.fromTime {
            clauses.append("time >= ?")
            arguments.append(from)
        }
        if let to = query.toTime {
            clauses.append("time <= ?")
            arguments.append(to)
        }
        func list(_ column: String, _ values: [Int64]) {
            guard !values.isEmpty else { return }
            clauses.append("\(column) IN (\(values.map { _ in "?" }.joined(separator: ",")))")
            arguments += values.map { $0 as any DatabaseValueConvertible }
        }
        list("channel", query.channels.map(Int64.init))
        list("descriptor", query.descriptors.map(Int64.init))
        list("(descriptor >> 22)", query.classes.map(Int64.init))
        list("priority", query.priorities.map(Int64.init))
        if !query.publishers.isEmpty {
            clauses.append("publisher IN (\(query.publishers.map { _ in "?" }.joined(separator: ",")))")
            arguments += query.publishers.map { Data($0) as any DatabaseValueConvertible }
        }
        return (clauses.map { " AND " + $0 }.joined(), StatementArguments(arguments))
    }

    private func matches(_ query: JournalQuery, _ record: JournalRecord) -> Bool {
        (query.fromTime.map { record.time >= $0 } ?? true) && (query.toTime.map { record.time <= $0 } ?? true)
            && (query.channels.isEmpty || query.channels.contains(record.channel))
            && (query.descriptors.isEmpty || query.descriptors.contains(record.descriptor))
            && (query.classes.isEmpty || query.classes.contains(record.descriptor >> 22))
            && (query.priorities.isEmpty || query.priorities.contains(record.priority))
            && (query.publishers.isEmpty || query.publishers.contains(record.publisherName))
    }

    /// Pages through matching event rows (keyset pagination on the sequence) and reads their
    /// records; a reader is reused while matches are close together.
    private func indexedRecords(
        _ query: JournalQuery, from low: SequenceNumber, through high: SequenceNumber,
        _ body: (JournalRecord) throws -> Bool
    ) throws -> Bool {
        guard let index else { return true }
        let (condition, arguments) = Self.conditions(query)
        var cursor: SequenceNumber? = nil
        var reader: JournalReader?
        while true {
            let page = try index.eventSequences(
                from: query.reverse ? low : (cursor?.next ?? low),
                through: query.reverse ? (cursor?.previous ?? high) : high, condition: condition,
                arguments: arguments, descending: query.reverse, limit: Self.queryChunk)
            guard let last = page.last else { return true }
            cursor = last
            var records: [JournalRecord] = []
            records.reserveCapacity(page.count)
            for sequence in page.sorted() {
                if reader == nil || reader!.nextSequence > sequence
                    || sequence.rawValue - reader!.nextSequence.rawValue > UInt64(Self.queryChunk)
                {
                    reader = try self.reader(from: .sequence(sequence))
                }
                while let record = try reader!.next() {
                    if record.sequence == sequence {
                        records.append(record)
                        break
                    }
                    if record.sequence > sequence { break }
                }
            }
            for record in query.reverse ? records.reversed() : records {
                guard try body(record) else { return false }
            }
            if page.count < Self.queryChunk { return true }
        }
    }

    /// Reads and filters the records in a range directly (past the index's end).
    private func scan(
        _ query: JournalQuery, from low: SequenceNumber, through high: SequenceNumber,
        _ body: (JournalRecord) throws -> Bool
    ) throws {
        guard low <= high else { return }
        let reader = try self.reader(from: .sequence(low))
        while let record = try reader.next(), record.sequence <= high {
            if matches(query, record) { guard try body(record) else { return } }
        }
    }

    private func scanReversed(
        _ query: JournalQuery, from low: SequenceNumber, through high: SequenceNumber,
        _ body: (JournalRecord) throws -> Bool
    ) throws -> Bool {
        // The unindexed tail is short (the indexer trails by a few frames): held in memory.
        var records: [JournalRecord] = []
        try scan(query, from: low, through: high) {
            records.append($0)
            return true
        }
        for record in records.reversed() { guard try body(record) else { return false } }
        return true
    }
}

extension JournalIndexStore {
    /// Up to `limit` sequence numbers of matching event rows in `from...through`.
    func eventSequences(
        from: SequenceNumber, through: SequenceNumber, condition: String, arguments: StatementArguments,
        descending: Bool, limit: Int
    ) throws -> [SequenceNumber] {
        guard from <= through else { return [] }
        return try writer.read { db in
            let sql =
                "SELECT seq FROM events WHERE seq BETWEEN ? AND ?\(condition) ORDER BY seq \(descending ? "DESC" : "ASC") LIMIT ?"
            var all: StatementArguments = [Int64(bitPattern: from.rawValue), Int64(bitPattern: through.rawValue)]
            all += arguments
            all += [limit]
            return try Int64.fetchAll(db, sql: sql, arguments: all).map { SequenceNumber(UInt64(bitPattern: $0)) }
        }
    }

    func countEvents(from: SequenceNumber, through: SequenceNumber, condition: String, arguments: StatementArguments)
        throws -> Int
    {
        try writer.read { db in
            var all: StatementArguments = [Int64(bitPattern: from.rawValue), Int64(bitPattern: through.rawValue)]
            all += arguments
            return try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM events WHERE seq BETWEEN ? AND ?\(condition)", arguments: all) ?? 0
        }
    }

    /// The last indexed frame whose first record is at or before `time`.
    func lastFrame(startingAtOrBefore time: Nanoseconds) throws -> FrameLocation? {
        try writer.read { db in
            try Self.frame(
                db, sql: "SELECT * FROM frames WHERE first_time <= ? ORDER BY first_seq DESC LIMIT 1",
                arguments: [time])
        }
    }
}
