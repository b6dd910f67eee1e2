import Foundation
import HeraldFuzzing
import Testing

/// The suite's short, seeded version of `tools/fuzz`: every target runs over its checked-in
/// seed corpus and over seeded mutations of it (bit flips, cuts, duplicated and inserted
/// bytes) and must return on each. The long campaigns run under libFuzzer + AddressSanitizer.
@Suite struct FuzzTargetTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus")

    /// The corpus files are what the encoders make today (`HERALD_WRITE_FUZZ_SEEDS=1`
    /// writes them).
    @Test func theSeedCorpusIsCheckedIn() throws {
        let write = ProcessInfo.processInfo.environment["HERALD_WRITE_FUZZ_SEEDS"] == "1"
        for (target, seeds) in try FuzzSeeds.make() {
            let folder = Self.corpus.appendingPathComponent(target.rawValue)
            for (name, bytes) in seeds {
                let file = folder.appendingPathComponent(name)
                if write {
                    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                    try Data(bytes).write(to: file)
                }
                let stored = try? Data(contentsOf: file)
                #expect(stored.map { [UInt8]($0) } == bytes, "\(target.rawValue)/\(name)")
            }
        }
    }

    @Test(arguments: FuzzTarget.allCases) func seededMutationsOfTheCorpus(_ target: FuzzTarget) throws {
        let folder = Self.corpus.appendingPathComponent(target.rawValue)
        let seeds = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted().map {
            [UInt8](try Data(contentsOf: folder.appendingPathComponent($0)))
        }
        #expect(!seeds.isEmpty)
        var random = SplitMix(seed: 0x4845_5241_4C44 ^ UInt64(target.rawValue.utf8.count))
        let rounds = target == .journal ? 300 : 3000
        for seed in seeds { #expect(target.run(seed), "a seed is valid input") }
        var refused = 0
        for _ in 0..<rounds {
            var bytes = seeds[Int(random.next() % UInt64(seeds.count))]
            for _ in 0..<(1 + random.next() % 4) { mutate(&bytes, &random) }
            if !target.run(bytes) { refused += 1 }
        }
        #expect(refused > 0, "some mutations are refused (the decoders check what they read)")
    }

    private func mutate(_ bytes: inout [UInt8], _ random: inout SplitMix) {
        guard !bytes.isEmpty else {
            bytes = [UInt8(truncatingIfNeeded: random.next())]
            return
        }
        let at = Int(random.next() % UInt64(bytes.count))
        switch random.next() % 5 {
        case 0: bytes[at] ^= UInt8(1 << (random.next() % 8))
        case 1: bytes[at] = UInt8(truncatingIfNeeded: random.next())
        case 2: bytes.removeSubrange(at...)
        case 3: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + 16)], at: at)
        default: bytes[at] = [0x00, 0xFF, 0x7F, 0x80][Int(random.next() % 4)]
        }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
