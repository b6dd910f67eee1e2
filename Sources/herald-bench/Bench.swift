import ArgumentParser
import Foundation
import GRDB
import HeraldJournal

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald-bench",
        abstract: "Herald's benchmarks (run through tools/bench).",
        subcommands: [
            JournalBench.self, ServiceBench.self, DaemonBench.self, OCFBench.self, SaEvtBench.self, AuditorBench.self,
            ClusterBench.self,
            ReplayChild.self,
            DaemonPublisherChild.self, ReplayProbe.self, ServiceMemoryChild.self, ServiceSubscribersChild.self,
        ])
}

/// Wall-clock seconds of `body`.
func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func formatRate(_ value: Double) -> String {
    if value >= 1e6 { return String(format: "%.2f M", value / 1e6) }
    if value >= 1e3 { return String(format: "%.1f k", value / 1e3) }
    return String(format: "%.0f", value)
}

/// A count as the tables print it: "10 M", "500 k", "999".
func formatCount(_ value: Int) -> String {
    if value >= 1_000_000 && value % 1_000_000 == 0 { return "\(value / 1_000_000) M" }
    if value >= 1_000 && value % 1_000 == 0 { return "\(value / 1_000) k" }
    return "\(value)"
}

/// Peak (`VmHWM`) or current (`VmRSS`) resident memory of this process, in MB.
func residentMegabytes(current: Bool = false) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix(current ? "VmRSS:" : "VmHWM:") {
        let digits = line.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0
        return digits / 1024
    }
    return 0
}

/// Child process of the replay workload: reads the whole journal and prints
/// "<records> <payload bytes> <seconds>".
struct ReplayChild: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "replay-child", shouldDisplay: false)

    @Option(name: .customLong("data-dir")) var dataDirectory: String

    func run() throws {
        var options = JournalOptions()
        options.readOnly = true
        let journal = try Journal.open(at: dataDirectory, options: options)
        var records = 0
        var bytes = 0
        var checksum: UInt64 = 0
        let elapsed = try seconds {
            let reader = try journal.reader(from: .oldest)
            try reader.nextView { view in
                records += 1
                bytes += view.data.count
                checksum &+= UInt64(view.data[view.data.count / 2]) &+ view.sequence.rawValue
                return true
            }
        }
        print("\(records) \(bytes) \(elapsed) \(checksum)")
    }
}
