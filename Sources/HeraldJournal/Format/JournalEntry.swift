/// What a caller appends: one event's header fields and data. The journal assigns the
/// sequence number, and the publish time when `time` is nil.
public struct JournalEntry: Hashable, Sendable {
    /// Publish time; nil means "now" by the journal's clock. Times in a journal never go
    /// backwards: a time earlier than the previous record's is raised to it.
    public var time: Nanoseconds?
    /// OCF event descriptor: class in the upper 10 bits, event in the lower 22.
    public var descriptor: UInt32
    public var channel: UInt32
    public var priority: UInt8
    /// Opaque to the journal; defined by the service layer.
    public var flags: UInt8
    /// SAF retention time in nanoseconds (0: not retained).
    public var retention: Nanoseconds
    public var publisher: [UInt8]
    public var patterns: [[UInt8]]
    public var data: [UInt8]

    public init(
        time: Nanoseconds? = nil, descriptor: UInt32 = 0, channel: UInt32 = 0, priority: UInt8 = 3,
        flags: UInt8 = 0, retention: Nanoseconds = 0, publisher: [UInt8] = [], patterns: [[UInt8]] = [],
        data: [UInt8]
    ) {
        self.time = time
        self.descriptor = descriptor
        self.channel = channel
        self.priority = priority
        self.flags = flags
        self.retention = retention
        self.publisher = publisher
        self.patterns = patterns
        self.data = data
    }
}

/// A record read back from the journal, with every field owned.
public struct JournalRecord: Hashable, Sendable {
    public var sequence: SequenceNumber
    public var time: Nanoseconds
    public var descriptor: UInt32
    public var channel: UInt32
    public var priority: UInt8
    public var flags: UInt8
    public var retention: Nanoseconds
    public var publisher: [UInt8]
    public var patterns: [[UInt8]]
    public var data: [UInt8]

    public init(
        sequence: SequenceNumber, time: Nanoseconds, descriptor: UInt32, channel: UInt32, priority: UInt8,
        flags: UInt8, retention: Nanoseconds, publisher: [UInt8], patterns: [[UInt8]], data: [UInt8]
    ) {
        self.sequence = sequence
        self.time = time
        self.descriptor = descriptor
        self.channel = channel
        self.priority = priority
        self.flags = flags
        self.retention = retention
        self.publisher = publisher
        self.patterns = patterns
        self.data = data
    }

    /// The publisher name: the publisher field without the origin prefix that
    /// `RecordCodec.originFlag` announces.
    public var publisherName: [UInt8] {
        publisher.withUnsafeBytes { RecordCodec.publisherName(flags: flags, field: $0) }
    }

    /// The entry that, appended at the same time, reproduces this record.
    public var entry: JournalEntry {
        JournalEntry(
            time: time, descriptor: descriptor, channel: channel, priority: priority, flags: flags,
            retention: retention, publisher: publisher, patterns: patterns, data: data)
    }
}

/// Size limits of one record, checked before anything is allocated or written.
public struct JournalLimits: Hashable, Sendable {
    public var publisherBytesMax: Int = 1024
    public var patternCountMax: Int = 255
    public var patternBytesMax: Int = 4096
    public var dataBytesMax: Int = 1 << 20

    public init() {}

    /// Hard ceilings of the on-disk format (field widths).
    public static let formatPublisherBytesMax = Int(UInt16.max)
    public static let formatPatternCountMax = Int(UInt16.max)
    public static let formatPatternBytesMax = Int(UInt16.max)
    public static let formatDataBytesMax = 64 << 20

    /// Largest encoded record these limits allow.
    public var recordBytesMax: Int {
        RecordCodec.fixedHeaderBytes + publisherBytesMax + patternCountMax * (2 + patternBytesMax) + dataBytesMax
    }

    func validate() throws(JournalError) {
        guard publisherBytesMax >= 0, publisherBytesMax <= Self.formatPublisherBytesMax,
            patternCountMax >= 0, patternCountMax <= Self.formatPatternCountMax,
            patternBytesMax >= 0, patternBytesMax <= Self.formatPatternBytesMax,
            dataBytesMax >= 0, dataBytesMax <= Self.formatDataBytesMax
        else {
            throw .invalidOptions("record limits exceed the format's field widths")
        }
    }
}
