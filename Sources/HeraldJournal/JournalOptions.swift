public import Logging

/// How a journal is opened: durability, segment rolling, retention, limits, and the
/// injected file system and clock.
public struct JournalOptions: Sendable {
    /// When an append is acknowledged relative to fsync.
    public enum Durability: Hashable, Sendable, CustomStringConvertible {
        /// Acknowledged after the batch's bytes are written and fdatasync'ed: nothing
        /// acknowledged is lost by a crash or power loss. Concurrent appends share one fsync.
        case fsync
        /// Acknowledged after write(2); fdatasync at most every `intervalMilliseconds`.
        /// A process crash loses nothing; a power loss or kernel crash can lose the
        /// acknowledged appends of the last interval.
        case batch(intervalMilliseconds: Int)
        /// Acknowledged after write(2); synced only when a segment is sealed or the journal
        /// closes. A power loss can lose everything since the last seal.
        case none

        public var description: String {
            switch self {
            case .fsync: return "fsync"
            case .batch(let interval): return "batch(\(interval)ms)"
            case .none: return "none"
            }
        }
    }

    /// Where the SQLite index lives.
    public enum IndexLocation: Hashable, Sendable {
        /// `<data-dir>/index.sqlite` (the default).
        case dataDirectory
        /// A private in-memory database, rebuilt on every open (tests with a simulated file system).
        case inMemory
    }

    public var durability: Durability = .fsync
    /// A segment is sealed and a new one started once it holds this many bytes.
    public var segmentBytesMax: Int64 = 64 << 20
    /// ... or once it is this old (and holds at least one frame). nil: no age limit.
    public var segmentAgeMax: Nanoseconds? = 3_600 * 1_000_000_000
    /// Retention: sealed segments whose newest record is older than this are removed.
    public var retentionAge: Nanoseconds?
    /// Retention: the oldest sealed segments are removed while the total exceeds this.
    public var retentionBytes: Int64?
    public var limits = JournalLimits()
    /// LZ4 acceleration: 1 is LZ4's default; 4 (the default here) measured 17% faster appends
    /// and replays for 3% less compression on 128-byte JSON-like events (tools/bench).
    public var lz4Acceleration = 4
    /// Decompressed bytes per LZ4 frame; a larger commit group is written as several frames.
    public var frameRawBytesMax: Int = 4 << 20
    /// Start a new frame at every append, even when appends share a commit group (one write,
    /// one fsync). A cluster needs it: every node then cuts the same records into the same
    /// frames, so the frames' hash chain is the same on every node.
    public var framePerAppend = false
    /// Bytes of records taken into one commit group (one write, one fsync).
    public var groupBytesMax: Int = 32 << 20
    /// Decompressed bytes of the newest frames kept in memory for readers that keep up
    /// (0 disables the tail cache).
    public var tailCacheBytes: Int = 64 << 20
    /// Event rows the index may trail the appends by: beyond it, appends wait for the
    /// indexer (bounded memory under sustained load instead of a growing queue).
    public var indexBacklogEventsMax: Int = 500_000
    /// Frames handed to SQLite per index transaction, at most.
    public var indexBatchFramesMax: Int = 256
    /// Open without writing anything: no recovery truncation, no appends, no index repair.
    public var readOnly = false
    /// Truncate a damaged last segment at its first bad frame even when whole frames follow
    /// it (which a torn write does not produce, but media damage does). Off by default: the
    /// open fails and names the damage, so nothing acknowledged is dropped silently.
    public var truncateDamagedTail = false
    public var index: IndexLocation = .dataDirectory
    public var fileSystem: any JournalFileSystem = PosixFileSystem()
    public var clock: any WallClock = SystemWallClock()
    public var logger = Logger(label: "herald.journal")

    public init() {}

    func validate() throws(JournalError) {
        try limits.validate()
        if case .batch(let interval) = durability, interval <= 0 {
            throw .invalidOptions("batch durability needs an interval above 0 ms")
        }
        guard segmentBytesMax >= 4096 else { throw .invalidOptions("segmentBytesMax must be at least 4096") }
        guard frameRawBytesMax >= limits.recordBytesMax || frameRawBytesMax >= 64 << 10 else {
            throw .invalidOptions("frameRawBytesMax must be at least 64 KiB")
        }
        guard frameRawBytesMax <= Int(Int32.max) else { throw .invalidOptions("frameRawBytesMax must fit 31 bits") }
        guard groupBytesMax >= frameRawBytesMax else { throw .invalidOptions("groupBytesMax below frameRawBytesMax") }
        guard (1...64).contains(lz4Acceleration) else { throw .invalidOptions("lz4Acceleration must be 1...64") }
        guard indexBatchFramesMax > 0 else { throw .invalidOptions("indexBatchFramesMax must be positive") }
        guard indexBacklogEventsMax > 0 else { throw .invalidOptions("indexBacklogEventsMax must be positive") }
        if let retentionBytes, retentionBytes <= 0 { throw .invalidOptions("retentionBytes must be positive") }
        if let retentionAge, retentionAge <= 0 { throw .invalidOptions("retentionAge must be positive") }
    }
}
