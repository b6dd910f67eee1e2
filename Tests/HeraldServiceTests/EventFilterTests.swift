import HeraldService
import HeraldWire
import Testing

/// Every filter rule of SAF.md, one row each.
@Suite struct EventFilterTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var filters: [EventFilter]
        var patterns: [[UInt8]]
        var matches: Bool
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        // One filter against one pattern.
        Case(
            name: "prefix: equal to the first bytes", filters: [.init(.prefix, "link")],
            patterns: [Array("link-up".utf8)], matches: true),
        Case(
            name: "prefix: whole pattern", filters: [.init(.prefix, "link")], patterns: [Array("link".utf8)],
            matches: true),
        Case(
            name: "prefix: longer than the pattern", filters: [.init(.prefix, "link-up!")],
            patterns: [Array("link-up".utf8)], matches: false),
        Case(
            name: "prefix: different bytes", filters: [.init(.prefix, "lunk")], patterns: [Array("link-up".utf8)],
            matches: false),
        Case(
            name: "prefix: empty filter matches anything", filters: [.init(.prefix, "")], patterns: [Array("x".utf8)],
            matches: true),
        Case(
            name: "suffix: equal to the last bytes", filters: [.init(.suffix, "up")], patterns: [Array("link-up".utf8)],
            matches: true),
        Case(
            name: "suffix: not at the end", filters: [.init(.suffix, "link")], patterns: [Array("link-up".utf8)],
            matches: false),
        Case(
            name: "suffix: longer than the pattern", filters: [.init(.suffix, "xlink-up")],
            patterns: [Array("link-up".utf8)], matches: false),
        Case(
            name: "exact: same bytes", filters: [.init(.exact, "link-up")], patterns: [Array("link-up".utf8)],
            matches: true),
        Case(
            name: "exact: a prefix is not enough", filters: [.init(.exact, "link")], patterns: [Array("link-up".utf8)],
            matches: false),
        Case(
            name: "exact: longer is not equal", filters: [.init(.exact, "link-up2")], patterns: [Array("link-up".utf8)],
            matches: false),
        Case(
            name: "pass-all: anything", filters: [.init(.passAll, "ignored")], patterns: [Array("whatever".utf8)],
            matches: true),
        // Case-sensitive, byte-wise, binary-safe.
        Case(name: "case-sensitive", filters: [.init(.exact, "Link")], patterns: [Array("link".utf8)], matches: false),
        Case(
            name: "NUL is just a byte (exact)", filters: [.init(.exact, [0, 1, 0])], patterns: [[0, 1, 0]],
            matches: true),
        Case(
            name: "NUL does not end a pattern", filters: [.init(.exact, [0, 1])], patterns: [[0, 1, 0]], matches: false),
        Case(name: "binary prefix", filters: [.init(.prefix, [0xFF, 0])], patterns: [[0xFF, 0, 7]], matches: true),
        Case(name: "binary suffix", filters: [.init(.suffix, [0, 7])], patterns: [[0xFF, 0, 7]], matches: true),
        // Filter i applies to pattern i; all must match.
        Case(
            name: "all filters must match", filters: [.init(.prefix, "a"), .init(.exact, "b")],
            patterns: [Array("abc".utf8), Array("b".utf8)], matches: true),
        Case(
            name: "one failing filter fails the subscription", filters: [.init(.prefix, "a"), .init(.exact, "b")],
            patterns: [Array("abc".utf8), Array("bb".utf8)], matches: false),
        Case(
            name: "filters apply by position, not to any pattern", filters: [.init(.exact, "b")],
            patterns: [Array("a".utf8), Array("b".utf8)], matches: false),
        // More filters than patterns: the extra filters are not applied (openais; OpenSAF
        // would apply them to an empty pattern — docs/saevt.md).
        Case(
            name: "extra pass-all filter", filters: [.init(.passAll), .init(.passAll)], patterns: [Array("a".utf8)],
            matches: true),
        Case(
            name: "extra zero-length exact filter", filters: [.init(.passAll), .init(.exact, "")],
            patterns: [Array("a".utf8)], matches: true),
        Case(
            name: "extra non-empty filter is not applied", filters: [.init(.passAll), .init(.prefix, "x")],
            patterns: [Array("a".utf8)], matches: true),
        Case(
            name: "the filters that are applied must still match", filters: [.init(.prefix, "b"), .init(.prefix, "x")],
            patterns: [Array("a".utf8)], matches: false),
        Case(name: "no patterns, non-empty filter", filters: [.init(.suffix, "x")], patterns: [], matches: true),
        Case(
            name: "issue 18: four non-empty filters, an event with no patterns",
            filters: [.init(.prefix, "p"), .init(.suffix, "s"), .init(.exact, "e"), .init(.passAll, "a")],
            patterns: [], matches: true),
        Case(
            name: "issue 18: four non-empty filters, one pattern the first accepts",
            filters: [.init(.prefix, "p"), .init(.suffix, "s"), .init(.exact, "e"), .init(.passAll, "a")],
            patterns: [Array("p1".utf8)], matches: true),
        Case(
            name: "issue 18: four non-empty filters, one pattern the first refuses",
            filters: [.init(.prefix, "p"), .init(.suffix, "s"), .init(.exact, "e"), .init(.passAll, "a")],
            patterns: [Array("q1".utf8)], matches: false),
        Case(
            name: "issue 18: four non-empty filters, two patterns, the second refused",
            filters: [.init(.prefix, "p"), .init(.suffix, "s"), .init(.exact, "e"), .init(.passAll, "a")],
            patterns: [Array("p1".utf8), Array("s1".utf8)], matches: false),
        // More patterns than filters: the rest pass.
        Case(
            name: "extra patterns pass", filters: [.init(.exact, "a")], patterns: [Array("a".utf8), Array("zzz".utf8)],
            matches: true),
        Case(name: "no filters at all", filters: [], patterns: [Array("a".utf8)], matches: true),
    ]

    @Test(arguments: cases)
    func rule(_ rule: Case) {
        #expect(EventFilter.matches(rule.filters, patterns: rule.patterns) == rule.matches)
    }

    /// Every combination of 0…3 filters (each type, with an empty and a non-empty filter
    /// pattern) against 0…3 patterns (five candidates): the subscription matches exactly when
    /// the first min(filters, patterns) pairs all match. The pair results are a literal
    /// table, checked by hand, not the code under test.
    @Test func everyCombinationOfFiltersAndPatternsUpToThree() {
        let filters: [EventFilter] = [
            .init(.prefix, ""), .init(.prefix, "ab"), .init(.suffix, ""), .init(.suffix, "ab"),
            .init(.exact, ""), .init(.exact, "ab"), .init(.passAll, ""), .init(.passAll, "ab"),
        ]
        let candidates: [[UInt8]] = ["", "ab", "abc", "xab", "x"].map { Array($0.utf8) }
        // pair[filter][candidate]:           ""     "ab"   "abc"  "xab"  "x"
        let pair: [[Bool]] = [
            /* prefix ""     */ [true, true, true, true, true],
            /* prefix "ab"   */ [false, true, true, false, false],
            /* suffix ""     */ [true, true, true, true, true],
            /* suffix "ab"   */ [false, true, false, true, false],
            /* exact ""      */ [true, false, false, false, false],
            /* exact "ab"    */ [false, true, false, false, false],
            /* pass-all ""   */ [true, true, true, true, true],
            /* pass-all "ab" */ [true, true, true, true, true],
        ]
        func tuples(_ count: Int, of size: Int) -> [[Int]] {
            count == 0 ? [[]] : tuples(count - 1, of: size).flatMap { prefix in (0..<size).map { prefix + [$0] } }
        }
        var checked = 0
        var wrong: [String] = []
        for filterCount in 0...3 {
            for patternCount in 0...3 {
                for f in tuples(filterCount, of: filters.count) {
                    for p in tuples(patternCount, of: candidates.count) {
                        let expected = (0..<min(filterCount, patternCount)).allSatisfy { pair[f[$0]][p[$0]] }
                        let got = EventFilter.matches(f.map { filters[$0] }, patterns: p.map { candidates[$0] })
                        checked += 1
                        if got != expected && wrong.count < 5 { wrong.append("filters \(f) patterns \(p): \(got)") }
                    }
                }
            }
        }
        #expect(checked == 585 * 156)
        #expect(wrong.isEmpty, "\(wrong)")
    }

    /// The wire's filters (what the C library matches with when a subscription of an open
    /// ends) follow the same rule as the service's.
    @Test func wireFiltersFollowTheSameRule() {
        for rule in Self.cases {
            let wire = rule.filters.map { WireFilter(type: $0.type.rawValue, pattern: $0.pattern) }
            #expect(wire.accept(patterns: rule.patterns) == rule.matches, "\(rule.name)")
        }
        #expect(!WireFilter(type: 9, pattern: []).accepts([]), "an unknown type accepts nothing")
    }

    @Test func filterTypeValuesAreSAFs() {
        #expect(FilterType.allCases.map(\.rawValue) == [1, 2, 3, 4])
    }
}
