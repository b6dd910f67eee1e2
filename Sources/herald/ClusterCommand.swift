import ArgumentParser
import Foundation

struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "A clustered node's view of the cluster (heraldd --cluster corosync).",
        subcommands: [ClusterStatus.self]
    )
}

/// `herald cluster status`: what the node's heraldd last wrote to `cluster.json` (every
/// half second): members, quorum, links, this node's head and the heads the members
/// announced at the last configuration change.
struct ClusterStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Members, quorum, links, head sequence number and chain hash of clustered nodes.",
        discussion: """
            Reads cluster.json, which a clustered heraldd rewrites every half second in its data folder. \
            Give --data-dir once per node to compare nodes on one machine. Exit 66 when a folder has no \
            cluster.json (not a clustered node), 69 when it is older than 5 seconds (heraldd not running).
            Example:
              herald cluster status --data-dir /var/lib/herald
            """)

    @Option(name: .customLong("data-dir"), help: "A node's data folder (repeat for several nodes).")
    var dataDirectories: [String] = []
    @Flag(help: "Print the files' JSON, one object per line.") var json = false

    func run() throws {
        let folders =
            dataDirectories.isEmpty
            ? [ProcessInfo.processInfo.environment["HERALD_DATA_DIR"] ?? "herald-data"] : dataDirectories
        var status = ExitStatus.ok
        var rows: [[String]] = []
        for folder in folders {
            let path = folder + "/cluster.json"
            guard let data = FileManager.default.contents(atPath: path),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            else {
                FileHandle.standardError.write(
                    Data("herald: \(path): no cluster status (not a clustered node?)\n".utf8))
                status = .notFound
                continue
            }
            let age =
                (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date)
                .map { -$0.timeIntervalSinceNow } ?? 0
            if age > 5 {
                FileHandle.standardError.write(
                    Data("herald: \(path) is \(Int(age)) s old: is heraldd running?\n".utf8))
                if status == .ok { status = .unavailable }
            }
            if json {
                let line = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: line, as: UTF8.self))
                continue
            }
            let members = (object["members"] as? [[String: Any]] ?? []).map { "\($0["name"] ?? "?")" }
            let head = object["head"] as? [String: Any] ?? [:]
            let links = (object["links"] as? [String: Bool] ?? [:]).sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value ? "up" : "down")" }
            rows.append([
                "\(object["name"] ?? "?")", "\(object["phase"] ?? "?")",
                "\(object["quorate"] as? Bool == true ? "yes" : "no")/\(object["expectedNodes"] ?? "?")",
                members.joined(separator: ","), "\(head["sequence"] ?? "?")", "\(head["chain"] ?? "?")",
                links.joined(separator: " "),
            ])
        }
        if !json && !rows.isEmpty {
            let titles = ["NODE", "PHASE", "QUORUM", "MEMBERS", "HEAD", "CHAIN", "LINKS"]
            let all = [titles] + rows
            let widths = titles.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
            for row in all {
                print(
                    row.enumerated().map {
                        $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0)
                    }
                    .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
            }
        }
        if status != .ok { throw ExitCode(status.rawValue) }
    }
}
