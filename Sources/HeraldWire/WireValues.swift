/// The first frame of a connection, from the client.
public struct WireHello: Hashable, Sendable {
    public static let magic: [UInt8] = Array("HRLD".utf8)
    public var versionMin: UInt16
    public var versionMax: UInt16
    public var pid: UInt32
    public var clientName: String

    public init(
        versionMin: UInt16 = WireProtocol.versionMin, versionMax: UInt16 = WireProtocol.version, pid: UInt32,
        clientName: String
    ) {
        self.versionMin = versionMin
        self.versionMax = versionMax
        self.pid = pid
        self.clientName = clientName
    }
}

/// The server's answer to a hello it accepts.
public struct WireWelcome: Hashable, Sendable {
    public var version: UInt16
    public var serverName: String
    public var nodeName: String
    /// The client's credentials as the server read them from the socket (SO_PEERCRED).
    public var peer: WireOrigin
    public var frameBytesMax: UInt32
    public var dataBytesMax: UInt32
    public var patternsMax: UInt16
    public var patternBytesMax: UInt16
    public var batchMax: UInt32
    public var streamsMax: UInt16
    /// Channels the service may hold (SAF's SA_EVT_MAX_NUM_CHANNELS).
    public var channelsMax: UInt32 = 0
    /// The longest retention time the service keeps an event, ns (longer ones are cut to it).
    public var retentionMax: Int64 = 0

    public init(
        version: UInt16, serverName: String, nodeName: String, peer: WireOrigin, limits: WireLimits
    ) {
        self.version = version
        self.serverName = serverName
        self.nodeName = nodeName
        self.peer = peer
        frameBytesMax = UInt32(limits.frameBytesMax)
        dataBytesMax = UInt32(limits.dataBytesMax)
        patternsMax = UInt16(limits.patternsMax)
        patternBytesMax = UInt16(limits.patternBytesMax)
        batchMax = UInt32(limits.batchMax)
        streamsMax = UInt16(limits.streamsMax)
    }
}

/// Who published an event, as the daemon saw the publisher's socket.
public struct WireOrigin: Hashable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: UInt32

    public init(uid: UInt32, gid: UInt32, pid: UInt32) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
    }
}

/// One event to publish.
public struct WireEvent: Hashable, Sendable {
    public var priority: UInt8
    /// Retention time in nanoseconds (0: not retained).
    public var retention: Int64
    public var publisherName: [UInt8]
    public var patterns: [[UInt8]]
    public var data: [UInt8]

    public init(
        priority: UInt8 = 3, retention: Int64 = 0, publisherName: [UInt8] = [], patterns: [[UInt8]] = [],
        data: [UInt8]
    ) {
        self.priority = priority
        self.retention = retention
        self.publisherName = publisherName
        self.patterns = patterns
        self.data = data
    }
}

/// A subscription filter: `type` is SaEvtEventFilterTypeT (1 prefix, 2 suffix, 3 exact, 4 pass all).
public struct WireFilter: Hashable, Sendable {
    public var type: UInt8
    public var pattern: [UInt8]

    public init(type: UInt8, pattern: [UInt8]) {
        self.type = type
        self.pattern = pattern
    }
}

/// Where a stream starts reading the journal.
public enum WireStart: Hashable, Sendable {
    case oldest
    case sequence(UInt64)
    /// Nanoseconds since 1970.
    case time(Int64)
    case cursor
    case now
}

/// What a stream delivers.
public enum WireTarget: Hashable, Sendable {
    /// The events of a channel open that its subscriptions match.
    case channel(handle: UInt64)
    /// OCF classes, a bit mask: 1 MEMB, 2 COMM, 4 GROUP.
    case classes(UInt8)
}

/// Asks the server to start delivering.
public struct WireAttach: Hashable, Sendable {
    public var target: WireTarget
    public var start: WireStart
    /// A durable subscriber's name (empty: not durable).
    public var durableName: String
    /// Deliveries that may be outstanding (not acknowledged) at once.
    public var window: UInt32
    /// 0: never skip; otherwise a non-durable stream further behind than this skips to the
    /// head and gets one lost event.
    public var lagMax: UInt64

    public init(
        target: WireTarget, start: WireStart = .now, durableName: String = "", window: UInt32 = 64, lagMax: UInt64 = 0
    ) {
        self.target = target
        self.start = start
        self.durableName = durableName
        self.window = window
        self.lagMax = lagMax
    }
}

