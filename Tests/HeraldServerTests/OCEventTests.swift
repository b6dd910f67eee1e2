import COCEventChecks
import Foundation
import HeraldClient
import HeraldWire
import Testing

/// The OCF C API (liboc_event): statically linked C checks, and C programs compiled by
/// `cc` against the built shared library, each against a real heraldd.
@Suite(.serialized) struct OCEventTests {

    @Test func misuseIsAnErrorNeverACrash() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let socket = daemon.socket
        for run in [occheck_draft_misuse, occheck_heartbeat_misuse] {
            let (line, message) = await runCCheck { run(socket, $0, 512) }
            #expect(line == 0, "line \(line): \(message)")
        }
        let missing = daemon.directory + "/nobody.sock"
        let started = Date()
        let (line, message) = await runCCheck { occheck_no_daemon(missing, $0, 512) }
        #expect(line == 0, "line \(line): \(message)")
        #expect(Date().timeIntervalSince(started) < 20, "no daemon: it fails, it does not hang")
    }

    @Test func nextEventOnlyAfterEveryCallbackIsDone() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let client = try await daemon.client()
        let channel = try await client.openChannel("rule", flags: [.publisher, .create])
        let ids = try await client.publish(channel, (1...3).map { WireEvent(data: [UInt8($0)]) })
        await client.close()
        let socket = daemon.socket
        let (line, message) = await runCCheck { occheck_completion_rule(socket, $0, 512) }
        #expect(line == 0, "line \(line): \(message)")
        // High priority first for each event (H, then R: the high callback replaced while
        // active); the third event's low-priority callback never ran (unregistered from R).
        let sequences = ids.map { $0 - 1000 }
        #expect(
            message == "H\(sequences[0]) L\(sequences[0]) R\(sequences[1]) L\(sequences[1]) R\(sequences[2]) ",
            "callback order: \(message)")
    }

    // MARK: C programs against the shared library

    @Test func headerCompilesInEveryModeWithTheLayoutsOfOCF() async throws {
        let modes: [(String, [String])] = [
            ("cc", ["-std=c99", "-pedantic"]), ("cc", ["-std=gnu11"]), ("cc", ["-std=c11"]),
            ("c++", ["-x", "c++", "-std=c++11"]),
        ]
        for (compiler, flags) in modes {
            for flavour in [[], ["-DOC_EV_API_HEARTBEAT"]] {
                let binary = try await CProgram.build("ocf/header_check.c", flags: flags + flavour, compiler: compiler)
                let (status, output, _) = try await CProgram.run(binary, [])
                #expect(status == 0)
                let name = flavour.isEmpty ? "draft" : "heartbeat"
                #expect(
                    output == "ok \(name) MEMB=2 NEW=0x800001 EVICTED=0x800004 CAST=0xc00003\n", "\(compiler) \(flags)")
            }
        }
    }

    @Test func theLibraryExportsExactlyWhatTheHeaderDeclares() async throws {
        var declared = Set<String>()
        for flavour in [[], ["-DOC_EV_API_HEARTBEAT"]] {
            let (status, output, errors) = try await CProgram.run(
                "cc", ["-E", "-P", "-I", repositoryRoot + "/include", "-x", "c", "-"] + flavour,
                input: "#include <ocf/oc_event.h>\n")
            #expect(status == 0, "\(errors)")
            let regex = try NSRegularExpression(pattern: #"\b(oc_ev_\w+)\s*\("#)
            for match in regex.matches(in: output, range: NSRange(output.startIndex..., in: output)) {
                let name = String(output[Range(match.range(at: 1), in: output)!])
                if !name.hasSuffix("_t") { declared.insert(name) }  // not the callback typedef
            }
        }
        let (status, symbols, _) = try await CProgram.run(
            "nm", ["-D", "--defined-only", builtProduct("liboc_event.so")])
        #expect(status == 0)
        let exported = Set(
            symbols.split(separator: "\n").compactMap { line -> String? in
                let fields = line.split(separator: " ")
                guard fields.count == 3, fields[1] == "T", fields[2].hasPrefix("oc_ev_") else { return nil }
                return String(fields[2])
            })
        #expect(declared.count >= 17)
        #expect(
            exported == declared,
            "exported, not declared: \(exported.subtracting(declared)); declared, not exported: \(declared.subtracting(exported))"
        )
    }

    @Test(arguments: ["noreturn", "fd", "signal"])
    func draftExampleReceivesAllThreeClassesInPriorityOrder(style: String) async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let binary = try await CProgram.build("ocf/draft_client.c")
        let child = try Child(binary, [style, "6"], environment: ["HERALD_SOCKET": daemon.socket])
        defer { if child.process.isRunning { child.kill9() } }
        try await child.waitForLine("READY")
        let client = try await daemon.client()
        let link = ConnectivityEvent(
            change: .connectionLost, node: ClusterNode(name: "node-b", id: 2, bornOn: 1), interface: "knet0")
        _ = try await client.publishSystemEvent(descriptor: 0x40_0003, data: link.encoded())
        let channel = try await client.openChannel("orders", flags: [.publisher, .subscriber, .create])  // JOIN
        _ = try await client.publish(channel, [WireEvent(patterns: [Array("p".utf8)], data: Array("one".utf8))])
        _ = try await client.publish(channel, WireEvent(data: Array("two".utf8)))
        let nodes = [ClusterNode(name: "node-a", id: 1, bornOn: 1), ClusterNode(name: "node-c", id: 3, bornOn: 2)]
        let membership = MembershipEvent(instance: 2, members: nodes, left: [], joined: [nodes[1]])
        _ = try await client.publishSystemEvent(descriptor: 0x80_0001, data: membership.encoded())
        #expect(await child.wait(seconds: 30) == 0, "\(child.output)\(child.errors)")
        await client.close()
        let lines = child.lines.filter { $0.contains("class=") }
        let names = lines.map { $0.split(separator: " ")[0] }
        #expect(
            names == [
                "memb-high", "memb-low", "comm-med", "comm-low", "group-high", "group-low", "group-high", "group-low",
                "group-high", "group-low", "memb-high", "memb-low",
            ], "\(child.output)")
        guard lines.count == 12 else { return }
        #expect(lines[0].contains("instance=1 members=1 out=0 in=1"), "the current membership first")
        #expect(lines[2].contains("class=1 event=3") && lines[2].contains("change=6 up=0 node=node-b/2 link=knet0"))
        #expect(lines[4].contains("class=3 event=1") && lines[4].contains("channel=orders"), "the join")
        #expect(lines[6].contains("class=3 event=3") && lines[6].contains("patterns=1 data=one"))
        #expect(lines[8].contains("data=two"))
        #expect(lines[10].contains("instance=2 members=2 out=0 in=1 size="))
        #expect(lines[10].contains("member=node-a/1/1 member=node-c/3/2"))
        // Each line's sequence: the same event to both callbacks, journal order between events.
        let sequences = lines.map { line in
            UInt64(line.split(separator: " ").first { $0.hasPrefix("seq=") }!.dropFirst(4))!
        }
        for index in stride(from: 0, to: sequences.count, by: 2) { #expect(sequences[index] == sequences[index + 1]) }
        #expect(sequences == sequences.sorted())
        #expect(child.lines.last == "DONE 6")
        if style == "signal" { #expect(child.lines.contains("signals ok")) }
    }

    @Test func heartbeatMembershipClientSeesEveryKindOfMembershipEvent() async throws {
        let binary = try await CProgram.build("ocf/heartbeat_client.c", flags: ["-std=c99", "-DOC_EV_API_HEARTBEAT"])
        for special in [true, false] {
            let daemon = try await DaemonProcess.launch()
            defer { daemon.cleanup() }
            let host = try await daemon.client().welcome.nodeName
            let wanted = special ? 6 : 5
            let child = try Child(
                binary, [String(wanted)] + (special ? ["special"] : []), environment: ["HERALD_SOCKET": daemon.socket])
            defer { if child.process.isRunning { child.kill9() } }
            try await child.waitForLine("READY")
            let client = try await daemon.client()
            let me = ClusterNode(name: host, id: 1, bornOn: 1)
            let peer = ClusterNode(name: "peer", id: 2, bornOn: 3)
            let two = MembershipEvent(instance: 3, members: [me, peer], left: [], joined: [peer])
            let alone = MembershipEvent(instance: 4, members: [me], left: [peer], joined: [])
            for (descriptor, data) in [
                (UInt32(0x80_0002), [UInt8]()),  // NOT_PRIMARY: the previous membership's data
                (0x80_0000, alone.encoded()),  // INVALID: shown only after oc_ev_special
                (0x80_0003, alone.encoded()),  // PRIMARY_RESTORED
                (0x80_0001, two.encoded()),  // NEW_MEMBERSHIP
                (0x80_0004, [UInt8]()),  // EVICTED: no data
            ] {
                _ = try await client.publishSystemEvent(descriptor: descriptor, data: data)
            }
            #expect(await child.wait(seconds: 30) == 0, "\(child.output)\(child.errors)")
            await client.close()
            let events = child.lines.filter { $0.hasPrefix("event=") }
            let kinds = events.map { $0.split(separator: " ")[0] }
            var expected = ["event=NEW_MEMBERSHIP", "event=NOT_PRIMARY"]
            if special { expected.append("event=INVALID") }
            expected += ["event=PRIMARY_RESTORED", "event=NEW_MEMBERSHIP", "event=EVICTED"]
            #expect(kinds.map(String.init) == expected, "\(child.output)")
            guard events.count == expected.count else { continue }
            #expect(child.lines.contains("readable-at-activation=1"))
            #expect(events[0].contains("n_member=1 memb_idx=0 n_out=0 out_idx=1 n_in=1 in_idx=1"))
            #expect(events[0].contains("member=\(host)/1/") && events[0].contains("/me"), "is_my_nodeid")
            // NOT_PRIMARY repeats the membership before it.
            let firstInstance = events[0].split(separator: " ").first { $0.hasPrefix("instance=") }
            #expect(events[1].contains(String(firstInstance ?? "?")))
            let restored = events[special ? 3 : 2]
            #expect(restored.contains("instance=4 n_member=1") && restored.contains("out=peer/2/3"))
            let newest = events[special ? 4 : 3]
            #expect(newest.contains("instance=3 n_member=2") && newest.contains("member=peer/2/3 in=peer/2/3"))
            #expect(events.last!.contains("size=0 data=NULL"))
            #expect(child.lines.contains("second-unregister=EINVAL"))
        }
    }

    @Test func aDurableClientKilledMidStreamResumesAfterItsLastCompletedEvent() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let client = try await daemon.client()
        let channel = try await client.openChannel("ledger", flags: [.publisher, .create])
        let ids = try await client.publish(channel, (0..<10).map { WireEvent(data: Array("e\($0)".utf8)) })
        await client.close()
        let binary = try await CProgram.build("ocf/durable_client.c")
        let environment = ["HERALD_SOCKET": daemon.socket]
        let first = try Child(binary, ["10", "4"], environment: environment)
        try await first.waitForLine("HOLDING")
        try await Task.sleep(for: .milliseconds(300))  // the 4 acks reach the daemon
        first.kill9()
        let completed = first.lines.filter { $0.hasPrefix("seq=") }
        #expect(completed.count == 4)
        let held = UInt64(first.lines.first { $0.hasPrefix("HOLDING") }!.dropFirst("HOLDING seq=".count))!
        #expect(held == ids[4] - 1000)

        let second = try Child(binary, ["6"], environment: environment)
        #expect(await second.wait(seconds: 30) == 0, "\(second.output)\(second.errors)")
        let resumed = second.lines.filter { $0.hasPrefix("seq=") }
        #expect(resumed.count == 6)
        #expect(resumed.first == "seq=\(held) redelivered=1 data=e4", "the uncompleted event comes back, marked")
        #expect(resumed.map { $0.split(separator: " ")[2] } == (4..<10).map { "data=e\($0)" })
    }

    @Test func noDaemonFailsCleanlyAndSaysWhyOnlyWhenAsked() async throws {
        let binary = try await CProgram.build("ocf/draft_client.c")
        let missing = NSTemporaryDirectory() + "herald-none-\(UUID().uuidString.prefix(6)).sock"
        var (status, output, errors) = try await CProgram.run(
            binary, ["fd", "1"], environment: ["HERALD_SOCKET": missing])
        #expect(status == 2)
        #expect(output.contains("register failed: Connection refused"))
        #expect(errors.isEmpty, "quiet without HERALD_DEBUG: \(errors)")
        (status, output, errors) = try await CProgram.run(
            binary, ["fd", "1"], environment: ["HERALD_SOCKET": missing, "HERALD_DEBUG": "1"])
        #expect(status == 2)
        #expect(errors.contains("liboc_event: heraldd is not reachable at \(missing)"))
    }
}

