import Foundation
import HeraldClient
import HeraldWire
import Testing

/// The auditors' console (`heraldd --http`) in headless Chromium (Debian's `chromium`,
/// installed by tools/setup): the page loads, runs the query of its URL, shows the rows,
/// opens an event's inclusion proof and verifies it — and the checkpoint's signature — in
/// the browser with WebCrypto; a token, when set, is required.
@Suite(.serialized) struct ConsoleTests {
    /// A free loopback port (bound, then released).
    func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                guard bind(fd, raw, length) == 0, getsockname(fd, raw, &length) == 0 else {
                    throw CProgram.Failure.timedOut("a free port")
                }
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The page's DOM after its scripts ran (Chromium's virtual time lets them finish).
    func dom(_ url: String, screenshot: String? = nil) async throws -> String {
        var arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--virtual-time-budget=20000", "--window-size=1280,1000",
        ]
        if let screenshot { arguments.append("--screenshot=" + screenshot) } else { arguments.append("--dump-dom") }
        let home = NSTemporaryDirectory() + "herald-chromium-" + UUID().uuidString.prefix(6)
        let (status, out, err) = try await CProgram.run(
            "chromium", arguments + [url], environment: ["HOME": home, "XDG_CONFIG_HOME": home])
        #expect(status == 0, "chromium: \(err)")
        return out
    }

    @Test func thePageSearchesAndVerifiesAProofInTheBrowser() async throws {
        let port = try freePort()
        let daemon = try await DaemonProcess.launch(arguments: ["--interface-poll", "0", "--http", "\(port)"])
        defer { daemon.cleanup() }
        let client = try await daemon.client()
        let orders = try await client.openChannel("orders", flags: [.publisher, .create])
        let other = try await client.openChannel("other", flags: [.publisher, .create])
        let ids = try await client.publish(orders, (0..<30).map { WireEvent(data: Array("order \($0)".utf8)) })
        _ = try await client.publish(other, (0..<5).map { WireEvent(data: Array("other \($0)".utf8)) })
        let head = try await client.status().headSequence
        for _ in 0..<100 {
            if let note = try? await client.checkpoint(), note.split(separator: "\n")[1] == "\(head)" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        await client.close()
        let sequence = ids[7] - 1000
        let page = try await dom("http://127.0.0.1:\(port)/?channel=orders&kind=publish&proof=\(sequence)")
        #expect(page.components(separatedBy: "<tr data-seq=").count - 1 == 30, "the 30 orders, not the others: \(page)")
        #expect(page.contains("order 29") && !page.contains("other 1"))
        #expect(page.contains(#"<span id="proof-status" class="ok">verified</span>"#), "\(page)")
        #expect(page.contains(#"<span id="signature-status" class="ok">valid</span>"#), "\(page)")
        #expect(page.contains("<rect"), "the per-minute chart")

        // A proof of a sequence beyond the tree is not verified, and says why.
        let beyond = try await dom("http://127.0.0.1:\(port)/?channel=orders&proof=\(head + 500)")
        #expect(beyond.contains(#"<span id="proof-status" class="bad">NOT VERIFIED"#), "\(beyond)")

        // The JSON API directly: pages, and a clear error for an unknown channel.
        let api = try await dom("http://127.0.0.1:\(port)/api/query?channel=nope")
        #expect(api.contains("no channel named"))
        let screenshot = daemon.directory + "/console.png"
        _ = try await dom("http://127.0.0.1:\(port)/?channel=orders&proof=\(sequence)", screenshot: screenshot)
        let png = try [UInt8](Data(contentsOf: URL(fileURLWithPath: screenshot)))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a PNG screenshot")
    }

    @Test func aTokenIsRequiredWhenSet() async throws {
        let port = try freePort()
        let daemon = try await DaemonProcess.launch(arguments: [
            "--interface-poll", "0", "--http", "\(port)", "--http-token", "s3cret",
        ])
        defer { daemon.cleanup() }
        let client = try await daemon.client()
        _ = try await client.openChannel("orders", flags: [.publisher, .create])
        await client.close()
        let refused = try await dom("http://127.0.0.1:\(port)/api/query")
        #expect(refused.contains("a token is needed"))
        let allowed = try await dom("http://127.0.0.1:\(port)/api/query?token=s3cret&kind=channel.create")
        #expect(allowed.contains("channel.create") && allowed.contains("orders"), "\(allowed)")
    }
}