/// One event delivered on a stream.
public struct WireDelivery: Hashable, Sendable {
    public struct Flags: OptionSet, Hashable, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let redelivered = Flags(rawValue: 1)
        public static let retained = Flags(rawValue: 2)
        public static let hasOrigin = Flags(rawValue: 4)
        /// The delivery carries its route (version 3): `u8` cast, `u64` reply-to, `u64` sender.
        public static let routed = Flags(rawValue: 8)
        static let known: Flags = [.redelivered, .retained, .hasOrigin, .routed]
    }

    public var sequence: UInt64
    public var eventID: UInt64
    public var descriptor: UInt32
    /// The channel the event belongs to (0 for membership and connectivity events).
    public var channelID: UInt32
    public var subscriptionID: UInt32
    public var flags: Flags
    public var publishTime: Int64
    /// Meaningful when `flags` has `.hasOrigin`.
    public var origin: WireOrigin
    /// Meaningful when `flags` has `.routed`.
    public var route: DeliveryRoute
    public var event: WireEvent

    public init(
        sequence: UInt64, eventID: UInt64, descriptor: UInt32, channelID: UInt32 = 0, subscriptionID: UInt32,
        flags: Flags, publishTime: Int64, origin: WireOrigin?, route: DeliveryRoute? = nil, event: WireEvent
    ) {
        self.sequence = sequence
        self.eventID = eventID
        self.descriptor = descriptor
        self.channelID = channelID
        self.subscriptionID = subscriptionID
        self.flags = origin == nil ? flags.subtracting(.hasOrigin) : flags.union(.hasOrigin)
        self.publishTime = publishTime
        self.origin = origin ?? WireOrigin(uid: 0, gid: 0, pid: 0)
        self.route = route ?? DeliveryRoute()
        if route == nil { self.flags.remove(.routed) } else { self.flags.insert(.routed) }
        self.event = event
    }
}

/// What a subscriber learns of an event's route: the kind of cast, what it answers, who
/// sent it (the sender's channel open id: unicast replies there).
public struct DeliveryRoute: Hashable, Sendable {
    public var cast: EventRoute.Cast
    public var replyTo: UInt64
    public var sender: UInt64

    public init(cast: EventRoute.Cast = .broadcast, replyTo: UInt64 = 0, sender: UInt64 = 0) {
        self.cast = cast
        self.replyTo = replyTo
        self.sender = sender
    }

    public init(_ route: EventRoute) {
        self.init(cast: route.cast, replyTo: route.replyTo, sender: route.sender)
    }

    /// Bytes a route takes in a delivery.
    public static let encodedBytes = 1 + 8 + 8
}

public struct WireChannelInfo: Hashable, Sendable {
    public var id: UInt32
    public var name: [UInt8]
    public var linked: Bool
    public var openers: UInt32
    public var retained: UInt32

    public init(id: UInt32, name: [UInt8], linked: Bool, openers: UInt32, retained: UInt32) {
        self.id = id
        self.name = name
        self.linked = linked
        self.openers = openers
        self.retained = retained
    }
}

public struct WireCursor: Hashable, Sendable {
    public var name: String
    public var acknowledged: UInt64
    public var deliveredThrough: UInt64
    /// Nanoseconds since 1970.
    public var updated: Int64

    public init(name: String, acknowledged: UInt64, deliveredThrough: UInt64, updated: Int64) {
        self.name = name
        self.acknowledged = acknowledged
        self.deliveredThrough = deliveredThrough
        self.updated = updated
    }
}

public struct WireStatus: Hashable, Sendable {
    public var headSequence: UInt64
    public var oldestSequence: UInt64
    public var headTime: Int64
    public var headChain: String
    public var segments: UInt32
    public var connections: UInt32

    public init(
        headSequence: UInt64, oldestSequence: UInt64, headTime: Int64, headChain: String, segments: UInt32,
        connections: UInt32
    ) {
        self.headSequence = headSequence
        self.oldestSequence = oldestSequence
        self.headTime = headTime
        self.headChain = headChain
        self.segments = segments
        self.connections = connections
    }
}

public enum WireProtocol {
    /// The newest protocol version this build speaks. Version 4 added why heraldd ended a
    /// stream (`streamEnded`'s message); version 3 added `publishRouted` and the route of a
    /// delivery (flag 8); version 2 added the channel id to deliveries and the
    /// `systemEvent` request; version 1 was never released.
    public static let version: UInt16 = 4
    /// The oldest version a server of this build still accepts.
    public static let versionMin: UInt16 = 2
    public static let serverName = "heraldd"

    /// The version a server speaks with a client's hello: the newest both speak.
    public static func negotiate(_ hello: WireHello) -> UInt16? {
        let version = min(hello.versionMax, Self.version)
        guard version >= max(hello.versionMin, versionMin) else { return nil }
        return version
    }
}
