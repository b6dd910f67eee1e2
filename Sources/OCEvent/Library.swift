import Glibc
import HeraldCBridge
import HeraldClient
import Synchronization

/// The library's process-wide state: the registered handles by token, and diagnostics.
///
/// A token is not an address: it is a number unique for the life of the process, shaped
/// like a pointer for the C API. Lookups never dereference what a program passes, so a
/// NULL, stale, foreign or unregistered token is EINVAL, never a crash, and a token is
/// never reused for a later handle.
enum Library {
    private struct Handles {
        var byToken: [UInt: EventHandle] = [:]
        var next: UInt = 1
    }

    private static let handles = Mutex(Handles())
    /// `oc_ev_herald_socket`: the daemon's socket for later registrations (nil: the default).
    static let socketPath = Mutex<String?>(nil)
    /// Tokens are `base + 16 * n`: aligned like a pointer, and no address libc hands out.
    private static let tokenBase: UInt = 0x0EC0_0000_0000

    /// Connects to heraldd and registers a new handle.
    static func register(_ flavour: EventHandle.Flavour) throws(CError) -> EventHandle {
        let notifier = try Notifier()
        let client: HeraldClient
        let path = socketPath.withLock { $0 }
        do {
            client = try blocking {
                try await HeraldClient.connect(
                    socketPath: path, clientName: ProcessFacts.name + " (liboc_event)")
            }
        } catch {
            notifier.close()
            throw EventHandle.errno(for: error)
        }
        return handles.withLock { handles in
            let token = tokenBase + handles.next * 16
            handles.next += 1
            let handle = EventHandle(token: token, flavour: flavour, client: client, notifier: notifier)
            handles.byToken[token] = handle
            return handle
        }
    }

    static func handle(_ token: UnsafeRawPointer?) -> EventHandle? {
        guard let token else { return nil }
        return handles.withLock { $0.byToken[UInt(bitPattern: token)] }
    }

    /// Removes the handle from the table (later calls with its token are EINVAL) and
    /// unregisters it.
    static func unregister(_ token: UnsafeRawPointer?) -> Bool {
        guard let token else { return false }
        guard let handle = handles.withLock({ $0.byToken.removeValue(forKey: UInt(bitPattern: token)) }) else {
            return false
        }
        handle.unregister()
        return true
    }

    static let debugging = ProcessFacts.environment("HERALD_DEBUG").map { !$0.isEmpty && $0 != "0" } ?? false

    /// A line on stderr, only when HERALD_DEBUG is set: a library does not talk otherwise.
    static func debug(_ message: @autoclosure () -> String) {
        guard debugging else { return }
        ProcessFacts.writeStandardError("liboc_event: \(message())\n")
    }

    /// The errno value for a daemon's SaAisErrorT refusal.
    static func aisErrno(_ code: UInt32) -> Int32 {
        switch code {
        case 5: return ETIMEDOUT
        case 6, 10: return EAGAIN
        case 7, 9, 20, 25: return EINVAL
        case 8, 18: return ENOMEM
        case 11: return EACCES
        case 12, 17: return ENOENT
        case 13, 26: return E2BIG
        case 14: return EEXIST
        case 19: return ENOTSUP
        default: return EIO
        }
    }
}
