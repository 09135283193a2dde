#if canImport(Glibc)
import Glibc
#endif
import CArchive
import CLinuxFS
import Foundation
import OCI
import TarArchive

/// What ``LayerWriter`` produced.
public struct LayerWriterResult: Sendable, Hashable {
    /// Digest of the raw tar stream.
    public var diffID: Digest
    /// Digest of the bytes handed to the sink (the compressed blob; equals `diffID` uncompressed).
    public var blobDigest: Digest
    /// Bytes handed to the sink.
    public var blobSize: Int64
    /// Bytes of raw tar.
    public var rawSize: Int64
    /// Tar entries written (whiteout markers included).
    public var entries: Int
    /// Sum of the regular files' sizes (Docker's layer size).
    public var contentSize: Int64

    /// Whether the layer holds nothing (Docker's `layer.IsEmpty`: the diffID of an empty tar).
    public var isEmpty: Bool { diffID == LayerWriter.emptyTarDiffID }
}

/// Writes a directory in overlayfs form (a container's upper dir, a snapshot) as an OCI layer:
/// a pax tar, entries in lexical order, overlay whiteouts (0:0 character devices) turned into
/// `.wh.<name>` files and opaque directories (`trusted.overlay.opaque=y`) into `.wh..wh..opq`
/// markers, as moby's overlay2 `Diff` does. Compression is libarchive's gzip filter fed through a
/// `raw` format writer, so the diffID (raw tar) and the blob digest are both hashed while streaming;
/// nothing is buffered beyond libarchive's blocks.
///
/// Like moby: modification times are truncated to seconds, access/change times dropped, owners
/// numeric, sockets skipped, hard links within the tree kept, `security.capability` the only xattr.
public enum LayerWriter {
    /// The diffID of a tar with no entries (1024 zero bytes), Docker's `DigestSHA256EmptyTar`.
    public static let emptyTarDiffID = Digest.sha256([UInt8](repeating: 0, count: 1024))

    /// Decides whether a path (relative, no leading `/`) is left out; `st` is its `lstat`.
    public typealias Filter = (_ relativePath: String, _ st: stat) -> Bool

    /// Writes the layer for `directory`, handing the (compressed) output to `sink` in chunks.
    /// - Parameters:
    ///   - compression: `.gzip` or `.none` (zstd output is not supported).
    ///   - exclude: paths to leave out (with their subtrees).
    public static func write(directory: String, compression: LayerCompression, exclude: Filter? = nil,
                             sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws -> LayerWriterResult {
        guard compression != .zstd else { throw BerthError(.unsupported, "writing zstd layers is not supported") }
        let out = try OutputChain(gzip: compression == .gzip, sink: sink)
        // The raw tar ends right after its two zero blocks (as Go's archive/tar writes it): an empty
        // layer is exactly 1024 bytes, whose digest Docker treats as "no layer".
        let tar = try TarWriter(blockSize: 10240, mapError: { LayerWriterError.archive($0) }) { bytes in
            try out.emit(bytes, compressed: false)
        }
        let walker = TreeWriter(root: directory, writer: tar.archive, exclude: exclude)
        do {
            try walker.writeTree()
            try tar.finish()
            try out.finish()
        } catch {
            throw out.error ?? error
        }
        return LayerWriterResult(diffID: out.rawHasher.finalize(), blobDigest: out.blobHasher.finalize(),
                                 blobSize: out.blobHasher.count, rawSize: out.rawHasher.count,
                                 entries: walker.entries, contentSize: walker.contentSize)
    }
}

/// (tar writer →) diffID hash → raw+gzip writer → blob hash → sink. Both libarchive writers call
/// back synchronously on the writing thread; the tar writer's sink keeps this chain alive until its
/// last flush.
private final class OutputChain {
    private var gz: OpaquePointer?
    private let sink: (UnsafeRawBufferPointer) throws -> Void
    var rawHasher = DigestHasher()
    var blobHasher = DigestHasher()
    /// The first error raised in a callback (libarchive only sees -1).
    var error: (any Error)?
    private var finished = false

    init(gzip: Bool, sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        self.sink = sink
        if gzip {
            guard let g = archive_write_new() else { throw BerthError(.internalError, "libarchive: cannot allocate a writer") }
            gz = g
            archive_write_set_format_raw(g)
            guard archive_write_add_filter_gzip(g) == ARCHIVE_OK else {
                throw LayerWriterError.archive(g, "gzip filter")
            }
            // No timestamp in the gzip header: the same tree gives the same blob.
            archive_write_set_filter_option(g, "gzip", "timestamp", nil)
            // zlib's fastest level: gzip dominates a commit's time (level 6 takes ~1.5x as long on text for ~8% less).
            archive_write_set_filter_option(g, "gzip", "compression-level", "1")
            archive_write_set_bytes_per_block(g, 64 << 10)
            archive_write_set_bytes_in_last_block(g, 1) // never pad the compressed stream
            let ctx = Unmanaged.passUnretained(self).toOpaque()
            guard archive_write_open(g, ctx, nil, { _, ctx, buf, n in
                let me = Unmanaged<OutputChain>.fromOpaque(ctx!).takeUnretainedValue()
                do {
                    try me.emit(UnsafeRawBufferPointer(start: buf, count: n), compressed: true)
                    return n
                } catch {
                    return -1
                }
            }, nil) == ARCHIVE_OK else { throw LayerWriterError.archive(g, "opening gzip stream") }
            guard let e = archive_entry_new() else { throw BerthError(.internalError, "libarchive: out of memory") }
            defer { archive_entry_free(e) }
            archive_entry_set_pathname(e, "layer.tar")
            archive_entry_set_filetype(e, AEType.regular)
            guard archive_write_header(g, e) == ARCHIVE_OK else { throw LayerWriterError.archive(g, "gzip stream header") }
        }
    }

    deinit {
        if let gz { archive_write_free(gz) }
    }

    /// Takes raw tar bytes (`compressed: false`) or the gzip writer's output; the first error is
    /// kept (libarchive only sees the failure).
    func emit(_ bytes: UnsafeRawBufferPointer, compressed: Bool) throws {
        if let error { throw error }
        do {
            if compressed || gz == nil {
                blobHasher.update(bytes)
                try sink(bytes)
            }
            if !compressed {
                rawHasher.update(bytes)
                if let gz {
                    var off = 0
                    while off < bytes.count {
                        let n = archive_write_data(gz, bytes.baseAddress! + off, bytes.count - off)
                        if n <= 0 { throw error ?? LayerWriterError.archive(gz, "compressing layer") }
                        off += n
                    }
                }
            }
        } catch {
            if self.error == nil { self.error = error }
            throw error
        }
    }

    func finish() throws {
        precondition(!finished)
        finished = true
        if let gz, archive_write_close(gz) != ARCHIVE_OK { throw error ?? LayerWriterError.archive(gz, "closing gzip stream") }
        if let error { throw error }
    }
}

enum LayerWriterError {
    static func archive(_ a: OpaquePointer, _ context: String) -> BerthError {
        archive(TarArchiveError(a, operation: context))
    }

    static func archive(_ e: TarArchiveError) -> BerthError {
        if e.code == ENOSPC || e.code == EDQUOT { return BerthError(.internalError, "\(e.operation): no space left on device") }
        return BerthError(.internalError, e.description)
    }
}
