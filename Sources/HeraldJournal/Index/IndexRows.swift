/// Where one frame is, as the index records it.
public struct FrameLocation: Hashable, Sendable {
    public var segment: SegmentID
    public var offset: Int64
    public var length: Int
    public var firstSequence: SequenceNumber
    public var lastSequence: SequenceNumber
    public var firstTime: Nanoseconds
    public var lastTime: Nanoseconds
    public var rawLength: Int
    public var chain: ChainHash

    init(segment: SegmentID, offset: Int64, descriptor: FrameDescriptor) {
        self.segment = segment
        self.offset = offset
        self.length = descriptor.frameLength
        self.firstSequence = descriptor.firstSequence
        self.lastSequence = descriptor.lastSequence
        self.firstTime = descriptor.firstTime
        self.lastTime = descriptor.lastTime
        self.rawLength = Int(descriptor.rawLength)
        self.chain = descriptor.chain
    }

    init(
        segment: SegmentID, offset: Int64, length: Int, firstSequence: SequenceNumber, lastSequence: SequenceNumber,
        firstTime: Nanoseconds, lastTime: Nanoseconds, rawLength: Int, chain: ChainHash
    ) {
        self.segment = segment
        self.offset = offset
        self.length = length
        self.firstSequence = firstSequence
        self.lastSequence = lastSequence
        self.firstTime = firstTime
        self.lastTime = lastTime
        self.rawLength = rawLength
        self.chain = chain
    }
}

/// The per-event columns the index keeps for auditors.
struct IndexedEvent: Hashable, Sendable {
    var sequence: SequenceNumber
    var time: Nanoseconds
    var channel: UInt32
    var descriptor: UInt32
    var priority: UInt8
    /// The publisher name (the record's publisher field without its origin prefix).
    var publisher: [UInt8]

    init(
        sequence: SequenceNumber, time: Nanoseconds, channel: UInt32, descriptor: UInt32, priority: UInt8,
        publisher: [UInt8]
    ) {
        self.sequence = sequence
        self.time = time
        self.channel = channel
        self.descriptor = descriptor
        self.priority = priority
        self.publisher = publisher
    }

    init(_ view: RecordView) {
        self.init(
            sequence: view.sequence, time: view.time, channel: view.channel, descriptor: view.descriptor,
            priority: view.priority, publisher: RecordCodec.publisherName(flags: view.flags, field: view.publisher))
    }
}

/// A committed frame with its events, on its way into the index.
struct IndexedFrame: Sendable {
    var location: FrameLocation
    var events: [IndexedEvent]
}

/// A segment's row.
struct IndexedSegment: Hashable, Sendable {
    var id: SegmentID
    var created: Nanoseconds
    var baseChain: ChainHash
}
