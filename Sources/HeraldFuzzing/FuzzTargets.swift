import Foundation
import HeraldCluster
import HeraldJournal
import HeraldWire

/// The decoders that read bytes from outside the process — a client's socket, a segment
/// on disk, a backup's manifest, another node's Corosync message — each as one function
/// that must return (an error is an answer) on any input: no crash, no hang, no unbounded
/// allocation. `tools/fuzz` runs them under libFuzzer with AddressSanitizer (the Fuzz
/// package); the suite runs them over the checked-in seed corpus and seeded mutations.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// Wire frames as heraldd reads them (frame decoder + server session: hello first,
    /// versions, every request), and as a client reads the server's frames.
    case wire
    /// A segment file: the journal opens it (header, frames, recovery of a torn tail),
    /// reads every record and verifies the chain; the record and descriptor decoders alone.
    case journal
    /// A segment file read as `herald audit verify` and a backup import read it, without
    /// opening a journal (so a campaign runs thousands of inputs a second, where `journal`
    /// runs hundreds): the segment header, every frame (descriptor, CRC, LZ4), every record,
    /// the chain.
    case segment
    /// A backup's manifest (JSON).
    case manifest
    /// A cluster message as Corosync delivers it.
    case cluster

    /// Runs the target on `bytes`; true when they were accepted (a request, a record, a
    /// manifest, a message decoded), false when refused — either is fine, returning is what
    /// is tested.
    @discardableResult
    public func run(_ bytes: [UInt8]) -> Bool {
        switch self {
        case .wire: Self.wire(bytes)
        case .journal: Self.journal(bytes)
        case .segment: Self.segment(bytes)
        case .manifest: (try? JSONDecoder().decode(BackupManifest.self, from: Data(bytes))) != nil
        case .cluster: (try? ClusterMessage(decoding: bytes)) != nil
        }
    }

    /// The first byte chooses how the rest is cut into reads (a socket delivers any split).
    static func wire(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.first else { return false }
        var accepted = false
        let body = bytes.dropFirst()
        let chunk = Int(first % 16) + 1
        var session = WireServerSession()
        var offset = body.startIndex
        reading: while offset < body.endIndex {
            let end = min(offset + (first >= 128 ? chunk : body.count), body.endIndex)
            session.receive(body[offset..<end])
            offset = end
            while true {
                do {
                    guard try session.next() != nil else { break }
                    accepted = true
                } catch {
                    break reading
                }
            }
        }
        // The client's side: every frame as a server message, deliveries read in place.
        var decoder = WireFrameDecoder()
        decoder.feed(body)
        while let frame = try? decoder.next() {
            if (try? ServerMessage(frame: frame)) != nil { accepted = true }
            if let (_, views) = try? WireDeliveryView.parse(frame) {
                for view in views { view.withData { _ = $0.count } }
            }
        }
        return accepted
    }

    static func journal(_ bytes: [UInt8]) -> Bool {
        decodeAlone(bytes)
        guard let options = segmentFolder(bytes) else { return false }
        _ = try? Journal.verify(at: "/j", options: options)
        guard let journal = try? Journal.open(at: "/j", options: options) else { return false }
        var records = 0
        if let reader = try? journal.reader(from: .oldest) {
            while case .some(.some) = try? reader.next() { records += 1 }
        }
        journal.close()
        return records > 0
    }

    static func segment(_ bytes: [UInt8]) -> Bool {
        decodeAlone(bytes)
        guard let options = segmentFolder(bytes), let report = try? Journal.verify(at: "/j", options: options) else {
            return false
        }
        return report.damage == nil && report.records > 0
    }

    /// The header, descriptor and record decoders on the bytes alone.
    private static func decodeAlone(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            _ = try? SegmentHeader.decode(raw)
            _ = try? FrameDescriptor.decode(raw)
            if let view = try? RecordCodec.decode(raw) { _ = view.materialize() }
        }
    }

    /// A simulated data folder whose one segment holds `bytes` (nil if it cannot be made).
    private static func segmentFolder(_ bytes: [UInt8]) -> JournalOptions? {
        let fs = SimulatedFileSystem()
        var options = JournalOptions()
        options.fileSystem = fs
        options.index = .inMemory
        options.clock = FixedClock()
        do {
            try fs.createDirectory("/j")
            try fs.createDirectory("/j/segments")
            let file = try fs.openFile(
                "/j/segments/" + SegmentID(firstSequence: SequenceNumber(1)).fileName, mode: .createNew)
            try bytes.withUnsafeBytes { try file.write(at: 0, $0) }
            try file.sync()
            file.close()
        } catch {
            return nil
        }
        return options
    }
}

/// A clock that never moves (the journal target must not depend on the time).
private struct FixedClock: WallClock {
    func now() -> Nanoseconds { 1_765_000_000_000_000_000 }
}

