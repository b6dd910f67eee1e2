import Foundation
import Synchronization
import Testing

/// C programs of Tests/CPrograms compiled by the system `cc` against the built shared
/// libraries and the checked-in headers, as a user's program would be: this proves the
/// library's exports, its SONAME link and its loading, which the statically linked checks
/// cannot.
enum CProgram {
    /// A folder holding the libraries under the names a program links and loads them by
    /// (`liboc_event.so` and the SONAME's `liboc_event.so.1`; the same for libSaEvt), as
    /// tools/install lays them out.
    static let libraryFolder: String = {
        let folder = NSTemporaryDirectory() + "herald-lib-" + String(UUID().uuidString.prefix(8))
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (built, names) in [
            ("liboc_event.so", ["liboc_event.so", "liboc_event.so.1", "lib_oc_event.so"]),
            ("libSaEvt.so", ["libSaEvt.so", "libSaEvt.so.1"]),
        ] {
            for name in names {
                try? FileManager.default.createSymbolicLink(
                    atPath: folder + "/" + name, withDestinationPath: builtProduct(built))
            }
        }
        return folder
    }()

    /// Compiles `source` (relative to Tests/CPrograms) with `flags`; returns the binary's
    /// path, or throws with the compiler's output.
    static func build(
        _ source: String, flags: [String] = ["-std=c99"], compiler: String = "cc", library: String = "oc_event"
    ) async throws -> String {
        let output =
            libraryFolder + "/" + URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent
            + "-" + String(UUID().uuidString.prefix(6))
        var arguments = ["-Wall", "-Wextra", "-Werror"] + flags + ["-I", repositoryRoot + "/include"]
        arguments += [repositoryRoot + "/Tests/CPrograms/" + source, "-o", output]
        arguments += ["-L", libraryFolder, "-l" + library, "-Wl,-rpath," + libraryFolder]
        let (status, out, err) = try await run(compiler, arguments)
        guard status == 0 else { throw Failure.compile(source, out + err) }
        return output
    }

    /// Runs a command to completion: (status, stdout, stderr).
    static func run(
        _ command: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil
    ) async throws -> (Int32, String, String) {
        let child = try Child(command, arguments, environment: environment, input: input)
        let status = await child.wait(seconds: 60)
        return (status, child.output, child.errors)
    }

    enum Failure: Error, CustomStringConvertible {
        case compile(String, String)
        case timedOut(String)
        var description: String {
            switch self {
            case .compile(let source, let output): return "cc \(source) failed:\n\(output)"
            case .timedOut(let what): return "timed out waiting for \(what)"
            }
        }
    }
}

/// A running child process whose stdout is collected as it comes.
final class Child: Sendable {
    let process: Process
    private let stdout = Mutex<[UInt8]>([])
    private let stderr = Mutex<[UInt8]>([])

    init(_ command: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command.hasPrefix("/") ? command : "/usr/bin/env")
        process.arguments = command.hasPrefix("/") ? arguments : [command] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let stdin = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        self.process = process
        try process.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        for (pipe, isError) in [(out, false), (err, true)] {
            let handle = pipe.fileHandleForReading
            Thread.detachNewThread { [self] in
                while true {
                    let data = handle.availableData
                    if data.isEmpty { break }
                    if isError { stderr.withLock { $0 += Array(data) } } else { stdout.withLock { $0 += Array(data) } }
                }
            }
        }
    }

    var output: String { String(decoding: stdout.withLock { $0 }, as: UTF8.self) }
    var errors: String { String(decoding: stderr.withLock { $0 }, as: UTF8.self) }
    var lines: [String] { output.split(separator: "\n").map(String.init) }

    /// Waits until stdout has a line starting with `prefix`.
    func waitForLine(_ prefix: String, seconds: Double = 20) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !lines.contains(where: { $0.hasPrefix(prefix) }) {
            guard process.isRunning || lines.contains(where: { $0.hasPrefix(prefix) }) else {
                throw CProgram.Failure.timedOut(
                    "\"\(prefix)\" (exited \(process.terminationStatus)): \(output)\(errors)")
            }
            guard Date() < deadline else { throw CProgram.Failure.timedOut("\"\(prefix)\": \(output)\(errors)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The exit status (SIGKILL after `seconds`); stdout is complete when it returns. Waits on
    /// a thread of its own: blocking one of the concurrency pool's few threads for the life
    /// of a child stalls every other test in the process.
    @discardableResult
    func wait(seconds: Double = 30) async -> Int32 {
        let process = self.process
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let deadline = Date().addingTimeInterval(seconds)
                while process.isRunning && Date() < deadline { usleep(10_000) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
                usleep(50_000)  // the reader threads drain the pipes
                continuation.resume(
                    returning: process.terminationReason == .uncaughtSignal
                        ? 128 + process.terminationStatus : process.terminationStatus)
            }
        }
    }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// Runs an in-process C check (a function of a C check target: 0, or the failed line with a
/// message) on a thread of its own: the C libraries block their caller, as C APIs do.
func runCCheck(_ body: @escaping @Sendable (UnsafeMutablePointer<CChar>) -> Int32) async -> (Int32, String) {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            let message = UnsafeMutablePointer<CChar>.allocate(capacity: 512)
            message.initialize(repeating: 0, count: 512)
            let line = body(message)
            continuation.resume(returning: (line, String(cString: message)))
            message.deallocate()
        }
    }
}
