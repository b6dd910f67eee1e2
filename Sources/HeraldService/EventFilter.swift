public import HeraldWire

/// How a filter compares with the pattern at the same index (SaEvtEventFilterTypeT).
public enum FilterType: UInt8, Hashable, Sendable, CaseIterable {
    /// The filter equals the pattern's first bytes.
    case prefix = 1
    /// The filter equals the pattern's last bytes.
    case suffix = 2
    /// Same length, same bytes.
    case exact = 3
    /// Always matches.
    case passAll = 4
}

/// One filter of a subscription. Byte-wise, case-sensitive and binary-safe: a NUL byte is
/// just a byte.
public struct EventFilter: Hashable, Sendable {
    public var type: FilterType
    public var pattern: [UInt8]

    public init(_ type: FilterType, _ pattern: [UInt8] = []) {
        self.type = type
        self.pattern = pattern
    }

    public init(_ type: FilterType, _ pattern: String) { self.init(type, Array(pattern.utf8)) }

    /// Whether this filter accepts `candidate`.
    @inlinable
    public func matches(_ candidate: [UInt8]) -> Bool { accepts(candidate) }

    /// SAF's rule for a subscription (`Collection.accept(patterns:)` of HeraldWire): filter
    /// *i* applies to pattern *i* and all applied filters must accept; only min(filters,
    /// patterns) pairs are compared, so filters beyond the event's patterns are not applied
    /// and patterns beyond the filters pass.
    @inlinable
    public static func matches(_ filters: [EventFilter], patterns: [[UInt8]]) -> Bool {
        filters.accept(patterns: patterns)
    }
}

extension EventFilter: SubscriptionFilter {
    @inlinable public var typeCode: UInt8 { type.rawValue }
    @inlinable public var filterPattern: [UInt8] { pattern }
}
