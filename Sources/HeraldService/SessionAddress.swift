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

    /// Whether this subscriber may see a record routed so (an undecodable route: no one).
    func admits(_ routing: DeliveryContent.Routing) -> Bool {
        switch routing {
        case .none, .everyone: return true
        case .routed(let route, _): return accepts(route)
        case .undecodable: return false
        }
    }
}
