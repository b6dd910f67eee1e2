import HeraldJournal
import Testing

@testable import HeraldService

@Suite struct LiveDispatcherTests {
    /// A subscriber not at the head joins a dispatcher that reads already and has not
    /// passed it (under a stream of appends a reader seldom finds itself at the head), but
    /// neither starts an idle one (it would read that subscriber's backlog for everyone
    /// after) nor joins one that has passed it (it would miss what lies between).
    @Test func aSubscriberBehindTheHeadJoinsOnlyADispatcherThatReadsAlreadyAndHasNotPassedIt() throws {
        let journal = try Journal.open(at: "/j", options: simulatedOptions(SimulatedFileSystem()))
        defer { journal.close() }
        _ = try journal.appendAndWait((0..<10).map { DeliveryExecutorTests.cast([UInt8($0)]) })
        let dispatcher = LiveDispatcher(journal: journal)
        defer { dispatcher.stop() }
        func subscriber() -> Subscriber {
            Subscriber(
                selection: .classes([.group]), options: SubscriberOptions(start: .oldest), journal: journal,
                cursor: nil, dispatcher: dispatcher, persistHorizon: nil)
        }
        #expect(!dispatcher.attach(subscriber(), from: SequenceNumber(5), atHead: false), "idle: not started")
        #expect(dispatcher.attachedCount == 0)
        #expect(dispatcher.attach(subscriber(), from: SequenceNumber(11)), "at the head: starts it")
        #expect(!dispatcher.attach(subscriber(), from: SequenceNumber(5), atHead: false), "passed it")
        let ahead = SequenceNumber(dispatcher.position.rawValue + 100)
        #expect(dispatcher.attach(subscriber(), from: ahead, atHead: false), "reads already, not passed")
        #expect(dispatcher.attachedCount == 2)
    }
}
