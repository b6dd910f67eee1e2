import Foundation
import Testing

@testable import HeraldJournal

/// Export while the journal keeps changing under it: segments roll and retention removes
/// the oldest ones, some of them not read yet by the export.
@Suite struct ExportTests {
    private func options(retentionBytes: Int64) -> JournalOptions {
        var options = JournalOptions()
        options.durability = .none
        options.segmentBytesMax = 8_192
        options.retentionBytes = retentionBytes
        return options
    }

    @Test func anExportStaysOneWholeRangeWhileRetentionRemovesSegmentsItHasNotRead() throws {
        let folder = TemporaryDirectory("herald-export")
        defer { folder.cleanup() }
        let data = folder.path + "/data"
        let journal = try Journal.open(at: data, options: options(retentionBytes: 60_000))
        var generator = EventGenerator(seed: 5)
        for _ in 0..<40 { _ = try journal.appendAndWait(generator.entries(50)) }
        let headBefore = journal.head
        let segmentsBefore = journal.catalog.snapshot.segments
        #expect(segmentsBefore.count > 4)

        // On the export's first frame, the writer appends enough to roll several segments:
        // retention removes the oldest ones, including some the export has not opened by name.
        var rolled = false
        let manifest = try Journal.export(
            from: data, to: folder.path + "/backup",
            progress: { _, _ in
                guard !rolled else { return }
                rolled = true
                for _ in 0..<60 { _ = try? journal.appendAndWait(generator.entries(50)) }
            })
        #expect(rolled)
        let segmentsAfter = journal.catalog.snapshot.segments
        #expect(!segmentsAfter.contains(segmentsBefore[1]), "retention removed segments the export had not read yet")
        // The backup is the journal as it was when the export began: first to that head.
        #expect(manifest.firstSequence == segmentsBefore[0].firstSequence.rawValue)
        #expect(manifest.lastSequence == headBefore.sequence.rawValue)
        #expect(manifest.headChain == headBefore.chain.hex)
        let report = try Journal.importBackups([folder.path + "/backup"], into: folder.path + "/restored")
        #expect(report.damage == nil)
        #expect(report.head.sequence == headBefore.sequence)
        journal.close()
    }

    @Test func anExportStartsAtTheOldestRetainedSegmentAndRefusesAStartThatIsGone() throws {
        let folder = TemporaryDirectory("herald-export")
        defer { folder.cleanup() }
        let data = folder.path + "/data"
        let journal = try Journal.open(at: data, options: options(retentionBytes: 1 << 30))
        var generator = EventGenerator(seed: 6)
        for _ in 0..<20 { _ = try journal.appendAndWait(generator.entries(50)) }
        let segments = journal.catalog.snapshot.segments
        #expect(segments.count > 3)
        // What retention does: the oldest segments go.
        for id in segments.prefix(2) { try FileManager.default.removeItem(atPath: journal.segmentPath(id)) }
        let manifest = try Journal.export(from: data, to: folder.path + "/backup")
        #expect(manifest.firstSequence == segments[2].firstSequence.rawValue)
        #expect(manifest.lastSequence == journal.head.sequence.rawValue)
        // Asked for a start that is gone: refused, not silently moved.
        #expect(throws: JournalError.self) {
            try Journal.export(
                from: data, to: folder.path + "/backup-2", start: .sequence(SequenceNumber(1)))
        }
        journal.close()
    }
}
