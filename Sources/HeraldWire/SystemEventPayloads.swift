/// The payloads of the node's own events, as the journal stores them and the daemon
/// delivers them: what a membership (MEMB) or connectivity (COMM) event says. Both the
/// service (which journals them) and the C library (which turns them into OCF structs)
/// read them here. Little-endian, lengths as `bytes16`.

/// A cluster node as OCF's membership payload names it (`oc_node_t`).
public struct ClusterNode: Hashable, Sendable {
    public var name: String
    public var id: UInt32
    /// The membership instance in which the node joined.
    public var bornOn: UInt32

    public init(name: String, id: UInt32, bornOn: UInt32) {
        self.name = name
        self.id = id
        self.bornOn = bornOn
    }
}

/// The payload of a membership (MEMB) event, `oc_ev_membership_t` in spirit: the instance,
/// the members, who left and who joined. Encoded: u32 instance, u32 member count, u32 left
/// count, u32 joined count, then each node of the three lists as (u32 id, u32 born-on,
/// bytes16 name).
public struct MembershipEvent: Hashable, Sendable {
    public var instance: UInt32
    /// Sorted by (born-on, id), as OCF requires.
    public var members: [ClusterNode]
    public var left: [ClusterNode]
    public var joined: [ClusterNode]

    /// Node ids and born-on instances (8 bytes) plus a name length (2 bytes).
    static let nodeBytesMin = 10

    public init(instance: UInt32, members: [ClusterNode], left: [ClusterNode], joined: [ClusterNode]) {
        self.instance = instance
        self.members = members.sorted { ($0.bornOn, $0.id) < ($1.bornOn, $1.id) }
        self.left = left
        self.joined = joined
    }

    public func encoded() -> [UInt8] {
        var writer = WireWriter()
        for value in [instance, UInt32(members.count), UInt32(left.count), UInt32(joined.count)] {
            writer.u32(value)
        }
        for node in members + left + joined {
            writer.u32(node.id)
            writer.u32(node.bornOn)
            writer.bytes16(Array(node.name.utf8.prefix(Int(UInt16.max))))
        }
        return writer.bytes
    }

    /// Nil when the bytes are not a membership payload.
    public init?(decoding bytes: [UInt8]) {
        var reader = WireReader(bytes[...])
        do throws(WireError) {
            let instance = try reader.u32("instance")
            let max = bytes.count / Self.nodeBytesMin
            let counts = [
                try reader.count32("members", max: max, elementBytesMin: Self.nodeBytesMin),
                try reader.count32("left", max: max, elementBytesMin: Self.nodeBytesMin),
                try reader.count32("joined", max: max, elementBytesMin: Self.nodeBytesMin),
            ]
            var lists: [[ClusterNode]] = []
            for count in counts {
                var list: [ClusterNode] = []
                for _ in 0..<count {
                    let id = try reader.u32("node id")
                    let bornOn = try reader.u32("born on")
                    let name = try reader.bytes16("node name", max: Int(UInt16.max))
                    list.append(ClusterNode(name: String(decoding: name, as: UTF8.self), id: id, bornOn: bornOn))
                }
                lists.append(list)
            }
            try reader.finish()
            self.init(instance: instance, members: lists[0], left: lists[1], joined: lists[2])
        } catch {
            return nil
        }
    }
}

/// Which of the OCF draft's six connectivity occurrences a COMM event reports.
public enum ConnectivityChange: UInt8, Hashable, Sendable, CaseIterable {
    case interfaceAdded = 1
    case interfaceFailed = 2
    case nodeEligible = 3
    case nodeIneligible = 4
    case connectionEstablished = 5
    case connectionLost = 6

    /// Up, eligible or connected (odd codes); down otherwise.
    public var isUp: Bool { rawValue % 2 == 1 }
}

/// The payload of a connectivity (COMM) event: which change, which node, which interface
/// or link. Encoded as u8 change, u32 node id, bytes16 node name, bytes16 interface name.
public struct ConnectivityEvent: Hashable, Sendable {
    public var change: ConnectivityChange
    public var node: ClusterNode
    public var interface: String

    public init(change: ConnectivityChange, node: ClusterNode, interface: String) {
        self.change = change
        self.node = node
        self.interface = interface
    }

    public func encoded() -> [UInt8] {
        var writer = WireWriter()
        writer.u8(change.rawValue)
        writer.u32(node.id)
        writer.bytes16(Array(node.name.utf8.prefix(Int(UInt16.max))))
        writer.bytes16(Array(interface.utf8.prefix(Int(UInt16.max))))
        return writer.bytes
    }

    public init?(decoding bytes: [UInt8]) {
        var reader = WireReader(bytes[...])
        do throws(WireError) {
            guard let change = ConnectivityChange(rawValue: try reader.u8("change")) else { return nil }
            let id = try reader.u32("node id")
            let name = try reader.bytes16("node name", max: Int(UInt16.max))
            let interface = try reader.bytes16("interface", max: Int(UInt16.max))
            try reader.finish()
            self.init(
                change: change, node: ClusterNode(name: String(decoding: name, as: UTF8.self), id: id, bornOn: 0),
                interface: String(decoding: interface, as: UTF8.self))
        } catch {
            return nil
        }
    }
}
