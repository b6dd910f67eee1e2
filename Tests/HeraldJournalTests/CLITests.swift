import Foundation
import Synchronization
import Testing

@testable import HeraldJournal

/// Runs the built `herald` binary, from this test binary's products folder (tools/test
/// builds it with tools/build-products before `swift test`, and stamps the folder).
struct HeraldCLI {
    static var path: String {
        let folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        let stamp =
            (try? FileManager.default.attributesOfItem(atPath: folder + "/.herald-products"))?[
                .modificationDate] as? Date
        #expect(stamp != nil, "no products stamp in \(folder): run tools/build-products before swift test")
        if let stamp, let newer = newestSource(after: stamp) {
            Issue.record("\(newer) changed after herald was built: run tools/build-products")
        }
        return folder + "/herald"
    }

    /// A file of Sources/ newer than `date`, if any.
    static func newestSource(after date: Date) -> String? {
        let root = repositoryRoot + "/Sources"
        guard let walker = FileManager.default.enumerator(atPath: root) else { return nil }
        for case let file as String in walker {
            let changed =
                (try? FileManager.default.attributesOfItem(atPath: root + "/" + file))?[.modificationDate] as? Date
            if let changed, changed > date { return "Sources/" + file }
        }
        return nil
    }

    struct Result {
        var status: Int32
        var stdout: [UInt8]
        var stderr: String
        var text: String { String(decoding: stdout, as: UTF8.self) }
    }

    static func run(_ arguments: [String], input: [UInt8] = []) throws -> Result {
        #expect(FileManager.default.isExecutableFile(atPath: path), "build the herald product first (tools/test does)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        // Feed stdin from another thread: the child may fill its stdout pipe before it has
        // read all of its input.
        let writer = Thread {
            stdin.fileHandleForWriting.write(Data(input))
            try? stdin.fileHandleForWriting.close()
        }
        writer.start()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: [UInt8](out), stderr: String(decoding: err, as: UTF8.self))
    }
}

