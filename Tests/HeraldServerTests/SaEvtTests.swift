import CSaEvtChecks
import Foundation
import HeraldClient
import HeraldWire
import Testing

@testable import SaEvt

/// The SaEvt C API (libSaEvt): statically linked C checks, and C programs compiled by `cc`
/// against the built shared library, against a real heraldd.
@Suite(.serialized) struct SaEvtTests {
    /// The copy guard of the dispatch queue: an entry names its delivery in the frame's
    /// batch (a reference and two numbers) instead of holding a copy of it, so queuing and
    /// taking an event copy a few bytes (a delivery is over 150).
    @Test func aQueuedDeliveryIsAFewBytes() {
        #expect(MemoryLayout<EvtService.Pending>.size <= 24)
        #expect(MemoryLayout<ClientDelivery>.size > 100)
    }

    @Test func versionsAndHandlesAreCheckedInProcess() async throws {
        let missing = NSTemporaryDirectory() + "herald-none-\(UUID().uuidString.prefix(6)).sock"
        var (line, message) = await runCCheck { sacheck_no_daemon(missing, $0, 512) }
        #expect(line == 0, "line \(line): \(message)")
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let socket = daemon.socket
        (line, message) = await runCCheck { sacheck_handles(socket, $0, 512) }
        #expect(line == 0, "line \(line): \(message)")
    }

    static let rules = [
        "version_table", "handles_are_validated", "channel_open_errors", "channel_persists_after_last_close",
        "unlink_keeps_the_old_instance_for_its_openers", "async_open", "allocate_gives_defaults",
        "attributes_round_trip_and_no_space", "publish_ids_data_get_and_self_delivery", "subscribe_errors",
        "at_most_once_per_open", "filters_every_rule", "retention_late_subscriber_expired_cleared",
        "unsubscribe_leaves_nothing_behind", "unsubscribe_hands_waiting_events_to_another_subscription",
        "dispatch_one_and_all", "dispatch_blocking_returns_after_finalize", "finalize_closes_everything", "limits",
    ]

    @Test func conformanceSuiteRuleByRule() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let binary = try await CProgram.build("saevt/conformance.c", flags: ["-std=c99", "-pthread"], library: "SaEvt")
        let (status, output, errors) = try await CProgram.run(
            binary, [], environment: ["HERALD_SOCKET": daemon.socket])
        let failures = output.split(separator: "\n").filter { $0.hasPrefix("FAIL") }.joined(separator: "\n")
        #expect(status == 0, "\(failures)\n\(errors)")
        for rule in Self.rules { #expect(output.contains("ok \(rule)\n"), "rule \(rule):\n\(output)") }
        #expect(output.hasSuffix("PASSED 0\n"))
    }

    /// The same rules with heraldd under load: another process (`herald publish`, fed 100
    /// lines every 10 ms: about 10 k events/s) publishes on its own channel all the while.
    @Test func conformanceSuiteHoldsUnderLoad() async throws {
        let daemon = try await DaemonProcess.launch(arguments: ["--durability", "batch:10"])
        defer { daemon.cleanup() }
        let binary = try await CProgram.build("saevt/conformance.c", flags: ["-std=c99", "-pthread"], library: "SaEvt")
        // Ends when the stop file appears: herald reads to the end, and both exit.
        let stop = daemon.socket + ".stop-load"
        let pacer =
            "while [ ! -e \"$1\" ]; do printf '%s\\n' {1..100}; sleep 0.01; done"
            + " | \"$0\" publish --channel load >/dev/null"
        let load = try Child(
            "/bin/bash", ["-c", pacer, builtProduct("herald"), stop], environment: ["HERALD_SOCKET": daemon.socket])
        defer {
            // The loop ends at the stop file (killing bash alone would leave it and herald running).
            _ = FileManager.default.createFile(atPath: stop, contents: nil)
            if load.process.isRunning { load.kill9() }
        }
        // The load is running before the suite starts.
        let client = try await daemon.client()
        var loaded: UInt32 = 0
        for _ in 0..<200 where loaded < 1_000 {
            let status = try await client.status()
            loaded = UInt32(clamping: status.headSequence)
            if loaded < 1_000 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(loaded >= 1_000, "the load publisher did not start")
        let before = try await client.status().headSequence
        let started = ContinuousClock.now
        let (status, output, errors) = try await CProgram.run(
            binary, [], environment: ["HERALD_SOCKET": daemon.socket])
        let elapsed = ContinuousClock.now - started
        let published = try await client.status().headSequence - before
        await client.close()
        _ = FileManager.default.createFile(atPath: stop, contents: nil)
        #expect(await load.wait(seconds: 30) == 0, "the load publisher: \(load.errors)")
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("conformance under load: \(published) records journaled in \(seconds) s")
        let failures = output.split(separator: "\n").filter { $0.hasPrefix("FAIL") }.joined(separator: "\n")
        #expect(status == 0, "\(failures)\n\(errors)")
        for rule in Self.rules { #expect(output.contains("ok \(rule)\n"), "rule \(rule):\n\(output)") }
        // Under load indeed: the other process kept publishing while the rules ran.
        #expect(Double(published) >= 1_000 * seconds, "\(published) records in \(seconds) s")
    }

    @Test func aSubscriberThatFallsBehindItsWindowGetsOneLostEvent() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let binary = try await CProgram.build("saevt/conformance.c", flags: ["-std=c99", "-pthread"], library: "SaEvt")
        var (status, output, errors) = try await CProgram.run(
            binary, ["lost"],
            environment: ["HERALD_SOCKET": daemon.socket, "HERALD_SAEVT_WINDOW": "16", "HERALD_SAEVT_LAG_MAX": "50"])
        #expect(status == 0, "\(output)\(errors)")
        #expect(output.contains("ok lost_event_for_a_subscriber_that_falls_behind"))
        // Without a lag limit (the default) nothing is lost: the same 400 all arrive, in
        // order, with no notice (waited for, not timed).
        (status, output, errors) = try await CProgram.run(
            binary, ["nolost"], environment: ["HERALD_SOCKET": daemon.socket])
        #expect(status == 0, "\(output)\(errors)")
        #expect(output.contains("ok nothing_lost_without_a_lag_limit"), "\(output)")
        #expect(output.contains("400 deliveries, none lost"), "\(output)")
    }

    /// AIS priority order beyond the window: what waits in heraldd comes higher priority
    /// first (publish order within a priority), at the C API.
    @Test func eventsWaitingBeyondTheWindowComeHigherPriorityFirst() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let binary = try await CProgram.build("saevt/conformance.c", flags: ["-std=c99", "-pthread"], library: "SaEvt")
        let (status, output, errors) = try await CProgram.run(
            binary, ["priority"], environment: ["HERALD_SOCKET": daemon.socket, "HERALD_SAEVT_WINDOW": "4"])
        #expect(status == 0, "\(output)\(errors)")
        #expect(output.contains("ok higher_priority_first_beyond_the_window"), "\(output)")
    }

