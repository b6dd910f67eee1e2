import ArgumentParser
import Foundation
import GRDB
import GRDBSQLite
import HeraldJournal

/// `herald-bench journal`: durable append, replay, compression, and the baselines for the
/// same bytes (lz4 CLI, sequential write+fsync, SQLite row inserts), in one table.
struct JournalBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "journal", abstract: "The journal benchmark table.")

    @Option(help: "Events per run.") var events = 1_000_000
    @Option(help: "Runs per workload; medians are reported.") var runs = 3
    @Option(help: "Events for the append-cost-versus-size check (0 skips it).") var scaleEvents = 10_000_000
    @Option(name: .customLong("work-dir"), help: "Scratch folder (on the disk to measure).") var workDirectory =
        "bench-out"
    @Option(help: "Durability of the append workloads: fsync (the figures quoted), batch, none (CPU cost only).")
    var durability = "fsync"
    @Flag(help: "Only the append workloads (for profiling).") var appendOnly = false
    @Option(help: "The journal's tail cache in MiB (0: off).") var tailCacheMiB = 64

    func run() throws {
        try? FileManager.default.removeItem(atPath: workDirectory)
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        var bodies = EventBodies(seed: 42)
        let entries = bodies.entries(events)
        let payloadBytes = Double(events * 128)
        var rows: [(String, String, String, String)] = []
        func mbps(_ bytes: Double, _ seconds: Double) -> String { String(format: "%.0f MB/s", bytes / seconds / 1e6) }

        log("generated \(events) events of 128 bytes")

        // Durable append.
        var appendDirectory = ""
        var appendRate1000 = 0.0
        for (batch, appenders) in [(1_000, 1), (1_000, 4), (10_000, 1)] {
            var times: [Double] = []
            for run in 0..<runs {
                let directory = "\(workDirectory)/append-\(batch)-\(appenders)-\(run)"
                times.append(try appendAll(entries, batch: batch, appenders: appenders, directory: directory))
                if batch == 1_000 && appenders == 1 && run == runs - 1 { appendDirectory = directory }
            }
            let time = median(times)
            if batch == 1_000 && appenders == 1 {
                appendRate1000 = Double(events) / time
            }
            let label =
                "durable append (\(durability)), batch \(batch)" + (appenders > 1 ? ", \(appenders) appenders" : "")
            rows.append((label, "\(formatRate(Double(events) / time)) ev/s, \(mbps(payloadBytes, time))", "", ""))
            log("\(label): \(formatRate(Double(events) / time)) events/s")
        }
        // The same with the Merkle tree kept as heraldd keeps it: a checkpointer thread at a
        // low priority (nice 19) that catches the tree up every second, so it trails the
        // appends (by more when every core is busy). Plain runs interleaved with these (the machine's noise hits both);
        // the appends' time, then how long after the last append the tree was whole.
        var plainTimes: [Double] = []
        var treeTimes: [Double] = []
        var trailing: [Double] = []
        for run in 0..<runs {
            plainTimes.append(
                try appendAll(entries, batch: 1_000, appenders: 1, directory: "\(workDirectory)/append-plain-\(run)"))
            let timed = try appendWithTree(entries, directory: "\(workDirectory)/append-merkle-\(run)")
            treeTimes.append(timed.appends)
            trailing.append(timed.trailing)
        }
        let treeRate = Double(events) / median(treeTimes)
        let plainRate = Double(events) / median(plainTimes)
        rows.append(
            (
                "durable append (\(durability)), batch 1000, with the Merkle tree kept (a nice-19 thread, catch-up every second)",
                "\(formatRate(treeRate)) ev/s (\(String(format: "%.1f", (1 - treeRate / plainRate) * 100)) % below \(formatRate(plainRate)) ev/s in runs interleaved without); tree whole \(String(format: "%.0f", median(trailing) * 1000)) ms after the last append",
                "", ""
            ))
        if appendOnly {
            for row in rows { print("| \(row.0) | \(row.1) |") }
            return
        }

        // Replay from a new process.
        var replayTimes: [Double] = []
        for _ in 0..<runs {
            let output = try runChild([CommandLine.arguments[0], "replay-child", "--data-dir", appendDirectory])
            let fields = output.split(separator: " ")
            guard fields.count >= 3, Int(fields[0]) == events, let time = Double(fields[2]) else {
                throw ValidationError("replay child printed '\(output)'")
            }
            replayTimes.append(time)
        }
        let replay = median(replayTimes)
        rows.append(
            (
                "replay, new process (warm page cache)",
                "\(formatRate(Double(events) / replay)) ev/s, \(mbps(payloadBytes, replay))", "", ""
            ))
        log("replay: \(formatRate(Double(events) / replay)) events/s")

        // Size on disk.
        var readOnly = JournalOptions()
        readOnly.readOnly = true
        let stats = try Journal.open(at: appendDirectory, options: readOnly).stats()
        rows.append(
            (
                "on disk per event (128 B payload)",
                String(
                    format: "%.1f B (records %.1f B raw)", Double(stats.diskBytes) / Double(events),
                    Double(stats.rawBytes) / Double(events)),
                "", ""
            ))
        rows.append(
            ("compression ratio (record bytes / disk bytes)", String(format: "%.2fx", stats.compressionRatio), "", ""))
        rows.append(
            (
                "compression ratio (payload bytes / disk bytes)",
                String(format: "%.2fx", payloadBytes / Double(stats.diskBytes)), "", ""
            ))

        // The record bytes as `lz4 -dc` decodes them from the segments.
        let rawFile = "\(workDirectory)/records.raw"
        let segments = try FileManager.default.contentsOfDirectory(atPath: appendDirectory + "/segments").sorted()
        _ = try runShell(
            "cat \(segments.map { "'\(appendDirectory)/segments/\($0)'" }.joined(separator: " ")) | lz4 -dc > '\(rawFile)'"
        )
        // The journal's CPU work alone (encode, CRC, LZ4 at its acceleration, chain: no I/O)
        // beside the lz4 CLI's in-memory benchmark at the same level.
        let acceleration = journalOptions.lz4Acceleration
        let probe = FrameEncodingProbe(options: journalOptions)
        var encodeTimes: [Double] = []
        var encodedBytes = 0
        for _ in 0..<runs {
            encodeTimes.append(try seconds { encodedBytes = try probe.run(entries, batch: 1_000).recordBytes })
        }
        let encodeTime = median(encodeTimes)
        var lz4Rates: [Double] = []
        for _ in 0..<runs {
            lz4Rates.append(try lz4BenchCompressRate(rawFile, fast: acceleration - 1))
        }
        let lz4Rate = median(lz4Rates)
        let encodeRate = Double(encodedBytes) / encodeTime / 1e6
        rows.append(
            (
                "encode+CRC+compress+chain, CPU only, batch 1000 (LZ4 acceleration \(acceleration)) vs `lz4 -b --fast=\(acceleration - 1)` (same level, in memory)",
                String(format: "%.0f MB/s", encodeRate) + " (\(formatRate(Double(events) / encodeTime)) ev/s)",
                String(format: "%.0f MB/s", lz4Rate), String(format: "%.2f", encodeRate / lz4Rate)
            ))
        log("encode+compress: \(Int(encodeRate)) MB/s, lz4 -b: \(Int(lz4Rate)) MB/s")

        // Baseline: sequential write + fdatasync of the same compressed bytes, frame by frame.
        var writeTimes: [Double] = []
        for run in 0..<runs {
            writeTimes.append(
                try writeAndSync(
                    totalBytes: Int(stats.diskBytes), chunks: stats.frames, path: "\(workDirectory)/plain-\(run)"))
        }
        let writeTime = median(writeTimes)
        rows.append(
            (
                "durable append (fsync) batch 1000, end to end vs plain write+fdatasync of the same bytes (\(stats.frames) syncs)",
                "\(formatRate(appendRate1000)) ev/s", "\(formatRate(Double(events) / writeTime)) ev/s",
                String(format: "%.2f", appendRate1000 / (Double(events) / writeTime))
            ))

        // Baseline: SQLite, one row per event, 1000-row transactions.
        var sqliteTimes: [Double] = []
        for run in 0..<runs {
            sqliteTimes.append(try sqliteInsert(entries, path: "\(workDirectory)/rows-\(run).sqlite"))
        }
        let sqliteTime = median(sqliteTimes)
        rows.append(
            (
                "durable append batch 1000 vs SQLite row inserts (1000-row transactions, WAL, synchronous=FULL: durable)",
                "\(formatRate(appendRate1000)) ev/s", "\(formatRate(Double(events) / sqliteTime)) ev/s",
                String(format: "%.2f", appendRate1000 / (Double(events) / sqliteTime))
            ))

        // Append cost as the journal grows.
        if scaleEvents >= 2 * events {
            let (first, last) = try appendScaling(entries, total: scaleEvents, directory: "\(workDirectory)/scale")
            rows.append(
                (
                    "append batch 1000: first \(events / 1_000_000) M vs last \(events / 1_000_000) M of \(scaleEvents / 1_000_000) M",
                    "\(formatRate(first)) ev/s → \(formatRate(last)) ev/s", "", String(format: "%.2f", last / first)
                ))
        }
        rows.append(("peak RSS of the benchmark process", String(format: "%.0f MB", residentMegabytes()), "", ""))

        print("")
        print("| workload | Herald | baseline | ratio |")
        print("|---|---|---|---|")
        for row in rows { print("| \(row.0) | \(row.1) | \(row.2) | \(row.3) |") }
        try? FileManager.default.removeItem(atPath: workDirectory)
    }

    func log(_ text: String) { FileHandle.standardError.write(Data("bench: \(text)\n".utf8)) }

    /// Appends all entries in batches from `appenders` threads; returns seconds.
    var journalOptions: JournalOptions {
        var options = JournalOptions()
        options.tailCacheBytes = tailCacheMiB << 20
        switch durability {
        case "none": options.durability = .none
        case "batch": options.durability = .batch(intervalMilliseconds: 10)
        default: options.durability = .fsync
        }
        return options
    }

    /// One appender, batches of 1 000, with a checkpointer thread keeping the Merkle tree:
    /// the appends' seconds, and the seconds from the last append until the tree was whole.
    func appendWithTree(_ entries: [JournalEntry], directory: String) throws -> (appends: Double, trailing: Double) {
        let journal = try Journal.open(at: directory, options: journalOptions)
        let done = ManagedAtomicFlag()
        let wake = DispatchSemaphore(value: 0)
        let checkpointer = DispatchGroup()
        checkpointer.enter()
        Thread {
            // At heraldd's checkpointer's priority (nice 19: appends first).
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
            if ProcessInfo.processInfo.environment["HERALD_SCHED_IDLE"] != nil {
                var param = sched_param()
                precondition(sched_setscheduler(0, 5, &param) == 0)
            }
            let tree = try! MerkleTree(journal: journal, directory: directory, writable: true)
            while !done.isSet {
                _ = wake.wait(timeout: .now() + 1)
                try! tree.catchUp()
            }
            try! tree.catchUp()
            precondition(tree.size == UInt64(entries.count), "the tree has \(tree.size) leaves")
            checkpointer.leave()
        }.start()
        let appends = try seconds {
            for start in stride(from: 0, to: entries.count, by: 1_000) {
                _ = try journal.appendAndWait(Array(entries[start..<min(start + 1_000, entries.count)]))
            }
        }
        let trailing = seconds {
            done.set()
            wake.signal()
            checkpointer.wait()
        }
        journal.waitForIndex()
        journal.close()
        return (appends, trailing)
    }

    func appendAll(_ entries: [JournalEntry], batch: Int, appenders: Int, directory: String) throws -> Double {
        let journal = try Journal.open(at: directory, options: journalOptions)
        let batches = stride(from: 0, to: entries.count, by: batch).map {
            Array(entries[$0..<min($0 + batch, entries.count)])
        }
        let elapsed = try seconds {
            if appenders == 1 {
                for slice in batches { _ = try journal.appendAndWait(slice) }
            } else {
                let group = DispatchGroup()
                for worker in 0..<appenders {
                    group.enter()
                    Thread {
                        for index in stride(from: worker, to: batches.count, by: appenders) {
                            _ = try! journal.appendAndWait(batches[index])
                        }
                        group.leave()
                    }.start()
                }
                group.wait()
            }
        }
        journal.waitForIndex()
        journal.close()
        return elapsed
    }

    func appendScaling(_ entries: [JournalEntry], total: Int, directory: String) throws -> (Double, Double) {
        let journal = try Journal.open(at: directory)
        defer { journal.close() }
        var appended = 0
        var firstRate = 0.0
        var lastRate = 0.0
        let batches = stride(from: 0, to: entries.count, by: 1_000).map {
            Array(entries[$0..<min($0 + 1_000, entries.count)])
        }
        while appended < total {
            let time = try seconds {
                for batch in batches { _ = try journal.appendAndWait(batch) }
            }
            appended += entries.count
            if appended == entries.count { firstRate = Double(entries.count) / time }
            lastRate = Double(entries.count) / time
            log("scale: \(appended) events, \(formatRate(lastRate)) events/s")
        }
        return (firstRate, lastRate)
    }

    func writeAndSync(totalBytes: Int, chunks: Int, path: String) throws -> Double {
        let chunk = max(1, totalBytes / max(chunks, 1))
        let buffer = [UInt8](repeating: 0x5A, count: chunk)
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        guard fd >= 0 else { throw ValidationError("open \(path) failed") }
        defer { close(fd) }
        return seconds {
            var written = 0
            while written < totalBytes {
                buffer.withUnsafeBytes { _ = write(fd, $0.baseAddress, $0.count) }
                fdatasync(fd)
                written += chunk
            }
        }
    }

    func sqliteInsert(_ entries: [JournalEntry], path: String) throws -> Double {
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try pool.write { db in
            try db.execute(
                sql:
                    "CREATE TABLE events (seq INTEGER PRIMARY KEY, time INTEGER, channel INTEGER, descriptor INTEGER, priority INTEGER, publisher BLOB, data BLOB)"
            )
        }
        let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
        return try seconds {
            for start in stride(from: 0, to: entries.count, by: 1_000) {
                try pool.write { db in
                    let statement = try db.cachedStatement(sql: "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)")
                    let s = statement.sqliteStatement
                    for index in start..<min(start + 1_000, entries.count) {
                        let entry = entries[index]
                        sqlite3_bind_int64(s, 1, Int64(index + 1))
                        sqlite3_bind_int64(s, 2, Int64(index))
                        sqlite3_bind_int64(s, 3, Int64(entry.channel))
                        sqlite3_bind_int64(s, 4, Int64(entry.descriptor))
                        sqlite3_bind_int64(s, 5, Int64(entry.priority))
                        entry.publisher.withUnsafeBytes {
                            _ = sqlite3_bind_blob(s, 6, $0.baseAddress, Int32($0.count), transient)
                        }
                        entry.data.withUnsafeBytes {
                            _ = sqlite3_bind_blob(s, 7, $0.baseAddress, Int32($0.count), transient)
                        }
                        guard sqlite3_step(s) == SQLITE_DONE else { throw ValidationError("sqlite insert failed") }
                        sqlite3_reset(s)
                    }
                }
            }
        }
    }

    /// The lz4 CLI's in-memory compression speed (MB/s) at `--fast=N` (LZ4 acceleration N + 1).
    func lz4BenchCompressRate(_ file: String, fast: Int) throws -> Double {
        let level = fast > 0 ? "--fast=\(fast)" : "-1"
        let output = try runShell("lz4 -b \(level) -i2 '\(file)' 2>&1 | tr '\\r' '\\n' | grep 'MB/s' | tail -1")
        // "-3#records.raw : 128000000 -> 36000000 (3.55), 700.0 MB/s , 3000.0 MB/s"
        guard let close = output.range(of: "),"),
            let unit = output.range(of: " MB/s", range: close.upperBound..<output.endIndex),
            let rate = Double(output[close.upperBound..<unit.lowerBound].trimmingCharacters(in: .whitespaces))
        else { throw ValidationError("lz4 -b printed '\(output)'") }
        return rate
    }

    func runChild(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func runShell(_ command: String) throws -> String {
        try runChild(["/bin/sh", "-c", command])
    }
}

/// A flag set once, read from another thread.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }
}
