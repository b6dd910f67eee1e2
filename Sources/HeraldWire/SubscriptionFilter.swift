/// A subscription filter as SAF defines it (SaEvtEventFilterT): a type code
/// (SaEvtEventFilterTypeT: 1 prefix, 2 suffix, 3 exact, 4 pass all) and a filter pattern.
/// The service's `EventFilter` and the wire's `WireFilter` both are one, so that heraldd
/// and the C library (which matches again when a subscription of an open ends, see
/// docs/saevt.md) apply the same rule from one place.
public protocol SubscriptionFilter {
    var typeCode: UInt8 { get }
    var filterPattern: [UInt8] { get }
}

extension SubscriptionFilter {
    /// Whether this filter accepts `candidate`: byte-wise, case-sensitive, binary-safe. An
    /// unknown type code accepts nothing.
    @inlinable
    public func accepts<Candidate: Collection<UInt8>>(_ candidate: Candidate) -> Bool {
        let pattern = filterPattern
        switch typeCode {
        case 4: return true
        case 3: return candidate.count == pattern.count && candidate.elementsEqual(pattern)
        case 1: return candidate.count >= pattern.count && candidate.starts(with: pattern)
        case 2: return candidate.count >= pattern.count && candidate.suffix(pattern.count).elementsEqual(pattern)
        default: return false
        }
    }
}

extension Collection where Element: SubscriptionFilter {
    /// Whether a subscription with these filters receives an event with `patterns`: filter
    /// *i* applies to pattern *i* and every applied filter must accept. Only
    /// min(filters, patterns) pairs are compared — patterns beyond the filters pass, and
    /// filters beyond the event's patterns are not applied (an event with no patterns
    /// matches every subscription). This is openais' rule; OpenSAF applies the extra filters
    /// to an empty pattern instead; docs/saevt.md says why Herald follows openais.
    @inlinable
    public func accept<Patterns: Sequence>(patterns: Patterns) -> Bool where Patterns.Element: Collection<UInt8> {
        var remaining = patterns.makeIterator()
        for filter in self {
            guard let pattern = remaining.next() else { return true }
            if !filter.accepts(pattern) { return false }
        }
        return true
    }
}

extension WireFilter: SubscriptionFilter {
    @inlinable public var typeCode: UInt8 { type }
    @inlinable public var filterPattern: [UInt8] { pattern }
}
