import Foundation
public import HeraldWire

/// Watches the node's network interfaces and reports each one coming up or going down as a
/// COMM event (`interfaceAdded` / `interfaceFailed`). Polls `getifaddrs` (an interface is
/// up when it has IFF_UP and IFF_RUNNING); the source is injectable for tests.
public final class InterfaceMonitor: Sendable {
    /// Names of the interfaces that are up now.
    public typealias Source = @Sendable () -> Set<String>

    private let task: Task<Void, Never>

    /// Starts polling every `interval`; the first poll reports every interface already up.
    public convenience init(
        service: EventService, node: ClusterNode, interval: Duration = .seconds(2),
        source: @escaping Source = InterfaceMonitor.interfacesUp
    ) {
        self.init(service: service, node: node, interval: interval, source: source, known: nil)
    }

    private init(
        service: EventService, node: ClusterNode, interval: Duration, source: @escaping Source, known: Set<String>?
    ) {
        task = Task {
            var known = known ?? []
            if known.isEmpty { known = await Self.report(source(), known: [], service: service, node: node) }
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                known = await Self.report(source(), known: known, service: service, node: node)
            }
        }
    }

    /// Reports the interfaces up now before returning (so they are journaled before
    /// anything else happens), then polls every `interval`.
    public static func started(
        service: EventService, node: ClusterNode, interval: Duration = .seconds(2),
        source: @escaping Source = InterfaceMonitor.interfacesUp
    ) async -> InterfaceMonitor {
        let known = await report(source(), known: [], service: service, node: node)
        return InterfaceMonitor(service: service, node: node, interval: interval, source: source, known: known)
    }

    /// Journals a COMM event for each interface that came up or went down; returns `now`.
    private static func report(
        _ now: Set<String>, known: Set<String>, service: EventService, node: ClusterNode
    ) async -> Set<String> {
        let changes =
            now.subtracting(known).sorted().map { (ConnectivityChange.interfaceAdded, $0) }
            + known.subtracting(now).sorted().map { (ConnectivityChange.interfaceFailed, $0) }
        for (change, name) in changes {
            let event = ConnectivityEvent(change: change, node: node, interface: name)
            _ = try? await service.publishSystemEvent(change.descriptor, data: event.encoded())
        }
        return now
    }

    public func stop() { task.cancel() }

    deinit { task.cancel() }

    /// Interfaces with IFF_UP and IFF_RUNNING, from `getifaddrs`.
    public static let interfacesUp: Source = {
        var head: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&head) == 0 else { return [] }
        defer { freeifaddrs(head) }
        var names = Set<String>()
        var cursor = head
        while let entry = cursor {
            let flags = Int32(entry.pointee.ifa_flags)
            if flags & Int32(IFF_UP) != 0 && flags & Int32(IFF_RUNNING) != 0 {
                names.insert(String(cString: entry.pointee.ifa_name))
            }
            cursor = entry.pointee.ifa_next
        }
        return names
    }
}
