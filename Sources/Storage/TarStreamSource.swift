import CIsal
import CZstd
import NIOCore
import OCI

/// Turns a (compressed) layer blob arriving in chunks into the raw tar stream libarchive reads,
/// hashing the raw stream on the way (the diffID) and teeing the compressed bytes to the content
/// store if asked. gzip is inflated with ISA-L's igzip, zstd with libzstd; libarchive only parses tar.
///
/// Runs on one thread; not thread-safe.
final class TarStreamSource {
    private let nextChunk: () throws -> ByteBuffer?
    private let compression: LayerCompression
    private let tee: ContentIngest?
    private var blobHasher: DigestHasher?
    private var diffHasher = DigestHasher()
    private(set) var compressedBytes: Int64 = 0
    private(set) var rawBytes: Int64 = 0

    private let out: UnsafeMutableRawBufferPointer
    private var input: ByteBuffer?
    private var inputEnded = false
    /// Set when a read failed inside libarchive's callback, so the real cause is reported.
    var error: (any Error)?

    // gzip (ISA-L)
    private var isal: UnsafeMutablePointer<inflate_state>?
    private var memberStarted = false
    private var memberDone = false
    // zstd
    private var zstd: OpaquePointer?
    private var zstdFrameOpen = false
    private var zstdFlushPending = false

    init(compression: LayerCompression, outputSize: Int, hashBlob: Bool, tee: ContentIngest?, nextChunk: @escaping () throws -> ByteBuffer?) throws {
        self.compression = compression
        self.nextChunk = nextChunk
        self.tee = tee
        self.blobHasher = hashBlob ? DigestHasher() : nil
        self.out = UnsafeMutableRawBufferPointer.allocate(byteCount: max(outputSize, 4096), alignment: 64)
        switch compression {
        case .gzip:
            let state = UnsafeMutablePointer<inflate_state>.allocate(capacity: 1)
            isal_inflate_init(state)
            state.pointee.crc_flag = UInt32(ISAL_GZIP)
            isal = state
        case .zstd:
            guard let ds = ZSTD_createDStream() else { throw BerthError(.internalError, "zstd: cannot allocate a decoder") }
            ZSTD_initDStream(ds)
            zstd = ds
        case .none:
            break
        }
    }

    deinit {
        out.deallocate()
        if let isal { isal.deallocate() }
        if let zstd { ZSTD_freeDStream(zstd) }
    }

    /// The digest of the raw tar stream read so far (complete once `nextBlock` returned nil).
    func diffID() -> Digest { diffHasher.finalize() }
    func blobDigest() -> Digest? { blobHasher?.finalize() }

    /// Makes sure `input` has unread bytes; false at the end of the blob.
    private func fillInput() throws -> Bool {
        if let input, input.readableBytes > 0 { return true }
        if inputEnded { return false }
        guard let chunk = try nextChunk() else {
            inputEnded = true
            input = nil
            return false
        }
        try chunk.withUnsafeReadableBytes { raw in
            try tee?.write(raw)
            blobHasher?.update(raw)
        }
        compressedBytes += Int64(chunk.readableBytes)
        input = chunk
        return true
    }

    /// The next block of raw tar bytes (valid until the next call), or nil at the end.
    func nextBlock() throws -> UnsafeRawBufferPointer? {
        let produced = try fill(out)
        return produced > 0 ? UnsafeRawBufferPointer(start: out.baseAddress, count: produced) : nil
    }

    /// Fills `out` with the next raw tar bytes (hashed); returns how many, 0 at the end.
    func fill(_ out: UnsafeMutableRawBufferPointer) throws -> Int {
        let produced: Int
        switch compression {
        case .none: produced = try nextPlain(out)
        case .gzip: produced = try nextGzip(out)
        case .zstd: produced = try nextZstd(out)
        }
        if produced > 0 {
            diffHasher.update(UnsafeRawBufferPointer(start: out.baseAddress, count: produced))
            rawBytes += Int64(produced)
        }
        return produced
    }

