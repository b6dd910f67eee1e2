import HeraldJournal
import HeraldWire

/// What every delivery of one record shares: its descriptor, attributes, data, publisher
/// and route, decoded once. A delivery is this reference plus what is its own (sequence,
/// subscription, redelivery and retention marks, subscriber), so handing one record to a
/// hundred subscribers makes one content and a hundred small values, not a hundred copies.
final class DeliveryContent: Sendable {
    /// A record's route as subscribers see it.
    enum Routing: Sendable {
        /// No route: a broadcast (what every record written before routes is).
        case none
        /// A route that every subscriber accepts (a broadcast with a sender).
        case everyone(DeliveryRoute)
        /// A route for the subscribers it names.
        case routed(EventRoute, DeliveryRoute)
        /// A route block that does not decode: the event is shown to no one.
        case undecodable

        var delivered: DeliveryRoute? {
            switch self {
            case .none, .undecodable: return nil
            case .everyone(let route), .routed(_, let route): return route
            }
        }
    }

    let descriptor: EventDescriptor
    let eventID: EventID
    let channel: UInt32
    let attributes: EventAttributes
    let publishTime: Nanoseconds
    let data: [UInt8]
    let origin: PublisherOrigin?
    let routing: Routing
    /// What a delivery of it counts for in a subscriber's window and read-ahead: its data
    /// and patterns.
    let byteCount: Int

    init(
        descriptor: EventDescriptor, eventID: EventID, channel: UInt32, attributes: EventAttributes,
        publishTime: Nanoseconds, data: [UInt8], origin: PublisherOrigin?, routing: Routing
    ) {
        self.descriptor = descriptor
        self.eventID = eventID
        self.channel = channel
        self.attributes = attributes
        self.publishTime = publishTime
        self.data = data
        self.origin = origin
        self.routing = routing
        var bytes = data.count
        for pattern in attributes.patterns { bytes += pattern.count }
        byteCount = bytes
    }

    /// The content of a journal record, copied out of its bytes (`publishers` keeps the last
    /// publisher field decoded: consecutive records mostly share it).
    convenience init(_ view: RecordView, publishers: inout Subscriber.PublisherCache) {
        let publisher = publishers.fields(flags: view.flags, publisher: view.publisher)
        self.init(
            descriptor: EventDescriptor(rawValue: view.descriptor), eventID: EventID(sequence: view.sequence),
            channel: view.channel,
            attributes: EventAttributes(
                patterns: view.patterns, priority: view.priority, retention: view.retention,
                publisherName: publisher.name),
            publishTime: view.time, data: Array(view.data), origin: publisher.origin, routing: publisher.routing)
    }

    /// The route of a record by its flags and publisher field.
    static func routing(flags: UInt8, publisher: [UInt8]) -> Routing {
        guard let block = PublisherOrigin.routeBlock(flags: flags, publisher: publisher) else { return .none }
        if EventRoute.isBroadcast(recordBlock: block), block.count >= 11 {
            var sender: UInt64 = 0
            for index in 0..<8 { sender |= UInt64(block[block.startIndex + 3 + index]) << (8 * index) }
            return .everyone(DeliveryRoute(cast: .broadcast, replyTo: 0, sender: sender))
        }
        guard let route = EventRoute(recordBlock: block) else { return .undecodable }
        return .routed(route, DeliveryRoute(route))
    }
}
