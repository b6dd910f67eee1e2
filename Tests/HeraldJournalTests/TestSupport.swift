import Foundation
import HeraldJournal

/// A fresh temporary folder, removed by `cleanup`.
struct TemporaryDirectory {
    let path: String

    init(_ name: String = "herald-test") {
        path = NSTemporaryDirectory() + "\(name)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Deterministic, realistic-looking event bodies (JSON-like, repeated keys, varying values).
struct EventGenerator {
    var random: SplitMix64

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    mutating func entry(channel: UInt32 = 1) -> JournalEntry {
        let node = random.next() % 16
        let kind = ["link-up", "link-down", "join", "leave", "cast"][Int(random.next() % 5)]
        let body = #"{"node":"n\#(node)","event":"\#(kind)","value":\#(random.next() % 100_000)}"#
        return JournalEntry(
            descriptor: UInt32(3 << 22 | (random.next() % 4)), channel: channel, priority: UInt8(random.next() % 4),
            flags: 0, retention: Int64(random.next() % 1000), publisher: Array("node-\(node)".utf8),
            patterns: [Array("cluster/\(kind)".utf8), [0, 10, 255]], data: Array(body.utf8))
    }

    mutating func entries(_ count: Int) -> [JournalEntry] { (0..<count).map { _ in entry() } }
}

/// Options for a journal on the simulated file system, with a manual clock.
func simulatedOptions(_ fs: SimulatedFileSystem, clock: ManualWallClock = ManualWallClock()) -> JournalOptions {
    var options = JournalOptions()
    options.fileSystem = fs
    options.clock = clock
    options.index = .inMemory
    return options
}

/// Every record from `position` to the head.
func readAll(_ journal: Journal, from position: ReadPosition = .oldest) throws -> [JournalRecord] {
    let reader = try journal.reader(from: position)
    var records: [JournalRecord] = []
    while let record = try reader.next() { records.append(record) }
    return records
}

/// The repository's root, from this file's path.
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

func hexBytes(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