/// The README's C example, built as the README says: tools/install into a prefix, then
/// `cc members.c $(pkg-config --cflags --libs oc_event)`.
@Suite struct OCEventInstallTests {
    @Test func readmeExampleAndASaEvtProgramBuildWithPkgConfigFromAnInstall() async throws {
        let prefix = NSTemporaryDirectory() + "herald-prefix-" + String(UUID().uuidString.prefix(8))
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        let configuration = builtProduct("heraldd").contains("/release/") ? "release" : "debug"
        var (status, output, errors) = try await CProgram.run(
            repositoryRoot + "/tools/install", ["--prefix", prefix, "--configuration", configuration, "--no-build"])
        #expect(status == 0, "\(output)\(errors)")
        for link in ["liboc_event.so", "liboc_event.so.1", "lib_oc_event.so"] {
            #expect(FileManager.default.fileExists(atPath: "\(prefix)/lib/\(link)"), "\(link)")
        }
        #expect(FileManager.default.fileExists(atPath: "\(prefix)/include/ocf/oc_membership.h"))

        let readme = try String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8)
        let marker = try #require(readme.range(of: "<!-- readme-ocf-example"))
        let code = readme[marker.upperBound...].components(separatedBy: "```c\n")[1].components(separatedBy: "```")[0]
        let source = prefix + "/members.c"
        try code.write(toFile: source, atomically: true, encoding: .utf8)
        let pkgConfig = ["PKG_CONFIG_PATH": prefix + "/lib/pkgconfig"]
        (status, output, errors) = try await CProgram.run(
            "sh",
            [
                "-c",
                "cc -std=c99 -Wall -Wextra -Werror \(source) $(pkg-config --cflags --libs oc_event) -o \(prefix)/members",
            ],
            environment: pkgConfig)
        #expect(status == 0, "\(output)\(errors)")

        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let members = try Child(prefix + "/members", [], environment: ["HERALD_SOCKET": daemon.socket])
        defer { if members.process.isRunning { members.kill9() } }
        try await members.waitForLine("membership 1")
        let client = try await daemon.client()
        let channel = try await client.openChannel("links", flags: [.publisher, .create])
        _ = try await client.publish(channel, WireEvent(data: Array("up".utf8)))
        try await members.waitForLine("event on links")
        // libSaEvt from the same install, through pkg-config SaEvt.
        let subscriberBinary = prefix + "/subscriber"
        let subscriberSource = repositoryRoot + "/Tests/CPrograms/saevt/subscriber.c"
        (status, output, errors) = try await CProgram.run(
            "sh",
            [
                "-c",
                "cc -std=c99 -Wall -Wextra -Werror \(subscriberSource) $(pkg-config --cflags --libs SaEvt) -o \(subscriberBinary)",
            ],
            environment: pkgConfig)
        #expect(status == 0, "\(output)\(errors)")
        let subscriber = try Child(subscriberBinary, ["installed", "1"], environment: ["HERALD_SOCKET": daemon.socket])
        defer { if subscriber.process.isRunning { subscriber.kill9() } }
        try await subscriber.waitForLine("READY")
        let orders = try await client.openChannel("installed", flags: [.publisher])
        _ = try await client.publish(orders, WireEvent(patterns: [Array("orders/1".utf8)], data: Array("n=0".utf8)))
        #expect(await subscriber.wait(seconds: 10) == 0, "\(subscriber.output)\(subscriber.errors)")
        #expect(subscriber.lines.last == "RECEIVED 1 errors=0")

