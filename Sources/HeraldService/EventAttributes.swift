public import HeraldJournal

/// The header of an event (SaEvt event attributes). `allocate` defaults: no patterns,
/// lowest priority (3), no retention, empty publisher name.
public struct EventAttributes: Hashable, Sendable {
    public static let highestPriority: UInt8 = 0
    public static let lowestPriority: UInt8 = 3

    public var patterns: [[UInt8]]
    public var priority: UInt8
    /// How long the event is kept for later subscribers, in ns (0: not retained).
    public var retention: Nanoseconds
    public var publisherName: [UInt8]

    public init(
        patterns: [[UInt8]] = [], priority: UInt8 = EventAttributes.lowestPriority, retention: Nanoseconds = 0,
        publisherName: [UInt8] = []
    ) {
        self.patterns = patterns
        self.priority = priority
        self.retention = retention
        self.publisherName = publisherName
    }
}

/// Limits of the service (`saEvtLimitGet`); configuration, with SAF's usual values.
public struct ServiceLimits: Hashable, Sendable {
    public var channelsMax = 1024
    public var eventDataBytesMax = 65_536
    public var patternBytesMax = 255
    public var patternsMax = 10
    public var retentionMax: Nanoseconds = 100_000 * 1_000_000_000
    public var channelNameBytesMax = 256
    public var publisherNameBytesMax = 256
    /// Subscriptions one channel open may hold at once (each is matched against every
    /// record its open reads): beyond it, `subscribe` is refused with NO_RESOURCES.
    public var subscriptionsPerOpenMax = 256

    public init() {}
}

/// An open channel: what `openChannel` returns and the other calls take.
public struct ChannelHandle: Hashable, Sendable {
    /// The channel instance.
    public var channel: UInt32
    /// The open's own journal sequence number: unique for ever.
    public var opener: UInt64
    public var flags: ChannelOpenFlags
}
