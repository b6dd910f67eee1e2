public import HeraldJournal

/// What a journal record means to the event service. Every publish, channel operation and
/// retention clear is a record, so the journal order is the order of operations and
/// replaying the journal rebuilds the service's state. The kind is the low nibble of the
/// record's `flags`.
public enum ServiceRecordKind: UInt8, Hashable, Sendable, CaseIterable {
    /// An event published on a channel instance (`channel`).
    case publish = 0
    /// A channel instance created under a name (`data` = the name).
    case channelCreate = 1
    /// A name removed; the instance lives on until its last close (`data` = the name).
    case channelUnlink = 2
    /// A channel opened by a client (`data` = the open flags byte). The record's sequence
    /// number is the opener id.
    case channelOpen = 3
    /// A channel closed (`data` = the opener id, u64 LE).
    case channelClose = 4
    /// A retained event's retention ended early (`data` = event id, u64 LE).
    case retentionClear = 5
    /// A membership or connectivity event produced by the node (`descriptor` says which).
    case system = 6
    /// The whole service state (`ChannelRegistry.snapshot()`), written near the start of
    /// every segment so that retention, which removes whole old segments, never removes
    /// the only record of a channel: replay adopts the first snapshot it meets.
    case snapshot = 7

    static let mask: UInt8 = 0x0F

    init?(flags: UInt8) { self.init(rawValue: flags & Self.mask) }
}

/// Event ids are derived from the journal: `1000 + sequence number`. The sequence is the
/// cluster-wide order, so ids are unique, above the reserved 0...1000, and increasing
/// (not consecutive per channel, which SAF does not promise).
public struct EventID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let reservedMax: UInt64 = 1000
    public static let none = EventID(rawValue: 0)
    public static let lost = EventID(rawValue: 1)

    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(sequence: SequenceNumber) { rawValue = Self.reservedMax + sequence.rawValue }

    public var isReserved: Bool { rawValue <= Self.reservedMax }
    /// The record holding the event, for ids made by `init(sequence:)`.
    public var sequence: SequenceNumber? { isReserved ? nil : SequenceNumber(rawValue - Self.reservedMax) }
    public static func < (a: EventID, b: EventID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { String(rawValue) }
}

extension Array where Element == UInt8 {
    init<T: FixedWidthInteger>(littleEndian value: T) {
        self = Swift.withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    /// The u64 at the start, if there are 8 bytes.
    var leadingUInt64: UInt64? {
        guard count >= 8 else { return nil }
        return withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }
}
