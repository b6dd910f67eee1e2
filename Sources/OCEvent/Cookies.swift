import Synchronization

/// One delivered event: its payload and how many of its cookies are still out. Completed
/// (acknowledged to heraldd, payload freed) when the last cookie is done.
final class DeliveredEvent: @unchecked Sendable {
    // Immutable but for `remaining`, which only `Cookies` touches, under its lock.
    let handle: EventHandle
    let sequence: UInt64
    let publishTime: Int64
    let redelivered: Bool
    let retained: Bool
    let payload: EventPayload
    let acknowledge: @Sendable () -> Void
    var remaining: Int

    init(
        handle: EventHandle, sequence: UInt64, publishTime: Int64, redelivered: Bool, retained: Bool,
        payload: EventPayload, callbacks: Int, acknowledge: @escaping @Sendable () -> Void
    ) {
        self.handle = handle
        self.sequence = sequence
        self.publishTime = publishTime
        self.redelivered = redelivered
        self.retained = retained
        self.payload = payload
        self.remaining = callbacks
        self.acknowledge = acknowledge
    }
}

/// The cookies handed to callbacks. A cookie is the address of a small cell the library
/// allocated (so a C program may even read it); it is looked up by address, never
/// dereferenced, so a stale, foreign or doubled cookie is an error and not a crash. Freed
/// cells wait in a quarantine before their memory can be reused for another cookie, so a
/// late second `callback_done` is not mistaken for a new event's.
enum Cookies {
    struct Table {
        var live: [UInt: DeliveredEvent] = [:]
        var quarantine: [UnsafeMutablePointer<UInt32>] = []
        var quarantineNext = 0
        var serial: UInt32 = 0
    }

    static let quarantineMax = 4096
    private static let table = Mutex(Table())

    /// `count` new cookies for `event`.
    static func issue(_ count: Int, for event: DeliveredEvent) -> [UnsafeMutablePointer<UInt32>] {
        table.withLock { table in
            (0..<count).map { _ in
                table.serial &+= 1
                let cell = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
                cell.initialize(to: table.serial)
                table.live[UInt(bitPattern: cell)] = event
                return cell
            }
        }
    }

    /// Completes the cookie; nil when it is not a live cookie. Returns the event if this was
    /// its last cookie (the caller then acknowledges it and frees its payload).
    static func done(_ cookie: UnsafeRawPointer?) -> (found: Bool, completed: DeliveredEvent?) {
        guard let cookie else { return (false, nil) }
        let key = UInt(bitPattern: cookie)
        return table.withLock { table in
            guard let event = table.live.removeValue(forKey: key) else { return (false, nil) }
            retire(UnsafeMutablePointer(bitPattern: key)!, in: &table)
            event.remaining -= 1
            return (true, event.remaining == 0 ? event : nil)
        }
    }

    static func event(_ cookie: UnsafeRawPointer?) -> DeliveredEvent? {
        guard let cookie else { return nil }
        let key = UInt(bitPattern: cookie)
        return table.withLock { table in table.live[key] }
    }

    /// Forgets every cookie of `handle` (unregistered); returns its events still out.
    static func drop(_ handle: EventHandle) -> [DeliveredEvent] {
        table.withLock { table in
            var events: [ObjectIdentifier: DeliveredEvent] = [:]
            for (key, event) in table.live where event.handle === handle {
                table.live[key] = nil
                retire(UnsafeMutablePointer(bitPattern: key)!, in: &table)
                events[ObjectIdentifier(event)] = event
            }
            return Array(events.values)
        }
    }

    private static func retire(_ cell: UnsafeMutablePointer<UInt32>, in table: inout Table) {
        cell.pointee = 0
        if table.quarantine.count < quarantineMax {
            table.quarantine.append(cell)
        } else {
            table.quarantine[table.quarantineNext].deallocate()
            table.quarantine[table.quarantineNext] = cell
            table.quarantineNext = (table.quarantineNext + 1) % quarantineMax
        }
    }
}
