public import HeraldJournal

/// Durations as people type them: `500ms`, `30s`, `15m`, `12h`, `7d`, or plain seconds.
public enum DurationText {
    /// Nanoseconds, or nil when `text` is not a duration.
    public static func nanoseconds(_ text: String) -> Nanoseconds? {
        let units: [(String, Double)] = [
            ("ms", 1e6), ("us", 1e3), ("ns", 1), ("s", 1e9), ("m", 60e9), ("h", 3_600e9), ("d", 86_400e9),
        ]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value >= 0, value.isFinite else { return nil }
            return Nanoseconds(value * scale)
        }
        guard let seconds = Double(text), seconds >= 0, seconds.isFinite else { return nil }
        return Nanoseconds(seconds * 1e9)
    }
}
