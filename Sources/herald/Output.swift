import Foundation

/// Buffered standard output: one write(2) per 64 KiB, or on `flush`.
final class StandardOutput {
    private var buffer: [UInt8] = []

    init() { buffer.reserveCapacity(1 << 16) }

    func write(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { flush() }
    }

    func write(_ text: String) { write(text.utf8) }

    /// A decimal number, written without building a String.
    func write(decimal value: UInt64) {
        // The digits are appended lowest first, then that stretch is reversed in place.
        let start = buffer.count
        var rest = value
        repeat {
            buffer.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        buffer[start...].reverse()
        if buffer.count >= 1 << 16 { flush() }
    }

    func write(byte: UInt8) {
        buffer.append(byte)
    }

    func flush() {
        var offset = 0
        while offset < buffer.count {
            let written = buffer[offset...].withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                exit(ExitStatus.io.rawValue)
            }
            offset += written
        }
        buffer.removeAll(keepingCapacity: true)
    }

    deinit { flush() }
}

/// Parses a time: integer nanoseconds since the epoch, or RFC 3339 (`2026-11-24T16:00:00Z`,
/// fractional seconds allowed).
func parseTime(_ text: String) -> Int64? {
    if let nanoseconds = Int64(text) { return nanoseconds }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970 * 1e9) }
    formatter.formatOptions = [.withInternetDateTime]
    if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970 * 1e9) }
    return nil
}

func formatTime(_ nanoseconds: Int64) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: Date(timeIntervalSince1970: Double(nanoseconds) / 1e9))
}
