import Foundation
public import HeraldJournal
public import HeraldWire

/// A journal record as auditors see it (`herald query --format jsonl`, the console's API):
/// its kind, its fields decoded, its route, the publisher's name and origin.
public enum AuditRow {
    /// Text if the bytes are printable UTF-8, else `hex:…`.
    public static func display(_ bytes: [UInt8]) -> String {
        if let text = String(validating: bytes, as: UTF8.self),
            !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        {
            return text
        }
        return "hex:" + bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// RFC 3339 with fractional seconds.
    public static func time(_ nanoseconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(nanoseconds) / 1e9))
    }

    /// The row of `record`: sequence, time, channel, class and event, kind, priority,
    /// publisher, patterns, data; origin, route, decoded fields and membership when there are.
    public static func object(_ record: JournalRecord) -> [String: Any] {
        let split = PublisherOrigin.split(flags: record.flags, publisher: record.publisher)
        return object(
            record, name: split.name, origin: split.origin,
            route: PublisherOrigin.route(flags: record.flags, publisher: record.publisher))
    }

    public static func object(
        _ record: JournalRecord, name: [UInt8], origin: PublisherOrigin?, route: EventRoute?
    ) -> [String: Any] {
        var object: [String: Any] = [
            "seq": record.sequence.rawValue, "time": time(record.time), "time_ns": record.time,
            "channel": record.channel, "class": record.descriptor >> 22, "event": record.descriptor & 0x3F_FFFF,
            "priority": record.priority, "publisher": String(decoding: name, as: UTF8.self),
            "patterns": record.patterns.map(display), "data": display(record.data),
            "kind": RecordKind.name(of: record),
        ]
        if let origin { object["origin"] = ["uid": origin.uid, "gid": origin.gid, "pid": origin.pid] }
        if let route { object["route"] = routeObject(route) }
        if let fields = RecordKind.fields(of: record) { object["fields"] = fields }
        // A membership (MEMB) record's payload, decoded for auditors: who was in, who left.
        if record.descriptor >> 22 == 2, let membership = MembershipEvent(decoding: record.data) {
            object["membership"] = [
                "instance": membership.instance, "members": membership.members.map(\.name),
                "left": membership.left.map(\.name), "joined": membership.joined.map(\.name),
            ]
        }
        return object
    }

    /// Where a routed event went: `all`, `node:1,3`, `name:D`, `session:S`, `reply:ID`
    /// (empty for records without a route).
    public static func addressText(_ route: EventRoute?) -> String {
        guard let route else { return "" }
        switch route.target {
        case .everyone: return "all"
        case .nodes(let nodes): return "node:" + nodes.map(String.init).joined(separator: ",")
        case .name(let name): return "name:" + String(decoding: name, as: UTF8.self)
        case .session(let session): return "session:\(session)"
        case .requester: return "reply:\(route.replyTo)"
        }
    }

    /// The route as JSON: the address, the sender's session (and durable name), what it answers.
    public static func routeObject(_ route: EventRoute) -> [String: Any] {
        var object: [String: Any] = ["to": addressText(route), "sender": route.sender]
        if !route.senderName.isEmpty { object["sender_name"] = String(decoding: route.senderName, as: UTF8.self) }
        if route.replyTo != 0 { object["reply_to"] = route.replyTo }
        switch route.target {
        case .nodes(let nodes): object["nodes"] = nodes
        case .requester(let session, let name):
            object["requester_session"] = session
            if !name.isEmpty { object["requester_name"] = String(decoding: name, as: UTF8.self) }
        default: break
        }
        return object
    }

}

/// What a journal record is, for auditors: every row of `herald query` has a kind, and the
/// records that are not published events have their fields decoded.
public enum RecordKind {
    public static let names = [
        "publish", "reply", "channel.create", "channel.unlink", "join", "open", "leave", "close", "retention.clear",
        "membership", "connectivity", "snapshot",
    ]

    public static func name(of record: JournalRecord) -> String {
        let descriptor = EventDescriptor(rawValue: record.descriptor)
        switch ServiceRecordKind(rawValue: record.flags & 0x0F) {
        case .publish: return descriptor == .reply ? "reply" : "publish"
        case .channelCreate: return "channel.create"
        case .channelUnlink: return "channel.unlink"
        case .channelOpen: return descriptor == .join ? "join" : "open"
        case .channelClose: return descriptor == .leave ? "leave" : "close"
        case .retentionClear: return "retention.clear"
        case .system: return descriptor.eventClass == .membership ? "membership" : "connectivity"
        case .snapshot: return "snapshot"
        case nil: return "unknown"
        }
    }

    /// The decoded fields of a record that is not a published event (nil for one that is).
    public static func fields(of record: JournalRecord) -> [String: Any]? {
        func u64(_ bytes: [UInt8]) -> UInt64? {
            bytes.count >= 8
                ? bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) } : nil
        }
        switch ServiceRecordKind(rawValue: record.flags & 0x0F) {
        case .channelCreate, .channelUnlink:
            return ["name": String(decoding: record.data, as: UTF8.self)]
        case .channelOpen:
            let flags = record.data.first ?? 0
            var names: [String] = []
            if flags & 1 != 0 { names.append("publisher") }
            if flags & 2 != 0 { names.append("subscriber") }
            var fields: [String: Any] = ["opener": record.sequence.rawValue, "flags": names]
            if let node = u64(Array(record.data.dropFirst())) { fields["node"] = node }
            return fields
        case .channelClose:
            return u64(record.data).map { ["opener": $0] } ?? [:]
        case .retentionClear:
            return u64(record.data).map { ["event_id": $0] } ?? [:]
        case .system:
            if let event = ConnectivityEvent(decoding: record.data) {
                return [
                    "change": "\(event.change)", "up": event.change.isUp, "node": event.node.name,
                    "node_id": event.node.id, "interface": event.interface,
                ]
            }
            return [:]
        case .snapshot: return ["bytes": record.data.count]
        case .publish, nil: return nil
        }
    }
}
