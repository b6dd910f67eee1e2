/// Why a client call failed.
public enum HeraldClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// No daemon accepts connections at the path (`errno` of connect, e.g. ENOENT, ECONNREFUSED).
    case unreachable(path: String, reason: String)
    /// The daemon refused the request: `code` is the SaAisErrorT value (9 BAD_HANDLE,
    /// 11 ACCESS, 12 NOT_EXIST, …; docs/protocol.md has the table).
    case refused(code: UInt32, message: String)
    /// The daemon or the client broke the protocol (a bad frame either way).
    case protocolViolation(String)
    /// The connection is closed (by `close()`, the daemon, or a failure); nothing more can be sent.
    case disconnected

    public var description: String {
        switch self {
        case .unreachable(let path, let reason): return "heraldd is not reachable at \(path): \(reason)"
        case .refused(_, let message): return message
        case .protocolViolation(let message): return "protocol error: \(message)"
        case .disconnected: return "disconnected from heraldd"
        }
    }

    /// The SaAisErrorT code for C callers (SA_AIS_ERR_TRY_AGAIN when unreachable,
    /// SA_AIS_ERR_BAD_HANDLE when disconnected, SA_AIS_ERR_LIBRARY for protocol errors).
    public var aisCode: UInt32 {
        switch self {
        case .unreachable: return 6
        case .refused(let code, _): return code
        case .protocolViolation: return 2
        case .disconnected: return 9
        }
    }
}
