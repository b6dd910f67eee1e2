import Foundation
import HeraldClient
import Synchronization
import Testing

/// The repository's root, from this file's path.
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// A product the tests run as a process of its own (heraldd, herald, the C libraries), from
/// the products folder of this test binary's build, where tools/build-products put it. A
/// product older than the sources under test is reported as a failure of the test using it.
func builtProduct(_ name: String) -> String {
    // HERALD_TEST_PRODUCTS: another build's products folder (to compare builds by hand).
    if let folder = ProcessInfo.processInfo.environment["HERALD_TEST_PRODUCTS"], !folder.isEmpty {
        return folder + "/" + name
    }
    let folder = ProductStamp.productsFolder
    if let problem = ProductStamp.problemAtStart {
        // Recorded against the running test (ProductStampTests says why with the message).
        FileHandle.standardError.write(Data("stale products: \(problem)\n".utf8))
        Issue.record(Comment(rawValue: problem))
    }
    return folder + "/" + name
}

/// The stamp tools/build-products leaves beside the products it built: it must be newer
/// than every file under Sources/ and include/.
enum ProductStamp {
    static var productsFolder: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    }

    /// Checked once per test run (the sources do not change under a running suite).
    static let problemAtStart: String? = problem(in: productsFolder)

    static func problem(in folder: String) -> String? {
        let stamp = folder + "/.herald-products"
        let fileManager = FileManager.default
        guard let built = (try? fileManager.attributesOfItem(atPath: stamp))?[.modificationDate] as? Date else {
            return "\(folder) has no products stamp: run tools/build-products (tools/test does) before swift test"
        }
        for tree in ["Sources", "include"] {
            let root = repositoryRoot + "/" + tree
            guard let walker = fileManager.enumerator(atPath: root) else { continue }
            for case let file as String in walker {
                let changed =
                    (try? fileManager.attributesOfItem(atPath: root + "/" + file))?[.modificationDate] as? Date
                if let changed, changed > built {
                    return
                        "\(tree)/\(file) changed after the products in \(folder) were built: run tools/build-products"
                }
            }
        }
        return nil
    }
}

/// A real `heraldd` child process on a fresh data folder, with a short socket path.
final class DaemonProcess: @unchecked Sendable {
    // Mutated only by the test that owns it, one call at a time.
    let directory: String
    let socket: String
    private(set) var process: Process
    private(set) var stderrPath: String
    private let extraArguments: [String]
    private let environment: [String: String]

    init(arguments: [String] = [], config: String? = nil, environment: [String: String] = [:]) throws {
        directory = "/tmp/hd-" + String(UUID().uuidString.prefix(8))
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socket = directory + "/s.sock"
        var extra = arguments
        if let config {
            let path = directory + "/heraldd.json"
            try config.write(toFile: path, atomically: true, encoding: .utf8)
            extra += ["--config", path]
        }
        extraArguments = extra
        self.environment = environment
        process = Process()
        stderrPath = ""
        try start()
    }

