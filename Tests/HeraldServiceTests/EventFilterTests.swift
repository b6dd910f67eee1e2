import HeraldService
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
        // More filters than patterns: the extra filters see an empty pattern.
        Case(
            name: "extra pass-all filter", filters: [.init(.passAll), .init(.passAll)], patterns: [Array("a".utf8)],
            matches: true),
        Case(
            name: "extra zero-length prefix filter", filters: [.init(.passAll), .init(.prefix, "")],
            patterns: [Array("a".utf8)], matches: true),
        Case(
            name: "extra zero-length exact filter", filters: [.init(.passAll), .init(.exact, "")],
            patterns: [Array("a".utf8)], matches: true),
        Case(
            name: "extra non-empty filter", filters: [.init(.passAll), .init(.prefix, "x")],
            patterns: [Array("a".utf8)], matches: false),
        Case(name: "no patterns, non-empty filter", filters: [.init(.suffix, "x")], patterns: [], matches: false),
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

    @Test func filterTypeValuesAreSAFs() {
        #expect(FilterType.allCases.map(\.rawValue) == [1, 2, 3, 4])
    }
}
