public import HeraldJournal

/// The event service of both APIs, embedded: channels, events, retention, on top of a
/// journal. Every operation is a journal record and the in-memory state (`registry`) is
/// rebuilt from the journal, so a restart — or another node replaying the same journal —
/// arrives at the same state.
///
/// On one node, operations are serialized by this actor and a FIFO gate that keeps each
/// operation's validate → append → apply atomic across the journal's suspension.
public actor EventService {
    public nonisolated let journal: Journal
    public nonisolated let limits: ServiceLimits
    private let clock: any WallClock
    public private(set) var registry = ChannelRegistry()
    private var tail: JournalReader
    private var gateHeld = false
    private var gateWaiters: [CheckedContinuation<Void, Never>] = []

    /// Opens the service over `journal`: replays it to rebuild the channels, then closes
    /// every channel open left by the previous run (its clients are gone), journaling the
    /// closes so that replay and live state agree.
    public static func open(
        journal: Journal, limits: ServiceLimits = ServiceLimits(), clock: any WallClock = SystemWallClock()
    ) async throws -> EventService {
        let service = try EventService(journal: journal, limits: limits, clock: clock)
        try await service.start()
        return service
    }

    private init(journal: Journal, limits: ServiceLimits, clock: any WallClock) throws {
        self.journal = journal
        self.limits = limits
        self.clock = clock
        self.tail = try journal.reader(from: .oldest)
    }

    private func start() async throws {
        try applyAvailable()
        var stale: [JournalEntry] = []
        for channel in registry.channels.values.sorted(by: { $0.id < $1.id }) {
            for opener in channel.openers.keys.sorted() {
                stale.append(record(.channelClose, channel: channel.id, data: [UInt8](littleEndian: opener)))
            }
        }
        if !stale.isEmpty { try await appendAndApply(stale) }
    }

    // MARK: Channels

    /// Opens `name`, creating it with `.create` (SaEvtChannelOpen).
    public func openChannel(_ name: [UInt8], flags: ChannelOpenFlags) async throws(ServiceError) -> ChannelHandle {
        guard flags.isSubset(of: .all), !flags.isEmpty else { throw .badFlags }
        guard !name.isEmpty else { throw .invalidParameter }
        guard name.count <= limits.channelNameBytesMax else { throw .nameTooLong }
        return try await serialized { () throws(ServiceError) -> ChannelHandle in
            let flagByte = [flags.subtracting(.create).rawValue]
            if let channel = registry.channel(named: name) {
                let range = try await appendAndApply([record(.channelOpen, channel: channel.id, data: flagByte)])
                return ChannelHandle(channel: channel.id, opener: range.last.rawValue, flags: flags)
            }
            guard flags.contains(.create) else { throw .notExist }
            guard registry.channels.count < limits.channelsMax else { throw .noResources }
            let id = registry.nextChannelID
            let range = try await appendAndApply([
                record(.channelCreate, channel: id, data: name), record(.channelOpen, channel: id, data: flagByte),
            ])
            return ChannelHandle(channel: id, opener: range.last.rawValue, flags: flags)
        }
    }

    /// Closes an open handle (SaEvtChannelClose). An unlinked instance is deleted at its
    /// last close.
    public func closeChannel(_ handle: ChannelHandle) async throws(ServiceError) {
        try await serialized { () throws(ServiceError) in
            guard registry.channels[handle.channel]?.openers[handle.opener] != nil else { throw .badHandle }
            try await appendAndApply([
                record(.channelClose, channel: handle.channel, data: [UInt8](littleEndian: handle.opener))
            ])
        }
    }

    /// Removes the name (SaEvtChannelUnlink); existing openers keep the old instance.
    public func unlinkChannel(_ name: [UInt8]) async throws(ServiceError) {
        guard name.count <= limits.channelNameBytesMax else { throw .nameTooLong }
        try await serialized { () throws(ServiceError) in
            guard let channel = registry.channel(named: name) else { throw .notExist }
            try await appendAndApply([record(.channelUnlink, channel: channel.id, data: name)])
        }
    }

    // MARK: Events

    /// Publishes an event (SaEvtEventPublish): needs the publisher flag; returns its id.
    public func publish(_ handle: ChannelHandle, _ attributes: EventAttributes, data: [UInt8])
        async throws(ServiceError)
        -> EventID
    {
        guard handle.flags.contains(.publisher) else { throw .access }
        guard data.count <= limits.eventDataBytesMax else { throw .tooBig }
        guard attributes.patterns.count <= limits.patternsMax,
            attributes.patterns.allSatisfy({ $0.count <= limits.patternBytesMax })
        else { throw .tooBig }
        guard attributes.publisherName.count <= limits.publisherNameBytesMax else { throw .nameTooLong }
        guard attributes.priority <= EventAttributes.lowestPriority else { throw .invalidParameter }
        guard attributes.retention >= 0 else { throw .invalidParameter }
        let retention = min(attributes.retention, limits.retentionMax)
        return try await serialized { () throws(ServiceError) -> EventID in
            guard registry.channels[handle.channel]?.openers[handle.opener] != nil else { throw .badHandle }
            let entry = JournalEntry(
                time: clock.now(), descriptor: EventDescriptor.cast.rawValue, channel: handle.channel,
                priority: attributes.priority, flags: ServiceRecordKind.publish.rawValue, retention: retention,
                publisher: attributes.publisherName, patterns: attributes.patterns, data: data)
            let range = try await appendAndApply([entry])
            return EventID(sequence: range.last)
        }
    }

    /// Ends a retained event's retention (SaEvtEventRetentionTimeClear).
    public func clearRetention(_ handle: ChannelHandle, _ id: EventID) async throws(ServiceError) {
        guard !id.isReserved else { throw .invalidParameter }
        try await serialized { () throws(ServiceError) in
            guard let channel = registry.channels[handle.channel], channel.openers[handle.opener] != nil else {
                throw .badHandle
            }
            let now = clock.now()
            guard channel.retained.contains(where: { $0.id == id && $0.expires > now }) else { throw .notExist }
            try await appendAndApply([
                record(.retentionClear, channel: handle.channel, data: [UInt8](littleEndian: id.rawValue))
            ])
        }
    }

    /// Retained, unexpired events of a channel instance, oldest first.
    public func retainedEvents(in channel: UInt32) -> [RetainedEvent] {
        registry.retained(in: channel, at: clock.now())
    }

    // MARK: Journal

    private func record(_ kind: ServiceRecordKind, channel: UInt32, data: [UInt8]) -> JournalEntry {
        JournalEntry(
            time: clock.now(), descriptor: kind.groupDescriptor.rawValue, channel: channel, priority: 0,
            flags: kind.rawValue, data: data)
    }

    /// Appends, then applies every record up to the appended ones, in journal order.
    @discardableResult
    private func appendAndApply(_ entries: [JournalEntry]) async throws(ServiceError) -> SequenceRange {
        let range: SequenceRange
        do {
            range = try await journal.append(entries)
        } catch let error as JournalError {
            throw ServiceError(error)
        } catch {
            throw .library
        }
        do {
            try applyAvailable()
        } catch {
            throw .library
        }
        precondition(registry.applied >= range.last, "applied \(registry.applied) < appended \(range.last)")
        return range
    }

    private func applyAvailable() throws {
        while let record = try tail.next() { registry.apply(record) }
    }

    // MARK: The gate

    private func serialized<T: Sendable>(_ body: () async throws(ServiceError) -> T) async throws(ServiceError) -> T {
        if gateHeld {
            await withCheckedContinuation { gateWaiters.append($0) }
        } else {
            gateHeld = true
        }
        defer {
            if gateWaiters.isEmpty {
                gateHeld = false
            } else {
                gateWaiters.removeFirst().resume()  // passes the gate on, still held
            }
        }
        return try await body()
    }
}

extension ServiceRecordKind {
    /// The OCF GROUP event a channel record also is.
    var groupDescriptor: EventDescriptor {
        switch self {
        case .channelOpen: return .join
        case .channelClose: return .leave
        case .publish: return .cast
        default: return .groupInvalid
        }
    }
}

extension ServiceError {
    /// How a journal failure reaches a client.
    init(_ error: JournalError) {
        switch error {
        case .recordTooLarge: self = .tooBig
        case .emptyAppend, .invalidOptions: self = .invalidParameter
        case .io(_, _, let errno) where errno == 28: self = .noSpace
        case .writerFailed, .io, .corrupt, .index: self = .failedOperation
        case .closed, .readOnly: self = .unavailable
        case .notFound, .notRetained: self = .notExist
        case .formatTooNew, .indexTooNew: self = .version
        }
    }
}
