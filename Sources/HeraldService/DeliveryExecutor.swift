import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Threads of their own for the delivery loops and the live dispatcher, scheduled by the
/// kernel beside the rest of the process (nice `niceness`, 0).
///
/// Why not the Swift concurrency pool at a low task priority: there a delivery waits for a
/// free thread of the pool, and a busy request path (a thousand connections' requests, a
/// flood of publishes decoded and appended) can keep every one of them busy — nothing was
/// delivered until it let go (the suite's `deliveriesGoOnWhileTheConcurrencyPoolIsBusy`;
/// under tools/soak-hostile a well-behaved pair's publish→delivery round trip took minutes).
/// The kernel instead shares the cores between threads: under such a load the deliveries
/// get their share, never none. Not below the others: at nice 5 (a third of a busy thread's
/// share) the SaEvt conformance suite under load with two CPU hogs missed a 10 s delivery
/// wait in one run of two, and passed three of three at nice 0. Tasks started with this
/// executor as their preference run every job here, across their awaits (SE-0417), until
/// they end.
public final class DeliveryExecutor: TaskExecutor, @unchecked Sendable {
    /// One per process: the delivery threads of every service in it.
    public static let shared = DeliveryExecutor(
        threads: max(2, ProcessInfo.processInfo.activeProcessorCount), niceness: 0)

    /// The name of its threads, with their number (what `ps -L` and `top -H` show; the
    /// kernel keeps 15 bytes).
    public static let threadName = "herald-deliv-"

    public let niceness: Int32
    // The queue: `jobs[head...]`, guarded by `condition` (the only shared state: @unchecked).
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var head = 0

    init(threads: Int, niceness: Int32) {
        self.niceness = niceness
        for index in 0..<threads {
            Thread { [self] in
                Thread.current.name = "\(Self.threadName)\(index)"
                _ = pthread_setspecific(Self.marker, UnsafeRawPointer(bitPattern: 1))
                work()
            }.start()
        }
    }

    /// Whether the calling thread is one of the delivery threads.
    public static var isCurrent: Bool { pthread_getspecific(marker) != nil }

    /// Set on the delivery threads only.
    private static let marker: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor { UnownedTaskExecutor(ordinary: self) }

    private func work() {
        // Linux: PRIO_PROCESS with 0 sets the calling thread's nice value (threads are tasks).
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
        let executor = asUnownedTaskExecutor()
        while true {
            condition.lock()
            while head == jobs.count { condition.wait() }
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 1024 && head * 2 >= jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job.runSynchronously(on: executor)
        }
    }
}