    private func nextPlain(_ out: UnsafeMutableRawBufferPointer) throws -> Int {
        guard try fillInput() else { return 0 }
        let n = min(input!.readableBytes, out.count)
        input!.withUnsafeReadableBytes { raw in
            out.baseAddress!.copyMemory(from: raw.baseAddress!, byteCount: n)
        }
        input!.moveReaderIndex(forwardBy: n)
        return n
    }

    private func nextGzip(_ out: UnsafeMutableRawBufferPointer) throws -> Int {
        let state = isal!
        while true {
            guard try fillInput() else {
                if !memberStarted || !memberDone {
                    throw BerthError(.dataCorrupted, "gzip: unexpected end of compressed layer data")
                }
                return 0
            }
            if memberDone {
                // Another gzip member follows (concatenated gzip streams are valid).
                isal_inflate_reset(state)
                state.pointee.crc_flag = UInt32(ISAL_GZIP)
                memberDone = false
            }
            memberStarted = true
            state.pointee.next_out = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
            state.pointee.avail_out = UInt32(out.count)
            var ret: Int32 = 0
            let consumed: Int = input!.withUnsafeReadableBytes { raw in
                let avail = min(raw.count, Int(UInt32.max))
                state.pointee.next_in = UnsafeMutablePointer(mutating: raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
                state.pointee.avail_in = UInt32(avail)
                ret = isal_inflate(state)
                return avail - Int(state.pointee.avail_in)
            }
            input!.moveReaderIndex(forwardBy: consumed)
            if ret < 0 { throw BerthError(.dataCorrupted, "gzip: " + Self.isalMessage(ret)) }
            if state.pointee.block_state == ISAL_BLOCK_FINISH { memberDone = true }
            let produced = out.count - Int(state.pointee.avail_out)
            if produced > 0 { return produced }
            if consumed == 0 && !memberDone {
                throw BerthError(.dataCorrupted, "gzip: decoder made no progress")
            }
        }
    }

    static func isalMessage(_ code: Int32) -> String {
        switch code {
        case ISAL_INVALID_BLOCK: return "invalid deflate block"
        case ISAL_INVALID_SYMBOL: return "invalid deflate symbol"
        case ISAL_INVALID_LOOKBACK: return "invalid lookback distance"
        case ISAL_INVALID_WRAPPER: return "invalid header"
        case ISAL_UNSUPPORTED_METHOD: return "unsupported compression method"
        case ISAL_INCORRECT_CHECKSUM: return "checksum error"
        default: return "decompression failed (\(code))"
        }
    }

    private func nextZstd(_ out: UnsafeMutableRawBufferPointer) throws -> Int {
        let ds = zstd!
        while true {
            let haveInput = try fillInput()
            if !haveInput && !zstdFlushPending {
                if zstdFrameOpen || compressedBytes == 0 {
                    throw BerthError(.dataCorrupted, "zstd: unexpected end of compressed layer data")
                }
                return 0
            }
            var outBuf = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
            var ret = 0
            var consumed = 0
            if haveInput {
                consumed = input!.withUnsafeReadableBytes { raw in
                    var inBuf = ZSTD_inBuffer(src: raw.baseAddress, size: raw.count, pos: 0)
                    ret = ZSTD_decompressStream(ds, &outBuf, &inBuf)
                    return inBuf.pos
                }
                input!.moveReaderIndex(forwardBy: consumed)
            } else {
                var inBuf = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
                ret = ZSTD_decompressStream(ds, &outBuf, &inBuf)
            }
            if ZSTD_isError(ret) != 0 {
                throw BerthError(.dataCorrupted, "zstd: " + String(cString: ZSTD_getErrorName(ret)))
            }
            zstdFrameOpen = ret != 0
            zstdFlushPending = outBuf.pos == outBuf.size
            if outBuf.pos > 0 { return outBuf.pos }
            if consumed == 0 && !zstdFlushPending && haveInput {
                throw BerthError(.dataCorrupted, "zstd: decoder made no progress")
            }
        }
    }
}
