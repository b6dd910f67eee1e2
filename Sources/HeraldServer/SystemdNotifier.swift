import Glibc

/// The service manager's readiness protocol (sd_notify), spoken without libsystemd: a
/// datagram of `KEY=VALUE` lines to the AF_UNIX socket named by `$NOTIFY_SOCKET` (a path,
/// or `@name` for the abstract namespace). With `Type=notify` systemd starts the units that
/// depend on heraldd only once it sent `READY=1`, that is once its socket accepts clients.
/// Without `$NOTIFY_SOCKET` (not started by systemd) every call does nothing.
public struct SystemdNotifier: Sendable {
    /// The socket's address as given, or nil when the variable is unset or empty.
    public let socketPath: String?

    /// The notifier of `$NOTIFY_SOCKET`.
    public init() {
        self.init(socketPath: getenv("NOTIFY_SOCKET").map { String(cString: $0) })
    }

    /// A notifier of the given socket (nil or empty: none).
    public init(socketPath: String?) {
        self.socketPath = socketPath.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The daemon accepts clients: `READY=1`, its pid and a status line.
    public func ready(status: String) throws(ServerError) {
        try send("READY=1\nMAINPID=\(getpid())\nSTATUS=\(Self.oneLine(status))\n")
    }

    /// Graceful shutdown has begun.
    public func stopping() throws(ServerError) {
        try send("STOPPING=1\nSTATUS=stopping\n")
    }

    /// Sends one datagram of `KEY=VALUE` lines; an error says why it could not be sent.
    public func send(_ message: String) throws(ServerError) {
        guard let socketPath else { return }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(socketPath.utf8)
        // "@name": the abstract namespace, whose first byte is NUL.
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else {
            throw .socket("NOTIFY_SOCKET \(socketPath): longer than \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + (pathBytes.first == 0 ? 0 : 1))
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw .socket("NOTIFY_SOCKET: socket(): \(Self.errorText())") }
        defer { close(descriptor) }
        let payload = Array(message.utf8)
        let sent = payload.withUnsafeBytes { bytes in
            withUnsafePointer(to: address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    sendto(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), socketAddress, length)
                }
            }
        }
        guard sent == payload.count else {
            throw .socket("NOTIFY_SOCKET \(socketPath): sendto(): \(Self.errorText())")
        }
    }

    private static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }

    private static func errorText() -> String {
        String(cString: strerror(errno))
    }
}
