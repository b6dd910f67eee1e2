import Foundation
import Synchronization

extension RedisPeer {
    /// `redis-benchmark` XADD with a pipeline of `batch` and `clients` connections.
    func publishThroughput(clients: Int, events: Int, batch: Int) throws -> Double {
        guard let tool = ServerProcess.which("redis-benchmark") else {
            throw BlockingSocket.Failure(description: "redis-benchmark not installed")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = [
            "-s", socketPath, "-c", "\(clients)", "-n", "\(events)", "-P", "\(batch)", "--csv",
            "-r", "1000000000", "XADD", "bench", "*", "d", BodyPool.redisTemplate,
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // The last CSV row: "XADD ...","<requests per second>", then six latency columns.
        // The command itself holds commas and quotes (the body), so count from the end.
        guard let row = text.split(separator: "\n").last, case let fields = row.split(separator: ","),
            fields.count >= 8,
            let rate = Double(fields[fields.count - 7].trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
        else { throw BlockingSocket.Failure(description: "redis-benchmark output: \(text)") }
        return rate
    }

    /// A paced XADD publisher and a consumer group reader (XREADGROUP BLOCK + XACK).
    func latency(rate: Int, seconds: Int) throws -> (p50: Double, p99: Double) {
        let setup = try RedisConnection(unixPath: socketPath)
        _ = try setup.command(["XGROUP", "CREATE", "latency", "g", "$", "MKSTREAM"])
        let total = rate * seconds
        let samples = LatencySamples()
        let socketPath = self.socketPath
        let consumer = Thread {
            guard let connection = try? RedisConnection(unixPath: socketPath) else { return }
            while samples.count < total {
                guard
                    let reply = try? connection.command([
                        "XREADGROUP", "GROUP", "g", "c", "COUNT", "1000", "BLOCK", "200", "STREAMS", "latency", ">",
                    ])
                else { return }
                let ids = Self.entries(reply).map { id, payload -> [UInt8] in
                    if let sent = stamp(of: payload) { samples.add(sent) }
                    return id
                }
                if !ids.isEmpty {
                    _ = try? connection.socket.send(
                        RedisConnection.encode([Array("XACK".utf8), Array("latency".utf8), Array("g".utf8)] + ids))
                    _ = try? connection.reply()
                }
            }
        }
        consumer.start()
        let publisher = try RedisConnection(unixPath: socketPath)
        var pending = 0
        try pacedLoop(rate: rate, total: total) { count in
            var bytes: [UInt8] = []
            for _ in 0..<count {
                bytes += RedisConnection.encode(
                    ["XADD", "latency", "*", "d"].map { Array($0.utf8) } + [stampedPayload(uptimeNanoseconds())])
            }
            try publisher.socket.send(bytes)
            pending += count
            // Read the replies of earlier sends (they come after each fsync).
            while pending > count * 4 {
                _ = try publisher.reply()
                pending -= 1
            }
        }
        for _ in 0..<pending { _ = try publisher.reply() }
        for _ in 0..<300 where samples.count < total { usleep(100_000) }
        return percentiles(samples.all)
    }

    /// Fills the stream once, then `runs` new consumer groups each read it from the start.
    func replay(events: Int, batch: Int, runs: Int) throws -> [Double] {
        _ = try publishThroughput(clients: 1, events: events, batch: batch)
        return try (0..<runs).map { try replayOnce(events: events, batch: batch, group: "late-\($0)") }
    }

    /// A consumer group reads the stream from the start, acknowledging each batch
    /// (XREADGROUP COUNT batch + one XACK of its ids), with two reads in flight as the
    /// reference driver (hiredis) does: each XACK goes out with the read after next, so the
    /// server always has the next batch to send while the client parses one. Replies are
    /// parsed straight from the buffer, in command order.
    func replayOnce(events: Int, batch: Int, group: String) throws -> Double {
        let connection = try RedisConnection(unixPath: socketPath)
        _ = try connection.command(["XGROUP", "CREATE", "bench", group, "0"])
        let read = RedisConnection.encode(
            ["XREADGROUP", "GROUP", group, "c", "COUNT", "\(batch)", "STREAMS", "bench", ">"].map { Array($0.utf8) })
        let ackPrefix = [Array("XACK".utf8), Array("bench".utf8), Array(group.utf8)]
        let reads = (events + batch - 1) / batch
        enum Reply { case entries, ack }
        var expected: [Reply] = [.entries, .entries]
        var next = 0
        var sentReads = min(2, reads)
        var received = 0
        let start = uptimeNanoseconds()
        try connection.socket.send(Array(repeating: read, count: sentReads).flatMap { $0 })
        while next < expected.count {
            let kind = expected[next]
            next += 1
            switch kind {
            case .ack:
                _ = try connection.reply()
            case .entries:
                guard let ids = try connection.entryIDs(streamsReply: true), !ids.isEmpty else { continue }
                received += ids.count
                var bytes = RedisConnection.encode(ackPrefix + ids)
                expected.append(.ack)
                if sentReads < reads {
                    bytes += read
                    sentReads += 1
                    expected.append(.entries)
                }
                try connection.socket.send(bytes)
            }
        }
        return Double(received) / (Double(uptimeNanoseconds() - start) / 1e9)
    }

    /// (id, value of the first field) of each entry in an XREADGROUP reply.
    static func entries(_ reply: RedisConnection.Reply) -> [(id: [UInt8], payload: [UInt8])] {
        guard case .array(let streams?) = reply else { return [] }
        var out: [(id: [UInt8], payload: [UInt8])] = []
        for stream in streams {
            guard case .array(let parts?) = stream, parts.count == 2, case .array(let entries?) = parts[1] else {
                continue
            }
            for entry in entries {
                guard case .array(let fields?) = entry, fields.count == 2, case .bulk(let id?) = fields[0],
                    case .array(let values?) = fields[1], values.count >= 2, case .bulk(let payload?) = values[1]
                else { continue }
                out.append((id, payload))
            }
        }
        return out
    }
}

extension NatsPeer {
    /// `clients` connections, each keeping `inFlight` JetStream publishes unacknowledged.
    func publishThroughput(clients: Int, events: Int, inFlight: Int) throws -> Double {
        let perClient = events / clients
        let port = self.port
        let failures = Atomic<Int>(0)
        let start = uptimeNanoseconds()
        let done = DispatchGroup()
        for index in 0..<clients {
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                do {
                    let connection = try NatsConnection(port: port)
                    try Self.publish(
                        connection, subject: "bench", count: perClient, inFlight: inFlight, inbox: "_INBOX.p\(index)")
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        done.wait()
        guard failures.load(ordering: .relaxed) == 0 else {
            throw BlockingSocket.Failure(description: "a NATS publisher failed")
        }
        return Double(perClient * clients) / (Double(uptimeNanoseconds() - start) / 1e9)
    }

    static func publish(
        _ connection: NatsConnection, subject: String, count: Int, inFlight: Int, inbox: String,
        payload: () -> [UInt8] = BodyPool.body
    ) throws {
        try connection.subscribe(inbox, sid: 1)
        let chunk = max(1, inFlight / 4)
        var sent = 0
        var acked = 0
        while acked < count {
            if sent < count && sent - acked < inFlight {
                var bytes: [UInt8] = []
                let size = min(chunk, count - sent)
                for _ in 0..<size { bytes += NatsConnection.publishFrame(subject, reply: inbox, payload: payload()) }
                try connection.socket.send(bytes)
                sent += size
                continue
            }
            _ = try connection.next()
            acked += 1
        }
    }

    /// Creates a durable push consumer (on a connection of its own, so that the API reply
    /// is not mixed with deliveries).
    private func createConsumer(name: String, deliver: String, policy: String, ack: String) throws {
        let connection = try NatsConnection(port: port)
        let config =
            #"{"stream_name":"bench","config":{"durable_name":"\#(name)","deliver_subject":"\#(deliver)","#
            + #""ack_policy":"\#(ack)","deliver_policy":"\#(policy)"}}"#
        let reply = try connection.request("$JS.API.CONSUMER.DURABLE.CREATE.bench.\(name)", config)
        guard !reply.contains("\"error\"") else {
            throw BlockingSocket.Failure(description: "consumer create: \(reply)")
        }
    }

    /// Fills the stream once, then `runs` new durable pull consumers each read it from the
    /// start: fetch requests of `batch` messages ($JS.API.CONSUMER.MSG.NEXT), each batch
    /// acknowledged by one ack of its last message (ack policy "all"), sent together with
    /// the next fetch request. Herald's replay acknowledges every event; this is the
    /// cheapest durable, acknowledged way through JetStream.
    func replay(events: Int, batch: Int, runs: Int) throws -> [Double] {
        _ = try publishThroughput(clients: 1, events: events, inFlight: batch)
        return try (0..<runs).map { run in
            let name = "late\(run)"
            let setup = try NatsConnection(port: port)
            let config =
                #"{"stream_name":"bench","config":{"durable_name":"\#(name)","ack_policy":"all","#
                + #""deliver_policy":"all","max_ack_pending":20000}}"#
            let reply = try setup.request("$JS.API.CONSUMER.DURABLE.CREATE.bench.\(name)", config)
            guard !reply.contains("\"error\"") else {
                throw BlockingSocket.Failure(description: "consumer create: \(reply)")
            }
            let connection = try NatsConnection(port: port)
            try connection.subscribe("_INBOX.pull", sid: 5)
            let fetch = NatsConnection.publishFrame(
                "$JS.API.CONSUMER.MSG.NEXT.bench.\(name)", reply: "_INBOX.pull",
                payload: Array(#"{"batch":\#(batch)}"#.utf8))
            var received = 0
            let start = uptimeNanoseconds()
            try connection.socket.send(fetch)
            while received < events {
                var last: String?
                for _ in 0..<batch {
                    let message = try connection.next()
                    last = message.reply
                    received += 1
                }
                guard let last else { break }
                try connection.socket.send(
                    NatsConnection.publishFrame(last, reply: nil, payload: []) + (received < events ? fetch : []))
            }
            return Double(received) / (Double(uptimeNanoseconds() - start) / 1e9)
        }
    }

    /// A paced publisher (acks read on another thread) and a push consumer (ack_policy none:
    /// see `replay`).
    func latency(rate: Int, seconds: Int) throws -> (p50: Double, p99: Double) {
        let total = rate * seconds
        let samples = LatencySamples()
        let consumer = try NatsConnection(port: port)
        try consumer.subscribe("deliver.latency", sid: 7)
        try createConsumer(name: "latency", deliver: "deliver.latency", policy: "new", ack: "none")
        let reader = Thread {
            while samples.count < total {
                guard let message = try? consumer.next() else { return }
                if let sent = stamp(of: message.payload) { samples.add(sent) }
            }
        }
        reader.start()
        let publisher = try NatsConnection(port: port)
        try publisher.subscribe("_INBOX.lat", sid: 1)
        let acks = Thread {
            for _ in 0..<total { guard (try? publisher.next()) != nil else { return } }
        }
        acks.start()
        try pacedLoop(rate: rate, total: total) { count in
            var bytes: [UInt8] = []
            for _ in 0..<count {
                bytes += NatsConnection.publishFrame(
                    "bench", reply: "_INBOX.lat", payload: stampedPayload(uptimeNanoseconds()))
            }
            try publisher.socket.send(bytes)
        }
        for _ in 0..<300 where samples.count < total { usleep(100_000) }
        return percentiles(samples.all)
    }
}

/// Calls `send(count)` about every millisecond with the events due at `rate` (blocking threads).
func pacedLoop(rate: Int, total: Int, _ send: (Int) throws -> Void) throws {
    let start = uptimeNanoseconds()
    var sent = 0
    while sent < total {
        usleep(1000)
        let target = min(total, Int(Double(uptimeNanoseconds() - start) / 1e9 * Double(rate)))
        if target > sent {
            try send(target - sent)
            sent = target
        }
    }
}
