import Foundation

/// A blocking TCP connection to a peer server on loopback, with a read buffer: enough for
/// the benchmark's Redis (RESP) and NATS clients. Not used by Herald itself.
// @unchecked Sendable: at most one thread reads (the read buffer) and one writes (send
// touches no shared state) at a time; the workloads keep to that.
final class BlockingSocket: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 1 << 20)
    private var start = 0
    private var end = 0

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        try Self.connect(fd, to: &address, name: "127.0.0.1:\(port)")
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// A Unix-domain socket (the peers' fastest local transport, as Herald's own).
    init(unixPath path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw Failure(description: "socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + [0]) }
        try Self.connect(fd, to: &address, name: path)
    }

    /// connect(2) to a sockaddr_in or sockaddr_un; throws on failure (deinit closes `fd`).
    private static func connect<Address>(_ fd: Int32, to address: inout Address, name: String) throws {
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<Address>.size))
            }
        }
        guard result == 0 else {
            throw Failure(description: "connect \(name): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 && errno == EINTR { continue }
            guard sent > 0 else { throw Failure(description: "send: \(String(cString: strerror(errno)))") }
            offset += sent
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Bytes up to (not including) the next CRLF.
    func line() throws -> ArraySlice<UInt8> {
        while true {
            if let index = buffer[start..<end].firstIndex(of: 10), index > start, buffer[index - 1] == 13 {
                defer { start = index + 1 }
                return buffer[start..<index - 1]
            }
            try fill()
        }
    }

    func exact(_ count: Int) throws -> ArraySlice<UInt8> {
        while end - start < count { try fill() }
        defer { start += count }
        return buffer[start..<start + count]
    }

    private func fill() throws {
        if start > 0 {
            buffer.replaceSubrange(0..<end - start, with: buffer[start..<end])
            end -= start
            start = 0
        }
        if end == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
        let got = buffer[end...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if got < 0 && errno == EINTR { return }
        guard got > 0 else { throw Failure(description: "peer closed the connection") }
        end += got
    }
}

/// A minimal RESP2 client: commands as arrays of bulk strings, replies parsed to values.
final class RedisConnection: @unchecked Sendable {  // see BlockingSocket
    indirect enum Reply {
        case simple(String), error(String), integer(Int), bulk([UInt8]?), array([Reply]?)
    }

    let socket: BlockingSocket

    init(port: Int) throws { socket = try BlockingSocket(port: port) }
    init(unixPath: String) throws { socket = try BlockingSocket(unixPath: unixPath) }

    static func encode(_ arguments: [[UInt8]]) -> [UInt8] {
        var out = Array("*\(arguments.count)\r\n".utf8)
        for argument in arguments {
            out += Array("$\(argument.count)\r\n".utf8)
            out += argument
            out += [13, 10]
        }
        return out
    }

    func command(_ arguments: [String]) throws -> Reply {
        try socket.send(Self.encode(arguments.map { Array($0.utf8) }))
        return try reply()
    }

    func reply() throws -> Reply {
        let line = try socket.line()
        let rest = String(decoding: line.dropFirst(), as: UTF8.self)
        switch line.first {
        case UInt8(ascii: "+"): return .simple(rest)
        case UInt8(ascii: "-"): return .error(rest)
        case UInt8(ascii: ":"): return .integer(Int(rest) ?? 0)
        case UInt8(ascii: "$"):
            let count = Int(rest) ?? -1
            guard count >= 0 else { return .bulk(nil) }
            let bytes = Array(try socket.exact(count + 2).dropLast(2))
            return .bulk(bytes)
        case UInt8(ascii: "*"):
            let count = Int(rest) ?? -1
            guard count >= 0 else { return .array(nil) }
            return .array(try (0..<count).map { _ in try reply() })
        default: throw BlockingSocket.Failure(description: "bad RESP line \(rest)")
        }
    }
}

extension RedisConnection {
    /// The entry ids of an XREADGROUP / XRANGE reply, parsed straight from the read buffer
    /// (no reply values built, no strings): the replay workload's client must not be slower
    /// than Redis's own fast clients (hiredis), or the ratio would flatter Herald.
    /// `streamsReply`: XREADGROUP's reply (streams, each [name, entries]); else XRANGE's
    /// (entries). nil for a null reply.
    func entryIDs(streamsReply: Bool) throws -> [[UInt8]]? {
        var ids: [[UInt8]] = []
        if streamsReply {
            guard let streams = try arrayHeader() else { return nil }
            for _ in 0..<streams {
                _ = try arrayHeader()  // [name, entries]
                try skipValue()  // the stream's name
                try entries(into: &ids)
            }
        } else {
            try entries(into: &ids)
        }
        return ids
    }

    private func entries(into ids: inout [[UInt8]]) throws {
        guard let count = try arrayHeader() else { return }
        ids.reserveCapacity(ids.count + count)
        for _ in 0..<count {
            _ = try arrayHeader()  // [id, fields]
            let header = try socket.line()
            let length = Self.integer(header.dropFirst())
            ids.append(Array(try socket.exact(length + 2).dropLast(2)))
            try skipValue()  // the fields
        }
    }

    /// The count of an array header; nil for a null array.
    private func arrayHeader() throws -> Int? {
        let line = try socket.line()
        guard line.first == UInt8(ascii: "*") else {
            throw BlockingSocket.Failure(description: "RESP: expected an array")
        }
        let count = Self.integer(line.dropFirst())
        return count < 0 ? nil : count
    }

    private func skipValue() throws {
        let line = try socket.line()
        switch line.first {
        case UInt8(ascii: "$"):
            let length = Self.integer(line.dropFirst())
            if length >= 0 { _ = try socket.exact(length + 2) }
        case UInt8(ascii: "*"):
            let count = Self.integer(line.dropFirst())
            for _ in 0..<max(count, 0) { try skipValue() }
        case UInt8(ascii: "-"):
            throw BlockingSocket.Failure(description: "Redis: \(String(decoding: line, as: UTF8.self))")
        default:
            break
        }
    }

    static func integer(_ digits: ArraySlice<UInt8>) -> Int {
        var value = 0
        var negative = false
        for byte in digits {
            if byte == UInt8(ascii: "-") { negative = true } else { value = value * 10 + Int(byte - 48) }
        }
        return negative ? -value : value
    }
}

/// A minimal NATS client (text protocol) with JetStream publish acks counted by inbox.
final class NatsConnection: @unchecked Sendable {  // see BlockingSocket
    struct Message {
        var subject: String
        var reply: String?
        var payload: ArraySlice<UInt8>
    }

    let socket: BlockingSocket

    init(port: Int) throws {
        socket = try BlockingSocket(port: port)
        _ = try socket.line()  // INFO
        try socket.send("CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":false}\r\nPING\r\n")
        while try socket.line() != ArraySlice("PONG".utf8) {}
    }

    func subscribe(_ subject: String, sid: Int) throws { try socket.send("SUB \(subject) \(sid)\r\n") }

    static func publishFrame(_ subject: String, reply: String?, payload: [UInt8]) -> [UInt8] {
        let head = reply.map { "PUB \(subject) \($0) \(payload.count)\r\n" } ?? "PUB \(subject) \(payload.count)\r\n"
        return Array(head.utf8) + payload + [13, 10]
    }

    /// The next MSG (answering PINGs on the way).
    func next() throws -> Message {
        while true {
            let line = try socket.line()
            if line.starts(with: Array("MSG ".utf8)) {
                let fields = line.split(separator: 32)
                let size = Int(String(decoding: fields.last!, as: UTF8.self)) ?? 0
                let payload = try socket.exact(size + 2).dropLast(2)
                return Message(
                    subject: String(decoding: fields[1], as: UTF8.self),
                    reply: fields.count == 5 ? String(decoding: fields[3], as: UTF8.self) : nil, payload: payload)
            }
            if line == ArraySlice("PING".utf8) { try socket.send("PONG\r\n") }
            if line.starts(with: Array("-ERR".utf8)) {
                throw BlockingSocket.Failure(description: String(decoding: line, as: UTF8.self))
            }
        }
    }

    /// A request/reply on an inbox.
    func request(_ subject: String, _ payload: String) throws -> String {
        let inbox = "_INBOX.req\(UInt32.random(in: 0...UInt32.max))"
        try subscribe(inbox, sid: 999)
        try socket.send(Self.publishFrame(subject, reply: inbox, payload: Array(payload.utf8)))
        var message = try next()
        while message.subject != inbox { message = try next() }
        try socket.send("UNSUB 999\r\n")
        return String(decoding: message.payload, as: UTF8.self)
    }
}
