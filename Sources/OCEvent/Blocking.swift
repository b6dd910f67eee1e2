import Dispatch

/// Runs async client work for a C caller and waits for it. Only ever called on the C
/// program's own threads (never on a Swift concurrency or NIO thread), so the wait blocks
/// nothing that the work needs.
func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
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
