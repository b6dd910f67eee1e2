import Foundation
import HeraldService
import Testing

/// The README's service example, kept compiling and true.
@Suite struct ReadmeServiceExampleTests {
    @Test func readmeServiceExampleWorks() async throws {
        let directory = NSTemporaryDirectory() + "herald-readme-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let service = try await EventService.open(at: directory + "/herald-data")
        let handle = try await service.openChannel(Array("links".utf8), flags: [.create, .publisher, .subscriber])
        let subscriber = try await service.subscriber(
            for: handle, options: SubscriberOptions(start: .cursor, durableName: "audit"))
        try await service.subscribe(handle, id: 1, filters: [EventFilter(.prefix, "link")])
        let id = try await service.publish(handle, EventAttributes(patterns: [Array("link-up".utf8)]), data: [1])
        var seen: [(EventID, Bool)] = []
        for await delivery in subscriber {
            seen.append((delivery.eventID, delivery.redelivered))
            delivery.done()
            if delivery.eventID == id { break }
        }
        await service.shutdown()
        #expect(seen.count == 1)
        #expect(seen.first?.0 == id)
        #expect(seen.first?.1 == false)
    }
}
