import Foundation
import HeraldClient
import HeraldJournal
import HeraldWire
import Testing

/// `herald query` against a brute-force filter of `herald journal read` on the same data
/// folder, for seeded random queries.
@Suite struct QueryTests {
    struct Record {
        var seq: UInt64
        var time: Int64
        var channel: UInt32
        var descriptor: UInt32
        var priority: UInt8
        var publisher: [UInt8]
        var patterns: [[UInt8]]
    }

    /// Every record as `journal read --format json` prints it (the publisher's name without
    /// the origin prefix heraldd adds, flag 0x10).
    func allRecords(_ data: String) async throws -> [Record] {
        let (code, out, err) = try await runHerald(
            ["journal", "read", "--format", "json", "--data-dir", data], socket: "")
        #expect(code == 0, "\(err)")
        return try out.split(separator: "\n").map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            var publisher = [UInt8](Data(base64Encoded: object["publisher_base64"] as! String)!)
            let flags = object["flags"] as! Int
            if flags & 0x10 != 0 && publisher.count >= 12 { publisher.removeFirst(12) }
            // The route block (flag 0x20): its u16 length, itself included, comes first.
            if flags & 0x20 != 0 && publisher.count >= 2 {
                publisher.removeFirst(Int(publisher[0]) | Int(publisher[1]) << 8)
            }
            return Record(
                seq: UInt64(object["seq"] as! Int), time: Int64(object["time"] as! Int),
                channel: UInt32(object["channel"] as! Int), descriptor: UInt32(object["descriptor"] as! Int),
                priority: UInt8(object["priority"] as! Int), publisher: publisher,
                patterns: (object["patterns_base64"] as! [String]).map { [UInt8](Data(base64Encoded: $0)!) })
        }
    }

    @Test func randomQueriesEqualABruteForceFilterOfTheJournal() async throws {
        let daemon = try await DaemonProcess.launch(arguments: ["--interface-poll", "0"])
        defer { daemon.cleanup() }
        let data = daemon.directory + "/data"
        var random = SplitMix64(seed: 20_261_124)
        let client = try await daemon.client()
        var channels: [HeraldClient.Channel] = []
        for name in ["orders", "links", "audit"] {
            channels.append(try await client.openChannel(name, flags: [.publisher, .create]))
        }
        let publishers = ["alpha", "beta", ""].map { Array($0.utf8) }
        let patterns = ["eu-1", "eu-2", "us-1", "x"].map { Array($0.utf8) }
        for _ in 0..<40 {
            let batch = (0..<Int.random(in: 1...40, using: &random)).map { _ in
                WireEvent(
                    priority: UInt8.random(in: 0...3, using: &random),
                    publisherName: publishers.randomElement(using: &random)!,
                    patterns: (0..<Int.random(in: 0...2, using: &random)).map { _ in
                        patterns.randomElement(using: &random)!
                    }, data: [1])
            }
            _ = try await client.publish(channels.randomElement(using: &random)!, batch)
        }
        await client.close()
        #expect(await daemon.stop() == 0)

        let records = try await allRecords(data)
        #expect(records.count > 500)
        for round in 0..<30 {
            var arguments = ["query", "--format", "jsonl", "--data-dir", data]
            var expected = records
            if Bool.random(using: &random) {
                let a = records.randomElement(using: &random)!.seq
                let b = records.randomElement(using: &random)!.seq
                arguments += ["--from-seq", "\(min(a, b))", "--to-seq", "\(max(a, b))"]
                expected = expected.filter { (min(a, b)...max(a, b)).contains($0.seq) }
            }
            if Bool.random(using: &random) {
                let a = records.randomElement(using: &random)!.time
                let b = records.randomElement(using: &random)!.time
                arguments += ["--from", "\(min(a, b))", "--to", "\(max(a, b))"]
                expected = expected.filter { (min(a, b)...max(a, b)).contains($0.time) }
            }
            if Bool.random(using: &random) {
                let channel = channels.randomElement(using: &random)!.channelID
                arguments += ["--channel-id", "\(channel)"]
                expected = expected.filter { $0.channel == channel }
            }
            if Int.random(in: 0..<3, using: &random) == 0 {
                arguments += ["--class", "group", "--priority", "1", "--priority", "2"]
                expected = expected.filter { $0.descriptor >> 22 == 3 && [1, 2].contains($0.priority) }
            }
            if Int.random(in: 0..<3, using: &random) == 0 {
                let publisher = ["alpha", "beta"].randomElement(using: &random)!
                arguments += ["--publisher", publisher]
                expected = expected.filter { $0.publisher == Array(publisher.utf8) }
            }
            if Int.random(in: 0..<3, using: &random) == 0 {
                arguments += ["--filter", "0:prefix:eu"]
                expected = expected.filter { ($0.patterns.first ?? []).starts(with: Array("eu".utf8)) }
            }
            let reverse = Bool.random(using: &random)
            if reverse {
                arguments.append("--reverse")
                expected.reverse()
            }
            if Int.random(in: 0..<3, using: &random) == 0 {
                let limit = Int.random(in: 0...20, using: &random)
                arguments += ["--limit", "\(limit)"]
                expected = Array(expected.prefix(limit))
            }
            let (code, out, err) = try await runHerald(arguments, socket: "")
            #expect(code == 0, "\(arguments): \(err)")
            let got = try out.split(separator: "\n").map { line -> UInt64 in
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                return UInt64(object["seq"] as! Int)
            }
            #expect(got == expected.map(\.seq), "round \(round): \(arguments.dropFirst(5))")
            let (_, counted, _) = try await runHerald(
                arguments.filter { $0 != "jsonl" && $0 != "--format" } + ["--count"], socket: "")
            #expect(counted == "\(expected.count)\n", "round \(round) --count")
        }
    }

    @Test func queryByChannelNameAsksHeralddAndErrorsHaveTheirExitCodes() async throws {
        let daemon = try await DaemonProcess.launch(arguments: ["--interface-poll", "0"])
        defer { daemon.cleanup() }
        let data = daemon.directory + "/data"
        let client = try await daemon.client()
        let orders = try await client.openChannel("orders", flags: [.publisher, .create])
        let ids = try await client.publish(orders, (0..<3).map { WireEvent(data: Array("o\($0)".utf8)) })
        await client.close()
        var (code, out, err) = try await runHerald(
            ["query", "--channel", "orders", "--class", "group", "--format", "csv", "--data-dir", data],
            socket: daemon.socket)
        #expect(code == 0, "\(err)")
        let lines = out.split(separator: "\n")
        #expect(lines.first == "seq,time,channel,class,event,kind,priority,publisher,origin_pid,to,patterns,data")
        #expect(lines.filter { $0.hasSuffix(",o0") || $0.hasSuffix(",o1") || $0.hasSuffix(",o2") }.count == ids.count)
        (code, _, err) = try await runHerald(["query", "--channel", "nope", "--data-dir", data], socket: daemon.socket)
        #expect(code == 66, "\(err)")
        (code, _, err) = try await runHerald(["query", "--from", "yesterday", "--data-dir", data], socket: "")
        #expect(code == 64, "\(err)")
        (code, _, err) = try await runHerald(["query", "--data-dir", daemon.directory + "/none"], socket: "")
        #expect(code == 66, "\(err)")
        #expect(await daemon.stop() == 0)
        (code, _, err) = try await runHerald(
            ["query", "--channel", "orders", "--data-dir", data], socket: daemon.directory + "/gone.sock")
        #expect(code == 69, "\(err)")
    }

    @Test func tailPrintsTheFormatsOfQuery() async throws {
        let daemon = try await DaemonProcess.launch(arguments: ["--interface-poll", "0"])
        defer { daemon.cleanup() }
        let client = try await daemon.client()
        let orders = try await client.openChannel("orders", flags: [.publisher, .create])
        let events = [
            WireEvent(
                priority: 1, publisherName: Array("billing".utf8), patterns: [Array("a,b".utf8)],
                data: Array("x\"y".utf8)),
            WireEvent(publisherName: Array("shop".utf8), patterns: [[0, 255]], data: [1, 2]),
        ]
        let ids = try await client.publish(orders, events)
        await client.close()
        let base = ["tail", "--channel", "orders", "--from", "oldest", "--count", "2"]
        var (code, out, err) = try await runHerald(base + ["--format", "csv"], socket: daemon.socket)
        #expect(code == 0, "\(err)")
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.first == "seq,event_id,redelivered,time,priority,publisher,origin_pid,patterns,data")
        #expect(lines.count == 3)
        // RFC 4180 quoting of a comma and a quote; bytes that are not text as hex.
        let fields = lines[1].split(separator: ",").map(String.init)
        #expect(UInt64(fields[0]) != nil && fields[1] == "\(ids[0])" && fields[2] == "false", "\(lines[1])")
        #expect(lines[1].hasSuffix(",1,billing,\(getpid()),\"a,b\",\"x\"\"y\""), "\(lines[1])")
        #expect(lines[2].hasSuffix(",3,shop,\(getpid()),hex:00ff,hex:0102"), "\(lines[2])")
        (code, out, err) = try await runHerald(base + ["--format", "table"], socket: daemon.socket)
        #expect(code == 0, "\(err)")
        let table = out.split(separator: "\n").map(String.init)
        #expect(table.count == 3)
        #expect(table.first?.hasPrefix("SEQ        EVENT-ID   R TIME") == true, "\(table)")
        #expect(table.last?.contains("shop") == true && table.last?.hasSuffix("hex:0102") == true, "\(table)")
        // In a pipe without --format: the text lines.
        (code, out, err) = try await runHerald(base, socket: daemon.socket)
        #expect(code == 0, "\(err)")
        #expect(out.split(separator: "\n").first?.hasSuffix(" \(ids[0]) - x\"y") == true, "\(out)")
        #expect(await daemon.stop() == 0)
    }
}
