public import HeraldWire

/// The calls a C library makes for its callers, waited for on the calling thread: the
/// request is written and the thread sleeps until the event loop hands it the reply (no
/// task per call). For threads outside Swift concurrency and NIO only: never call these
/// from a task or an event loop (they block the thread). Many threads may call at once.
extension HeraldClient {
    /// `publish` for a blocked thread.
    public func publishBlocking(_ channel: Channel, _ events: [WireEvent], route: EventRoute? = nil)
        throws(HeraldClientError) -> [UInt64]
    {
        let message: ClientMessage =
            route.map { .publishRouted(handle: channel.handle, route: $0, events: events) }
            ?? .publish(handle: channel.handle, events: events)
        let reply = try connection.requestBlocking(message)
        guard case .published(let first, let count) = reply else { throw unexpected(reply) }
        return (0..<UInt64(count)).map { first + $0 }
    }

    /// `publish` of one event for a blocked thread: its event id.
    public func publishBlocking(_ channel: Channel, _ event: WireEvent, route: EventRoute? = nil)
        throws(HeraldClientError) -> UInt64
    {
        try publishBlocking(channel, [event], route: route)[0]
    }

    public func closeChannelBlocking(_ channel: Channel) throws(HeraldClientError) {
        try expectOKBlocking(.closeChannel(handle: channel.handle))
    }

    public func unlinkChannelBlocking(_ name: [UInt8]) throws(HeraldClientError) {
        try expectOKBlocking(.unlinkChannel(name: name))
    }

    public func unsubscribeBlocking(_ channel: Channel, id: UInt32) throws(HeraldClientError) {
        try expectOKBlocking(.unsubscribe(handle: channel.handle, subscription: id))
    }

    public func clearRetentionBlocking(_ channel: Channel, eventID: UInt64) throws(HeraldClientError) {
        try expectOKBlocking(.clearRetention(handle: channel.handle, eventID: eventID))
    }

    private func expectOKBlocking(_ message: ClientMessage) throws(HeraldClientError) {
        let reply = try connection.requestBlocking(message)
        guard case .ok = reply else { throw unexpected(reply) }
    }
}
