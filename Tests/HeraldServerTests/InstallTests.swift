import Foundation
import Glibc
import Testing

/// What `tools/install` puts in a prefix is self-contained: the C libraries need only the C
/// and C++ runtimes (no Swift toolchain, no Foundation or ICU), and the installed heraldd,
/// herald and C programs built with pkg-config work with the toolchain's folders hidden
/// (a private mount namespace with empty tmpfs mounts over them; root only).
@Suite struct InstallTests {
    /// tools/test builds it: `tools/install --build-only --configuration debug`.
    static let built = repositoryRoot + "/.build-install/debug"

    /// The system libraries an installed C library may need; nothing of Swift's.
    static let systemLibraries: Set<String> = [
        "libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1",
    ]

    @Test func installedLibrariesNeedNoSwiftRuntime() async throws {
        let prefix = try Self.install()
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        for library in ["liboc_event.so.1", "libSaEvt.so.1"] {
            let (status, output, errors) = try await CProgram.run("readelf", ["-d", prefix + "/lib/" + library])
            #expect(status == 0, "\(errors)")
            let needed = Self.dynamicEntries(output, "NEEDED")
            #expect(!needed.isEmpty)
            #expect(Set(needed).isSubset(of: Self.systemLibraries), "\(library) needs \(needed)")
            let paths = Self.dynamicEntries(output, "RUNPATH") + Self.dynamicEntries(output, "RPATH")
            #expect(paths.allSatisfy { $0 == "$ORIGIN" }, "\(library) searches \(paths)")
        }
        for program in ["heraldd", "herald"] {
            let (_, output, _) = try await CProgram.run("readelf", ["-d", prefix + "/bin/" + program])
            let needed = Self.dynamicEntries(output, "NEEDED")
            #expect(!needed.contains { $0.hasPrefix("libswift") || $0.hasPrefix("libFoundation") }, "\(needed)")
        }
    }

    @Test(.enabled(if: getuid() == 0, "needs root (a mount namespace)"))
    func installWorksWithTheToolchainHidden() async throws {
        let prefix = try Self.install()
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        let work = prefix + "/work"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let hidden = Self.toolchainFolders()
        try #require(!hidden.isEmpty, "the Swift runtime's folder was not found")
        let script = repositoryRoot + "/Tests/CPrograms/install/hidden-toolchain.sh"
        let (status, output, errors) = try await CProgram.run("unshare", ["-m", "sh", script, prefix, work] + hidden)
        #expect(status == 0, "\(output)\(errors)")
        for folder in hidden { #expect(output.contains("hidden: \(folder)\n")) }
        // The C clients got their first event (the membership) and SaEvt published.
        #expect(output.contains("ocf: rss_before_kb="), "\(output)")
        #expect(output.contains("saevt=ok"), "\(output)")
        #expect(output.contains("published: 3"), "\(output)")
        #expect(output.contains(" - one ") && output.contains(" - two ") && output.contains(" - three "), "\(output)")
        #expect(output.contains("heraldd exit: 0"), "\(output)")
        #expect(output.contains("verify: "), "\(output)")
        #expect(!output.contains("FAIL"), "\(output)")
    }

    /// `tools/install --systemd` writes heraldd.service for the prefix; systemd's own checker
    /// accepts it (unknown keys, a bad type or a missing ExecStart binary fail it), and it says
    /// what operators expect.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "no systemd here"))
    func systemdUnitVerifies() async throws {
        let prefix = try Self.install(["--systemd-dir", "SYSTEMD"])
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        let unit = prefix + "/systemd/heraldd.service"
        let text = try String(contentsOfFile: unit, encoding: .utf8)
        for line in [
            "Type=notify",
            "ExecStart=\(prefix)/bin/heraldd --data-dir /var/lib/herald --socket /run/herald/heraldd.sock",
            "--socket-group herald", "StateDirectory=herald", "RuntimeDirectory=herald", "Restart=on-failure",
            "KillSignal=SIGTERM", "StandardError=journal", "User=herald",
        ] {
            #expect(text.contains(line), "\(line)")
        }
        #expect(!text.contains("@PREFIX@"))
        let (status, output, errors) = try await CProgram.run("systemd-analyze", ["verify", unit])
        #expect(status == 0, "\(output)\(errors)")
        #expect(!errors.contains(unit + ":"), "\(errors)")
        #expect(FileManager.default.fileExists(atPath: prefix + "/share/doc/herald/daemon.md"))
    }

    /// Installs the self-contained build into a new temporary prefix (SYSTEMD in `extra`
    /// stands for the prefix's systemd/ folder).
    static func install(_ extra: [String] = []) throws -> String {
        for product in ["liboc_event.so", "libSaEvt.so", "heraldd", "herald"] {
            let path = built + "/" + product
            try #require(
                FileManager.default.fileExists(atPath: path),
                "\(path) is missing: tools/test builds it (tools/install --build-only --configuration debug)")
            try #require(
                Self.isFresh(path), "\(path) is older than the sources: rebuild with tools/install --build-only")
        }
        let prefix = NSTemporaryDirectory() + "herald-install-" + String(UUID().uuidString.prefix(8))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: repositoryRoot + "/tools/install")
        process.arguments =
            ["--prefix", prefix, "--configuration", "debug", "--no-build"]
            + extra.map { $0 == "SYSTEMD" ? prefix + "/systemd" : $0 }
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "tools/install failed")
        return prefix
    }

    /// A product is fresh when no source file of the package is newer.
    static func isFresh(_ product: String) -> Bool {
        guard let built = try? FileManager.default.attributesOfItem(atPath: product)[.modificationDate] as? Date else {
            return false
        }
        let sources = repositoryRoot + "/Sources"
        guard let walker = FileManager.default.enumerator(atPath: sources) else { return false }
        for case let file as String in walker where file.hasSuffix(".swift") || file.hasSuffix(".c") {
            let attributes = try? FileManager.default.attributesOfItem(atPath: sources + "/" + file)
            if let changed = attributes?[.modificationDate] as? Date, changed > built { return false }
        }
        return true
    }

    /// The folders of the toolchain this test runs with: the one holding the Swift runtime
    /// this process loaded (…/lib/swift), and the toolchain's root above it unless that is /usr.
    static func toolchainFolders() -> [String] {
        // /proc files report size 0: read them to the end, not by their size.
        guard let maps = FileHandle(forReadingAtPath: "/proc/self/maps")?.readDataToEndOfFile(),
            let line = String(decoding: maps, as: UTF8.self).split(separator: "\n").first(where: {
                $0.hasSuffix("/libswiftCore.so")
            }),
            let file = line.split(separator: " ").last
        else { return [] }
        var url = URL(fileURLWithPath: String(file)).resolvingSymlinksInPath()
        url.deleteLastPathComponent()  // …/lib/swift/linux
        url.deleteLastPathComponent()  // …/lib/swift
        let runtime = url.path
        url.deleteLastPathComponent()  // …/lib
        url.deleteLastPathComponent()  // …/usr (the toolchain's)
        return url.path == "/usr" ? [runtime] : [url.path]
    }

    /// The values of one kind of entry in `readelf -d` output ("Shared library: [x]").
    static func dynamicEntries(_ output: String, _ kind: String) -> [String] {
        var values: [String] = []
        for line in output.split(separator: "\n") where line.contains("(\(kind))") {
            guard let open = line.lastIndex(of: "["), let close = line.lastIndex(of: "]") else { continue }
            values += line[line.index(after: open)..<close].split(separator: ":").map(String.init)
        }
        return values
    }
}
