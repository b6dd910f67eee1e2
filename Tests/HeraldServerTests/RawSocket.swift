import Foundation
import HeraldWire

/// A plain blocking Unix socket, to send bytes no well-behaved client would.
enum RawSocket {
    struct Failure: Error { let what: String }

    /// Everything the peer sends until it closes (an HTTP/1.0 answer), as text.
    static func readToEnd(_ fd: Int32) -> String {
        var text = ""
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if got <= 0 { break }
            text += String(decoding: buffer[0..<got], as: UTF8.self)
        }
        return text
    }

    /// `GET /metrics` on a metrics endpoint's Unix socket: the whole answer.
    static func metrics(_ path: String) throws -> String {
        let fd = try connect(path)
        defer { close(fd) }
        try send(fd, Array("GET /metrics HTTP/1.0\r\n\r\n".utf8))
        return readToEnd(fd)
    }

    /// Every frame heraldd sends until it closes the connection, with its correlation id.
    /// Silence for `quiet` seconds is an error that says how far the replies got (a receive
    /// timeout is not the end of the conversation).
    static func repliesUntilClosed(_ fd: Int32, quiet: Int = 10) throws -> [(UInt32, ServerMessage)] {
        var timeout = timeval(tv_sec: quiet, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var replies: [(UInt32, ServerMessage)] = []
        var decoder = WireFrameDecoder()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if got < 0 && errno == EINTR { continue }
            if got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                throw Failure(what: "no reply for \(quiet) s after \(replies.count) replies")
            }
            if got <= 0 { break }
            decoder.feed(buffer[0..<got])
            while let frame = try decoder.next() {
                replies.append((frame.correlation, try ServerMessage(frame: frame)))
            }
        }
        return replies
    }

    static func connect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else { throw Failure(what: "connect: \(errno)") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    static func send(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { throw Failure(what: "send: \(errno)") }
            offset += sent
        }
    }

    /// Sends `bytes`, then reads server frames until the daemon closes the connection.
    static func exchange(_ path: String, _ bytes: [UInt8]) throws -> [ServerMessage] {
        let fd = try connect(path)
        defer { close(fd) }
        try? send(fd, bytes)
        var decoder = WireFrameDecoder(frameBytesMax: 1 << 20)
        var messages: [ServerMessage] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if got <= 0 { break }
            decoder.feed(buffer[0..<got])
            while let frame = try decoder.next() { messages.append(try ServerMessage(frame: frame)) }
        }
        return messages
    }

    static func readUntil<T>(_ fd: Int32, _ match: (ServerMessage) -> T?) throws -> T {
        var decoder = WireFrameDecoder(frameBytesMax: 1 << 20)
        var buffer = [UInt8](repeating: 0, count: 1)
        while true {
            let got = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard got > 0 else { throw Failure(what: "closed before the expected reply") }
            decoder.feed(buffer[0..<got])
            while let frame = try decoder.next() {
                if let value = match(try ServerMessage(frame: frame)) { return value }
            }
        }
    }
}
