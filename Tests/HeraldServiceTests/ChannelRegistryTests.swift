import HeraldJournal
import Testing

@testable import HeraldService

@Suite struct ChannelRegistryTests {
    /// Builds records in journal order.
    struct Log {
        var records: [JournalRecord] = []
        var time: Nanoseconds = 1_000

        mutating func add(
            _ kind: ServiceRecordKind, channel: UInt32, data: [UInt8] = [], retention: Nanoseconds = 0
        ) -> SequenceNumber {
            let sequence = SequenceNumber(UInt64(records.count + 1))
            records.append(
                JournalRecord(
                    sequence: sequence, time: time, descriptor: 0, channel: channel, priority: 3, flags: kind.rawValue,
                    retention: retention, publisher: [], patterns: [], data: data))
            return sequence
        }

        func registry() -> ChannelRegistry {
            var registry = ChannelRegistry()
            for record in records { registry.apply(record) }
            return registry
        }
    }

    let name = Array("cluster".utf8)

    @Test func unlinkRemovesTheNameButTheInstanceLivesUntilItsLastClose() {
        var log = Log()
        _ = log.add(.channelCreate, channel: 1, data: name)
        let first = log.add(.channelOpen, channel: 1, data: [ChannelOpenFlags.all.rawValue])
        let second = log.add(.channelOpen, channel: 1, data: [ChannelOpenFlags.subscriber.rawValue])
        _ = log.add(.channelUnlink, channel: 1, data: name)
        var registry = log.registry()
        #expect(registry.channel(named: name) == nil)
        #expect(registry.channels[1]?.openers.count == 2)
        #expect(registry.channels[1]?.linked == false)

        // A new instance under the same name is independent of the old one.
        _ = log.add(.channelCreate, channel: 2, data: name)
        registry = log.registry()
        #expect(registry.channel(named: name)?.id == 2)
        #expect(registry.channels[1] != nil)

        _ = log.add(.channelClose, channel: 1, data: [UInt8](littleEndian: first.rawValue))
        #expect(log.registry().channels[1] != nil)
        _ = log.add(.channelClose, channel: 1, data: [UInt8](littleEndian: second.rawValue))
        registry = log.registry()
        #expect(registry.channels[1] == nil, "deleted at its last close")
        #expect(registry.channel(named: name)?.id == 2)
        #expect(registry.nextChannelID == 3)
    }

    @Test func channelPersistsAfterItsLastCloseUntilUnlinked() {
        var log = Log()
        _ = log.add(.channelCreate, channel: 1, data: name)
        let opener = log.add(.channelOpen, channel: 1, data: [ChannelOpenFlags.publisher.rawValue])
        _ = log.add(.channelClose, channel: 1, data: [UInt8](littleEndian: opener.rawValue))
        #expect(log.registry().channel(named: name)?.openers.isEmpty == true)
        _ = log.add(.channelUnlink, channel: 1, data: name)
        #expect(log.registry().channels.isEmpty, "unlinked with no openers: deleted at once")
    }

    @Test func retentionExpiresAndClears() {
        var log = Log()
        _ = log.add(.channelCreate, channel: 1, data: name)
        let kept = log.add(.publish, channel: 1, retention: 5_000)
        _ = log.add(.publish, channel: 1)  // retention 0: not retained
        let cleared = log.add(.publish, channel: 1, retention: 10_000)
        var registry = log.registry()
        #expect(registry.retained(in: 1, at: 2_000).map(\.sequence) == [kept, cleared])
        #expect(registry.retained(in: 1, at: 6_000).map(\.sequence) == [cleared], "expired at time + retention")
        _ = log.add(.retentionClear, channel: 1, data: [UInt8](littleEndian: EventID(sequence: cleared).rawValue))
        registry = log.registry()
        #expect(registry.retained(in: 1, at: 2_000).map(\.sequence) == [kept])
        registry.pruneExpired(at: 6_000)
        #expect(registry.channels[1]?.retained.isEmpty == true)
    }

    @Test func deletingAnInstanceFreesItsRetainedEvents() {
        var log = Log()
        _ = log.add(.channelCreate, channel: 1, data: name)
        _ = log.add(.publish, channel: 1, retention: 1_000_000)
        _ = log.add(.channelUnlink, channel: 1, data: name)
        _ = log.add(.channelCreate, channel: 2, data: name)
        let registry = log.registry()
        #expect(registry.channels[1] == nil)
        #expect(registry.retained(in: 2, at: 1_000).isEmpty)
    }

    @Test func eventIDsAreAboveTheReservedRangeAndMapBackToSequences() {
        let id = EventID(sequence: SequenceNumber(1))
        #expect(id.rawValue == 1001)
        #expect(!id.isReserved)
        #expect(id.sequence == SequenceNumber(1))
        #expect(EventID.lost.isReserved && EventID.none.isReserved)
    }

    @Test func descriptorsFollowOCF() {
        #expect(EventDescriptor.newMembership.rawValue == 2 << 22 | 1)
        #expect(EventDescriptor.evicted.eventClass == .membership)
        #expect(EventDescriptor.evicted.event == 4)
        #expect(EventDescriptor(rawValue: 0xFFFF_FFFF).event == 0x3F_FFFF)
        #expect(EventDescriptor.cast.rawValue == 3 << 22 | 3)
    }

    @Test func serviceErrorsCarrySAFCodes() {
        #expect(ServiceError.notExist.rawValue == 12)
        #expect(ServiceError.unavailable.rawValue == 31)
        #expect(ServiceError.allCases.count == 30)
        #expect(ServiceError.badFlags.aisName == "SA_AIS_ERR_BAD_FLAGS")
    }
}

@Suite struct OutstandingSetTests {
    @Test func lowestFollowsAcknowledgementsInAnyOrder() {
        var set = OutstandingSet()
        for value in [5, 6, 7, 9] as [UInt64] { set.insert(value) }
        set.insert(2)  // an older retained event
        #expect(set.lowest == 2)
        var removed = [set.remove(6), set.remove(6)]
        #expect(removed == [true, false])
        #expect(set.lowest == 2)
        removed = [set.remove(2)]
        #expect(set.lowest == 5)
        removed += [set.remove(5)]
        #expect(set.lowest == 7)
        removed += [set.remove(9), set.remove(7)]
        #expect(removed == [true, true, true, true])
        #expect(set.lowest == nil && set.isEmpty && set.bytes == 0)
        // Bytes follow the deliveries in and out, an older one placed in the middle too.
        for (value, size) in [(20, 100), (22, 300), (21, 50)] as [(UInt64, Int)] { set.insert(value, bytes: size) }
        set.insert(22, bytes: 999)  // already outstanding: no change
        #expect(set.bytes == 450 && set.count == 3)
        _ = set.remove(21)
        #expect(set.bytes == 400)
        _ = set.remove(20)
        _ = set.remove(20)
        #expect(set.bytes == 300 && set.lowest == 22)
        _ = set.remove(22)
        #expect(set.bytes == 0 && set.isEmpty)
        var random = SplitMix64(seed: 3)
        var reference = Set<UInt64>()
        for value in 1...5000 as ClosedRange<UInt64> {
            set.insert(value)
            reference.insert(value)
            if random.next() % 2 == 0, let victim = reference.randomElement(using: &random) {
                let removed = set.remove(victim)
                #expect(removed)
                reference.remove(victim)
            }
            #expect(set.lowest == reference.min())
        }
    }
}
