import ArgumentParser
import Foundation
import HeraldJournal

/// `herald-bench auditor`: what `herald query`, `export` and `import` cost on a large
/// journal. Builds a journal of N events (default 10 M, 128 bytes, 100 publishers, times
/// spread over 10 hours), then times queries through the same library calls the CLI makes,
/// and export / import beside a plain `cp` of the same files.
struct AuditorBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auditor", abstract: "Query latency, export and import MB/s on a large journal.")

    @Option(help: "Events in the journal.") var events = 10_000_000
    @Option(help: "Runs of each query (the table shows medians).") var runs = 5
    @Option(name: .customLong("work-dir")) var workDirectory = "bench-out"

    static let span: Int64 = 10 * 3_600 * 1_000_000_000

    func run() throws {
        try? FileManager.default.removeItem(atPath: workDirectory)
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        let work = URL(fileURLWithPath: workDirectory).standardizedFileURL.path
        let data = work + "/journal"
        let start = try build(data)
        var rows: [(String, String)] = []

        var options = JournalOptions()
        options.readOnly = true
        let journal = try Journal.open(at: data, options: options)
        let hour: Int64 = 3_600 * 1_000_000_000
        var window = JournalQuery()
        window.fromTime = start + 4 * hour
        window.toTime = start + 5 * hour
        let publisher = Array("svc-42".utf8)
        func timed(_ label: String, _ body: () throws -> Int) rethrows {
            var times: [Double] = []
            var result = 0
            for _ in 0..<runs { times.append(try seconds { result = try body() }) }
            rows.append((label, String(format: "%.1f ms (%d events)", median(times) * 1000, result)))
            log("\(label): \(times.map { String(format: "%.1f ms", $0 * 1000) })")
        }
        /// Reads matching records until `limit`; returns how many.
        func read(_ query: JournalQuery, limit: Int = .max) throws -> Int {
            var count = 0
            try journal.query(query) { _ in
                count += 1
                return count < limit
            }
            return count
        }
        var onePublisher = JournalQuery()
        onePublisher.publishers = [publisher]
        for (name, query, scope) in [
            ("1-hour window", window, ""), ("one publisher", onePublisher, " over the whole journal"),
        ] {
            try timed("\(name), first 100 events") { try read(query, limit: 100) }
            try timed("\(name), --count\(scope) (index only)") { try journal.count(query) }
            try timed("\(name), every event read") { try read(query) }
        }
        try merkleRows(journal: journal, data: data, rows: &rows)
        journal.close()

        // Export and import beside cp of the same bytes. Each timed step starts with nothing
        // dirty (an untimed system-wide sync) and ends with what it wrote on disk: export and
        // import fsync their own files; cp is followed by an fsync of every file and folder
        // it made (`sync FILE…`), not by a system-wide sync that would flush others' bytes.
        let backup = work + "/backup"
        var exported: BackupManifest?
        try syncAll()
        let exportSeconds = try seconds { exported = try Journal.export(from: data, to: backup, options: options) }
        let bytes = Double(exported!.files.reduce(Int64(0)) { $0 + $1.bytes })
        try syncAll()
        let cpSeconds = try seconds { try copy(data + "/segments", to: work + "/cp-segments") }
        try syncAll()
        let importSeconds = try seconds { _ = try Journal.importBackups([backup], into: work + "/restored") }
        try syncAll()
        let cpBackupSeconds = try seconds { try copy(backup, to: work + "/cp-backup") }
        rows.append(("export (\(String(format: "%.0f", bytes / 1e6)) MB)", mbps(bytes, exportSeconds)))
        rows.append(("cp -r of the same segments, then fsync of what it wrote", mbps(bytes, cpSeconds)))
        rows.append(("import (verify + fsync + install + index)", mbps(bytes, importSeconds)))
        rows.append(("cp -r of the backup, then fsync of what it wrote", mbps(bytes, cpBackupSeconds)))

        print("")
        print("| workload (\(formatRate(Double(events))) events, 100 publishers, 10 hours) | Herald |")
        print("|---|---|")
        for (label, value) in rows { print("| \(label) | \(value) |") }
        try? FileManager.default.removeItem(atPath: workDirectory)
    }

    /// The Merkle tree (issue 19): built from nothing (every record hashed, what heraldd's
    /// checkpointer does once for a journal without `merkle.tiles`), opened from its tiles,
    /// and proofs on it, as `herald audit prove` / `consistency` make them.
    func merkleRows(journal: Journal, data: String, rows: inout [(String, String)]) throws {
        let treeFolder = workDirectory + "/tree"
        try FileManager.default.createDirectory(atPath: treeFolder, withIntermediateDirectories: true)
        var built: MerkleTree?
        let buildSeconds = try seconds {
            built = try MerkleTree(journal: journal, directory: treeFolder, writable: true)
        }
        let size = built!.size
        rows.append(
            (
                "Merkle tree built from every record (SHA-256 per leaf)",
                String(
                    format: "%.1f s (%@ events/s, off the append path)", buildSeconds,
                    formatRate(Double(size) / buildSeconds))
            ))
        built = nil
        var tree: MerkleTree?
        var openTimes: [Double] = []
        for _ in 0..<runs {
            openTimes.append(
                try seconds { tree = try MerkleTree(journal: journal, directory: treeFolder, writable: false) })
        }
        rows.append(("Merkle tree opened from its stored tiles", String(format: "%.1f ms", median(openTimes) * 1000)))
        let tree_ = tree!
        var generator = SplitMix64(seed: 11)
        var proveTimes: [Double] = []
        var consistencyTimes: [Double] = []
        for _ in 0..<max(runs, 20) {
            let index = generator.next() % size
            proveTimes.append(
                try seconds {
                    _ = try tree_.inclusionProof(index: index, size: size)
                    _ = try tree_.leaf(index)
                })
            let first = 1 + generator.next() % (size - 1)
            consistencyTimes.append(try seconds { _ = try tree_.consistencyProof(first: first, second: size) })
        }
        rows.append(
            ("`prove` one event (path + leaf bytes), open tree", String(format: "%.2f ms", median(proveTimes) * 1000)))
        rows.append(
            (
                "`consistency` from a random size to the head, open tree",
                String(format: "%.2f ms", median(consistencyTimes) * 1000)
            ))
        rows.append(
            (
                "`prove` with opening the tree (what one CLI call does)",
                String(format: "%.1f ms", (median(openTimes) + median(proveTimes)) * 1000)
            ))
    }

    func log(_ text: String) { FileHandle.standardError.write(Data("bench: \(text)\n".utf8)) }

    func mbps(_ bytes: Double, _ seconds: Double) -> String {
        String(format: "%.0f MB/s (%.1f s)", bytes / seconds / 1e6, seconds)
    }

    /// `cp -r`, then an fsync of every file and folder it made (coreutils `sync` with file
    /// operands), the way export syncs what it writes.
    func copy(_ source: String, to target: String) throws {
        try shell("cp -r '\(source)' '\(target)' && find '\(target)' -exec sync {} +")
    }

    /// Untimed: nothing dirty in the page cache before a timed step.
    func syncAll() throws { try shell("sync") }

    func shell(_ command: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("\(command) failed") }
    }

    /// The journal: events with times spread evenly over 10 hours, publisher svc-0 … svc-99.
    func build(_ data: String) throws -> Int64 {
        var options = JournalOptions()
        options.durability = .none
        let journal = try Journal.open(at: data, options: options)
        var bodies = EventBodies(seed: 7)
        let start = Int64(Date().timeIntervalSince1970 * 1e9) - Self.span
        let step = Self.span / Int64(events)
        let publishers = (0..<100).map { Array("svc-\($0)".utf8) }
        let batch = 10_000
        var index = 0
        let semaphore = DispatchSemaphore(value: 0)
        while index < events {
            let count = min(batch, events - index)
            let entries = (0..<count).map { offset in
                JournalEntry(
                    time: start + Int64(index + offset) * step, descriptor: UInt32(3 << 22 | 3),
                    channel: UInt32(1 + (index + offset) % 8), priority: UInt8((index + offset) % 4),
                    publisher: publishers[(index + offset) % 100], data: bodies.body())
            }
            let box = ErrorBox()
            Task {
                do { _ = try await journal.append(entries) } catch { box.error = error }
                semaphore.signal()
            }
            semaphore.wait()
            if let error = box.error { throw error }
            index += count
        }
        journal.close()
        log("built a journal of \(events) events")
        return start
    }
}

private final class ErrorBox: @unchecked Sendable {
    // Written by the task before it signals, read after the wait.
    var error: (any Error)?
}
