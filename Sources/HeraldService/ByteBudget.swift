import Synchronization

/// A bound on bytes shared by many owners: each takes its share before keeping memory and
/// gives it back after. Lock-free; a share that does not fit is refused, never waited for.
public final class ByteBudget: Sendable {
    public let limit: Int
    private let used = Atomic<Int>(0)

    public init(limit: Int) { self.limit = limit }

    /// Bytes taken and not given back.
    public var taken: Int { used.load(ordering: .relaxed) }

    /// Takes `bytes` if they fit under the limit; returns whether it did.
    public func take(_ bytes: Int) -> Bool {
        var current = used.load(ordering: .relaxed)
        while true {
            guard current + bytes <= limit else { return false }
            let (exchanged, original) = used.compareExchange(
                expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    /// Gives back what `take` took.
    public func give(_ bytes: Int) {
        guard bytes > 0 else { return }
        used.subtract(bytes, ordering: .relaxed)
    }
}