@Suite struct CLITests {
    @Test func appendReadRoundTripsExactly() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let data = directory.path + "/j"
        let input: [UInt8] = Array("first line\n".utf8) + [0, 1, 9, 0xFF, 0x0D] + Array("\n\nlast\n".utf8)
        let append = try HeraldCLI.run(["journal", "append", "--data-dir", data], input: input)
        #expect(append.status == 0, "\(append.stderr)")
        #expect(append.text == "1\n2\n3\n4\n")
        let read = try HeraldCLI.run(["journal", "read", "--data-dir", data, "--format", "raw"])
        #expect(read.status == 0)
        #expect(read.stdout == input)
        let tail = try HeraldCLI.run(["journal", "read", "--data-dir", data, "--from-seq", "2", "--limit", "2"])
        #expect(tail.stdout == [0, 1, 9, 0xFF, 0x0D, 10, 10])
    }

    @Test func readJSONCarriesEveryField() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let data = directory.path + "/j"
        _ = try HeraldCLI.run(
            ["journal", "append", "--data-dir", data, "--channel", "7"], input: Array("a\n\u{1}b\n".utf8))
        let read = try HeraldCLI.run(["journal", "read", "--data-dir", data, "--format", "json"])
        let lines = read.text.split(separator: "\n")
        #expect(lines.count == 2)
        let object = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as! [String: Any]
        #expect(object["seq"] as? Int == 2)
        #expect(object["channel"] as? Int == 7)
        #expect(object["data"] as? String == "\u{1}b")
        #expect(object["data_base64"] as? String == "AWI=")
        for key in ["time", "time_iso", "descriptor", "priority", "flags", "retention_ns", "publisher", "patterns"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        let byTime = try HeraldCLI.run(
            ["journal", "read", "--data-dir", data, "--from-time", "\(object["time"] as! Int64)", "--format", "json"])
        #expect(byTime.text.split(separator: "\n").count >= 1)
    }

    @Test func verifyAndStats() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let data = directory.path + "/j"
        let lines =
            (0..<300).map { #"{"node":"n\#($0 % 7)","event":"link-up","value":\#($0)}"# }.joined(separator: "\n") + "\n"
        _ = try HeraldCLI.run(["journal", "append", "--data-dir", data], input: Array(lines.utf8))
        let verify = try HeraldCLI.run(["journal", "verify", "--data-dir", data])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.text.hasPrefix("ok: 1 segments, 1 frames, 300 records"))
        let stats = try HeraldCLI.run(["journal", "stats", "--data-dir", data, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(stats.stdout)) as! [String: Any]
        #expect(object["events"] as? Int == 300)
        #expect(object["last_sequence"] as? Int == 300)
        #expect((object["compression_ratio"] as? Double ?? 0) > 2)

        // Damage one byte of the frame: verify names the file, offset and sequence, exit 65.
        let segment = data + "/segments/" + SegmentID(firstSequence: .first).fileName
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: segment)))
        bytes[bytes.count - 10] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: segment))
        let damaged = try HeraldCLI.run(["journal", "verify", "--data-dir", data])
        #expect(damaged.status == 65)
        #expect(damaged.stderr.contains(SegmentID(firstSequence: .first).fileName))
        #expect(damaged.stderr.contains("at byte 76"))
        #expect(damaged.stderr.contains("sequence 1"))
    }

    @Test func badInputGetsOneClearLineAndChangesNothing() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let missing = directory.path + "/nothing-here"
        let read = try HeraldCLI.run(["journal", "read", "--data-dir", missing])
        #expect(read.status == 66)
        #expect(read.stderr == "herald: no journal at \(missing)\n")
        #expect(!FileManager.default.fileExists(atPath: missing))
        let verify = try HeraldCLI.run(["journal", "verify", "--data-dir", missing])
        #expect(verify.status == 66)
        let unknown = try HeraldCLI.run(["journal", "read", "--data-dir", missing, "--bogus"])
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("--bogus"))
        let orphan = try HeraldCLI.run(["journal", "append", "--data-dir", directory.path + "/no/such/parent"])
        #expect(orphan.status == 64)
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/no"))

        // A journal written by a newer format version.
        let data = directory.path + "/j"
        _ = try HeraldCLI.run(["journal", "append", "--data-dir", data], input: Array("x\n".utf8))
        let segment = data + "/segments/" + SegmentID(firstSequence: .first).fileName
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: segment)))
        bytes[12] = 9
        let crc = CRC32C.checksum(Array(bytes[8..<72]))
        withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange(72..<76, with: $0) }
        try Data(bytes).write(to: URL(fileURLWithPath: segment))
        let newer = try HeraldCLI.run(["journal", "read", "--data-dir", data])
        #expect(newer.status == 78)
        #expect(newer.stderr.contains("format version 9"))
        let untouched = [UInt8](try Data(contentsOf: URL(fileURLWithPath: segment)))
        #expect(untouched == bytes)
    }

    /// A child `herald journal append` in fsync mode is SIGKILLed at random moments, 20
    /// times. After each kill, every sequence number it printed is in the journal with the
    /// exact line it was given, and verify passes.
    @Test func sigkilledAppenderLosesNothingItAcknowledged() throws {
        signal(SIGPIPE, SIG_IGN)
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let data = directory.path + "/j"
        var random = SplitMix64(seed: 99)
        var base: UInt64 = 0
        var totalAcknowledged = 0
        for run in 0..<20 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: HeraldCLI.path)
            process.arguments = ["journal", "append", "--data-dir", data, "--durability", "fsync"]
            let stdin = Pipe()
            let stdout = Pipe()
            process.standardInput = stdin
            process.standardOutput = stdout
            process.standardError = FileHandle.nullDevice
            try process.run()
            let lines = (0..<20_000).map { "run \(run) line \($0) " + String(repeating: "x", count: $0 % 50) }
            // The feeder must be finished before the pipe's descriptor is closed: the test
            // process reuses descriptor numbers (for the journal's own segment files, which a
            // late write() would then scribble on).
            let feederDone = DispatchSemaphore(value: 0)
            let feeder = Thread {
                defer { feederDone.signal() }
                let fd = stdin.fileHandleForWriting.fileDescriptor
                for chunk in stride(from: 0, to: lines.count, by: 50) {
                    let text = lines[chunk..<min(chunk + 50, lines.count)].joined(separator: "\n") + "\n"
                    let ok = text.utf8CString.withUnsafeBufferPointer { buffer in
                        write(fd, buffer.baseAddress, buffer.count - 1) == buffer.count - 1
                    }
                    if !ok { return }
                    usleep(200)
                }
            }
            feeder.start()
            usleep(useconds_t(20_000 + random.next() % 120_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let printed = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            feederDone.wait()  // its next write() failed with EPIPE: the reader is gone
            try? stdin.fileHandleForWriting.close()
            let sequences = printed.split(separator: "\n", omittingEmptySubsequences: false).dropLast().compactMap {
                UInt64($0)
            }

            let journal: Journal
            do {
                journal = try Journal.open(at: data)
            } catch {
                // Seen twice in many runs, not reproduced alone: say what the files hold.
                Issue.record("run \(run): \(error)\n\(Self.describeSegments(data))")
                return
            }
            if let first = sequences.first {
                #expect(sequences == Array(first...(first + UInt64(sequences.count) - 1)), "printed out of order")
                let stored = try readAll(journal, from: .sequence(SequenceNumber(first)))
                #expect(stored.count >= sequences.count, "run \(run): acknowledged records missing")
                for (record, sequence) in zip(stored, sequences) {
                    #expect(record.sequence.rawValue == sequence)
                    #expect(
                        record.data == Array(lines[Int(sequence - base - 1)].utf8), "run \(run) sequence \(sequence)")
                }
            }
            if let last = sequences.last { #expect(journal.head.sequence.rawValue >= last) }
            totalAcknowledged += sequences.count
            base = journal.head.sequence.rawValue
            journal.close()
            let report = try Journal.verify(at: data)
            #expect(report.ok, "run \(run): \(String(describing: report.damage))")
        }
        #expect(totalAcknowledged > 0)
    }

    /// Each segment file's size and first 96 bytes, for a failure message.
    static func describeSegments(_ data: String) -> String {
        let folder = data + "/segments"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        return names.map { name in
            let bytes = Array((FileManager.default.contents(atPath: folder + "/" + name) ?? Data()))
            let head = bytes.prefix(96).map { String(format: "%02x", $0) }.joined()
            return "\(name): \(bytes.count) bytes, starts \(head)"
        }.joined(separator: "\n")
    }

    /// A durable `herald service tail` is SIGKILLed at random moments, 10 times. Each restart
    /// resumes with no event lost, and every event it shows again is marked redelivered.
    @Test func sigkilledDurableTailResumesAfterItsLastAcknowledgedEvent() throws {
        let directory = TemporaryDirectory()
        defer { directory.cleanup() }
        let data = directory.path + "/j"
        let total = 50_000
        let input = (0..<total).map { "event-\($0)" }.joined(separator: "\n") + "\n"
        let publish = try HeraldCLI.run(
            ["service", "publish", "--data-dir", data, "--channel", "links"], input: Array(input.utf8))
        #expect(publish.status == 0, "\(publish.stderr)")
        var random = SplitMix64(seed: 5)
        var highest = -1
        var seen = Set<Int>()
        var restartsWithRedelivery = 0
        let lastRun = Mutex<Set<Int>>([])
        for run in 0..<10 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: HeraldCLI.path)
            process.arguments = ["service", "tail", "--data-dir", data, "--channel", "links", "--durable", "audit"]
            let stdout = Pipe()
            process.standardOutput = stdout
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Drain its output as it comes, so the tail is running flat out when it dies, and
            // kill it only once it is printing (its start-up replays the journal first).
            let output = Mutex<Data>(Data())
            let drain = Thread {
                let handle = stdout.fileHandleForReading
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    output.withLock { $0.append(chunk) }
                }
            }
            drain.start()
            // Killed at a random point of its progress (not of time: a fast tail would
            // otherwise reach the end of the journal before any kill lands).
            let cut = 2048 + Int(random.next() % 60_000)
            for _ in 0..<4000 where output.withLock({ $0.count }) < cut { usleep(1_000) }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            while !drain.isFinished { usleep(5_000) }
            let lines = String(decoding: output.withLock { $0 }, as: UTF8.self)
                .split(separator: "\n").filter { $0.contains(" event-") }
            let printed = lines.map { line -> (index: Int, redelivered: Bool) in
                let fields = line.split(separator: " ")
                return (Int(fields[2].dropFirst("event-".count))!, fields[1] == "R")
            }
            if let first = printed.first {
                #expect(first.index <= highest + 1, "run \(run) skipped events \(highest + 1)..<\(first.index)")
                #expect(printed.map(\.index) == Array(first.index..<(first.index + printed.count)), "run \(run) order")
            }
            for event in printed where event.index <= highest {
                #expect(event.redelivered, "run \(run): event \(event.index) shown again without the mark")
            }
            for event in printed { seen.insert(event.index) }
            // Compared with the highest event shown by the runs before this one.
            if run > 0 && printed.first.map({ $0.index <= highest }) == true { restartsWithRedelivery += 1 }
            highest = max(highest, printed.last?.index ?? highest)
        }
        #expect(highest < total - 1, "every run should be cut off before the end")
        // Whatever is left: a last tail, given time to catch up, then stopped.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: HeraldCLI.path)
        process.arguments = ["service", "tail", "--data-dir", data, "--channel", "links", "--durable", "audit"]
        let stdout = Pipe()
        process.standardOutput = stdout
        try process.run()
        let reader = Thread {
            let lines = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            var indexes = Set<Int>()
            for line in lines.split(separator: "\n") {
                indexes.insert(Int(line.split(separator: " ")[2].dropFirst("event-".count))!)
            }
            lastRun.withLock { $0 = indexes }
        }
        reader.start()
        usleep(3_000_000)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        while !reader.isFinished { usleep(10_000) }
        seen.formUnion(lastRun.withLock { $0 })
        let missing = Set(0..<total).subtracting(seen)
        #expect(missing.isEmpty, "\(missing.count) events never shown, from \(missing.min() ?? -1)")
        #expect(restartsWithRedelivery > 0, "no restart resumed before its predecessor's last event")
    }
}
