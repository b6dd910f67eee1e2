import CCorosync
import Foundation

/// A Corosync call that did not return CS_OK.
public struct CorosyncError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let code: Int32
    public var description: String {
        code == HC_ERR_UNAVAILABLE ? "\(call): Corosync is not available" : "\(call) failed: cs_error \(code)"
    }
}

/// The events a CPG member receives, on the dispatch thread, in Corosync's agreed order.
protocol CorosyncListener: AnyObject {
    func delivered(from node: UInt32, pid: UInt32, message: [UInt8])
    func configurationChanged(members: [UInt32], left: [UInt32], joined: [UInt32])
    func quorumChanged(quorate: Bool)
    func connectionLost(_ reason: String)
}

/// One node's connection to Corosync: a CPG group, the quorum service, cmap. A thread of
/// its own dispatches both connections' callbacks (they run on it, one at a time);
/// `multicast` may be called from any thread.
final class CorosyncConnection: @unchecked Sendable {
    private var cpg: UInt64 = 0
    private var quorum: UInt64 = 0
    private var cmap: UInt64 = 0
    private var stats: UInt64 = 0
    private var listener: (any CorosyncListener)?
    private var thread: Thread?
    private var wake: [Int32] = [-1, -1]
    private let stopLock = NSLock()
    private var stopping = false
    let localNode: UInt32
    let maxMessageBytes: Int

    /// Loads Corosync's libraries and joins `group`; the listener's callbacks start with
    /// `start()`.
    init(group: String, listener: any CorosyncListener) throws {
        var error = [CChar](repeating: 0, count: 256)
        let loaded = hc_load(&error, error.count)
        guard loaded == HC_OK else {
            throw CorosyncError(call: cText(error), code: Int32(HC_ERR_UNAVAILABLE))
        }
        self.listener = listener
        var node: UInt32 = 0
        var maxBytes: UInt32 = 0
        // The context must outlive the handles: a box (retained, never freed: one per
        // connection) that points weakly at this connection.
        let box = Box(nil)
        self.box = box
        let opaque = Unmanaged.passRetained(box).toOpaque()
        var handle: UInt64 = 0
        try Self.check("cpg_initialize/cpg_join", hc_cpg_open(group, opaque, deliverCallback, confchgCallback, &handle))
        cpg = handle
        try Self.check("cpg_local_get", hc_cpg_local_nodeid(cpg, &node))
        if hc_cpg_max_message(cpg, &maxBytes) != HC_OK || maxBytes == 0 { maxBytes = 1 << 20 }
        localNode = node
        maxMessageBytes = Int(maxBytes)
        var q: UInt64 = 0
        try Self.check("quorum_initialize", hc_quorum_open(opaque, quorumCallback, &q))
        quorum = q
        var c: UInt64 = 0
        if hc_cmap_open(&c) == HC_OK { cmap = c }
        var st: UInt64 = 0
        if hc_cmap_open_stats(&st) == HC_OK { stats = st }
        box.connection = self
    }

    private var box: Box?

    final class Box {
        weak var connection: CorosyncConnection?
        init(_ connection: CorosyncConnection?) { self.connection = connection }
    }

    fileprivate var listenerForCallbacks: (any CorosyncListener)? { listener }

    static func check(_ call: String, _ code: Int32) throws {
        guard code == HC_OK else { throw CorosyncError(call: call, code: code) }
    }

    /// Starts the dispatch thread.
    func start() {
        pipe(&wake)
        let thread = Thread { [self] in dispatchLoop() }
        thread.name = "herald.corosync"
        self.thread = thread
        thread.start()
    }

