public import HeraldJournal

/// Puts the service's records into their one order and makes them durable. On one node the
/// journal's own append order is that order (`LocalSequencer`); in a cluster a sequencer
/// over Corosync orders publishes from every node before each node appends them.
public protocol Sequencer: Sendable {
    /// Orders and durably appends `entries` as consecutive records; returns their range.
    func sequence(_ entries: [JournalEntry]) async throws -> SequenceRange
    /// The node this sequencer runs on; 0 on a single node. Channel ids and channel opens
    /// carry it, so that nodes creating channels at once never pick the same id and a
    /// node's opens can be told from another's.
    var node: UInt32 { get }
    /// Called once by the service: `body` runs after records are appended that the service
    /// did not ask for (another node's), so that it applies them promptly.
    func onAppend(_ body: @escaping @Sendable () -> Void)
}

extension Sequencer {
    public var node: UInt32 { 0 }
    public func onAppend(_ body: @escaping @Sendable () -> Void) {}
}

/// The single-node sequencer: the journal's append order.
public struct LocalSequencer: Sequencer {
    public let journal: Journal

    public init(journal: Journal) { self.journal = journal }

    public func sequence(_ entries: [JournalEntry]) async throws -> SequenceRange {
        try await journal.append(entries)
    }
}
