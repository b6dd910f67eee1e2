import Foundation
import HeraldService

/// Buffered standard output: one write(2) per 64 KiB, or on `flush`.
final class StandardOutput {
    // Only the thread that prints touches it (no dynamic exclusivity check per write: they
    // were a tenth of `herald tail`'s time, measured with perf).
    @exclusivity(unchecked) private var buffer: [UInt8] = []

    init() { buffer.reserveCapacity(1 << 16) }

    func write(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { flush() }
    }

    func write(_ text: String) { write(text.utf8) }

    /// A decimal number, written without building a String or any other allocation: the
    /// digits go into a stack buffer from the lowest, then are appended in order.
    func write(decimal value: UInt64) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: UInt64.max has 20 digits
        withUnsafeMutableBytes(of: &digits) { raw in
            var index = raw.count
            var rest = value
            repeat {
                index -= 1
                raw[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[index...]))
        }
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

func formatTime(_ nanoseconds: Int64) -> String { AuditRow.time(nanoseconds) }
