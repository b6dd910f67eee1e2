import HeraldJournal
import HeraldWire
import Synchronization
import Testing

@testable import HeraldService

@Suite struct ClassSubscriberTests {
    func openService(_ fs: SimulatedFileSystem) async throws -> EventService {
        let options = simulatedOptions(fs)
        return try await EventService.open(journal: try Journal.open(at: "/j", options: options), localNode: "node-a")
    }

    @Test func payloadsRoundTripAndRejectGarbage() {
        let a = ClusterNode(name: "a", id: 2, bornOn: 1)
        let b = ClusterNode(name: "bé", id: 1, bornOn: 3)
        let membership = MembershipEvent(instance: 3, members: [b, a], left: [], joined: [b])
        #expect(membership.members == [a, b], "sorted by (born-on, id)")
        #expect(MembershipEvent(decoding: membership.encoded()) == membership)
        #expect(MembershipEvent(decoding: Array(membership.encoded().dropLast())) == nil)
        #expect(MembershipEvent(decoding: membership.encoded() + [0]) == nil)
        #expect(MembershipEvent(decoding: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]) == nil)
        let link = ConnectivityEvent(
            change: .connectionLost, node: ClusterNode(name: "b", id: 1, bornOn: 0), interface: "knet0")
        #expect(ConnectivityEvent(decoding: link.encoded()) == link)
        #expect(ConnectivityEvent(decoding: [9]) == nil)
        #expect(ConnectivityChange.interfaceAdded.descriptor == .interface)
        #expect(!ConnectivityChange.connectionLost.isUp)
    }

    @Test func membershipIsAnnouncedAtEachStartWithAGrowingInstance() async throws {
        let fs = SimulatedFileSystem()
        var service = try await openService(fs)
        await service.shutdown()
        service = try await openService(fs)
        let subscriber = try await service.classSubscriber([.membership], options: SubscriberOptions(start: .oldest))
        let collector = Collector(subscriber)
        let got = await collector.wait(for: 2)
        #expect(got.map(\.descriptor) == [.newMembership, .newMembership])
        let events = got.compactMap { MembershipEvent(decoding: $0.data) }
        #expect(events.map(\.instance) == [1, 2])
        #expect(events[1].members.map(\.name) == ["node-a"])
        #expect(events[1].joined == events[1].members, "on the first event every member counts as joined")
        await service.shutdown()
    }

    @Test func groupEventsFollowChannelActivityAndWindowOneWaitsForDone() async throws {
        let service = try await openService(SimulatedFileSystem())
        let subscriber = try await service.classSubscriber([.group], options: SubscriberOptions(window: 1))
        let collector = Collector(subscriber, acknowledge: false)
        let name = Array("grp".utf8)
        let listener = try await service.openChannel(name, flags: [.create, .subscriber])
        let talker = try await service.openChannel(name, flags: [.publisher])  // not a join
        _ = try await service.publish(talker, EventAttributes(), data: [7])
        try await service.closeChannel(listener)
        try await service.publishSystemEvent(
            .connect,
            data: ConnectivityEvent(
                change: .connectionLost, node: ClusterNode(name: "b", id: 2, bornOn: 0), interface: "l0"
            )
            .encoded())
        var got = await collector.wait(for: 1)
        #expect(got.count == 1)
        for expected in 2...3 {
            got.last!.done()
            got = await collector.wait(for: expected)
        }
        got.last!.done()
        // A later GROUP event (a join) is the marker: the COMM event before it was not
        // delivered, and nothing else came in between (waited for, not timed).
        _ = try await service.openChannel(name, flags: [.subscriber])
        got = await collector.wait(for: 4)
        #expect(got.map(\.descriptor) == [.join, .cast, .leave, .join])
        #expect(got[1].data == [7])
        await service.shutdown()
    }

