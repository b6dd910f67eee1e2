import Foundation
import HeraldJournal
import Synchronization
import Testing

@testable import HeraldService

@Suite struct EventServiceTests {
    let name = Array("cluster/events".utf8)

    func makeJournal(_ fs: SimulatedFileSystem, clock: ManualWallClock) throws -> Journal {
        let options = simulatedOptions(fs, clock: clock)
        return try Journal.open(at: "/j", options: options)
    }

    func expectError<T>(_ expected: ServiceError, _ body: () async throws(ServiceError) -> T) async {
        do {
            _ = try await body()
            Issue.record("expected \(expected), got success")
        } catch {
            #expect(error == expected)
        }
    }

    /// Copy guard of the publish path: a publish without retention is applied without
    /// copying the record out of the journal; one with retention (the registry keeps it) is.
    @Test func plainPublishesAreAppliedWithoutCopyingTheirRecords() async throws {
        let clock = ManualWallClock()
        let service = try await EventService.open(
            journal: try makeJournal(SimulatedFileSystem(), clock: clock), clock: clock)
        let handle = try await service.openChannel(name, flags: [.create, .publisher])
        let before = await service.recordsCopiedToApply
        for _ in 0..<10 {
            _ = try await service.publish(
                handle, (0..<100).map { _ in (EventAttributes(), [UInt8](repeating: 7, count: 64)) })
        }
        #expect(await service.recordsCopiedToApply == before, "plain publishes were copied to be applied")
        let retained = try await service.publish(handle, EventAttributes(retention: 1_000_000_000), data: [1])
        #expect(await service.recordsCopiedToApply == before + 1)
        #expect(await service.retainedEvents(in: handle.channel).map(\.id) == [retained])
        await service.shutdown()
    }

    @Test func openRules() async throws {
        let clock = ManualWallClock()
        let service = try await EventService.open(
            journal: try makeJournal(SimulatedFileSystem(), clock: clock), clock: clock)
        await expectError(.notExist) { () throws(ServiceError) in
            try await service.openChannel(name, flags: [.subscriber])
        }
        await expectError(.badFlags) { () throws(ServiceError) in
            try await service.openChannel(name, flags: ChannelOpenFlags(rawValue: 0x8))
        }
        await expectError(.nameTooLong) { () throws(ServiceError) in
            try await service.openChannel([UInt8](repeating: 65, count: 257), flags: .all)
        }
        let created = try await service.openChannel(name, flags: [.create, .publisher])
        let second = try await service.openChannel(name, flags: [.subscriber])
        #expect(created.channel == second.channel)
        #expect(created.opener != second.opener)
        await expectError(.notExist) { () throws(ServiceError) in try await service.unlinkChannel(Array("nope".utf8)) }
    }