    /// Starts (or restarts) the daemon on the same folder; returns once it listens.
    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: builtProduct("heraldd"))
        process.arguments = ["--data-dir", directory + "/data", "--socket", socket] + extraArguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        stderrPath = directory + "/stderr-\(UUID().uuidString.prefix(6)).log"
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        let stdout = Pipe()
        process.standardOutput = stdout
        try process.run()
        self.process = process
        stoppedByTest = false
        // The first stdout line says it serves.
        var line: [UInt8] = []
        while true {
            let byte = stdout.fileHandleForReading.readData(ofLength: 1)
            guard let first = byte.first else { break }
            if first == UInt8(ascii: "\n") { break }
            line.append(first)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("heraldd: serving") else {
            throw DaemonError.didNotStart(text + (try String(contentsOfFile: stderrPath, encoding: .utf8)))
        }
        outputPipe = stdout
    }

    private var outputPipe: Pipe?
    /// Whether the test stopped or killed this process (else an exit is heraldd's own).
    private var stoppedByTest = false

    /// The rest of stdout after the start line (read after the process ended).
    func remainingOutput() -> String {
        String(decoding: outputPipe?.fileHandleForReading.readDataToEndOfFile() ?? Data(), as: UTF8.self)
    }

    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    func client(_ name: String = "test") async throws -> HeraldClient {
        try await HeraldClient.connect(socketPath: socket, clientName: name)
    }

    func kill9() {
        stoppedByTest = true
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, then the exit status.
    func terminate() -> Int32 {
        stoppedByTest = true
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Kills the daemon if it still runs and removes its folder (kept, with its logs, when
    /// HERALD_TEST_KEEP is set: for looking at a failure).
    func cleanup() {
        if !process.isRunning && !stoppedByTest {
            // It ended by itself: say how, with its log, for whoever reads the failure.
            print(
                "heraldd in \(directory) ended on its own (\(process.terminationReason == .uncaughtSignal ? "signal" : "exit") "
                    + "\(process.terminationStatus)):\n\(stderr.suffix(4000))")
        }
        if process.isRunning { kill9() }
        if ProcessInfo.processInfo.environment["HERALD_TEST_KEEP"] == nil {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    enum DaemonError: Error { case didNotStart(String) }

    // The waits above block their thread: tests use these, which wait on a thread of their
    // own, so that the few threads of the concurrency pool keep serving every other test.

    /// Starts a daemon (see `init`).
    static func launch(
        arguments: [String] = [], config: String? = nil, environment: [String: String] = [:]
    ) async throws -> DaemonProcess {
        try await offPool { try DaemonProcess(arguments: arguments, config: config, environment: environment) }
    }

    /// Restarts the daemon on the same folder (see `start`).
    func restart() async throws { try await offPool { try self.start() } }

    /// SIGTERM, then the exit status (see `terminate`).
    func stop() async -> Int32 { (try? await offPool { self.terminate() }) ?? -1 }
}

/// Runs the built `herald` CLI against a daemon (no --socket when `socket` is empty: the
/// commands that read a data folder); returns (status, stdout, stderr).
func runHerald(_ arguments: [String], socket: String, input: String? = nil) async throws -> (Int32, String, String) {
    // On a thread of its own: blocking a concurrency-pool thread for the life of the
    // process stalls every other test in this process.
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try runHeraldBlocking(arguments, socket: socket, input: input) })
        }
    }
}

private func runHeraldBlocking(_ arguments: [String], socket: String, input: String?) throws -> (Int32, String, String)
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: builtProduct("herald"))
    process.arguments = arguments + (socket.isEmpty ? [] : ["--socket", socket])
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let inputPipe = Pipe()
    process.standardInput = inputPipe
    try process.run()
    // The child may exit without reading it all (a refusal): a broken pipe is not an error here.
    if let input { try? inputPipe.fileHandleForWriting.write(contentsOf: Data(input.utf8)) }
    try inputPipe.fileHandleForWriting.close()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}

/// Collects up to `count` deliveries from a stream, acknowledging each, or fails after `seconds`.
func collect(_ stream: EventStream, count: Int, seconds: Double = 30, ack: Bool = true) async throws -> [ClientDelivery]
{
    try await withThrowingTaskGroup(of: [ClientDelivery].self) { group in
        group.addTask {
            var received: [ClientDelivery] = []
            for await delivery in stream {
                received.append(delivery)
                if ack { delivery.done() }
                if received.count >= count { break }
            }
            return received
        }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TimedOut()
        }
        let first = try await group.next()!
        group.cancelAll()
        return first
    }
}

struct TimedOut: Error {}

/// Every delivery until none has arrived for `idle` (acknowledging each).
func drain(_ stream: EventStream, idle: Duration = .seconds(2)) async throws -> [ClientDelivery] {
    let box = DeliveryBox()
    let reader = Task {
        for await delivery in stream {
            delivery.done()
            box.append(delivery)
        }
    }
    var last = -1
    while box.count != last {
        last = box.count
        try await Task.sleep(for: idle)
    }
    reader.cancel()
    return box.all
}

final class DeliveryBox: Sendable {
    private let items = Mutex<[ClientDelivery]>([])
    func append(_ delivery: ClientDelivery) { items.withLock { $0.append(delivery) } }
    var count: Int { items.withLock { $0.count } }
    var all: [ClientDelivery] { items.withLock { $0 } }
}

/// Runs blocking work (waiting for a process, reading its first line) on a thread of its
/// own instead of one of the concurrency pool's.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

@Suite struct ProductStampTests {
    /// The processes the other tests start are built from the sources under test.
    @Test func productsUnderTestAreNewerThanTheSources() {
        let problem = ProductStamp.problem(in: ProductStamp.productsFolder)
        #expect(problem == nil, "\(problem ?? "")")
    }
}
