public import HeraldJournal

/// Puts the service's records into their one order and makes them durable. On one node the
/// journal's own append order is that order (`LocalSequencer`); in a cluster a sequencer
/// over Corosync orders publishes from every node before each node appends them.
public protocol Sequencer: Sendable {
    /// Orders and durably appends `entries` as consecutive records; returns their range.
    func sequence(_ entries: [JournalEntry]) async throws -> SequenceRange
}

/// The single-node sequencer: the journal's append order.
public struct LocalSequencer: Sequencer {
    public let journal: Journal

    public init(journal: Journal) { self.journal = journal }

    public func sequence(_ entries: [JournalEntry]) async throws -> SequenceRange {
        try await journal.append(entries)
    }
}
