public import HeraldWire

/// Who may publish to and subscribe on which channels. Rules are checked in order; the
/// first whose channel pattern matches decides. A channel no rule matches is open to every
/// local user (the socket's own mode and group are the outer fence).
public struct AccessPolicy: Hashable, Sendable, Codable {
    public struct Rule: Hashable, Sendable, Codable {
        /// A channel name, or a prefix ending in `*` (`audit.*`); `*` alone matches all.
        public var channel: String
        /// Principals allowed to open with the publisher flag (and to unlink).
        public var publish: [Principal]
        /// Principals allowed to open with the subscriber flag.
        public var subscribe: [Principal]

        public init(channel: String, publish: [Principal], subscribe: [Principal]) {
            self.channel = channel
            self.publish = publish
            self.subscribe = subscribe
        }

        func matches(_ name: [UInt8]) -> Bool {
            let pattern = Array(channel.utf8)
            if pattern.last == UInt8(ascii: "*") { return name.starts(with: pattern.dropLast()) }
            return name == pattern
        }
    }

    /// `uid:N`, `gid:N` (primary group of the peer) or `*` (anyone).
    public struct Principal: Hashable, Sendable, Codable, CustomStringConvertible {
        public enum Kind: Hashable, Sendable { case uid(UInt32), gid(UInt32), anyone }
        public var kind: Kind

        public init(_ kind: Kind) { self.kind = kind }

        public init?(parsing text: String) {
            if text == "*" {
                kind = .anyone
            } else if text.hasPrefix("uid:"), let value = UInt32(text.dropFirst(4)) {
                kind = .uid(value)
            } else if text.hasPrefix("gid:"), let value = UInt32(text.dropFirst(4)) {
                kind = .gid(value)
            } else {
                return nil
            }
        }

        public init(from decoder: any Decoder) throws {
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let parsed = Principal(parsing: text) else {
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: decoder.codingPath,
                        debugDescription: "principal \(text): expected uid:N, gid:N or *"))
            }
            self = parsed
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(description)
        }

        public var description: String {
            switch kind {
            case .uid(let uid): return "uid:\(uid)"
            case .gid(let gid): return "gid:\(gid)"
            case .anyone: return "*"
            }
        }

        func admits(_ peer: WireOrigin) -> Bool {
            switch kind {
            case .anyone: return true
            case .uid(let uid): return peer.uid == uid
            case .gid(let gid): return peer.gid == gid
            }
        }
    }

    public enum Operation: Sendable { case publish, subscribe }

    public var rules: [Rule]

    public init(rules: [Rule] = []) { self.rules = rules }

    /// Whether `peer` may perform `operation` on the channel `name`. Rules bind root too
    /// (list `uid:0` where it should be allowed).
    public func allows(_ peer: WireOrigin, _ operation: Operation, channel name: [UInt8]) -> Bool {
        guard let rule = rules.first(where: { $0.matches(name) }) else { return true }
        let principals = operation == .publish ? rule.publish : rule.subscribe
        return principals.contains { $0.admits(peer) }
    }
}
