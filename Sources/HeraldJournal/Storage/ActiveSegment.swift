/// The writer's view of the segment it appends to.
struct ActiveSegment {
    var id: SegmentID
    var file: any JournalFile
    /// Bytes written (header and whole frames).
    var size: Int64
    var created: Nanoseconds
    var frames: Int
}

/// Size and newest time of a sealed segment, for retention.
struct SealedSegmentInfo: Sendable {
    var bytes: Int64
    /// Publish time of the segment's newest record (the next segment's base time).
    var lastTime: Nanoseconds
}

/// What one retention pass removed.
public struct RetentionReport: Hashable, Sendable {
    public var removedSegments: [SegmentID] = []
    public var removedBytes: Int64 = 0
    /// The oldest retained sequence number after the pass.
    public var oldest: SequenceNumber = .first
}
