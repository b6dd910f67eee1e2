import Foundation
import Glibc
import Testing

/// heraldd speaks systemd's readiness protocol (Type=notify) without libsystemd: READY=1
/// with its pid once the socket accepts clients, STOPPING=1 on SIGTERM; to a socket path
/// or to an abstract-namespace name ("@name").
@Suite struct SystemdNotifyTests {
    @Test(arguments: [false, true])
    func heralddNotifiesReadyAndStopping(abstract: Bool) async throws {
        let name = "/tmp/hn-" + String(UUID().uuidString.prefix(8))
        let listener = try DatagramListener(path: name, abstract: abstract)
        defer { listener.close() }
        let daemon = try await DaemonProcess.launch(environment: ["NOTIFY_SOCKET": (abstract ? "@" : "") + name])
        defer { daemon.cleanup() }
        let ready = try await listener.receive(seconds: 10)
        let fields = Self.fields(ready)
        #expect(fields["READY"] == "1", "\(ready)")
        #expect(fields["MAINPID"] == "\(daemon.process.processIdentifier)", "\(ready)")
        #expect(fields["STATUS"]?.contains(daemon.socket) == true, "\(ready)")
        // READY came once the socket serves: a client connects at once.
        let client = try await daemon.client()
        await client.close()
        #expect(await daemon.stop() == 0)
        let stopping = try await listener.receive(seconds: 10)
        #expect(Self.fields(stopping)["STOPPING"] == "1", "\(stopping)")
    }

    @Test func withoutNotifySocketNothingIsSent() async throws {
        // The daemon starts and stops as before (DaemonProcess waits for its serving line).
        let daemon = try await DaemonProcess.launch(environment: ["NOTIFY_SOCKET": ""])
        defer { daemon.cleanup() }
        #expect(await daemon.stop() == 0)
        #expect(!daemon.stderr.contains("service manager"), "\(daemon.stderr)")
    }

    @Test func anUnreachableNotifySocketIsReportedNotFatal() async throws {
        let daemon = try await DaemonProcess.launch(environment: ["NOTIFY_SOCKET": "/nonexistent/notify.sock"])
        defer { daemon.cleanup() }
        let client = try await daemon.client()
        await client.close()
        #expect(await daemon.stop() == 0)
        #expect(daemon.stderr.contains("cannot tell the service manager"), "\(daemon.stderr)")
    }

    static func fields(_ message: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in message.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            result[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return result
    }
}

/// An AF_UNIX datagram socket bound to a path or an abstract name, as a service manager's.
final class DatagramListener: Sendable {
    let descriptor: Int32
    let path: String?

    init(path: String, abstract: Bool) throws {
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if abstract { bytes.insert(0, at: 0) }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let result = withUnsafePointer(to: address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard result == 0 else {
            Glibc.close(descriptor)
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        self.descriptor = descriptor
        self.path = abstract ? nil : path
    }

    /// The next datagram, waiting at most `seconds` (on a thread of its own).
    func receive(seconds: Int32) async throws -> String {
        let descriptor = descriptor
        return try await offPool {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, seconds * 1000) == 1 else { throw TimedOut() }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            return String(decoding: buffer[..<count], as: UTF8.self)
        }
    }

    func close() {
        Glibc.close(descriptor)
        if let path { unlink(path) }
    }
}
