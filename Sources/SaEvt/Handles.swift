import CSaEvt
import HeraldClient
import HeraldWire
import Synchronization

/// Every handle the library has given out, by kind. Handles are numbers from one counter,
/// never reused: a stale, freed, foreign or wrong-kind handle is not in its table and is
/// BAD_HANDLE, never a crash. One lock guards the tables and the events' attributes;
/// nothing blocks while holding it (requests to heraldd are made after it is released).
enum Handles {
    struct Channel {
        let service: UInt64
        let open: HeraldClient.Channel
        let flags: UInt8
        /// The open's subscriptions and their filters (to match again what is queued for
        /// one that ends).
        var subscriptions: [UInt32: [WireFilter]] = [:]
        var stream: EventStream?
    }

    struct Event {
        let service: UInt64
        let channel: UInt64
        let delivered: Bool
        /// A delivered event as it came (its own copy of the delivery's variable bytes: one
        /// allocation); its publisher name, patterns and data are read from it when asked.
        var received: WireDeliveryView?
        private var ownPatterns: [[UInt8]] = []
        private var ownPublisherName: [UInt8] = []
        private var ownData: [UInt8] = []
        var priority: UInt8 = 3
        var retention: Int64 = 0
        var publishTime = Int64(bitPattern: 0x8000_0000_0000_0000)  // SA_TIME_UNKNOWN
        var eventID: UInt64 = 0
        /// Herald's group messaging: where a published event goes, what it answers
        /// (`herald_saevt_event_address` / `_reply_to`).
        var route = EventRoute()
        /// Pattern arrays `saEvtEventAttributesGet` allocated, by the array's address: the
        /// buffers to free with it (`saEvtEventPatternFree`).
        var allocations: [UInt: [UnsafeMutableRawPointer]] = [:]

        var patterns: [[UInt8]] {
            get { received?.patterns ?? ownPatterns }
            set { ownPatterns = newValue }
        }
        var publisherName: [UInt8] {
            get { received?.publisherName ?? ownPublisherName }
            set { ownPublisherName = newValue }
        }
        var data: [UInt8] {
            get { received?.data ?? ownData }
            set { ownData = newValue }
        }
        var dataCount: Int { received?.dataCount ?? ownData.count }
        /// The data's bytes without a copy, for as long as `body` runs.
        func withData<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
            if let received { return received.withData(body) }
            return ownData.withUnsafeBytes(body)
        }
        /// A delivered event's route (a broadcast for one without).
        var deliveredRoute: DeliveryRoute {
            guard let received, received.flags.contains(.routed) else { return DeliveryRoute() }
            return received.route
        }

        init(service: UInt64, channel: UInt64, delivered: Bool) {
            self.service = service
            self.channel = channel
            self.delivered = delivered
        }

        /// A delivered event: `view`'s fields, over a compact copy of its bytes.
        init(service: UInt64, channel: UInt64, received view: WireDeliveryView) {
            self.init(service: service, channel: channel, delivered: true)
            received = view.compacted()
            priority = view.priority
            retention = view.retention
            publishTime = view.publishTime
            eventID = view.eventID
        }

        func freeAllocations() {
            for (array, buffers) in allocations {
                for buffer in buffers { buffer.deallocate() }
                UnsafeMutableRawPointer(bitPattern: array)?.deallocate()
            }
        }
    }

    struct Tables: @unchecked Sendable {
        // The raw pointers in `Event.allocations` are owned by the tables and only touched
        // under the lock.
        var next: UInt64 = 1
        var services: [UInt64: EvtService] = [:]
        var channels: [UInt64: Channel] = [:]
        var events: [UInt64: Event] = [:]

        mutating func issue() -> UInt64 {
            defer { next += 1 }
            return next
        }

        /// Removes a channel and the events allocated on it or delivered through it.
        mutating func removeChannel(_ handle: UInt64) -> Channel? {
            guard let channel = channels.removeValue(forKey: handle) else { return nil }
            for (key, event) in events where event.channel == handle {
                event.freeAllocations()
                events[key] = nil
            }
            return channel
        }
    }

    static let tables = Mutex(Tables())

    static func service(_ handle: UInt64) throws(AisError) -> EvtService {
        guard let service = tables.withLock({ $0.services[handle] }) else { throw .badHandle }
        return service
    }

    static func channel(_ handle: UInt64) throws(AisError) -> (Channel, EvtService) {
        guard
            let found = tables.withLock({ tables in tables.channels[handle].map { ($0, tables.services[$0.service]) } }
            ),
            let service = found.1
        else { throw .badHandle }
        return (found.0, service)
    }

    /// Runs `body` on the event's entry under the lock.
    static func withEvent<T>(_ handle: UInt64, _ body: (inout Event) throws(AisError) -> T) throws(AisError) -> T {
        try tables.withLock { tables throws(AisError) -> T in
            guard var event = tables.events[handle] else { throw .badHandle }
            defer { tables.events[handle] = event }
            return try body(&event)
        }
    }
}

/// A SaAisErrorT other than OK, as the library's functions throw it.
struct AisError: Error, Equatable {
    let code: UInt32

    static let library = AisError(code: 2)
    static let version = AisError(code: 3)
    static let initialization = AisError(code: 4)
    static let timeout = AisError(code: 5)
    static let tryAgain = AisError(code: 6)
    static let invalidParameter = AisError(code: 7)
    static let noMemory = AisError(code: 8)
    static let badHandle = AisError(code: 9)
    static let access = AisError(code: 11)
    static let notExist = AisError(code: 12)
    static let noSpace = AisError(code: 15)
    static let badFlags = AisError(code: 25)
    static let tooBig = AisError(code: 26)

    /// What a failed request to heraldd means to a SaEvt caller.
    init(_ error: any Error) {
        guard let error = error as? HeraldClientError else {
            self = .library
            return
        }
        SaEvtLibrary.debug("\(error)")
        switch error {
        case .unreachable: self = .tryAgain
        case .refused(let code, _): self = AisError(code: code)
        case .disconnected, .protocolViolation: self = .library
        }
    }

    init(code: UInt32) { self.code = code }
}
