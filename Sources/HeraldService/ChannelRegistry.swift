public import HeraldJournal
public import HeraldWire

/// Flags of a channel open (SaEvtChannelOpenFlagsT).
public struct ChannelOpenFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let publisher = ChannelOpenFlags(rawValue: 0x1)
    public static let subscriber = ChannelOpenFlags(rawValue: 0x2)
    public static let create = ChannelOpenFlags(rawValue: 0x4)
    public static let all: ChannelOpenFlags = [.publisher, .subscriber, .create]
}

/// An event kept for later subscribers of its channel instance.
public struct RetainedEvent: Hashable, Sendable {
    public var id: EventID
    public var sequence: SequenceNumber
    public var expires: Nanoseconds
}

/// The channels of the service as a pure state machine: it changes only by applying
/// journal records, so the same journal always rebuilds the same state (after a restart,
/// or on another node). No I/O, no clock: expiry compares with the time it is given.
public struct ChannelRegistry: Sendable {
    public struct Channel: Hashable, Sendable {
        /// The instance id, journaled in every record of the channel.
        public var id: UInt32
        public var name: [UInt8]
        /// False once unlinked: the name is free, the instance lives until its last close.
        public var linked: Bool
        /// Open handles, by opener id.
        public var openers: [UInt64: ChannelOpenFlags]
        /// Retained events in publish order.
        public var retained: [RetainedEvent]
    }

    public internal(set) var channels: [UInt32: Channel] = [:]
    public internal(set) var byName: [[UInt8]: UInt32] = [:]
    public internal(set) var nextChannelID: UInt32 = 1
    /// In a cluster: the node of each open (opens journaled by a single node carry none).
    public internal(set) var openerNodes: [UInt64: UInt32] = [:]
    /// In a cluster: the next channel id per node tag (the id's top 8 bits).
    public internal(set) var nextByTag: [UInt32: UInt32] = [:]
    /// The newest record applied.
    public private(set) var applied: SequenceNumber = .zero
    /// The newest membership event's payload (nil before the first).
    public internal(set) var membership: MembershipEvent?
    /// The newest record carrying a membership (NEW, INVALID, PRIMARY_RESTORED; not the
    /// data-less NOT_PRIMARY or EVICTED notices) applied since the journal was opened or
    /// replayed; nil when it is older than the snapshot replay started from.
    public private(set) var membershipRecord: SequenceNumber?

    public init() {}

    /// A channel id for a create journaled by `node` (0: a single node). In a cluster each
    /// node draws from its own range (top 8 bits = a tag of the node id), so creates from
    /// several nodes at once never pick the same id.
    public func nextChannelID(node: UInt32) -> UInt32 {
        guard node != 0 else { return nextChannelID }
        let tag = node % 255 + 1
        return tag << 24 | (nextByTag[tag] ?? 1)
    }

    /// The live instance under `name`.
    public func channel(named name: [UInt8]) -> Channel? { byName[name].flatMap { channels[$0] } }

    /// Retained events of `channel` still in force at `now`.
    public func retained(in channel: UInt32, at now: Nanoseconds) -> [RetainedEvent] {
        channels[channel]?.retained.filter { $0.expires > now } ?? []
    }

    /// Applies the next journal record. Records must come in journal order, each once.
    /// Records that `sequence` was applied, for a record whose application changes nothing
    /// else (a publish without retention): the same as `apply` for it, without the record.
    public mutating func markApplied(_ sequence: SequenceNumber) {
        precondition(sequence > applied, "record \(sequence) applied after \(applied)")
        applied = sequence
    }

    public mutating func apply(_ record: JournalRecord) {
        precondition(record.sequence > applied, "record \(record.sequence) applied after \(applied)")
        applied = record.sequence
        guard let kind = ServiceRecordKind(flags: record.flags) else { return }
        switch kind {
        case .channelCreate:
            let id = record.channel
            // Two nodes may create the same name at once: the first create in the journal
            // wins, the later one is void (its opener retries against the winner).
            guard channels[id] == nil, byName[record.data] == nil else { return }
            channels[id] = Channel(id: id, name: record.data, linked: true, openers: [:], retained: [])
            byName[record.data] = id
            if id >> 24 == 0 {
                nextChannelID = max(nextChannelID, id &+ 1)
            } else {
                nextByTag[id >> 24] = max(nextByTag[id >> 24] ?? 1, (id & 0xFF_FFFF) &+ 1)
            }
        case .channelUnlink:
            guard var channel = channels[record.channel] else { return }
            channel.linked = false
            if byName[channel.name] == channel.id { byName[channel.name] = nil }
            channels[channel.id] = channel.openers.isEmpty ? nil : channel
        case .channelOpen:
            // The opener id is the open record's own sequence number; `data` is the flags.
            guard let flags = record.data.first, channels[record.channel] != nil else { return }
            channels[record.channel]?.openers[record.sequence.rawValue] = ChannelOpenFlags(rawValue: flags)
            if record.data.count >= 5 {
                openerNodes[record.sequence.rawValue] = record.data[1...].withUnsafeBytes {
                    UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self))
                }
            }
        case .channelClose:
            guard let opener = record.data.leadingUInt64, var channel = channels[record.channel] else { return }
            channel.openers[opener] = nil
            openerNodes[opener] = nil
            // An unlinked instance is deleted at its last close, with its retained events.
            channels[channel.id] = !channel.linked && channel.openers.isEmpty ? nil : channel
        case .publish:
            guard record.retention > 0 else { return }
            let (expires, overflow) = record.time.addingReportingOverflow(record.retention)
            channels[record.channel]?.retained.append(
                RetainedEvent(
                    id: EventID(sequence: record.sequence), sequence: record.sequence,
                    expires: overflow ? .max : expires))
        case .retentionClear:
            guard let id = record.data.leadingUInt64 else { return }
            channels[record.channel]?.retained.removeAll { $0.id.rawValue == id }
        case .snapshot:
            // Authoritative at its position: what came before it is already in it.
            _ = adopt(snapshot: record.data)
        case .system:
            guard EventDescriptor(rawValue: record.descriptor).eventClass == .membership,
                let event = MembershipEvent(decoding: record.data)
            else { return }
            membershipRecord = record.sequence
            membership = event
            closeOpens(ofNodesOutside: Set(event.members.map(\.id)))
        }
    }

    /// In a cluster, the opens of nodes that left the membership are closed when the
    /// membership is applied (their processes are gone with their node).
    private mutating func closeOpens(ofNodesOutside members: Set<UInt32>) {
        let gone = openerNodes.filter { !members.contains($0.value) }.map(\.key)
        guard !gone.isEmpty else { return }
        for opener in gone {
            openerNodes[opener] = nil
            for (id, var channel) in channels where channel.openers[opener] != nil {
                channel.openers[opener] = nil
                channels[id] = !channel.linked && channel.openers.isEmpty ? nil : channel
            }
        }
    }

    /// Drops retained events expired at `now` (expired ones are already invisible; this
    /// only frees their memory).
    public mutating func pruneExpired(at now: Nanoseconds) {
        for id in channels.keys { channels[id]!.retained.removeAll { $0.expires <= now } }
    }
}
