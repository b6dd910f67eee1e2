import HeraldWire
import Synchronization

/// The addresses a client session answers to for unicast events and replies: the ids of
/// the channel opens it made (each is the `g_event_id` of the open's GROUP join event).
/// heraldd keeps one per connection and gives it to every subscriber of the connection, so
/// an event sent to any of its opens reaches its OCF class streams and its channel streams.
public final class SessionAddress: Sendable {
    private let openers: Mutex<Set<UInt64>>

    public init(_ openers: Set<UInt64> = []) { self.openers = Mutex(openers) }

    public func add(_ opener: UInt64) { openers.withLock { _ = $0.insert(opener) } }
    public func contains(_ opener: UInt64) -> Bool { openers.withLock { $0.contains(opener) } }
}

/// Who a subscriber is, for an event's route: its node, its durable name, its session.
struct RouteRecipient: Sendable {
    var node: UInt32
    var durableName: [UInt8]?
    var session: SessionAddress

    /// Whether an event routed by `route` is for this subscriber.
    func accepts(_ route: EventRoute) -> Bool {
        switch route.target {
        case .everyone: return true
        case .nodes(let nodes): return nodes.contains(node)
        case .name(let name): return durableName == name
        case .session(let opener): return session.contains(opener)
        case .requester(let opener, let name):
            return session.contains(opener) || (!name.isEmpty && durableName == name)
        }
    }

    /// The route of a record (by its flags and publisher field) if this subscriber may see
    /// it: `.some(nil)` for a record without a route (a broadcast, as every record written
    /// before routes existed), nil when the record is addressed to others (or its route
    /// does not decode: an event is never shown to subscribers it may not be for).
    func admit(flags: UInt8, publisher: [UInt8]) -> DeliveryRoute?? {
        guard let block = PublisherOrigin.routeBlock(flags: flags, publisher: publisher) else { return .some(nil) }
        if EventRoute.isBroadcast(recordBlock: block), block.count >= 11 {
            var sender: UInt64 = 0
            for index in 0..<8 { sender |= UInt64(block[block.startIndex + 3 + index]) << (8 * index) }
            return DeliveryRoute(cast: .broadcast, replyTo: 0, sender: sender)
        }
        guard let route = EventRoute(recordBlock: block), accepts(route) else { return nil }
        return DeliveryRoute(route)
    }
}
