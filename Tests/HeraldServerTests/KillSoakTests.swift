import Foundation
import Testing

/// The whole-system kill -9 soak, short and seeded (issue 20, part 1; `tools/soak` runs the
/// long one with the same code): 20 SIGKILLs of heraldd and 40 of its clients, at random
/// moments, and nothing acknowledged may be lost, delivered again unmarked, or delivered
/// again after its acknowledgement was stored; every publisher's order kept; the chain
/// verifies. HERALD_SOAK_SEED, HERALD_SOAK_DAEMON_KILLS, HERALD_SOAK_CLIENT_KILLS and
/// HERALD_SOAK_PUBLISH_PAUSE_MS change the run.
@Suite(.serialized) struct KillSoakTests {
    @Test func wholeSystemKillSoak() async throws {
        let environment = ProcessInfo.processInfo.environment
        var settings = KillSoak.Settings()
        settings.seed = environment["HERALD_SOAK_SEED"].flatMap { UInt64($0) } ?? 20_261_207
        settings.daemonKills = environment["HERALD_SOAK_DAEMON_KILLS"].flatMap { Int($0) } ?? 20
        settings.clientKills = environment["HERALD_SOAK_CLIENT_KILLS"].flatMap { Int($0) } ?? 40
        if let pause = environment["HERALD_SOAK_PUBLISH_PAUSE_MS"].flatMap({ Int($0) }) {
            settings.publishPause = .milliseconds(pause)
        }
        settings.log = { print($0) }
        let began = ContinuousClock.now
        let soak = try await KillSoak(settings: settings)
        defer { soak.daemon.cleanup() }
        try await soak.run()
        let report = try await soak.check()
        let seconds = Double((ContinuousClock.now - began).components.seconds)
        print(
            "soak: seed \(settings.seed), \(soak.daemonKills) heraldd kills, \(soak.clientKills) client kills in "
                + "\(Int(seconds)) s; \(report.acknowledged) events acknowledged to publishers, \(report.journaled) "
                + "journaled, \(report.deliveries) deliveries (\(report.redeliveries) marked redelivered); "
                + "\(report.problems.count) problems")
        #expect(soak.daemonKills == settings.daemonKills)
        #expect(soak.clientKills >= settings.clientKills / 2, "most client kills found their process running")
        #expect(report.acknowledged > 1_000, "the publishers made progress between kills")
        #expect(report.redeliveries > 0, "kills left deliveries unacknowledged: the redelivery rules were tested")
        #expect(report.problems.isEmpty, "\(report.problems.joined(separator: "\n"))\n\(report.lives)")
    }
}
