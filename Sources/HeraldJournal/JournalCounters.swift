import Synchronization

/// Running totals of a journal's writes since it was opened, for metrics. Updated by the
/// writer and syncer threads, read from anywhere.
public final class JournalCounters: Sendable {
    private let records = Atomic<UInt64>(0)
    private let bytes = Atomic<UInt64>(0)
    private let syncCount = Atomic<UInt64>(0)

    public init() {}

    /// Records written (not necessarily synced yet).
    public var appendedRecords: UInt64 { records.load(ordering: .relaxed) }
    /// Bytes written to segment files (compressed frames and descriptors).
    public var appendedBytes: UInt64 { bytes.load(ordering: .relaxed) }
    /// fdatasync calls on segment files.
    public var syncs: UInt64 { syncCount.load(ordering: .relaxed) }

    func wrote(records count: Int, bytes written: Int) {
        records.add(UInt64(count), ordering: .relaxed)
        bytes.add(UInt64(written), ordering: .relaxed)
    }

    func synced() { syncCount.add(1, ordering: .relaxed) }
}
