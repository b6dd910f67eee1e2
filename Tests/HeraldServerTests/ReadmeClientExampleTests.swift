import Foundation
import HeraldClient
import HeraldWire
import Testing

/// The README's HeraldClient example, as written there (against a real heraldd found
/// through $HERALD_SOCKET).
@Suite(.serialized) struct ReadmeClientExampleTests {
    @Test func readmeExampleRuns() async throws {
        let daemon = try await DaemonProcess.launch()
        defer { daemon.cleanup() }
        setenv("HERALD_SOCKET", daemon.socket, 1)
        defer { unsetenv("HERALD_SOCKET") }
        var seen: [UInt64] = []

        let client = try await HeraldClient.connect()  // $HERALD_SOCKET or the default
        let links = try await client.openChannel("links", flags: [.publisher, .subscriber, .create])
        let events = try await client.attach(
            WireAttach(target: .channel(handle: links.handle), start: .cursor, durableName: "audit"))
        _ = try await client.subscribe(links, id: 1, filters: [WireFilter(type: 1, pattern: Array("link".utf8))])
        let ids = try await client.publish(links, [WireEvent(patterns: [Array("link-up".utf8)], data: [1])])
        for await event in events {
            print(event.eventID, event.origin!, event.redelivered)
            seen.append(event.eventID)
            event.done()  // acknowledges: advances "audit"
            if event.eventID == ids.last { break }
        }
        await client.close()

        #expect(seen == ids)
    }
}
