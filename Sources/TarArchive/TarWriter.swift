#if canImport(Glibc)
import Glibc
#endif
import CArchive

/// A PAX tar writer (ustar headers unless a field needs more, as Go's `archive/tar` writes them)
/// handing its output to a sink. The stream ends right after the two zero blocks: no padding of
/// the last block, so an empty archive is exactly 1024 bytes.
///
/// ```swift
/// let w = try TarWriter { bytes in try out.write(bytes) }
/// let e = try TarEntry(name: "etc/hostname", stat: st)
/// try w.writeHeader(e)
/// try w.writeData(from: fd, size: e.size)
/// try w.finish()
/// ```
/// An error thrown by the sink is rethrown as is by the call that wrote; libarchive's own failures
/// go through `mapError`.
public final class TarWriter {
    /// Receives the archive's bytes, on the writing thread, during the writer's calls.
    public typealias Sink = (UnsafeRawBufferPointer) throws -> Void

    private final class Output {
        let write: Sink
        var error: (any Error)?
        init(_ write: @escaping Sink) { self.write = write }
    }

    /// The libarchive writer, for the calls this type does not wrap.
    public let archive: OpaquePointer
    private let output: Output
    private let mapError: TarArchiveError.Mapper
    private var buffer: UnsafeMutableRawBufferPointer?
    /// Headers written so far.
    public private(set) var entries = 0

    /// - Parameters:
    ///   - blockSize: bytes libarchive collects before calling `sink` (except at the end).
    ///   - mapError: turns libarchive's failures into the caller's error type.
    public init(blockSize: Int = 64 << 10, mapError: @escaping TarArchiveError.Mapper = { $0 },
                sink: @escaping Sink) throws {
        guard let a = archive_write_new() else {
            throw mapError(TarArchiveError(operation: "", detail: "libarchive: cannot allocate a writer", code: ENOMEM))
        }
        archive = a
        output = Output(sink)
        self.mapError = mapError
        archive_write_set_format_pax_restricted(a)
        archive_write_set_bytes_per_block(a, Int32(blockSize))
        archive_write_set_bytes_in_last_block(a, 1)
        let ctx = Unmanaged.passUnretained(output).toOpaque()
        let r = archive_write_open2(a, ctx, nil, { _, ctx, buf, len in
            let out = Unmanaged<Output>.fromOpaque(ctx!).takeUnretainedValue()
            do {
                try out.write(UnsafeRawBufferPointer(start: buf, count: len))
                return la_ssize_t(len)
            } catch {
                if out.error == nil { out.error = error }
                return -1
            }
        }, nil, nil)
        // Fully initialized: a throw from here on runs deinit, which frees the writer.
        guard r == ARCHIVE_OK else { throw failure("opening the tar writer") }
    }

    deinit {
        archive_write_free(archive)
        buffer?.deallocate()
    }

    /// The sink's error if it failed, else libarchive's failure mapped.
    public func failure(_ operation: String) -> any Error {
        output.error ?? mapError(TarArchiveError(archive, operation: operation))
    }

    /// Writes `entry`'s header (warnings, such as a name that needed a PAX record, are not failures).
    public func writeHeader(_ entry: TarEntry) throws {
        if archive_write_header(archive, entry.pointer) < ARCHIVE_WARN { throw failure("writing the archive") }
        entries += 1
    }

    /// Writes the current entry's data.
    public func writeData(_ bytes: UnsafeRawBufferPointer) throws {
        if archive_write_data(archive, bytes.baseAddress, bytes.count) < 0 { throw failure("writing the archive") }
    }

    /// Copies at most `size` bytes (the header's size) from `fd`. A file that shrank since its
    /// header was written is padded with zeros by libarchive, so the archive stays well-formed.
    public func writeData(from fd: Int32, size: Int64) throws {
        let buf = buffer ?? UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
        buffer = buf
        var left = size
        while left > 0 {
            let n = read(fd, buf.baseAddress, Int(min(Int64(buf.count), left)))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            try writeData(UnsafeRawBufferPointer(start: buf.baseAddress, count: n))
            left -= Int64(n)
        }
    }

    /// Writes the end-of-archive blocks and flushes everything to the sink.
    public func finish() throws {
        if archive_write_close(archive) != ARCHIVE_OK { throw failure("finishing the archive") }
    }
}
