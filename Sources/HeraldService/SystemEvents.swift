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
/// the members, who left and who joined. Encoded little-endian into the record's data:
/// u32 instance, u32 member count, u32 left count, u32 joined count, then each node of the
/// three lists as (u32 id, u32 born-on, u16 name length, name bytes).
public struct MembershipEvent: Hashable, Sendable {
    public var instance: UInt32
    /// Sorted by (born-on, id), as OCF requires.
    public var members: [ClusterNode]
    public var left: [ClusterNode]
    public var joined: [ClusterNode]

    public init(instance: UInt32, members: [ClusterNode], left: [ClusterNode], joined: [ClusterNode]) {
        self.instance = instance
        self.members = members.sorted { ($0.bornOn, $0.id) < ($1.bornOn, $1.id) }
        self.left = left
        self.joined = joined
    }

    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        for value in [instance, UInt32(members.count), UInt32(left.count), UInt32(joined.count)] {
            bytes.appendLE(value)
        }
        for node in members + left + joined {
            bytes.appendLE(node.id)
            bytes.appendLE(node.bornOn)
            let name = Array(node.name.utf8.prefix(Int(UInt16.max)))
            bytes.appendLE(UInt16(name.count))
            bytes += name
        }
        return bytes
    }

    /// Nil when the bytes are not a membership payload.
    public init?(decoding bytes: [UInt8]) {
        var reader = ByteReader(bytes)
        guard let instance = reader.u32(), let memberCount = reader.u32(), let leftCount = reader.u32(),
            let joinedCount = reader.u32(), Int(memberCount) + Int(leftCount) + Int(joinedCount) <= bytes.count
        else { return nil }
        func nodes(_ count: UInt32) -> [ClusterNode]? {
            var list: [ClusterNode] = []
            for _ in 0..<count {
                guard let id = reader.u32(), let bornOn = reader.u32(), let length = reader.u16(),
                    let name = reader.bytes(Int(length))
                else { return nil }
                list.append(ClusterNode(name: String(decoding: name, as: UTF8.self), id: id, bornOn: bornOn))
            }
            return list
        }
        guard let members = nodes(memberCount), let left = nodes(leftCount), let joined = nodes(joinedCount),
            reader.atEnd
        else { return nil }
        self.init(instance: instance, members: members, left: left, joined: joined)
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

    /// The heartbeat event code the descriptor carries.
    public var descriptor: EventDescriptor {
        switch self {
        case .interfaceAdded, .interfaceFailed: return .interface
        case .nodeEligible, .nodeIneligible: return .eligible
        case .connectionEstablished, .connectionLost: return .connect
        }
    }

    public var isUp: Bool { rawValue % 2 == 1 }
}

/// The payload of a connectivity (COMM) event: which change, which node, which interface
/// or link. Encoded as u8 change, u32 node id, u16 + node name, u16 + interface name.
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
        var bytes: [UInt8] = [change.rawValue]
        bytes.appendLE(node.id)
        let name = Array(node.name.utf8.prefix(Int(UInt16.max)))
        bytes.appendLE(UInt16(name.count))
        bytes += name
        let interface = Array(interface.utf8.prefix(Int(UInt16.max)))
        bytes.appendLE(UInt16(interface.count))
        bytes += interface
        return bytes
    }

    public init?(decoding bytes: [UInt8]) {
        var reader = ByteReader(bytes)
        guard let raw = reader.u8(), let change = ConnectivityChange(rawValue: raw), let id = reader.u32(),
            let nameLength = reader.u16(), let name = reader.bytes(Int(nameLength)),
            let interfaceLength = reader.u16(), let interface = reader.bytes(Int(interfaceLength)), reader.atEnd
        else { return nil }
        self.init(
            change: change, node: ClusterNode(name: String(decoding: name, as: UTF8.self), id: id, bornOn: 0),
            interface: String(decoding: interface, as: UTF8.self))
    }
}

extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

/// Bounds-checked little-endian reads.
struct ByteReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { offset == bytes.count }

    mutating func bytes(_ count: Int) -> [UInt8]? {
        guard count >= 0, offset + count <= bytes.count else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    mutating func u8() -> UInt8? { bytes(1)?[0] }

    mutating func u16() -> UInt16? {
        bytes(2).map { UInt16($0[0]) | UInt16($0[1]) << 8 }
    }

    mutating func u32() -> UInt32? {
        bytes(4).map { $0.reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
    }
}
