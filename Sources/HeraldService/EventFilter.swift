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
    public func matches(_ candidate: [UInt8]) -> Bool {
        switch type {
        case .passAll: return true
        case .exact: return candidate == pattern
        case .prefix: return candidate.count >= pattern.count && candidate.starts(with: pattern)
        case .suffix: return candidate.count >= pattern.count && candidate.suffix(pattern.count).elementsEqual(pattern)
        }
    }

    /// SAF's rule for a subscription: filter *i* applies to pattern *i* and all must match.
    /// Filters beyond the event's patterns see an empty pattern (only pass-all or a
    /// zero-length filter accept it); patterns beyond the filters pass.
    public static func matches(_ filters: [EventFilter], patterns: [[UInt8]]) -> Bool {
        for (index, filter) in filters.enumerated() {
            let candidate = index < patterns.count ? patterns[index] : []
            if !filter.matches(candidate) { return false }
        }
        return true
    }
}
