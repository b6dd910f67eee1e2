import Foundation
import Synchronization

/// The journal's source of publish times, injected so tests can drive time by hand.
public protocol WallClock: Sendable {
    /// Nanoseconds since the Unix epoch.
    func now() -> Nanoseconds
}

/// The system's real-time clock (`CLOCK_REALTIME`).
public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Nanoseconds {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

/// A clock that moves only when told to: for deterministic tests of retention and rolling.
public final class ManualWallClock: WallClock {
    private let current: Mutex<Nanoseconds>
    public init(_ start: Nanoseconds = 1_700_000_000_000_000_000) { current = Mutex(start) }
    public func now() -> Nanoseconds { current.withLock { $0 } }
    public func advance(by nanoseconds: Nanoseconds) { current.withLock { $0 += nanoseconds } }
    public func set(_ value: Nanoseconds) { current.withLock { $0 = value } }
}
