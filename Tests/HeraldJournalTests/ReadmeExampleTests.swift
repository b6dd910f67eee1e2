import Foundation
import HeraldJournal
import Testing

/// The README's Swift example, kept compiling and true.
@Suite struct ReadmeExampleTests {
    @Test func readmeExampleWorks() async throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let journal = try Journal.open(at: directory.path + "/herald-data")
        let range = try await journal.append([
            JournalEntry(
                channel: 1, publisher: Array("node-1".utf8), patterns: [Array("link".utf8)],
                data: Array(#"{"link":"up"}"#.utf8))
        ])
        let reader = try journal.reader(from: .sequence(range.first))
        var seen: [(SequenceNumber, Int)] = []
        while let record = try reader.next() { seen.append((record.sequence, record.data.count)) }
        journal.close()
        #expect(seen.count == 1)
        #expect(seen.first?.0 == .first)
        #expect(seen.first?.1 == 13)
    }
}
