import Foundation

/// A server process the benchmark starts and stops itself (heraldd, redis-server, nats-server).
final class ServerProcess {
    let name: String
    let process: Process
    let logPath: String

    init(name: String, executable: String, arguments: [String], logPath: String) throws {
        self.name = name
        self.logPath = logPath
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// Waits until `ready` holds (polled), or fails after 20 s with the server's log.
    func waitUntil(_ ready: () -> Bool) throws {
        for _ in 0..<400 {
            if ready() { return }
            guard process.isRunning else { break }
            usleep(50_000)
        }
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        throw BlockingSocket.Failure(description: "\(name) did not start:\n\(log.suffix(2000))")
    }

    /// SIGTERM, then SIGKILL after 3 s (a child may inherit a blocked SIGTERM from the
    /// thread that spawned it).
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<60 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    static func which(_ name: String) -> String? {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
            + ["/usr/sbin", "/usr/bin"]
        {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// `redis-server` with an append-only file on a fresh folder.
final class RedisPeer {
    let port = ServerProcess.freePort()
    let server: ServerProcess
    let appendfsync: String
    /// Clients connect here (a Unix socket, like Herald's, and as `../shared/peers` drives
    /// Redis); the TCP port stays open for nothing else.
    let socketPath: String

    init(directory: String, appendfsync: String) throws {
        self.appendfsync = appendfsync
        socketPath = directory + "/redis.sock"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard let executable = ServerProcess.which("redis-server") else {
            throw BlockingSocket.Failure(description: "redis-server not installed (tools/setup --peers)")
        }
        server = try ServerProcess(
            name: "redis-server", executable: executable,
            arguments: [
                "--port", "\(port)", "--bind", "127.0.0.1", "--dir", directory, "--appendonly", "yes",
                "--appendfsync", appendfsync, "--save", "", "--protected-mode", "no", "--unixsocket", socketPath,
                "--unixsocketperm", "700",
                // No AOF rewrite (a fork) in the middle of a run, as the reference drives it:
                // Redis at its fastest, and its AOF bytes per event measurable.
                "--auto-aof-rewrite-percentage", "0",
            ], logPath: directory + "/server.log")
        let socketPath = self.socketPath
        try server.waitUntil { (try? RedisConnection(unixPath: socketPath).command(["PING"])) != nil }
    }

    deinit { server.stop() }
}

/// `nats-server -js` with file storage on a fresh folder, and a stream `bench` on subject `bench`.
final class NatsPeer {
    let port = ServerProcess.freePort()
    let server: ServerProcess

    init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard let executable = ServerProcess.which("nats-server") else {
            throw BlockingSocket.Failure(description: "nats-server not installed (tools/setup --peers)")
        }
        server = try ServerProcess(
            name: "nats-server", executable: executable,
            arguments: ["-js", "-sd", directory, "-a", "127.0.0.1", "-p", "\(port)"],
            logPath: directory + "/server.log")
        let port = self.port
        try server.waitUntil { (try? NatsConnection(port: port)) != nil }
        let connection = try NatsConnection(port: port)
        let reply = try connection.request(
            "$JS.API.STREAM.CREATE.bench",
            #"{"name":"bench","subjects":["bench"],"storage":"file","retention":"limits","discard":"old"}"#)
        guard !reply.contains("\"error\"") else { throw BlockingSocket.Failure(description: "stream create: \(reply)") }
    }

    deinit { server.stop() }
}
