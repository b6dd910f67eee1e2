import Glibc

/// What the client needs to know about the process it runs in, read from the C library
/// rather than Foundation: the client (and so the C libraries built on it) links no
/// Foundation, ICU or locale data, which a C program receiving cluster events should not
/// have to map.
public enum ProcessFacts {
    /// `getenv(name)`; nil when unset.
    public static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    /// The process's name as the kernel knows it (`/proc/self/comm`, at most 15 bytes),
    /// "unknown" when it cannot be read.
    public static let name: String = {
        let descriptor = open("/proc/self/comm", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return "unknown" }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 64)
        let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return "unknown" }
        let text = bytes[..<count].prefix { $0 != UInt8(ascii: "\n") }
        return String(decoding: text, as: UTF8.self)
    }()

    /// Writes `text` to standard error unbuffered, whole (retrying short writes and EINTR).
    public static func writeStandardError(_ text: String) {
        var text = text
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(STDERR_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }

    /// Nanoseconds since the Unix epoch (CLOCK_REALTIME).
    public static func wallClockNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
