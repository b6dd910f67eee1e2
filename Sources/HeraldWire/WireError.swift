/// Why bytes from the socket were refused. Every case ends the connection: the peer gets
/// an error frame naming it (when it can still be sent) and is closed; nothing else changes.
public enum WireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A frame's length field is below the header size or above the negotiated maximum.
    case badLength(UInt32, max: Int)
    /// A frame type this protocol version does not define.
    case unknownType(UInt8)
    /// A payload ended before a field did.
    case truncated(field: String)
    /// Bytes left over after the last field of a payload.
    case trailingBytes(Int)
    /// A count or length above its limit (checked before anything is allocated).
    case limitExceeded(field: String, value: Int, max: Int)
    /// A name that must be UTF-8 is not.
    case badUTF8(field: String)
    /// A field value outside its domain (an unknown start kind, flag bits, …).
    case badValue(field: String, value: UInt64)
    /// A frame that is not allowed in the connection's state (no hello first, a second hello).
    case outOfSequence(String)
    /// The hello's magic or version range does not match this side.
    case handshake(String)

    public var description: String {
        switch self {
        case .badLength(let length, let max): return "frame length \(length) outside 5...\(max)"
        case .unknownType(let type): return "unknown frame type 0x\(String(type, radix: 16))"
        case .truncated(let field): return "frame ends inside \(field)"
        case .trailingBytes(let count): return "\(count) unexpected bytes after the last field"
        case .limitExceeded(let field, let value, let max): return "\(field) is \(value), limit \(max)"
        case .badUTF8(let field): return "\(field) is not valid UTF-8"
        case .badValue(let field, let value): return "\(field) has invalid value \(value)"
        case .outOfSequence(let what): return "frame out of sequence: \(what)"
        case .handshake(let what): return "handshake refused: \(what)"
        }
    }
}