    @Test func aMembershipSubscriberStartingNowGetsTheMembershipInForceFirst() async throws {
        let service = try await openService(SimulatedFileSystem())
        let node = ClusterNode(name: "node-a", id: 1, bornOn: 1)
        let quorate = MembershipEvent(instance: 2, members: [node], left: [], joined: [])
        try await service.publishSystemEvent(.newMembership, data: quorate.encoded())
        try await service.publishSystemEvent(.evicted, data: [])  // a notice, not a membership
        let subscriber = Collector(try await service.classSubscriber([.membership, .group]))
        let inquorate = MembershipEvent(instance: 3, members: [node], left: [], joined: [])
        try await service.publishSystemEvent(.membershipInvalid, data: inquorate.encoded())
        let got = await subscriber.wait(for: 2)
        #expect(got.map(\.descriptor) == [.newMembership, .membershipInvalid], "MEMB event 0 is delivered")
        #expect(got.map(\.retained) == [true, false])
        #expect(MembershipEvent(decoding: got[0].data) == quorate)
        await service.shutdown()
    }

    @Test func connectivityEventsReachConnectivitySubscribersOnly() async throws {
        let service = try await openService(SimulatedFileSystem())
        let comm = Collector(try await service.classSubscriber([.connectivity]))
        let memb = Collector(try await service.classSubscriber([.membership]))
        let event = ConnectivityEvent(
            change: .interfaceFailed, node: ClusterNode(name: "node-a", id: 1, bornOn: 0), interface: "eth0")
        try await service.publishSystemEvent(.interface, data: event.encoded())
        let got = await comm.wait(for: 1)
        #expect(got.first.flatMap { ConnectivityEvent(decoding: $0.data) } == event)
        // A membership published after it is the marker: the membership subscriber has the
        // membership in force when it started, then the marker, and not the COMM event.
        let marker = MembershipEvent(
            instance: 9, members: [ClusterNode(name: "node-a", id: 1, bornOn: 0)], left: [], joined: [])
        try await service.publishSystemEvent(.newMembership, data: marker.encoded())
        let membership = await memb.wait(for: 2)
        #expect(membership.map(\.descriptor) == [.newMembership, .newMembership])
        #expect(membership.map(\.retained) == [true, false])
        #expect(MembershipEvent(decoding: membership[1].data) == marker)
        await #expect(throws: ServiceError.invalidParameter) { try await service.publishSystemEvent(.cast, data: []) }
        await service.shutdown()
    }
}

@Suite struct InterfaceMonitorTests {
    final class Interfaces: Sendable {
        let up = Mutex<Set<String>>(["lo", "eth0"])
    }

    @Test func interfacesGoingUpAndDownBecomeCommEvents() async throws {
        let options = simulatedOptions(SimulatedFileSystem())
        let service = try await EventService.open(
            journal: try Journal.open(at: "/j", options: options), localNode: "n1")
        let comm = Collector(try await service.classSubscriber([.connectivity]))
        let interfaces = Interfaces()
        let node = ClusterNode(name: "n1", id: 1, bornOn: 1)
        let monitor = InterfaceMonitor(service: service, node: node, interval: .milliseconds(5)) {
            interfaces.up.withLock { $0 }
        }
        var got = await comm.wait(for: 2)
        #expect(got.compactMap { ConnectivityEvent(decoding: $0.data) }.map(\.interface) == ["eth0", "lo"])
        interfaces.up.withLock { $0 = ["lo", "eth1"] }
        got = await comm.wait(for: 4)
        let changes = got.dropFirst(2).compactMap { ConnectivityEvent(decoding: $0.data) }
        #expect(changes.map(\.change) == [.interfaceAdded, .interfaceFailed])
        #expect(changes.map(\.interface) == ["eth1", "eth0"])
        #expect(got.dropFirst(2).map(\.descriptor) == [.interface, .interface])
        #expect(!InterfaceMonitor.interfacesUp().isEmpty, "this machine has at least loopback up")
        monitor.stop()
        await service.shutdown()
    }
}