        // heraldd stops: the program's handle_event fails and it leaves.
        #expect(await daemon.stop() == 0)
        #expect(await members.wait(seconds: 10) == 0, "\(members.output)\(members.errors)")
        await client.close()
    }
}

extension OCEventTests {
    @Test func callbacksDoneFromAnotherThreadAndUnregisterWhileBlocked() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let binary = try await CProgram.build("ocf/threads_client.c", flags: ["-std=c99", "-pthread"])
        let child = try Child(binary, ["300"], environment: ["HERALD_SOCKET": daemon.socket])
        defer { if child.process.isRunning { child.kill9() } }
        try await child.waitForLine("READY")
        let client = try await daemon.client()
        let channel = try await client.openChannel("busy", flags: [.publisher, .create])
        for batch in 0..<3 {
            _ = try await client.publish(channel, (0..<100).map { WireEvent(data: [UInt8(batch), UInt8($0)]) })
        }
        #expect(await child.wait(seconds: 60) == 0, "\(child.output)\(child.errors)")
        await client.close()
        #expect(child.lines.last == "DONE 300 overlaps=0 out_of_order=0 handle_event=0", "\(child.output)")
    }
}

extension OCEventTests {
    @Test func heralddReportsTheNodesInterfacesAsConnectivityEvents() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        let client = try await daemon.client()
        let stream = try await client.attach(WireAttach(target: .classes(2), start: .oldest))
        let deliveries = try await collect(stream, count: 1, seconds: 10)
        let event = try #require(ConnectivityEvent(decoding: deliveries[0].data))
        #expect(deliveries[0].wire.descriptor == 0x40_0001, "OC_EV_CS_INTERFACE")
        #expect(event.change == .interfaceAdded)
        #expect(event.node.name == client.welcome.nodeName)
        #expect(!event.interface.isEmpty)
        await client.close()
    }
}

