import COCEvent
import HeraldClient
import HeraldWire

/// The C block a callback receives as `data`: one allocation holding the struct of the
/// event's class and everything it points to (node names, patterns, event data), freed
/// when every cookie of the event is done. `size` is the whole block's size, as OCF says.
struct EventPayload: @unchecked Sendable {
    // `bytes` is owned by the payload's event record, freed once by `free()`.
    let bytes: UnsafeMutableRawPointer?
    let size: Int

    static let none = EventPayload(bytes: nil, size: 0)

    func free() { bytes?.deallocate() }

    /// Copies `data` as it is (an event of a class without a Herald struct).
    static func raw(_ data: [UInt8]) -> EventPayload {
        var builder = BlockBuilder(fixed: 0, extra: data.count)
        _ = builder.append(data)
        return builder.finish()
    }

    /// `oc_ev_membership_t`: members, then the nodes that left, then the nodes that joined.
    static func membership(_ event: MembershipEvent) -> EventPayload {
        let nodes = event.members + event.left + event.joined
        let arrayOffset = MemoryLayout<oc_ev_membership_t>.offset(of: \oc_ev_membership_t.m_array)!
        let stride = MemoryLayout<oc_node_t>.stride
        let names = nodes.map { Array($0.name.utf8) + [0] }
        var builder = BlockBuilder(
            fixed: arrayOffset + Swift.max(nodes.count, 1) * stride, extra: names.reduce(0) { $0 + $1.count })
        let header: [(KeyPath<oc_ev_membership_t, UInt32>, Int)] = [
            (\.m_instance, Int(event.instance)), (\.m_n_member, event.members.count), (\.m_memb_idx, 0),
            (\.m_n_out, event.left.count), (\.m_out_idx, event.members.count),
            (\.m_n_in, event.joined.count), (\.m_in_idx, event.members.count + event.left.count),
        ]
        for (field, value) in header {
            builder.store(UInt32(value), at: MemoryLayout<oc_ev_membership_t>.offset(of: field)!)
        }
        for (index, node) in nodes.enumerated() {
            let name = builder.append(names[index])
            builder.store(
                oc_node_t(node_uname: name, node_id: node.id, node_born_on: node.bornOn),
                at: arrayOffset + index * stride)
        }
        return builder.finish()
    }

    /// `oc_ev_connect_t`.
    static func connectivity(_ event: ConnectivityEvent) -> EventPayload {
        let node = Array(event.node.name.utf8) + [0]
        let link = Array(event.interface.utf8) + [0]
        var builder = BlockBuilder(fixed: MemoryLayout<oc_ev_connect_t>.stride, extra: node.count + link.count)
        let connect = oc_ev_connect_t(
            c_change: UInt32(event.change.rawValue), c_up: event.change.isUp ? 1 : 0, c_node_id: event.node.id,
            c_reserved: 0, c_node_uname: UnsafePointer(builder.append(node)),
            c_link: UnsafePointer(builder.append(link)))
        builder.store(connect, at: 0)
        return builder.finish()
    }

    /// `oc_ev_group_t` for a join, leave or published event of a channel.
    static func group(_ delivery: WireDelivery, channelName: [UInt8]) -> EventPayload {
        let event = delivery.event
        let patternStride = MemoryLayout<oc_ev_pattern_t>.stride
        let extra =
            channelName.count + 1 + event.publisherName.count + 1 + event.patterns.count * patternStride
            + event.patterns.reduce(0) { $0 + $1.count } + event.data.count + patternStride
        var builder = BlockBuilder(fixed: MemoryLayout<oc_ev_group_t>.stride, extra: extra)
        let channelPointer = builder.append(channelName, terminated: true)
        let publisherPointer = builder.append(event.publisherName, terminated: true)
        let patterns = builder.reserve(event.patterns.count * patternStride, alignment: patternStride)
        for (index, pattern) in event.patterns.enumerated() {
            let bytes = builder.append(pattern)
            (patterns + index * patternStride).storeBytes(
                of: oc_ev_pattern_t(
                    p_size: pattern.count, p_bytes: UnsafeRawPointer(bytes).assumingMemoryBound(to: UInt8.self)),
                as: oc_ev_pattern_t.self)
        }
        let data = builder.append(event.data)
        let groupEvent = delivery.descriptor & 0x3F_FFFF
        let isCast = groupEvent == 3 || groupEvent == 4
        let opener =
            event.data.count == 8
            ? event.data.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } : 0
        let hasOrigin = delivery.flags.contains(.hasOrigin)
        let group = oc_ev_group_t(
            g_channel: UnsafePointer(channelPointer), g_channel_id: delivery.channelID,
            g_priority: UInt32(event.priority), g_event_id: isCast ? delivery.eventID : opener,
            g_sequence: delivery.sequence, g_publish_time: delivery.publishTime,
            g_publisher: UnsafePointer(publisherPointer), g_publisher_pid: hasOrigin ? delivery.origin.pid : 0,
            g_publisher_uid: hasOrigin ? delivery.origin.uid : 0, g_n_patterns: UInt32(event.patterns.count),
            g_reserved: 0,
            g_patterns: event.patterns.isEmpty
                ? nil : UnsafePointer(patterns.assumingMemoryBound(to: oc_ev_pattern_t.self)),
            g_data_size: event.data.count, g_data: event.data.isEmpty ? nil : UnsafeRawPointer(data),
            g_cast: isCast ? UInt32(delivery.route.cast.rawValue) : 0, g_reserved2: 0,
            g_reply_to: delivery.route.replyTo, g_sender: delivery.route.sender)
        builder.store(group, at: 0)
        return builder.finish()
    }
}

/// Lays out one zeroed allocation: a fixed struct part first, then variable bytes.
private struct BlockBuilder {
    let base: UnsafeMutableRawPointer
    let capacity: Int
    var used: Int

    init(fixed: Int, extra: Int) {
        capacity = Swift.max(fixed + extra, 1)
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: capacity)
        used = fixed
    }

    func store<T>(_ value: T, at offset: Int) {
        precondition(offset + MemoryLayout<T>.size <= capacity, "payload field past its block")
        base.storeBytes(of: value, toByteOffset: offset, as: T.self)
    }

    mutating func reserve(_ count: Int, alignment: Int) -> UnsafeMutableRawPointer {
        used = (used + alignment - 1) / alignment * alignment
        precondition(used + count <= capacity, "payload bytes past their block")
        defer { used += count }
        return base + used
    }

    /// Copies `bytes` in; `terminated`: followed by a NUL (the block is zeroed, so the byte
    /// after them only has to be reserved).
    mutating func append(_ bytes: [UInt8], terminated: Bool = false) -> UnsafeMutablePointer<CChar> {
        let start = reserve(bytes.count + (terminated ? 1 : 0), alignment: 1)
        if !bytes.isEmpty {
            bytes.withUnsafeBytes { start.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        }
        return start.assumingMemoryBound(to: CChar.self)
    }

    func finish() -> EventPayload { EventPayload(bytes: base, size: used) }
}