/// The seed corpus of each target: valid inputs made by the encoders (what a fuzzer
/// mutates first). Checked in under `Fuzz/corpus/<target>/`; the suite checks that the
/// files are these.
public enum FuzzSeeds {
    public static func make() throws -> [FuzzTarget: [String: [UInt8]]] {
        [
            .wire: wire(), .journal: try journal(), .segment: try journal(), .manifest: try manifest(),
            .cluster: cluster(),
        ]
    }

    static func wire() -> [String: [UInt8]] {
        let event = WireEvent(
            priority: 1, retention: 0, publisherName: Array("seed".utf8),
            patterns: [Array("orders".utf8), Array("eu".utf8)], data: Array("{\"id\":1}".utf8))
        var session = ClientMessage.hello(WireHello(pid: 7, clientName: "seed")).frame(correlation: 1).encoded
        session += ClientMessage.openChannel(name: Array("orders".utf8), flags: 7).frame(correlation: 2).encoded
        session += ClientMessage.publish(handle: 5, events: [event, event]).frame(correlation: 3).encoded
        session +=
            ClientMessage.subscribe(
                handle: 5, subscription: 1, filters: [WireFilter(type: 1, pattern: Array("or".utf8))]
            ).frame(correlation: 4).encoded
        session += ClientMessage.ack(stream: 1, sequences: [3, 4]).frame(correlation: 0).encoded
        session +=
            ClientMessage.publishRouted(
                handle: 5, route: EventRoute(target: .nodes([1, 2]), replyTo: 0), events: [event]
            ).frame(correlation: 5).encoded
        session += ClientMessage.goodbye.frame(correlation: 6).encoded
        var replies = ServerMessage.published(first: 3, count: 2).frame(correlation: 3).encoded
        replies += ServerMessage.error(code: 9, message: "SA_AIS_ERR_BAD_HANDLE").frame(correlation: 4).encoded
        return [
            "session-whole": [0] + session, "session-split-3": [130] + session, "replies": [0] + replies,
        ]
    }

    static func journal() throws -> [String: [UInt8]] {
        let fs = SimulatedFileSystem()
        var options = JournalOptions()
        options.fileSystem = fs
        options.index = .inMemory
        options.clock = FixedClock()
        let journal = try Journal.open(at: "/j", options: options)
        for frame in 0..<3 {
            _ = try journal.appendAndWait(
                (0..<4).map { index in
                    JournalEntry(
                        descriptor: 3, channel: 1, priority: UInt8(index % 4), flags: 0,
                        publisher: Array("seed".utf8), patterns: [Array("p\(frame)".utf8)],
                        data: Array("frame \(frame) event \(index)".utf8))
                })
        }
        journal.close()
        let name = "/j/segments/" + SegmentID(firstSequence: SequenceNumber(1)).fileName
        let file = try fs.openFile(name, mode: .readOnly)
        defer { file.close() }
        var segment = [UInt8](repeating: 0, count: Int(try file.size()))
        let read = try segment.withUnsafeMutableBytes { try file.read(at: 0, into: $0) }
        segment.removeSubrange(read...)
        return ["segment-3-frames": segment]
    }

    static func manifest() throws -> [String: [UInt8]] {
        let zero = String(repeating: "0", count: 64)
        let head = String(repeating: "ab", count: 32)
        let digest = String(repeating: "cd", count: 32)
        let text =
            #"{"formatVersion":1,"firstSequence":1,"lastSequence":12,"firstTime":1765000000000000000,"#
            + #""lastTime":1765000000000000000,"baseChain":"\#(zero)","headChain":"\#(head)","#
            + #""files":[{"name":"00000000000000000001.hseg","bytes":812,"sha256":"\#(digest)"}],"#
            + #""exported":"2026-12-07T00:00:00Z"}"#
        return ["manifest": Array(text.utf8)]
    }

    static func cluster() -> [String: [UInt8]] {
        let entry = JournalEntry(
            descriptor: 3, channel: 1, priority: 0, flags: 0, publisher: Array("n".utf8), patterns: [],
            data: Array("event".utf8))
        let chain = ChainHash(bytes: [UInt8](repeating: 7, count: 32))
        return [
            "entries": ClusterMessage.entries(origin: 2, requests: [.init(id: 9, entries: [entry, entry])]).encoded(),
            "state": ClusterMessage.state(node: 1, head: 12, chain: chain, oldest: 1).encoded(),
            "frames": ClusterMessage.frames(
                anchor: 4, anchorChain: chain, frames: [.init(chain: chain, entries: [entry])]
            )
            .encoded(),
            "sync-done": ClusterMessage.syncDone(head: 12, chain: chain).encoded(),
        ]
    }
}
