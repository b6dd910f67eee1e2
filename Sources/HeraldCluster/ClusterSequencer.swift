import Foundation
public import HeraldJournal
public import HeraldService
import HeraldWire
public import Logging

/// The cluster's sequencer: every record goes through Corosync's CPG group with agreed
/// (total) order, and every node appends what the group delivers, in delivery order, one
/// message as one append (one frame: the journal runs with `framePerAppend`). So the same
/// sequence number holds the same record, in the same frame, with the same chain hash on
/// every node.
///
/// At every configuration change the members exchange their journal heads; the members
/// behind receive the missing frames from the member with the longest journal (through the
/// group, in chunks) and check the chain; then each member appends the new membership
/// (`NEW_MEMBERSHIP`) at the same position. Only a quorate configuration (more than half
/// of corosync.conf's nodes running heraldd in the group) appends anything: a node in a
/// minority partition refuses publishes (TRY_AGAIN) and journals nothing, so when the
/// partition heals its journal is a prefix of the others' and it catches up.
///
/// A publisher is answered once its records are durable in its own node's journal; the
/// other members append the same message independently (no wait for them).
public final class ClusterSequencer: Sequencer, @unchecked Sendable {
    public struct Options: Sendable {
        /// The CPG group: one per cluster of heraldd daemons.
        public var group = "herald"
        /// Nodes that count for quorum; nil: the nodes of corosync.conf's nodelist.
        public var expectedNodes: Int?
        public var logger = Logger(label: "herald.cluster")
        public init() {}
    }

    /// Where a member is.
    public enum Phase: Equatable, Sendable, CustomStringConvertible {
        /// Not in a quorate configuration: publishes are refused, nothing is appended.
        case noQuorum
        /// Exchanging journal heads, or catching up.
        case syncing
        case ready
        /// The journal cannot join the cluster's (diverged, or behind what peers retain).
        case failed(String)

        public var description: String {
            switch self {
            case .noQuorum: return "no quorum"
            case .syncing: return "syncing"
            case .ready: return "ready"
            case .failed(let reason): return "failed: \(reason)"
            }
        }
    }

    /// What `herald cluster status` shows of a node.
    public struct Status: Sendable {
        public var node: UInt32
        public var phase: Phase
        public var members: [UInt32]
        public var names: [UInt32: String]
        public var expectedNodes: Int
        public var corosyncQuorate: Bool
        /// Heads the members announced at the last configuration change.
        public var heads: [UInt32: (sequence: UInt64, chain: ChainHash)]
        public var links: [String: Bool]
    }

    public let journal: Journal
    public let options: Options
    private var connection: CorosyncConnection!
    private let lock = NSCondition()

    // Guarded by `lock`.
    private var phase: Phase = .noQuorum
    private var members: [UInt32] = []
    private var states: [UInt32: (head: UInt64, chain: ChainHash, oldest: UInt64)] = [:]
    private var target: (head: UInt64, chain: ChainHash)?
    private var pendingAppends = 0
    private var waiters: [UInt64: (count: Int, continuation: CheckedContinuation<SequenceRange, any Error>)] = [:]
    private var outgoing: [ClusterMessage.Request] = []
    private var nextRequest: UInt64 = 1
    private var appended: (@Sendable () -> Void)?
    private var fatal: (@Sendable (String) -> Void)?
    private var notice: (@Sendable (EventDescriptor, [UInt8]) -> Void)?
    /// The members when this node last lost quorum (nil while it has not): a quorate
    /// membership with the same members is announced locally as PRIMARY_RESTORED.
    private var membersAtQuorumLoss: [UInt32]?
    private var corosyncQuorate = false
    private var links: [String: Bool] = [:]

    // Dispatch thread only.
    private var lastTime: Nanoseconds = 0
    private var lastMembership: MembershipEvent?

    private var names: [UInt32: String] = [:]
    private var expectedNodes = 1
    private var sender: Thread?
    private var linkPoller: Thread?
    private var stopped = false

    public var node: UInt32 { connection.localNode }

