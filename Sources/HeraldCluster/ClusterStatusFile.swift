import Foundation
import HeraldJournal

/// `cluster.json` in a clustered node's data folder, rewritten every half second by heraldd
/// (write to a temporary file, then rename): what `herald cluster status` shows. Keys:
/// node, name, phase, ready, members [{id, name}], expectedNodes, quorate, corosyncQuorate,
/// links {"nodeN.linkM": up}, head {sequence, chain, time}, announcedHeads {id: {sequence,
/// chain}} (what each member announced at the last configuration change), updated (RFC 3339).
public enum ClusterStatusFile {
    public static let fileName = "cluster.json"

    public static func write(_ sequencer: ClusterSequencer, to directory: String) {
        let status = sequencer.status
        let head = sequencer.journal.head
        let object: [String: Any] = [
            "node": status.node,
            "name": status.names[status.node] ?? "node\(status.node)",
            "phase": status.phase.description,
            "ready": status.phase == .ready,
            "members": status.members.map { ["id": $0, "name": status.names[$0] ?? "node\($0)"] },
            "expectedNodes": status.expectedNodes,
            "quorate": status.members.count * 2 > status.expectedNodes,
            "corosyncQuorate": status.corosyncQuorate,
            "links": status.links,
            "head": ["sequence": head.sequence.rawValue, "chain": head.chain.description, "time": head.time],
            "announcedHeads": Dictionary(
                uniqueKeysWithValues: status.heads.map {
                    (
                        "\($0.key)",
                        ["sequence": $0.value.sequence, "chain": $0.value.chain.description] as [String: Any]
                    )
                }),
            "updated": ISO8601DateFormatter().string(from: Date()),
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
        else { return }
        let path = directory + "/" + fileName
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else { return }
        _ = rename(temporary, path)
    }
}
