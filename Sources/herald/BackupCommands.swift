import ArgumentParser
import Foundation
import HeraldJournal

/// A progress line on stderr (percent, MB/s, ETA), only when stderr is a terminal: pipes
/// and logs stay quiet.
final class ProgressLine {
    private let label: String
    private let started = Date()
    private var lastDrawn = Date.distantPast
    private let enabled = isatty(2) != 0

    init(_ label: String) { self.label = label }

    func update(_ done: Int64, _ total: Int64) {
        guard enabled, Date().timeIntervalSince(lastDrawn) > 0.1 || done == total else { return }
        lastDrawn = Date()
        let elapsed = max(Date().timeIntervalSince(started), 0.001)
        let rate = Double(done) / elapsed
        let percent = total > 0 ? Double(done) * 100 / Double(total) : 100
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let line = String(
            format: "\r%@ %5.1f%%  %.1f MB/s  ETA %.0f s ", label, percent, rate / 1_000_000, eta)
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() { if enabled { FileHandle.standardError.write(Data("\n".utf8)) } }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent backup of the journal (or a range of it) to a new folder.",
        discussion: """
            Reads the data folder read-only while heraldd keeps appending: the backup ends at \
            the head as it was when the export began. It holds one segment file per source \
            segment touched, cut at frame boundaries, and manifest.json (format version, \
            sequence and time range, each file's SHA-256, the chain hash before the first and \
            after the last frame).

            Incremental: --from seq:N with N one past the previous backup's lastSequence; the \
            chain hashes prove the pieces join. Point in time: --to-seq N or --to-time T (frames \
            are whole: the backup stops at the last frame ending at or before).

            Examples:
              herald export --to /backup/full
              herald export --to /backup/inc-1 --from seq:$(jq .lastSequence+1 /backup/full/manifest.json)
              herald export --to /backup/until-noon --to-time 2026-11-24T12:00:00Z
            """)

    @OptionGroup var data: DataDirectoryOptions
    @Option(help: "The backup folder (new, or empty).") var to: String
    @Option(help: "oldest (default), seq:N or time:T.") var from: String?
    @Option(name: .customLong("to-seq"), help: "Stop at this sequence number.") var toSequence: UInt64?
    @Option(name: .customLong("to-time"), help: "Stop at this time.") var toTime: String?
    @Flag(help: "Print the manifest as JSON.") var json = false

    func validate() throws {
        _ = try start()
        if toSequence != nil && toTime != nil { throw ValidationError("give --to-seq or --to-time, not both") }
        if let toTime, parseQueryTime(toTime) == nil { throw ValidationError("--to-time: cannot read '\(toTime)'") }
    }

    func start() throws -> BackupBound? {
        guard let from, from != "oldest" else { return nil }
        if from.hasPrefix("seq:"), let sequence = UInt64(from.dropFirst(4)) {
            return .sequence(SequenceNumber(sequence))
        }
        if from.hasPrefix("time:"), let time = parseQueryTime(String(from.dropFirst(5))) { return .time(time) }
        throw ValidationError("--from is oldest, seq:N or time:T, got '\(from)'")
    }

    func run() throws {
        data.requireJournal()
        let end: BackupBound? =
            toSequence.map { .sequence(SequenceNumber($0)) } ?? toTime.flatMap(parseQueryTime).map { .time($0) }
        let progress = ProgressLine("export")
        let manifest = running {
            try Journal.export(
                from: data.path, to: to, start: try start(), end: end, options: data.options(readOnly: true),
                progress: progress.update)
        }
        progress.finish()
        let output = StandardOutput()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            output.write(try encoder.encode(manifest))
            output.write("\n")
        } else {
            let bytes = manifest.files.reduce(Int64(0)) { $0 + $1.bytes }
            output.write(
                "exported sequence \(manifest.firstSequence)...\(manifest.lastSequence) to \(to): "
                    + "\(manifest.files.count) files, \(bytes) bytes\n"
                    + "chain \(manifest.baseChain) ... \(manifest.headChain)\n")
        }
        output.flush()
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore backups (a full one and its incrementals) into a new data folder.",
        discussion: """
            Checks every file against its manifest (size, SHA-256), that each backup continues \
            the one before (sequence numbers and chain hashes), and the whole hash chain, in a \
            staging folder; then moves it into place and builds the index. A broken or \
            incomplete backup is refused with a message naming what is wrong (exit 65 changed \
            or not joining, 66 missing), and the target is left as it was.

            Example:
              herald import --from /backup/full --from /backup/inc-1 --data-dir /var/lib/herald-restored
            """)

    @OptionGroup var data: DataDirectoryOptions
    @Option(help: "A backup folder (repeat: full then incrementals, in any order).") var from: [String] = []
    @Flag(help: "Print the result as JSON.") var json = false

    func validate() throws {
        if from.isEmpty { throw ValidationError("give at least one --from BACKUP") }
    }

    func run() throws {
        let progress = ProgressLine("import")
        let report = running {
            try Journal.importBackups(from, into: data.path, options: data.options(readOnly: false)) {
                progress.update($0, $1)
            }
        }
        progress.finish()
        let output = StandardOutput()
        if json {
            try writeJSON(
                [
                    "oldest": report.oldest.rawValue, "head": report.head.sequence.rawValue,
                    "head_chain": report.head.chain.hex, "frames": report.frames, "records": report.records,
                ], to: output)
        } else {
            output.write(
                "restored sequence \(report.oldest)...\(report.head.sequence) into \(data.path): "
                    + "\(report.records) records, chain head \(report.head.chain.hex)\n")
        }
        output.flush()
    }
}