    /// Joins the group. The journal must have been opened with `framePerAppend` and only
    /// this sequencer may append to it.
    public init(journal: Journal, options: Options = Options()) throws {
        precondition(journal.options.framePerAppend, "a cluster journal needs framePerAppend")
        self.journal = journal
        self.options = options
        lastMembership = Self.lastMembership(in: journal)
        lastTime = journal.head.time
        connection = try CorosyncConnection(group: options.group, listener: Listener(self))
        names = connection.nodeList()
        expectedNodes = options.expectedNodes ?? max(names.count, 1)
        corosyncQuorate = connection.quorate()
        let sender = Thread { [self] in sendLoop() }
        sender.name = "herald.cluster.send"
        self.sender = sender
        sender.start()
        let poller = Thread { [self] in pollLinks() }
        poller.name = "herald.cluster.links"
        linkPoller = poller
        poller.start()
        connection.start()
    }

    /// Called once by the service: after records are appended (from any node).
    public func onAppend(_ body: @escaping @Sendable () -> Void) {
        lock.lock()
        appended = body
        lock.unlock()
    }

    /// Called with node-local membership notices that are not journaled: NOT_PRIMARY and
    /// INVALID (this node's partition lost quorum), EVICTED (Corosync is gone).
    public func onNotice(_ body: @escaping @Sendable (EventDescriptor, [UInt8]) -> Void) {
        lock.lock()
        notice = body
        lock.unlock()
    }

    /// Called when the node cannot go on (diverged journal); heraldd exits.
    public func onFatal(_ body: @escaping @Sendable (String) -> Void) {
        lock.lock()
        fatal = body
        lock.unlock()
    }

    private var linkChanged: (@Sendable (UInt32, String, Bool) -> Void)?

    /// Called with connectivity changes seen in Corosync's knet link status: (node, link,
    /// up). A link found down at start is reported; one found up is not.
    public func onLinkChange(_ body: @escaping @Sendable (UInt32, String, Bool) -> Void) {
        lock.lock()
        linkChanged = body
        lock.unlock()
    }

    public var status: Status {
        lock.lock()
        defer { lock.unlock() }
        return Status(
            node: connection.localNode, phase: phase, members: members, names: names, expectedNodes: expectedNodes,
            corosyncQuorate: corosyncQuorate,
            heads: states.mapValues { (sequence: $0.head, chain: $0.chain) }, links: links)
    }

