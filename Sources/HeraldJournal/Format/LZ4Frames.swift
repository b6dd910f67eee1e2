import CLZ4

/// Compresses whole buffers into standard LZ4 frames (linked 256 KiB blocks, content size
/// recorded, LZ4's own checksums off: Herald's CRC32C covers the frame bytes and every
/// record). Reuses one compression context; not thread-safe.
final class LZ4FrameCompressor {
    private var context: OpaquePointer?
    private var preferences = LZ4F_preferences_t()

    /// `acceleration` 1 is LZ4's default speed; higher trades ratio for speed.
    init(acceleration: Int = 1) {
        let code = LZ4F_createCompressionContext(&context, UInt32(LZ4F_VERSION))
        precondition(LZ4F_isError(code) == 0 && context != nil, "LZ4F_createCompressionContext failed")
        preferences.frameInfo.blockSizeID = LZ4F_max256KB
        preferences.frameInfo.blockMode = LZ4F_blockLinked
        preferences.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum
        preferences.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum
        // lz4frame maps a negative level L to acceleration 1 - L.
        preferences.compressionLevel = Int32(1 - max(1, acceleration))
    }

    deinit { LZ4F_freeCompressionContext(context) }

    /// Appends one LZ4 frame holding `source` to `output`; returns the frame's length.
    func compress(_ source: UnsafeRawBufferPointer, into output: GrowableBuffer) -> Int {
        preferences.frameInfo.contentSize = UInt64(source.count)
        let bound = LZ4F_compressBound(source.count, &preferences) + 32  // + header and end mark
        let start = output.count
        output.appendUnsafe(maxLength: bound) { destination in
            var written = 0
            let header = LZ4F_compressBegin(context, destination, bound, &preferences)
            precondition(LZ4F_isError(header) == 0, "LZ4F_compressBegin: \(Self.name(header))")
            written += header
            if source.count > 0 {
                let body = LZ4F_compressUpdate(
                    context, destination + written, bound - written, source.baseAddress, source.count, nil)
                precondition(LZ4F_isError(body) == 0, "LZ4F_compressUpdate: \(Self.name(body))")
                written += body
            }
            let end = LZ4F_compressEnd(context, destination + written, bound - written, nil)
            precondition(LZ4F_isError(end) == 0, "LZ4F_compressEnd: \(Self.name(end))")
            written += end
            return written
        }
        return output.count - start
    }

    static func name(_ code: Int) -> String { String(cString: LZ4F_getErrorName(code)) }
}

/// Decompresses one standard LZ4 frame whose decompressed size is known in advance.
/// Reuses one decompression context; not thread-safe.
final class LZ4FrameDecompressor {
    private var context: OpaquePointer?

    init() {
        let code = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        precondition(LZ4F_isError(code) == 0 && context != nil, "LZ4F_createDecompressionContext failed")
    }

    deinit { LZ4F_freeDecompressionContext(context) }

    /// Replaces `output`'s contents with the decompressed frame; the frame must decode to
    /// exactly `rawLength` bytes and consume all of `frame`, otherwise a message says why.
    func decompress(_ frame: UnsafeRawBufferPointer, rawLength: Int, into output: GrowableBuffer) -> String? {
        output.removeAll()
        var failure: String?
        output.appendUnsafe(maxLength: rawLength) { destination in
            var produced = 0
            var consumed = 0
            while true {
                var destinationSize = rawLength - produced
                var sourceSize = frame.count - consumed
                let hint = LZ4F_decompress(
                    context, destination + produced, &destinationSize, frame.baseAddress.map { $0 + consumed },
                    &sourceSize, nil)
                if LZ4F_isError(hint) != 0 {
                    failure = "LZ4 frame does not decode: \(LZ4FrameCompressor.name(hint))"
                    LZ4F_resetDecompressionContext(context)
                    return 0
                }
                produced += destinationSize
                consumed += sourceSize
                if hint == 0 { break }
                if sourceSize == 0 && destinationSize == 0 {
                    failure = "LZ4 frame is truncated"
                    LZ4F_resetDecompressionContext(context)
                    return 0
                }
            }
            if produced != rawLength || consumed != frame.count {
                failure =
                    "LZ4 frame decoded to \(produced) bytes from \(consumed); expected \(rawLength) from \(frame.count)"
                return 0
            }
            return produced
        }
        return failure
    }
}
