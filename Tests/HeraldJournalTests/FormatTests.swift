import Foundation
import Testing

@testable import HeraldJournal

@Suite struct FormatTests {
    @Test func crc32cKnownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    }

    @Test func crc32cHardwareMatchesPortable() {
        var random = SplitMix64(seed: 7)
        for length in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4099] {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            bytes.withUnsafeBytes { buffer in
                #expect(CRC32C.checksum(buffer) == CRC32C.portableChecksum(buffer), "length \(length)")
            }
        }
    }

    @Test func recordRoundTripsBinaryFields() throws {
        let entry = JournalEntry(
            descriptor: 0x0080_0001, channel: 42, priority: 0, flags: 0x81, retention: 5_000_000_000,
            publisher: [0, 10, 13, 255], patterns: [[0], [], Array("a\nb".utf8), [0xFF, 0x00, 0x0A]],
            data: [0, 10, 0, 13, 10, 255])
        let bytes = try RecordCodec.encode(entry, sequence: SequenceNumber(7), time: 1234)
        let record = try bytes.withUnsafeBytes { try RecordCodec.decode($0).materialize() }
        #expect(record.sequence == SequenceNumber(7))
        #expect(record.time == 1234)
        var expected = entry
        expected.time = 1234
        #expect(record.entry == expected)
    }

    /// Pins the on-disk record layout: a refactor cannot silently change it. The CRC values
    /// in these golden tests were computed independently (a bitwise CRC32C in Python).
    @Test func recordGoldenBytes() throws {
        let entry = JournalEntry(
            descriptor: 0x0080_0001, channel: 2, priority: 1, flags: 3, retention: 4, publisher: Array("p".utf8),
            patterns: [Array("ab".utf8)], data: Array("xyz".utf8))
        let bytes = try RecordCodec.encode(entry, sequence: SequenceNumber(5), time: 6)
        #expect(
            hexBytes(bytes)
                == "3a000000" + hexBytes(Array(bytes[4..<8])) + "0500000000000000" + "0600000000000000" + "01008000"
                + "02000000" + "01" + "03" + "0100" + "0400000000000000" + "0100" + "03000000" + "70" + "0200" + "6162"
                + "78797a")
        #expect(hexBytes(Array(bytes[4..<8])) == "ba53c779")
    }

    @Test func segmentHeaderGoldenBytes() throws {
        let header = SegmentHeader(
            firstSequence: SequenceNumber(1001), created: 1_700_000_000_000_000_000, baseTime: 99,
            baseChain: ChainHash(bytes: [UInt8](repeating: 0xAB, count: 32)))
        let bytes = header.encoded()
        #expect(bytes.count == 76)
        #expect(
            hexBytes(Array(bytes[0..<40]))
                == "502a4d18" + "44000000" + "48524c44" + "0100" + "0000" + "e903000000000000" + "00002a36fe9c9717"
                + "6300000000000000")
        #expect(hexBytes(Array(bytes[72..<76])) == "c486c62a")
        #expect(try bytes.withUnsafeBytes { try SegmentHeader.decode($0) } == header)
    }

    @Test func frameDescriptorGoldenBytes() throws {
        let descriptor = FrameDescriptor(
            firstSequence: SequenceNumber(10), recordCount: 3, rawLength: 300, firstTime: 1, lastTime: 2,
            dataLength: 100, dataCRC: 0xDEAD_BEEF, chain: ChainHash(bytes: [UInt8](repeating: 1, count: 32)))
        let bytes = descriptor.encoded()
        #expect(bytes.count == 88)
        #expect(
            hexBytes(Array(bytes[0..<52]))
                == "512a4d18" + "50000000" + "0a00000000000000" + "03000000" + "2c010000" + "0100000000000000"
                + "0200000000000000" + "64000000" + "efbeadde" + "00000000")
        #expect(hexBytes(Array(bytes[84..<88])) == "38f2bdf1")
        #expect(try bytes.withUnsafeBytes { try FrameDescriptor.decode($0) } == descriptor)
    }

    @Test func decodeRejectsDamage() throws {
        let bytes = try RecordCodec.encode(JournalEntry(data: Array("hello".utf8)), sequence: .first, time: 1)
        #expect(throws: RecordDecodeError.self) {
            try Array(bytes.dropLast()).withUnsafeBytes { try RecordCodec.decode($0) }
        }
        for index in bytes.indices {
            var damaged = bytes
            damaged[index] ^= 0x10
            #expect(throws: RecordDecodeError.self, "flip at \(index)") {
                try damaged.withUnsafeBytes { try RecordCodec.decode($0) }
            }
        }
    }

    @Test func limitsAreEnforcedBeforeWriting() {
        var limits = JournalLimits()
        limits.dataBytesMax = 10
        limits.patternCountMax = 1
        #expect(throws: JournalError.recordTooLarge(field: "data", bytes: 11, limit: 10)) {
            try RecordCodec.encode(
                JournalEntry(data: [UInt8](repeating: 1, count: 11)), sequence: .first, time: 0, limits: limits)
        }
        #expect(throws: JournalError.recordTooLarge(field: "pattern count", bytes: 2, limit: 1)) {
            try RecordCodec.encode(
                JournalEntry(patterns: [[1], [2]], data: []), sequence: .first, time: 0, limits: limits)
        }
    }

    @Test func segmentFileNames() {
        let id = SegmentID(firstSequence: SequenceNumber(42))
        #expect(id.fileName == "00000000000000000042.hseg")
        #expect(SegmentID(fileName: id.fileName) == id)
        #expect(SegmentID(fileName: "42.hseg") == nil)
        #expect(SegmentID(fileName: "0000000000000000004x.hseg") == nil)
    }

    @Test func embeddedMigrationsEqualTheMigrationsFolder() throws {
        let folder = repositoryRoot + "/migrations"
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files.map { String($0.dropLast(4)) } == EmbeddedMigrations.all.map(\.identifier))
        for (file, migration) in zip(files, EmbeddedMigrations.all) {
            let text = try String(contentsOfFile: folder + "/" + file, encoding: .utf8)
            let normalized = text.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.replacing(/\s+$/, with: "") }.joined(separator: "\n")
            #expect(
                normalized.trimmingCharacters(in: .newlines) == migration.sql.trimmingCharacters(in: .newlines),
                "\(file)")
        }
    }
}
