import ArgumentParser
import Foundation
import HeraldClient
import HeraldWire

// What heraldd holds now: channels, durable cursors, the journal's state. Table for people,
// --json (one object) for scripts.

/// Prints rows as aligned columns.
func printTable(_ header: [String], _ rows: [[String]], to output: StandardOutput) {
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
    for row in [header] + rows {
        let cells = row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }
        output.write(cells.joined(separator: "  ") + "\n")
    }
}

func writeJSON(_ object: Any, to output: StandardOutput) throws {
    output.write(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    output.write("\n")
}

struct Channels: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List heraldd's channels: id, name, linked or unlinked, openers, retained events.",
        discussion: """
            Example:
              herald channels --json | jq '.channels[] | select(.openers == 0)'
            """)

    @OptionGroup var daemon: DaemonOptions
    @Flag(help: "Print as JSON.") var json = false

    func run() async throws {
        let client = await daemon.connect(name: "herald channels")
        let channels = await runningClient { try await client.channels() }
        await client.close()
        let output = StandardOutput()
        if json {
            try writeJSON(
                [
                    "channels": channels.map {
                        [
                            "id": $0.id, "name": String(decoding: $0.name, as: UTF8.self), "linked": $0.linked,
                            "openers": $0.openers, "retained": $0.retained,
                        ] as [String: Any]
                    }
                ], to: output)
        } else {
            printTable(
                ["ID", "NAME", "STATE", "OPENERS", "RETAINED"],
                channels.map {
                    [
                        "\($0.id)", String(decoding: $0.name, as: UTF8.self), $0.linked ? "linked" : "unlinked",
                        "\($0.openers)", "\($0.retained)",
                    ]
                }, to: output)
        }
        output.flush()
    }
}

struct Cursors: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List durable cursors: name, acknowledged position, lag behind the head, last acknowledgement.",
        discussion: """
            LAG is the number of journal records after the cursor's position (every record, not \
            only those the subscriber's filters take).

            Example:
              herald cursors --json | jq '.cursors[] | select(.lag > 1000)'
            """)

    @OptionGroup var daemon: DaemonOptions
    @Flag(help: "Print as JSON.") var json = false

    func run() async throws {
        let client = await daemon.connect(name: "herald cursors")
        let (cursors, status) = await runningClient { (try await client.cursors(), try await client.status()) }
        await client.close()
        let output = StandardOutput()
        func lag(_ cursor: WireCursor) -> UInt64 {
            status.headSequence >= cursor.acknowledged ? status.headSequence - cursor.acknowledged : 0
        }
        if json {
            try writeJSON(
                [
                    "head": status.headSequence,
                    "cursors": cursors.map {
                        [
                            "name": $0.name, "acknowledged": $0.acknowledged, "delivered_through": $0.deliveredThrough,
                            "lag": lag($0), "updated": formatTime($0.updated),
                        ] as [String: Any]
                    },
                ], to: output)
        } else {
            printTable(
                ["NAME", "POSITION", "LAG", "LAST ACK"],
                cursors.map { ["\($0.name)", "\($0.acknowledged)", "\(lag($0))", formatTime($0.updated)] }, to: output)
        }
        output.flush()
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "heraldd's journal and sessions: head, oldest retained, segments, chain, connections.",
        discussion: """
            For a data folder with no daemon, use `herald journal stats --data-dir DIR`.
            """)

    @OptionGroup var daemon: DaemonOptions
    @Flag(help: "Print as JSON.") var json = false

    func run() async throws {
        let client = await daemon.connect(name: "herald stats")
        let (status, channels, cursors) = await runningClient {
            (try await client.status(), try await client.channels(), try await client.cursors())
        }
        await client.close()
        let output = StandardOutput()
        let events = status.headSequence >= status.oldestSequence ? status.headSequence - status.oldestSequence + 1 : 0
        if json {
            try writeJSON(
                [
                    "head": status.headSequence, "oldest": status.oldestSequence, "records": events,
                    "head_time": formatTime(status.headTime), "head_chain": status.headChain,
                    "segments": status.segments, "connections": status.connections, "channels": channels.count,
                    "cursors": cursors.count,
                ], to: output)
        } else {
            output.write(
                """
                records       \(events) (sequence \(status.oldestSequence)...\(status.headSequence))
                head time     \(formatTime(status.headTime))
                head chain    \(status.headChain)
                segments      \(status.segments)
                channels      \(channels.count)
                cursors       \(cursors.count)
                connections   \(status.connections)

                """)
        }
        output.flush()
    }
}
