import Dispatch
import Synchronization

/// Runs async client work for a C caller and waits for it. Only ever called on the C
/// program's own threads (never on a Swift concurrency or NIO thread), so the wait blocks
/// nothing that the work needs.
public func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let semaphore = DispatchSemaphore(value: 0)
    let box = ResultBox<T>()
    Task.detached {
        do {
            box.result = .success(try await body())
        } catch {
            box.result = .failure(error)
        }
        semaphore.signal()
    }
    semaphore.wait()
    return try box.result!.get()
}

/// The result of `blocking`'s task.
private final class ResultBox<T>: @unchecked Sendable {
    // Written by the task before it signals the semaphore, read after the wait returns:
    // the semaphore orders the two.
    var result: Result<T, any Error>?
}

/// Like `blocking`, but gives up waiting after `nanoseconds` (nil when it did; the work
/// goes on and `abandoned` gets its result, so that what it made can be undone).
public func blocking<T: Sendable>(
    nanoseconds: UInt64, abandoned: @escaping @Sendable (Result<T, any Error>) -> Void,
    _ body: @escaping @Sendable () async throws -> T
) throws -> T? {
    let semaphore = DispatchSemaphore(value: 0)
    let box = AbandonableBox<T>(abandoned: abandoned)
    Task.detached {
        let result: Result<T, any Error>
        do {
            result = .success(try await body())
        } catch {
            result = .failure(error)
        }
        box.finish(result)
        semaphore.signal()
    }
    if semaphore.wait(timeout: .now() + .nanoseconds(Int(clamping: nanoseconds))) == .timedOut {
        guard let result = box.abandon() else { return nil }
        return try result.get()
    }
    return try box.result()!.get()
}

/// The result of a timed `blocking`: whoever comes second (the work finishing, or the
/// waiter giving up) decides where the result goes.
private final class AbandonableBox<T: Sendable>: Sendable {
    private struct State {
        var result: Result<T, any Error>?
        var abandoned = false
    }
    private let state = Mutex(State())
    private let abandoned: @Sendable (Result<T, any Error>) -> Void

    init(abandoned: @escaping @Sendable (Result<T, any Error>) -> Void) { self.abandoned = abandoned }

    func finish(_ result: Result<T, any Error>) {
        let late = state.withLock { state -> Bool in
            if state.abandoned { return true }
            state.result = result
            return false
        }
        if late { abandoned(result) }
    }

    /// Nil when the work has not finished: it is abandoned. Else its result (just in time).
    func abandon() -> Result<T, any Error>? {
        state.withLock { state in
            if let result = state.result { return result }
            state.abandoned = true
            return nil
        }
    }

    func result() -> Result<T, any Error>? { state.withLock { $0.result } }
}