    private func dispatchLoop() {
        var cpgFD: Int32 = -1
        var quorumFD: Int32 = -1
        _ = hc_cpg_fd(cpg, &cpgFD)
        _ = hc_quorum_fd(quorum, &quorumFD)
        while true {
            var fds = [
                pollfd(fd: cpgFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: quorumFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, nfds_t(fds.count), 1000)
            if isStopping { return }
            if ready < 0 { continue }
            if fds[0].revents != 0 {
                let result = hc_cpg_dispatch(cpg, 1)
                if result != HC_OK && result != HC_ERR_TRY_AGAIN {
                    listener?.connectionLost("cpg_dispatch: cs_error \(result)")
                    return
                }
            }
            if fds[1].revents != 0 { _ = hc_quorum_dispatch(quorum) }
        }
    }

    private var isStopping: Bool {
        stopLock.lock()
        defer { stopLock.unlock() }
        return stopping
    }

    /// Multicasts with agreed (total) order; waits out Corosync's flow control.
    func multicast(_ message: [UInt8]) throws {
        var pause: UInt32 = 100
        while true {
            let result = message.withUnsafeBytes { hc_cpg_mcast(cpg, $0.baseAddress, $0.count) }
            if result == HC_OK { return }
            guard result == HC_ERR_TRY_AGAIN, !isStopping else {
                throw CorosyncError(call: "cpg_mcast_joined", code: result)
            }
            usleep(pause)
            pause = min(pause * 2, 10_000)
        }
    }

    func quorate() -> Bool {
        var value: Int32 = 0
        return hc_quorum_quorate(quorum, &value) == HC_OK && value != 0
    }

    func string(_ key: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard hc_cmap_get_string(cmap, key, &buffer, buffer.count) == HC_OK else { return nil }
        return cText(buffer)
    }

    func u32(_ key: String) -> UInt32? {
        var value: UInt32 = 0
        return hc_cmap_get_u32(cmap, key, &value) == HC_OK ? value : nil
    }

    /// A u8 of the statistics map (stats.knet.nodeN.linkM.connected, …).
    func statsU8(_ key: String) -> UInt8? {
        var value: UInt8 = 0
        return hc_cmap_get_u8(stats, key, &value) == HC_OK ? value : nil
    }

    /// The nodelist of corosync.conf: node id → name.
    func nodeList() -> [UInt32: String] {
        var nodes: [UInt32: String] = [:]
        for index in 0..<256 {
            guard let id = u32("nodelist.node.\(index).nodeid") else { break }
            nodes[id] =
                string("nodelist.node.\(index).name") ?? string("nodelist.node.\(index).ring0_addr") ?? "node\(id)"
        }
        return nodes
    }

    func stop() {
        stopLock.lock()
        let already = stopping
        stopping = true
        stopLock.unlock()
        guard !already else { return }
        if wake[1] >= 0 { _ = write(wake[1], "x", 1) }
        while let thread, !thread.isFinished, Thread.current != thread { usleep(1000) }
        _ = hc_cpg_close(cpg)
        _ = hc_quorum_close(quorum)
        if cmap != 0 { _ = hc_cmap_close(cmap) }
        if stats != 0 { _ = hc_cmap_close(stats) }
        for fd in wake where fd >= 0 { close(fd) }
    }
}

private func connection(_ context: UnsafeMutableRawPointer?) -> CorosyncConnection? {
    guard let context else { return nil }
    return Unmanaged<CorosyncConnection.Box>.fromOpaque(context).takeUnretainedValue().connection
}

private let deliverCallback: hc_deliver_fn = { context, node, pid, message, length in
    guard let listener = connection(context)?.listenerForCallbacks, let message else { return }
    let bytes = [UInt8](UnsafeRawBufferPointer(start: message, count: length))
    listener.delivered(from: node, pid: pid, message: bytes)
}

private let confchgCallback: hc_confchg_fn = { context, members, memberCount, left, leftCount, joined, joinedCount in
    guard let listener = connection(context)?.listenerForCallbacks else { return }
    func ids(_ list: UnsafePointer<hc_member>?, _ count: Int) -> [UInt32] {
        guard let list else { return [] }
        return (0..<count).map { list[$0].nodeid }
    }
    listener.configurationChanged(
        members: ids(members, memberCount), left: ids(left, leftCount), joined: ids(joined, joinedCount))
}

private let quorumCallback: hc_quorum_fn = { context, quorate, _, _, _ in
    connection(context)?.listenerForCallbacks?.quorumChanged(quorate: quorate != 0)
}

/// The text of a NUL-terminated C buffer.
func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