    @Test func aPublisherKilledWithSIGKILLHasItsChannelsClosed() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let binary = try await CProgram.build("saevt/conformance.c", flags: ["-std=c99", "-pthread"], library: "SaEvt")
        let holder = try Child(binary, ["hold", "doomed"], environment: ["HERALD_SOCKET": daemon.socket])
        defer { if holder.process.isRunning { holder.kill9() } }
        try await holder.waitForLine("READY")
        let client = try await daemon.client()
        func openers() async throws -> UInt32? {
            try await client.channels().first { $0.name == Array("doomed".utf8) }?.openers
        }
        #expect(try await openers() == 1)
        holder.kill9()
        var closed = false
        for _ in 0..<100 where !closed {
            closed = try await openers() == 0
            if !closed { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(closed, "heraldd closed the dead process's channel")
        await client.close()
    }

    @Test func twoProcessesPublishAndSubscribe() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let environment = ["HERALD_SOCKET": daemon.socket]
        let subscriber = try Child(
            try await CProgram.build("saevt/subscriber.c", library: "SaEvt"), ["pair", "500"], environment: environment)
        defer { if subscriber.process.isRunning { subscriber.kill9() } }
        try await subscriber.waitForLine("READY")
        let (status, output, errors) = try await CProgram.run(
            try await CProgram.build("saevt/publisher.c", library: "SaEvt"), ["pair", "500"], environment: environment)
        #expect(status == 0, "\(output)\(errors)")
        #expect(output == "PUBLISHED 500\n")
        #expect(await subscriber.wait(seconds: 30) == 0, "\(subscriber.output)\(subscriber.errors)")
        #expect(subscriber.lines.last == "RECEIVED 500 errors=0")
    }

    @Test func headerCompilesInEveryModeWithTheLayoutsOfAIS() async throws {
        let modes: [(String, [String])] = [
            ("cc", ["-std=c99", "-pedantic"]), ("cc", ["-std=gnu11"]), ("cc", ["-std=c11"]),
            ("c++", ["-x", "c++", "-std=c++11"]),
        ]
        for (compiler, flags) in modes {
            let binary = try await CProgram.build(
                "saevt/header_check.c", flags: flags, compiler: compiler, library: "SaEvt")
            let (status, output, _) = try await CProgram.run(binary, [])
            #expect(status == 0 && output == "ok saEvt\n", "\(compiler) \(flags)")
        }
    }

    @Test func theLibraryExportsExactlyTheFunctionsOfTheHeaders() async throws {
        var declared = Set<String>()
        for header in ["saEvt.h", "herald_saevt.h"] {
            let (status, output, errors) = try await CProgram.run(
                "cc", ["-E", "-P", "-I", repositoryRoot + "/include", "-x", "c", "-"], input: "#include <\(header)>\n")
            #expect(status == 0, "\(errors)")
            let regex = try NSRegularExpression(pattern: #"\b((?:saEvt|herald_saevt)\w*)\s*\("#)
            for match in regex.matches(in: output, range: NSRange(output.startIndex..., in: output)) {
                declared.insert(String(output[Range(match.range(at: 1), in: output)!]))
            }
        }
        let (status, symbols, _) = try await CProgram.run("nm", ["-D", "--defined-only", builtProduct("libSaEvt.so")])
        #expect(status == 0)
        let exported = Set(
            symbols.split(separator: "\n").compactMap { line -> String? in
                let fields = line.split(separator: " ")
                guard fields.count == 3, fields[1] == "T",
                    fields[2].hasPrefix("saEvt") || fields[2].hasPrefix("herald_saevt")
                else { return nil }
                return String(fields[2])
            })
        #expect(declared.count == 23)
        #expect(
            exported == declared,
            "exported, not declared: \(exported.subtracting(declared)); declared, not exported: \(declared.subtracting(exported))"
        )
    }
}
