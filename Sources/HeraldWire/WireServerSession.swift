/// The server's side of one connection as a state machine: bytes in, requests out.
///
///     awaitingHello ──hello (versions overlap)──▶ established ──goodbye──▶ closed
///           │                                          │
///           └──── any error (bad frame, out of sequence) ──▶ failed
///
/// Requests reach the caller only in `established` (the hello itself is returned once, so
/// the server can answer it with the peer's credentials). After an error, every call
/// throws it again and the caller sends `errorFrame(for:)` and closes.
public struct WireServerSession: Sendable {
    public enum State: Hashable, Sendable {
        case awaitingHello
        case established(version: UInt16)
        case closed
        case failed(WireError)
    }

    public private(set) var state = State.awaitingHello
    public let limits: WireLimits
    private var decoder: WireFrameDecoder

    public init(limits: WireLimits = WireLimits()) {
        self.limits = limits
        decoder = WireFrameDecoder(frameBytesMax: limits.frameBytesMax)
    }

    public mutating func receive<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        decoder.feed(bytes)
    }

    /// The next request, nil when more bytes are needed or the session is closed.
    public mutating func next() throws(WireError) -> (correlation: UInt32, message: ClientMessage)? {
        switch state {
        case .failed(let error): throw error
        case .closed: return nil
        case .awaitingHello, .established: break
        }
        do throws(WireError) {
            guard let frame = try decoder.next() else { return nil }
            let message = try ClientMessage(frame: frame, limits: limits)
            switch (state, message) {
            case (.awaitingHello, .hello(let hello)):
                guard let version = WireProtocol.negotiate(hello) else {
                    throw .handshake(
                        "client speaks versions \(hello.versionMin)...\(hello.versionMax), "
                            + "server speaks \(WireProtocol.versionMin)...\(WireProtocol.version)")
                }
                state = .established(version: version)
            case (.established(let version), .publishRouted) where version < 3,
                (.established(let version), .auditCheckpoint) where version < 3,
                (.established(let version), .auditProve) where version < 3,
                (.established(let version), .auditConsistency) where version < 3:
                throw .outOfSequence("\(frame.type) in protocol version \(version) (it needs 3)")
            case (.awaitingHello, _):
                throw .outOfSequence("\(frame.type) before hello")
            case (.established, .hello):
                throw .outOfSequence("a second hello")
            case (.established, .goodbye):
                state = .closed
            default:
                break
            }
            return (frame.correlation, message)
        } catch {
            state = .failed(error)
            throw error
        }
    }

    /// The frame that tells the peer why it is being disconnected.
    public static func errorFrame(for error: WireError) -> WireFrame {
        ServerMessage.error(code: error.aisCode, message: error.description).frame(correlation: 0)
    }
}

extension WireError {
    /// The SaAisErrorT code an error frame carries for this error.
    public var aisCode: UInt32 {
        switch self {
        case .handshake: return 3  // SA_AIS_ERR_VERSION
        case .limitExceeded, .badLength: return 26  // SA_AIS_ERR_TOO_BIG
        case .outOfSequence: return 20  // SA_AIS_ERR_BAD_OPERATION
        case .unknownType, .truncated, .trailingBytes, .badUTF8, .badValue: return 22  // SA_AIS_ERR_MESSAGE_ERROR
        }
    }
}
