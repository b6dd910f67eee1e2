import CSaEvt
import Glibc
import HeraldCBridge
import HeraldClient
import HeraldWire
import Synchronization

/// What the SaEvt functions share: connecting, opening channels, starting a channel
/// open's delivery stream, diagnostics and settings.
enum SaEvtLibrary {
    /// `herald_saevt_socket`: the daemon's socket for later initializations (nil: default).
    static let socketPath = Mutex<String?>(nil)

    /// Deliveries a channel open may have outstanding in heraldd (`HERALD_SAEVT_WINDOW`,
    /// default 4096): what a subscriber that does not dispatch holds in memory — and never
    /// more than heraldd's window in bytes (`SubscriberOptions.windowBytes`, 4 MiB of event
    /// data), so a wide window of small events is a narrow one of big events.
    static let window = UInt32(clamping: setting("HERALD_SAEVT_WINDOW", default: 4096, range: 1...65_536))
    /// `HERALD_SAEVT_LAG_MAX`: a subscriber further than this many events behind skips to
    /// the newest and receives one lost event. 0 (the default): never — its backlog waits
    /// in the journal, and it loses nothing.
    static let lagMax = UInt64(setting("HERALD_SAEVT_LAG_MAX", default: 0, range: 0...Int.max))

    static let debugging = ProcessFacts.environment("HERALD_DEBUG").map { !$0.isEmpty && $0 != "0" } ?? false

    /// A line on stderr, only when HERALD_DEBUG is set.
    static func debug(_ message: @autoclosure () -> String) {
        guard debugging else { return }
        ProcessFacts.writeStandardError("libSaEvt: \(message())\n")
    }

    private static func setting(_ name: String, default value: Int, range: ClosedRange<Int>) -> Int {
        guard let text = ProcessFacts.environment(name) else { return value }
        guard let number = Int(text), range.contains(number) else {
            debug("ignoring \(name)=\(text) (expected \(range.lowerBound)...\(range.upperBound))")
            return value
        }
        return number
    }

    static func initialize(_ callbacks: SaEvtCallbacksT?) throws(AisError) -> UInt64 {
        let notifier: Notifier
        do { notifier = try Notifier() } catch { throw .noMemory }
        let path = socketPath.withLock { $0 }
        let client: HeraldClient
        do {
            client = try blocking {
                try await HeraldClient.connect(
                    socketPath: path, clientName: ProcessFacts.name + " (libSaEvt)")
            }
        } catch {
            notifier.close()
            throw AisError(error)
        }
        return Handles.tables.withLock { tables in
            let handle = tables.issue()
            tables.services[handle] = EvtService(
                handle: handle, client: client, notifier: notifier,
                openCallback: callbacks?.saEvtChannelOpenCallback, deliverCallback: callbacks?.saEvtEventDeliverCallback
            )
            return handle
        }
    }

    /// A synchronous open that gives up after `timeout` ns (SA_TIME_MAX: never); an open
    /// that completes after the caller gave up is closed again.
    static func open(_ service: EvtService, _ name: [UInt8], _ flags: UInt8, timeout: UInt64) throws(AisError)
        -> UInt64
    {
        let client = service.client
        let opened: HeraldClient.Channel?
        do {
            opened = try blocking(
                nanoseconds: timeout,
                abandoned: { late in
                    if case .success(let channel) = late { Task { try? await client.closeChannel(channel) } }
                }
            ) { try await client.openChannel(name, flags: .init(rawValue: flags)) }
        } catch {
            throw AisError(error)
        }
        guard let opened else { throw .timeout }
        return register(service, opened, flags)
    }

    static func register(_ service: EvtService, _ channel: HeraldClient.Channel, _ flags: UInt8) -> UInt64 {
        Handles.tables.withLock { tables in
            let handle = tables.issue()
            tables.channels[handle] = Handles.Channel(service: service.handle, open: channel, flags: flags)
            return handle
        }
    }

    /// Adds a subscription; the first one starts the open's stream (window and lag limit
    /// from the settings), whose deliveries wait for `saEvtDispatch`.
    static func subscribe(
        _ handle: UInt64, _ channel: Handles.Channel, _ service: EvtService, _ id: UInt32, _ filters: [WireFilter]
    ) throws(AisError) {
        try service.subscribing.withLock { _ throws(AisError) in
            try subscribeLocked(handle, channel, service, id, filters)
        }
    }

    private static func subscribeLocked(
        _ handle: UInt64, _ channel: Handles.Channel, _ service: EvtService, _ id: UInt32, _ filters: [WireFilter]
    ) throws(AisError) {
        let client = service.client
        let open = channel.open
        let needsStream = Handles.tables.withLock { $0.channels[handle]?.stream == nil }
        do {
            try blocking {
                if needsStream {
                    let stream = try await client.attach(
                        WireAttach(target: .channel(handle: open.handle), start: .now, window: window, lagMax: lagMax))
                    Handles.tables.withLock { $0.channels[handle]?.stream = stream }
                    Task.detached {
                        var index = 0
                        for await batch in stream.batches {
                            index += 1
                            service.enqueue(batch, channel: handle, batchIndex: index)
                        }
                    }
                }
                _ = try await client.subscribe(open, id: id, filters: filters)
            }
        } catch {
            throw AisError(error)
        }
        Handles.tables.withLock { $0.channels[handle]?.subscriptions[id] = filters }
    }
}

@_cdecl("herald_saevt_socket")
public func heraldSaEvtSocket(_ path: UnsafePointer<CChar>?) -> Int32 {
    let text = path.map { String(cString: $0) }
    if let text, text.isEmpty || text.utf8.count > 107 { return EINVAL }
    SaEvtLibrary.socketPath.withLock { $0 = text }
    return 0
}
