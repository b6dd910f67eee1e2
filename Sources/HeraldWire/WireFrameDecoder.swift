/// Splits a byte stream into frames. A state machine: feed it whatever the socket gave
/// (a byte, half a frame, ten frames), then take frames until it has no whole one.
/// A length outside `5...frameBytesMax` is refused as soon as its 4 bytes have arrived,
/// before any payload is buffered; after an error the decoder stays failed.
public struct WireFrameDecoder: Sendable {
    public enum State: Hashable, Sendable {
        /// Waiting for (the rest of) a frame header.
        case header
        /// The header is read; waiting for `needed` payload bytes.
        case payload(type: UInt8, correlation: UInt32, needed: Int)
        case failed(WireError)
    }

    public let frameBytesMax: Int
    public private(set) var state = State.header
    private var buffer: [UInt8] = []
    private var readIndex = 0

    public init(frameBytesMax: Int = WireLimits().frameBytesMax) {
        precondition(frameBytesMax >= Int(WireFrame.lengthMin))
        self.frameBytesMax = frameBytesMax
    }

    /// Bytes received but not yet returned as frames.
    public var buffered: Int { buffer.count - readIndex }

    public mutating func feed<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        if readIndex > 0 && readIndex >= buffer.count / 2 {
            buffer.removeFirst(readIndex)
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole frame, nil when more bytes are needed.
    public mutating func next() throws(WireError) -> WireFrame? {
        while true {
            switch state {
            case .failed(let error):
                throw error
            case .header:
                guard buffered >= WireFrame.headerBytes else { return nil }
                let length = readU32(at: readIndex)
                guard length >= WireFrame.lengthMin, Int(length) <= frameBytesMax else {
                    return try fail(.badLength(length, max: frameBytesMax))
                }
                let type = buffer[readIndex + 4]
                let correlation = readU32(at: readIndex + 5)
                readIndex += WireFrame.headerBytes
                state = .payload(type: type, correlation: correlation, needed: Int(length - WireFrame.lengthMin))
            case .payload(let rawType, let correlation, let needed):
                guard buffered >= needed else { return nil }
                guard let type = FrameType(rawValue: rawType) else { return try fail(.unknownType(rawType)) }
                let payload = Array(buffer[readIndex..<readIndex + needed])
                readIndex += needed
                state = .header
                return WireFrame(type: type, correlation: correlation, payload: payload)
            }
        }
    }

    private mutating func fail(_ error: WireError) throws(WireError) -> WireFrame? {
        state = .failed(error)
        buffer = []
        readIndex = 0
        throw error
    }

    private func readU32(at offset: Int) -> UInt32 {
        UInt32(buffer[offset]) | UInt32(buffer[offset + 1]) << 8 | UInt32(buffer[offset + 2]) << 16
            | UInt32(buffer[offset + 3]) << 24
    }
}
