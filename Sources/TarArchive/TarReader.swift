#if canImport(Glibc)
import Glibc
#endif
import CArchive

/// A tar reader (optionally of a compressed tar: gzip, bzip2, xz, zstd… as `docker cp` accepts)
/// over a file descriptor or a source of blocks. An empty input is an archive with no entries.
///
/// ```swift
/// let r = try TarReader(fd: fd)
/// while let e = try r.next() {
///     try r.readData { bytes, offset in … }
/// }
/// ```
/// An error thrown by the source is rethrown as is; libarchive's own failures go through `mapError`.
public final class TarReader {
    /// Hands libarchive the next block of input; nil at the end. A block must stay valid until the
    /// next call.
    public typealias Source = () throws -> UnsafeRawBufferPointer?

    private final class Input {
        let next: Source
        var error: (any Error)?
        init(_ next: @escaping Source) { self.next = next }
    }

    /// The libarchive reader, for the calls this type does not wrap.
    public let archive: OpaquePointer
    private let input: Input?
    private let mapError: TarArchiveError.Mapper

    /// Reads the archive in `fd` from its current offset.
    /// - Parameter decompress: accept compressed tars too (libarchive detects the filter).
    public convenience init(fd: Int32, decompress: Bool = true, blockSize: Int = 64 << 10,
                            mapError: @escaping TarArchiveError.Mapper = { $0 }) throws {
        try self.init(decompress: decompress, input: nil, mapError: mapError) { a, _ in
            archive_read_open_fd(a, fd, blockSize)
        }
    }

    /// Reads the archive from `source`'s blocks, on the calling thread.
    /// - Parameter decompress: accept compressed tars too; without it only a raw tar is read and
    ///   no filter detection runs.
    public convenience init(decompress: Bool = true, mapError: @escaping TarArchiveError.Mapper = { $0 },
                            source: @escaping Source) throws {
        try self.init(decompress: decompress, input: Input(source), mapError: mapError) { a, ctx in
            archive_read_open(a, ctx, nil, { _, ctx, out in
                let input = Unmanaged<Input>.fromOpaque(ctx!).takeUnretainedValue()
                do {
                    guard let block = try input.next() else { return 0 }
                    out?.pointee = block.baseAddress
                    return block.count
                } catch {
                    input.error = error
                    return -1
                }
            }, nil)
        }
    }

    private init(decompress: Bool, input: Input?, mapError: @escaping TarArchiveError.Mapper,
                 open: (OpaquePointer, UnsafeMutableRawPointer?) -> Int32) throws {
        guard let a = archive_read_new() else {
            throw mapError(TarArchiveError(operation: "", detail: "libarchive: cannot allocate a reader", code: ENOMEM))
        }
        archive = a
        self.input = input
        self.mapError = mapError
        if decompress { archive_read_support_filter_all(a) }
        archive_read_support_format_tar(a)
        archive_read_support_format_empty(a)
        // Fully initialized: a throw from here on runs deinit, which frees the reader.
        guard open(a, input.map { Unmanaged.passUnretained($0).toOpaque() }) == ARCHIVE_OK else {
            throw failure("opening the archive")
        }
    }

    deinit { archive_read_free(archive) }

    /// The error the source threw, if it did.
    public var sourceError: (any Error)? { input?.error }

    /// The source's error if it failed, else libarchive's failure mapped.
    public func failure(_ operation: String = "reading the archive") -> any Error {
        input?.error ?? mapError(TarArchiveError(archive, operation: operation))
    }

    /// The next header; nil after the last. The entry is valid until the next call.
    public func next() throws -> TarEntry? {
        var entry: OpaquePointer?
        while true {
            let r = archive_read_next_header(archive, &entry)
            if r == ARCHIVE_EOF { return nil }
            if r == ARCHIVE_RETRY { continue }
            if r < ARCHIVE_WARN { throw failure() }
            return TarEntry(borrowing: entry!)
        }
    }

    /// Reads the current entry's data, calling `body` with each block and its offset in the file
    /// (blocks of a sparse file leave holes between them).
    public func readData(_ body: (UnsafeRawBufferPointer, Int64) throws -> Void) throws {
        var buf: UnsafeRawPointer?
        var size = 0
        var offset: la_int64_t = 0
        while true {
            let r = archive_read_data_block(archive, &buf, &size, &offset)
            if r == ARCHIVE_EOF { return }
            if r < ARCHIVE_WARN { throw failure() }
            try body(UnsafeRawBufferPointer(start: buf, count: size), Int64(offset))
        }
    }
}