    /// Waits until the node is ready (quorate and caught up) or `timeout` passes.
    public func waitUntilReady(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let current = currentPhase
            if current == .ready { return true }
            if case .failed = current { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    public var currentPhase: Phase {
        lock.lock()
        defer { lock.unlock() }
        return phase
    }

    public func stop() {
        lock.lock()
        stopped = true
        lock.broadcast()
        let failed = waiters
        waiters.removeAll()
        outgoing.removeAll()
        lock.unlock()
        for (_, waiter) in failed { waiter.continuation.resume(throwing: ServiceError.unavailable) }
        connection.stop()
    }

    // MARK: Sequencing local records

    public func sequence(_ entries: [JournalEntry]) async throws -> SequenceRange {
        var entries = entries
        let now = SystemWallClock().now()
        for i in entries.indices where entries[i].time == nil { entries[i].time = now }
        let bytes = entries.reduce(64) { $0 + ClusterMessage.encodedSize($1) }
        guard bytes <= connection.maxMessageBytes - 256 else { throw ServiceError.tooBig }
        return try await withCheckedThrowingContinuation { continuation in
            lock.lock()
            defer { lock.unlock() }
            guard phase == .ready, !stopped else {
                continuation.resume(throwing: ServiceError.tryAgain)
                return
            }
            let id = nextRequest
            nextRequest += 1
            waiters[id] = (entries.count, continuation)
            outgoing.append(ClusterMessage.Request(id: id, entries: entries))
            lock.signal()
        }
    }

    /// Packs queued requests into messages (as many as fit) and multicasts them.
    private func sendLoop() {
        let budget = connection.maxMessageBytes * 7 / 8
        while true {
            lock.lock()
            while outgoing.isEmpty && !stopped { lock.wait() }
            if stopped {
                lock.unlock()
                return
            }
            var batch: [ClusterMessage.Request] = []
            var bytes = 64
            while let next = outgoing.first {
                let size = next.entries.reduce(16) { $0 + ClusterMessage.encodedSize($1) }
                if !batch.isEmpty && bytes + size > budget { break }
                batch.append(outgoing.removeFirst())
                bytes += size
            }
            lock.unlock()
            do {
                try connection.multicast(
                    ClusterMessage.entries(origin: connection.localNode, requests: batch).encoded())
            } catch {
                options.logger.error("cluster: multicast failed", metadata: ["error": "\(error)"])
                fail(batch.map(\.id), ServiceError.unavailable)
            }
        }
    }

    private func fail(_ ids: [UInt64], _ error: ServiceError) {
        lock.lock()
        let failed = ids.compactMap { waiters.removeValue(forKey: $0) }
        lock.unlock()
        for waiter in failed { waiter.continuation.resume(throwing: error) }
    }

    // MARK: What the group delivers (dispatch thread)

    fileprivate func delivered(from node: UInt32, message bytes: [UInt8]) {
        let message: ClusterMessage
        do {
            message = try ClusterMessage(decoding: bytes)
        } catch {
            options.logger.warning(
                "cluster: undecodable message dropped", metadata: ["from": "\(node)", "error": "\(error)"])
            return
        }
        lock.lock()
        let current = phase
        lock.unlock()
        switch message {
        case .entries(let origin, let requests):
            guard current == .ready else {
                // Sent before this configuration was agreed on: every member drops it alike.
                if origin == connection.localNode { fail(requests.map(\.id), .tryAgain) }
                return
            }
            appendDelivered(origin: origin, requests: requests)
        case .state(let node, let head, let chain, let oldest):
            guard current == .syncing else { return }
            lock.lock()
            states[node] = (head, chain, oldest)
            let complete = Set(members).isSubset(of: Set(states.keys))
            lock.unlock()
            if complete { decide() }
        case .frames(let anchor, let anchorChain, let frames):
            guard current == .syncing, target != nil else { return }
            receiveFrames(anchor: anchor, anchorChain: anchorChain, frames: frames)
        case .syncDone(let head, let chain):
            guard current == .syncing, let target, target.head == head, target.chain == chain else { return }
            finishSync()
        }
    }

    private func appendDelivered(origin: UInt32, requests: [ClusterMessage.Request]) {
        var entries: [JournalEntry] = []
        for request in requests { entries += request.entries }
        guard !entries.isEmpty else { return }
        for entry in entries { lastTime = max(lastTime, entry.time ?? lastTime) }
        let mine = origin == connection.localNode
        lock.lock()
        pendingAppends += 1
        lock.unlock()
        journal.append(entries) { [self] result in
            lock.lock()
            pendingAppends -= 1
            lock.broadcast()
            var resumes: [(CheckedContinuation<SequenceRange, any Error>, Result<SequenceRange, any Error>)] = []
            if mine {
                var next = (try? result.get())?.first
                for request in requests {
                    guard let waiter = waiters.removeValue(forKey: request.id) else { continue }
                    switch result {
                    case .success:
                        let first = next!
                        let last = SequenceNumber(first.rawValue + UInt64(waiter.count) - 1)
                        resumes.append((waiter.continuation, .success(SequenceRange(first: first, last: last))))
                        next = last.next
                    case .failure(let error):
                        resumes.append((waiter.continuation, .failure(error)))
                    }
                }
            }
            let observer = appended
            lock.unlock()
            if case .failure(let error) = result {
                // Every other member appended this message: this node's journal can no
                // longer be the cluster's.
                reportFatal("append failed: \(error)")
            }
            for (continuation, outcome) in resumes { continuation.resume(with: outcome) }
            observer?()
        }
    }

    /// Blocks the dispatch thread until every submitted append has completed (milliseconds).
    private func drainAppends() {
        lock.lock()
        while pendingAppends > 0 { lock.wait() }
        lock.unlock()
    }

    fileprivate func configurationChanged(members newMembers: [UInt32]) {
        let distinct = Array(Set(newMembers)).sorted()
        let quorate = distinct.count * 2 > expectedNodes
        drainAppends()
        lock.lock()
        if case .failed = phase {
            lock.unlock()
            return
        }
        members = distinct
        states = [:]
        target = nil
        let hadQuorum = phase == .ready || phase == .syncing
        let notify = notice
        phase = quorate ? .syncing : .noQuorum
        // Requests not delivered in the configuration they were sent in never will be.
        let failed = waiters
        waiters.removeAll()
        outgoing.removeAll()
        lock.unlock()
        for (_, waiter) in failed { waiter.continuation.resume(throwing: ServiceError.tryAgain) }
        if !quorate && hadQuorum { membersAtQuorumLoss = lastMembership?.members.map(\.id).sorted() ?? [] }
        if !quorate && hadQuorum, let notify {
            // OCF: NOT_PRIMARY (with the last membership), then the partition's membership as
            // INVALID. Local only: the majority's journal goes on without this node.
            let last = lastMembership
            notify(EventDescriptor.notPrimary, last?.encoded() ?? [])
            let instance = last?.instance ?? 0
            let nodes = distinct.map { id in
                ClusterNode(
                    name: names[id] ?? "node\(id)", id: id,
                    bornOn: last?.members.first { $0.id == id }?.bornOn ?? instance)
            }
            let lastIDs = Set(last?.members.map(\.id) ?? [])
            let partition = MembershipEvent(
                instance: instance, members: nodes, left: last?.members.filter { !distinct.contains($0.id) } ?? [],
                joined: nodes.filter { !lastIDs.contains($0.id) })
            notify(EventDescriptor.membershipInvalid, partition.encoded())
        }
        options.logger.notice(
            "cluster: configuration changed",
            metadata: [
                "members": "\(distinct)", "quorate": "\(quorate)", "expected": "\(expectedNodes)",
            ])
        guard quorate else { return }
        let head = journal.head
        let state = ClusterMessage.state(
            node: connection.localNode, head: head.sequence.rawValue, chain: head.chain,
            oldest: journal.oldestSequence.rawValue)
        do { try connection.multicast(state.encoded()) } catch {
            options.logger.error("cluster: cannot send the state message", metadata: ["error": "\(error)"])
        }
    }

    /// Every member's head is known: pick the longest journal (lowest node id on a tie) and
    /// either finish at once (all equal) or let its node send the missing frames.
    private func decide() {
        lock.lock()
        let known = states
        lock.unlock()
        let maxHead = known.values.map(\.head).max() ?? 0
        let source = known.filter { $0.value.head == maxHead }.keys.min()!
        let sourceChain = known[source]!.chain
        let mine = known[connection.localNode]!
        if mine.head == maxHead && mine.chain != sourceChain {
            reportFatal(
                "this node's journal differs from node \(source)'s at sequence \(maxHead) (chain \(mine.chain) vs \(sourceChain))"
            )
            return
        }
        lock.lock()
        target = (maxHead, sourceChain)
        lock.unlock()
        if known.values.allSatisfy({ $0.head == maxHead }) {
            finishSync()
            return
        }
        guard source == connection.localNode else { return }
        let lowest = known.values.map(\.head).min() ?? 0
        let thread = Thread { [self] in sendFrames(after: lowest, through: maxHead, chain: sourceChain) }
        thread.name = "herald.cluster.transfer"
        thread.start()
    }

    /// On the longest journal's node: multicasts the frames after `after` in chunks, then
    /// `syncDone`.
    private func sendFrames(after: UInt64, through head: UInt64, chain: ChainHash) {
        let budget = connection.maxMessageBytes * 3 / 4
        do {
            let reader: JournalReader
            var anchor = after
            var anchorChain = ChainHash.genesis
            if after == 0 || SequenceNumber(after) < journal.oldestSequence {
                reader = try journal.reader(from: .oldest)
                if after > 0 {
                    options.logger.error(
                        "cluster: a member is behind what this journal retains",
                        metadata: ["member head": "\(after)", "oldest": "\(journal.oldestSequence)"])
                }
            } else {
                reader = try journal.reader(from: .sequence(SequenceNumber(after)))
                guard let first = try reader.nextFrame(), first.lastSequence.rawValue == after else {
                    throw ClusterError.transfer("no frame ends at sequence \(after)")
                }
                anchorChain = first.chain
            }
            var frames: [ClusterMessage.Frame] = []
            var bytes = 128
            var sent = anchor
            func flush() throws {
                guard !frames.isEmpty else { return }
                try connection.multicast(
                    ClusterMessage.frames(anchor: anchor, anchorChain: anchorChain, frames: frames).encoded())
                anchor = sent
                anchorChain = frames.last!.chain
                frames.removeAll()
                bytes = 128
            }
            while sent < head, let frame = try reader.nextFrame() {
                let entries = frame.records.map(\.entry)
                let size = entries.reduce(40) { $0 + ClusterMessage.encodedSize($1) }
                if !frames.isEmpty && bytes + size > budget { try flush() }
                frames.append(ClusterMessage.Frame(chain: frame.chain, entries: entries))
                bytes += size
                sent = frame.lastSequence.rawValue
            }
            try flush()
            try connection.multicast(ClusterMessage.syncDone(head: head, chain: chain).encoded())
        } catch {
            options.logger.error("cluster: sending frames failed", metadata: ["error": "\(error)"])
        }
    }

    /// On a member behind: appends the frames it lacks, each as one append.
    private func receiveFrames(anchor: UInt64, anchorChain: ChainHash, frames: [ClusterMessage.Frame]) {
        drainAppends()
        let head = journal.head
        var position = anchor
        var previousChain = anchorChain
        for frame in frames {
            let last = position + UInt64(frame.entries.count)
            defer {
                position = last
                previousChain = frame.chain
            }
            guard last > head.sequence.rawValue else { continue }
            if position == head.sequence.rawValue {
                guard previousChain == head.chain || (position == 0 && head.chain == .genesis) else {
                    reportFatal("this node's journal differs from the cluster's at sequence \(position)")
                    return
                }
            } else if position > head.sequence.rawValue && frame == frames.first {
                // A gap: frames for members further behind come first; nothing to do yet.
                continue
            }
            for entry in frame.entries {
                lastTime = max(lastTime, entry.time ?? lastTime)
                if entry.descriptor == EventDescriptor.newMembership.rawValue,
                    let event = MembershipEvent(decoding: entry.data)
                {
                    lastMembership = event
                }
            }
            do {
                _ = try journal.appendAndWait(frame.entries)
            } catch {
                reportFatal("appending frames from a peer failed: \(error)")
                return
            }
            guard journal.head.chain == frame.chain else {
                reportFatal("a frame from a peer gave a different chain at sequence \(last)")
                return
            }
        }
        lock.lock()
        let observer = appended
        lock.unlock()
        observer?()
    }

    /// All members hold the same journal: each appends the new membership at the same
    /// position; the node is ready.
    private func finishSync() {
        drainAppends()
        lock.lock()
        guard let target else {
            lock.unlock()
            return
        }
        let currentMembers = members
        lock.unlock()
        let head = journal.head
        guard head.sequence.rawValue == target.head, head.chain == target.chain else {
            reportFatal(
                "after catching up this node's journal ends at \(head.sequence) (chain \(head.chain)), the cluster's at \(target.head) (chain \(target.chain))"
            )
            return
        }
        lastTime = max(lastTime, head.time)
        let instance = UInt32(truncatingIfNeeded: target.head + 1)
        let previous = lastMembership?.members ?? []
        let previousIDs = Set(previous.map(\.id))
        let memberNodes = currentMembers.map { id in
            ClusterNode(
                name: names[id] ?? "node\(id)", id: id, bornOn: previous.first { $0.id == id }?.bornOn ?? instance)
        }
        let joined = memberNodes.filter { !previousIDs.contains($0.id) }
        let left = previous.filter { !currentMembers.contains($0.id) }
        let event = MembershipEvent(instance: instance, members: memberNodes, left: left, joined: joined)
        let entry = JournalEntry(
            time: max(lastTime, 1), descriptor: EventDescriptor.newMembership.rawValue, channel: 0, priority: 0,
            flags: ServiceRecordKind.system.rawValue, data: event.encoded())
        do {
            _ = try journal.appendAndWait([entry])
        } catch {
            reportFatal("appending the membership failed: \(error)")
            return
        }
        lastMembership = event
        lock.lock()
        phase = .ready
        let observer = appended
        let notify = notice
        let restored = membersAtQuorumLoss == currentMembers.sorted()
        if membersAtQuorumLoss != nil { membersAtQuorumLoss = nil }
        lock.unlock()
        // OCF: back in a quorate membership with the members it had before the loss.
        if restored { notify?(EventDescriptor.primaryRestored, event.encoded()) }
        options.logger.notice(
            "cluster: ready", metadata: ["members": "\(currentMembers)", "head": "\(journal.head.sequence)"])
        observer?()
    }

    private func reportFatal(_ reason: String) {
        lock.lock()
        phase = .failed(reason)
        let handler = fatal
        let failed = waiters
        waiters.removeAll()
        lock.unlock()
        for (_, waiter) in failed { waiter.continuation.resume(throwing: ServiceError.failedOperation) }
        options.logger.critical("cluster: \(reason)")
        handler?(reason)
    }

    /// Corosync went away: nothing more can be ordered. Publishes are refused from now on
    /// and local class subscribers get EVICTED.
    fileprivate func corosyncLost(_ reason: String) {
        lock.lock()
        if case .failed = phase {
        } else {
            phase = .noQuorum
        }
        let failed = waiters
        waiters.removeAll()
        outgoing.removeAll()
        let notify = notice
        lock.unlock()
        for (_, waiter) in failed { waiter.continuation.resume(throwing: ServiceError.unavailable) }
        options.logger.critical("cluster: lost Corosync: \(reason)")
        notify?(EventDescriptor.evicted, [])
    }

    fileprivate func quorumChanged(_ quorate: Bool) {
        lock.lock()
        corosyncQuorate = quorate
        lock.unlock()
    }

    // MARK: Link status (cmap)

    /// Polls knet's link status of every other node (stats.knet.nodeN.linkM.connected) and
    /// reports changes: the source of COMM events.
    private func pollLinks() {
        var known: [String: Bool] = [:]
        while true {
            lock.lock()
            let done = stopped
            lock.unlock()
            if done { return }
            for id in names.keys.sorted() where id != connection.localNode {
                for link in 0..<8 {
                    guard let value = connection.statsU8("stats.knet.node\(id).link\(link).connected") else { break }
                    let key = "node\(id).link\(link)"
                    let up = value != 0
                    if known[key] != up {
                        let first = known[key] == nil
                        known[key] = up
                        lock.lock()
                        links[key] = up
                        let report = linkChanged
                        lock.unlock()
                        if !first || !up { report?(id, "link\(link)", up) }
                    }
                }
            }
            usleep(200_000)
        }
    }

    /// The newest membership record of the journal (index-served).
    private static func lastMembership(in journal: Journal) -> MembershipEvent? {
        var query = JournalQuery()
        query.descriptors = [EventDescriptor.newMembership.rawValue]
        query.reverse = true
        var found: MembershipEvent?
        try? journal.query(query) { record in
            found = MembershipEvent(decoding: record.data)
            return false
        }
        return found
    }
}

enum ClusterError: Error {
    case transfer(String)
}

/// Forwards the connection's callbacks (the connection holds its listener weakly).
private final class Listener: CorosyncListener {
    weak var sequencer: ClusterSequencer?
    init(_ sequencer: ClusterSequencer) { self.sequencer = sequencer }
    func delivered(from node: UInt32, pid: UInt32, message: [UInt8]) {
        sequencer?.delivered(from: node, message: message)
    }
    func configurationChanged(members: [UInt32], left: [UInt32], joined: [UInt32]) {
        sequencer?.configurationChanged(members: members)
    }
    func quorumChanged(quorate: Bool) { sequencer?.quorumChanged(quorate) }
    func connectionLost(_ reason: String) { sequencer?.corosyncLost(reason) }
}