extension OCEventTests {
    @Test func groupEventsOfChannelsAUserMayNotSubscribeToAreNotShown() async throws {
        let config = #"{"access": [{"channel": "secret.*", "publish": ["*"], "subscribe": ["uid:4242"]}]}"#
        let daemon = try await DaemonProcess.launch(config: config)
        defer { daemon.cleanup() }
        let watcher = try await daemon.client("watcher")
        let stream = try await watcher.attach(WireAttach(target: .classes(4), start: .now))
        let publisher = try await daemon.client("publisher")
        let secret = try await publisher.openChannel("secret.keys", flags: [.publisher, .create])
        let open = try await publisher.openChannel("public.news", flags: [.publisher, .create])
        _ = try await publisher.publish(secret, WireEvent(data: Array("hidden".utf8)))
        let shown = try await publisher.publish(open, WireEvent(data: Array("shown".utf8)))
        let deliveries = try await collect(stream, count: 1, seconds: 10)
        #expect(deliveries.map(\.eventID) == [shown], "only the public channel's event")
        #expect(deliveries.first?.wire.channelID == open.channelID)
        await publisher.close()
        await watcher.close()
    }
}

extension OCEventTests {
    @Test func aSocketThatNeverAnswersDoesNotHangRegistration() async throws {
        // Something listens (the kernel accepts the connection) but never answers the hello.
        let path = NSTemporaryDirectory() + "herald-silent-\(UUID().uuidString.prefix(6)).sock"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer {
            close(listener)
            unlink(path)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(bound == 0 && listen(listener, 8) == 0)
        let binary = try await CProgram.build("ocf/draft_client.c")
        let started = Date()
        let (status, output, _) = try await CProgram.run(binary, ["fd", "1"], environment: ["HERALD_SOCKET": path])
        #expect(status == 2)
        #expect(output.contains("register failed"))
        #expect(Date().timeIntervalSince(started) < 40, "fails after the handshake timeout (10 s), not never")
    }
}