    @Test func concurrentCreatesMakeOneInstance() async throws {
        let clock = ManualWallClock()
        let service = try await EventService.open(
            journal: try makeJournal(SimulatedFileSystem(), clock: clock), clock: clock)
        let name = self.name
        let handles = try await withThrowingTaskGroup(of: ChannelHandle.self) { group in
            for _ in 0..<20 { group.addTask { try await service.openChannel(name, flags: .all) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(handles.map(\.channel)).count == 1)
        #expect(Set(handles.map(\.opener)).count == 20)
        #expect(await service.registry.channels.count == 1)
    }

    @Test func channelPersistsAfterLastCloseAndUnlinkMakesANewInstance() async throws {
        let clock = ManualWallClock()
        let service = try await EventService.open(
            journal: try makeJournal(SimulatedFileSystem(), clock: clock), clock: clock)
        let first = try await service.openChannel(name, flags: .all)
        try await service.closeChannel(first)
        await expectError(.badHandle) { () throws(ServiceError) in try await service.closeChannel(first) }
        // Persists after its last close: opening without CREATE works.
        let again = try await service.openChannel(name, flags: [.publisher, .subscriber])
        #expect(again.channel == first.channel)
        let retained = try await service.publish(again, EventAttributes(retention: 60_000_000_000), data: [1])
        #expect(await service.retainedEvents(in: again.channel).map(\.id) == [retained])

        try await service.unlinkChannel(name)
        await expectError(.notExist) { () throws(ServiceError) in
            try await service.openChannel(name, flags: [.subscriber])
        }
        // The old instance still works for its opener.
        _ = try await service.publish(again, EventAttributes(), data: [2])
        let fresh = try await service.openChannel(name, flags: .all)
        #expect(fresh.channel != again.channel)
        #expect(await service.retainedEvents(in: fresh.channel).isEmpty)
        try await service.closeChannel(again)
        #expect(await service.registry.channels[again.channel] == nil, "deleted at its last close")
    }

    @Test func publishRules() async throws {
        let clock = ManualWallClock()
        let service = try await EventService.open(
            journal: try makeJournal(SimulatedFileSystem(), clock: clock), clock: clock)
        let subscriber = try await service.openChannel(name, flags: [.create, .subscriber])
        await expectError(.access) { () throws(ServiceError) in
            try await service.publish(subscriber, EventAttributes(), data: [1])
        }
        let publisher = try await service.openChannel(name, flags: [.publisher])
        await expectError(.tooBig) { () throws(ServiceError) in
            try await service.publish(publisher, EventAttributes(), data: [UInt8](repeating: 0, count: 65_537))
        }
        await expectError(.tooBig) { () throws(ServiceError) in
            try await service.publish(
                publisher, EventAttributes(patterns: Array(repeating: [1], count: 11)), data: [])
        }
        let a = try await service.publish(publisher, EventAttributes(), data: [1])
        let b = try await service.publish(publisher, EventAttributes(priority: 0), data: [2])
        #expect(a.rawValue > 1000)
        #expect(b > a)
        let record = try service.journal.record(a.sequence!)
        #expect(record?.data == [1])
        #expect(record?.priority == 3)
        #expect(record?.descriptor == EventDescriptor.cast.rawValue)
    }

    @Test func retentionExpiresAndClears() async throws {
        let clock = ManualWallClock(1_000_000_000)
        let service = try await EventService.open(
            journal: try makeJournal(SimulatedFileSystem(), clock: clock), clock: clock)
        let handle = try await service.openChannel(name, flags: .all)
        let short = try await service.publish(handle, EventAttributes(retention: 5_000), data: [1])
        let long = try await service.publish(handle, EventAttributes(retention: 50_000), data: [2])
        _ = try await service.publish(handle, EventAttributes(), data: [3])
        #expect(await service.retainedEvents(in: handle.channel).map(\.id) == [short, long])
        clock.advance(by: 6_000)
        #expect(await service.retainedEvents(in: handle.channel).map(\.id) == [long])
        await expectError(.notExist) { () throws(ServiceError) in try await service.clearRetention(handle, short) }
        await expectError(.invalidParameter) { () throws(ServiceError) in
            try await service.clearRetention(handle, EventID(rawValue: 1000))
        }
        try await service.clearRetention(handle, long)
        #expect(await service.retainedEvents(in: handle.channel).isEmpty)
        await expectError(.notExist) { () throws(ServiceError) in try await service.clearRetention(handle, long) }
    }

    @Test func restartRebuildsStateAndClosesStaleOpens() async throws {
        let fs = SimulatedFileSystem()
        let clock = ManualWallClock()
        var journal = try makeJournal(fs, clock: clock)
        var service = try await EventService.open(journal: journal, clock: clock)
        let kept = try await service.openChannel(name, flags: .all)
        let retained = try await service.publish(kept, EventAttributes(retention: 1_000_000_000_000), data: [1])
        let doomed = try await service.openChannel(Array("doomed".utf8), flags: .all)
        try await service.unlinkChannel(Array("doomed".utf8))
        let before = await service.registry
        journal.close()

        journal = try makeJournal(fs, clock: clock)
        service = try await EventService.open(journal: journal, clock: clock)
        let after = await service.registry
        #expect(after.channel(named: name)?.id == kept.channel)
        #expect(after.channel(named: name)?.openers.isEmpty == true, "opens of the previous run are closed")
        #expect(after.channels[doomed.channel] == nil, "an unlinked instance dies with its last opener")
        #expect(before.channels[doomed.channel] != nil)
        #expect(await service.retainedEvents(in: kept.channel).map(\.id) == [retained])
        await expectError(.badHandle) { () throws(ServiceError) in try await service.closeChannel(kept) }

        // Replaying the whole journal again gives the same state as the live service.
        var replayed = ChannelRegistry()
        let reader = try journal.reader(from: .oldest)
        while let record = try reader.next() { replayed.apply(record) }
        #expect(replayed.channels == after.channels)
        #expect(replayed.byName == after.byName)
    }

    /// A channel with a retained event, 300 filler events published by `fill` over 4 KiB
    /// segments, retention down to 12 000 bytes (the segments that created the channel and
    /// hold the retained event go), a reopen: the channel, its id counter and the retained
    /// event are all still there, from the state snapshots.
    private func channelsSurviveRetention(
        fill: (EventService, ChannelHandle) async throws -> Void
    ) async throws {
        let clock = ManualWallClock()
        var options = simulatedOptions(SimulatedFileSystem(), clock: clock)
        options.segmentBytesMax = 4096
        options.retentionBytes = 12_000
        var service = try await EventService.open(journal: try Journal.open(at: "/j", options: options), clock: clock)
        let handle = try await service.openChannel(name, flags: .all)
        let retained = try await service.publish(
            handle, EventAttributes(retention: 1_000_000_000_000), data: Array("keep me".utf8))
        try await fill(service, handle)
        try service.journal.applyRetention()
        #expect(service.journal.oldestSequence > retained.sequence!, "the create and the retained event are gone")
        let before = await service.registry
        await service.shutdown()

        service = try await EventService.open(journal: try Journal.open(at: "/j", options: options), clock: clock)
        let after = await service.registry
        #expect(after.channel(named: name)?.id == handle.channel)
        #expect(after.nextChannelID == before.nextChannelID)
        #expect(await service.retainedEvents(in: handle.channel).map(\.id) == [retained])
        await service.shutdown()
    }

    @Test func channelsSurviveRetentionOfTheSegmentsThatCreatedThem() async throws {
        try await channelsSurviveRetention { service, handle in
            for i in 0..<300 {
                _ = try await service.publish(handle, EventAttributes(), data: Array("filler \(i)".utf8))
            }
        }
    }

    /// The same with the filler published on the direct path (no actor): the segment rolls it
    /// makes still get their state snapshots, so retention removing the segments that created
    /// the channel loses nothing; retained events and cluster nodes are not for that path.
    @Test func directPublishesKeepSnapshotsOnEverySegment() async throws {
        try await channelsSurviveRetention { service, handle in
            let origin = PublisherOrigin(uid: 1, gid: 1, pid: 1)
            #expect(!service.publishDirect(handle, [(EventAttributes(retention: 5), [1])], origin: origin) { _ in })
            for i in 0..<300 {
                let result = await withCheckedContinuation { continuation in
                    let taken = service.publishDirect(
                        handle, [(EventAttributes(), Array("filler \(i)".utf8))], origin: origin
                    ) { continuation.resume(returning: $0) }
                    #expect(taken)
                }
                #expect((try? result.get())?.count == 1)
            }
            try await Task.sleep(for: .milliseconds(200))  // the snapshot of the last roll
        }
    }

    @Test func snapshotsRoundTripAndRejectDamage() {
        var registry = ChannelRegistry()
        var log = ChannelRegistryTests.Log()
        _ = log.add(.channelCreate, channel: 4, data: name)
        _ = log.add(.channelOpen, channel: 4, data: [ChannelOpenFlags.all.rawValue])
        _ = log.add(.publish, channel: 4, retention: 99)
        for record in log.records { registry.apply(record) }
        var copy = ChannelRegistry()
        let adopted = copy.adopt(snapshot: registry.snapshot())
        #expect(adopted)
        #expect(copy.channels == registry.channels)
        #expect(copy.byName == registry.byName)
        #expect(copy.nextChannelID == registry.nextChannelID)
        var damaged = ChannelRegistry()
        let truncated = damaged.adopt(snapshot: Array(registry.snapshot().dropLast()))
        let garbage = damaged.adopt(snapshot: [9])
        #expect(!truncated && !garbage)
        #expect(damaged.channels.isEmpty)
    }

    /// Snapshots taken while publishes and opens run concurrently are exact: replaying the
    /// journal, which adopts every snapshot it meets, ends in the live state.
    @Test func snapshotsUnderConcurrentLoadAreExact() async throws {
        let fs = SimulatedFileSystem()
        let clock = ManualWallClock()
        var options = simulatedOptions(fs, clock: clock)
        options.segmentBytesMax = 4096
        let service = try await EventService.open(journal: try Journal.open(at: "/j", options: options), clock: clock)
        let base = try await service.openChannel(name, flags: .all)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for i in 0..<60 {
                        _ = try await service.publish(
                            base, EventAttributes(retention: i % 3 == 0 ? 1_000_000_000_000 : 0),
                            data: Array("w\(worker) \(i)".utf8))
                    }
                }
                group.addTask {
                    for i in 0..<15 {
                        let handle = try await service.openChannel(Array("ch-\(worker)-\(i % 4)".utf8), flags: .all)
                        if i % 2 == 0 { try await service.closeChannel(handle) }
                        if i % 5 == 0 { try await service.unlinkChannel(Array("ch-\(worker)-\(i % 4)".utf8)) }
                    }
                }
            }
            try await group.waitForAll()
        }
        let live = await service.registry
        #expect(service.journal.segments.count > 5)
        var replayed = ChannelRegistry()
        let reader = try service.journal.reader(from: .oldest)
        var snapshots = 0
        while let record = try reader.next() {
            if ServiceRecordKind(flags: record.flags) == .snapshot { snapshots += 1 }
            replayed.apply(record)
        }
        #expect(snapshots > 5)
        #expect(replayed.channels == live.channels)
        #expect(replayed.byName == live.byName)
        #expect(replayed.nextChannelID == live.nextChannelID)
        await service.shutdown()
    }
}

/// A sequencer that records what passes through it, to show the service orders every
/// record through its sequencer.
final class CountingSequencer: Sequencer {
    let inner: LocalSequencer
    let batches = Mutex<[Int]>([])

    init(journal: Journal) { inner = LocalSequencer(journal: journal) }

    func sequence(_ entries: [JournalEntry]) async throws -> SequenceRange {
        batches.withLock { $0.append(entries.count) }
        return try await inner.sequence(entries)
    }
}

@Suite struct SequencerTests {
    @Test func everyRecordGoesThroughTheSequencer() async throws {
        let options = simulatedOptions(SimulatedFileSystem())
        let journal = try Journal.open(at: "/j", options: options)
        let sequencer = CountingSequencer(journal: journal)
        let service = try await EventService.open(journal: journal, localNode: "n1", sequencer: sequencer)
        let handle = try await service.openChannel(Array("c".utf8), flags: .all)
        _ = try await service.publish(handle, [(EventAttributes(), [1]), (EventAttributes(), [2])])
        await service.shutdown()
        let sequenced = sequencer.batches.withLock { $0 }.reduce(0, +)
        #expect(UInt64(sequenced) == journal.head.sequence.rawValue)
    }
}
