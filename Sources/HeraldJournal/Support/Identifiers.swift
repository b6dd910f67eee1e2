/// A record's position in the journal: strictly increasing from 1, with no gaps.
public struct SequenceNumber: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ value: UInt64) { self.rawValue = value }

    /// The sequence number before the first record of an empty journal.
    public static let zero = SequenceNumber(0)
    /// The first sequence number a journal assigns.
    public static let first = SequenceNumber(1)

    public var next: SequenceNumber { SequenceNumber(rawValue + 1) }
    public var previous: SequenceNumber {
        precondition(rawValue > 0, "sequence number 0 has no predecessor")
        return SequenceNumber(rawValue - 1)
    }
    public static func < (a: SequenceNumber, b: SequenceNumber) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

/// A segment is named by the sequence number of its first record.
public struct SegmentID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(firstSequence: SequenceNumber) { self.rawValue = firstSequence.rawValue }

    public var firstSequence: SequenceNumber { SequenceNumber(rawValue) }
    /// `segments/<first-seq, 20 digits>.hseg`
    public var fileName: String {
        let digits = String(rawValue)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".hseg"
    }
    /// Parses a file name made by `fileName`; nil for anything else.
    public init?(fileName: String) {
        guard fileName.hasSuffix(".hseg") else { return nil }
        let digits = fileName.dropLast(5)
        guard digits.count == 20, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            let value = UInt64(digits)
        else { return nil }
        self.rawValue = value
    }
    public static func < (a: SegmentID, b: SegmentID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { fileName }
}

/// Nanoseconds since the Unix epoch, the unit of every time the journal stores.
public typealias Nanoseconds = Int64

/// An inclusive range of sequence numbers assigned to one append.
public struct SequenceRange: Hashable, Sendable, CustomStringConvertible {
    public var first: SequenceNumber
    public var last: SequenceNumber
    public init(first: SequenceNumber, last: SequenceNumber) {
        precondition(first <= last, "empty sequence range \(first)...\(last)")
        self.first = first
        self.last = last
    }
    public var count: Int { Int(last.rawValue - first.rawValue + 1) }
    public var description: String { "\(first)...\(last)" }
}
