import ArgumentParser
import Foundation
import HeraldClient
import HeraldWire

/// The Herald side of `tools/bench cluster` (tools/cluster-bench runs it against the three
/// clustered heraldd of a real Corosync cluster, beside raw CPG): prints key=value lines.
struct ClusterBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Publish throughput and latency across clustered heraldd sockets.")

    @Option(help: "The nodes' heraldd sockets, comma-separated (the first one subscribes).") var sockets: String
    @Option(help: "Events for the throughput run (spread over the nodes; 0: none).") var events = 300_000
    @Option(help: "Events per publish request.") var batch = 100
    @Option(name: .customLong("in-flight"), help: "Publish requests in flight per node.") var inFlight = 16
    @Option(help: "Events/s for the latency run (0: none).") var rate = 2_000
    @Option(help: "Seconds of the latency run.") var seconds = 5

    func run() async throws {
        let paths = sockets.split(separator: ",").map(String.init)
        if events > 0 { print(String(format: "throughput_ev_s=%.0f", try await throughput(paths))) }
        if rate > 0 && seconds > 0 {
            let latency = try await latency(paths)
            print(String(format: "latency_p50_us=%.0f latency_p99_us=%.0f", latency.p50, latency.p99))
        }
    }

    /// Every node publishes its share at once (batches of `batch`, `inFlight` at a time); a
    /// subscriber on the first node counts every event: events/s until the last arrived.
    func throughput(_ paths: [String]) async throws -> Double {
        let subscriber = try await HeraldClient.connect(socketPath: paths[0], clientName: "bench-subscriber")
        let open = try await subscriber.openChannel("cluster-bench", flags: [.subscriber, .create])
        let stream = try await subscriber.attach(
            WireAttach(target: .channel(handle: open.handle), start: .now, durableName: "", window: 8192))
        _ = try await subscriber.subscribe(open, id: 1, filters: [WireFilter(type: 4, pattern: [])])
        var publishers: [(HeraldClient, HeraldClient.Channel)] = []
        for path in paths {
            let client = try await HeraldClient.connect(socketPath: path, clientName: "bench-publisher")
            publishers.append(
                (client, try await HeraldDaemon.openWhenCreated(client, "cluster-bench", flags: [.publisher])))
        }
        let share = events / paths.count / batch * batch
        let total = share * paths.count
        let start = uptimeNanoseconds()
        let counted = Task.detached {
            var received = 0
            for await delivery in stream {
                delivery.done()
                received += 1
                if received >= total { break }
            }
            return received
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (client, channel) in publishers {
                group.addTask {
                    _ = try await HeraldDaemon.publish(
                        client, channel, events: share, batch: batch, inFlight: inFlight)
                }
            }
            try await group.waitForAll()
        }
        let received = await counted.value
        let elapsed = Double(uptimeNanoseconds() - start) / 1e9
        for (client, _) in publishers { await client.close() }
        await subscriber.close()
        guard received == total else { throw ValidationError("received \(received) of \(total)") }
        return Double(total) / elapsed
    }

    /// A publisher on the second node at `rate`, a subscriber on the first: publish →
    /// delivery across nodes.
    func latency(_ paths: [String]) async throws -> (p50: Double, p99: Double) {
        try await HeraldDaemon.latency(
            subscriberSocket: paths[0], publisherSocket: paths[min(1, paths.count - 1)], rate: rate, seconds: seconds)
    }
}
