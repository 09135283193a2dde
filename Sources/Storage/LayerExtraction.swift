#if canImport(Glibc)
import Glibc
#endif
import CArchive
import Foundation
import NIOCore
import OCI

/// How a layer blob is to be unpacked.
public struct LayerExtractionOptions: Sendable {
    public var compression: LayerCompression
    /// The diffID the image config promises; a different raw stream fails the extraction.
    public var expectedDiffID: Digest?
    /// Hash the compressed bytes too and check them against this digest (for sources that are not
    /// verified already; the registry client verifies what it delivers).
    public var expectedBlobDigest: Digest?
    /// Where the compressed bytes are also written (the content store), if anywhere.
    public var tee: ContentIngest?
    /// Bytes of compressed data buffered between the download and the extraction thread.
    public var pipeCapacity: Int
    /// Size of the raw-tar block handed to libarchive.
    public var blockSize: Int

    public init(compression: LayerCompression, expectedDiffID: Digest? = nil, expectedBlobDigest: Digest? = nil,
                tee: ContentIngest? = nil, pipeCapacity: Int = 8 << 20, blockSize: Int = 512 << 10) {
        self.compression = compression
        self.expectedDiffID = expectedDiffID
        self.expectedBlobDigest = expectedBlobDigest
        self.tee = tee
        self.pipeCapacity = pipeCapacity
        self.blockSize = blockSize
    }
}

/// What an extraction produced.
public struct LayerExtractionResult: Sendable, Hashable {
    /// Digest of the raw tar stream.
    public var diffID: Digest
    /// Docker's layer size: the sum of the entries' content sizes.
    public var size: Int64
    public var compressedBytes: Int64
    public var rawBytes: Int64
    public var entries: Int
    /// Digest of the compressed stream, when it was hashed (`expectedBlobDigest` set).
    public var blobDigest: Digest?
    /// libarchive warnings (e.g. an xattr the file system refused), at most 20.
    public var warnings: [String]
}

/// Unpacks one layer into a directory on its own thread while the blob streams in:
/// chunks → bounded pipe → inflate (ISA-L / zstd) + diffID hash → libarchive tar reader →
/// ``TarApplier`` (archive_write_disk). No temporary copy of the blob or the tar is made.
///
/// ```swift
/// let x = LayerExtraction.start(into: prepared.fsPath, options: .init(compression: .gzip, expectedDiffID: d))
/// try await registry.fetchBlob(...) { chunk in try await x.write(chunk) }
/// let result = try await x.finish()
/// ```
/// On any error call ``cancel(_:)`` (or let ``finish()`` throw); the directory then holds a partial
/// layer and must be discarded by the caller.
public final class LayerExtraction: Sendable {
    private let pipe: ChunkPipe
    private let done = Completion<LayerExtractionResult>()

    private init(pipeCapacity: Int) {
        pipe = ChunkPipe(capacity: pipeCapacity)
    }

    /// Starts the extraction thread for `directory` (which should be empty).
    public static func start(into directory: String, options: LayerExtractionOptions) -> LayerExtraction {
        let x = LayerExtraction(pipeCapacity: options.pipeCapacity)
        let pipe = x.pipe
        let done = x.done
        let thread = Thread {
            let r = Result { try LayerExtraction.run(into: directory, options: options, next: { try pipe.receive() }) }
            if case .failure(let e) = r { pipe.fail(e) }
            done.complete(r)
        }
        thread.name = "berth-unpack"
        thread.stackSize = 4 << 20
        thread.start()
        return x
    }

    /// Feeds the next chunk of the blob; suspends while the pipe is full. Throws the extraction's
    /// error if it already failed (the download should then stop).
    public func write(_ chunk: ByteBuffer) async throws {
        try await pipe.send(chunk)
    }

    /// Marks the end of the blob and waits for the extraction; throws if the layer is invalid or
    /// its diffID is not the expected one.
    public func finish() async throws -> LayerExtractionResult {
        pipe.close()
        return try await done.wait()
    }

    /// Aborts: the thread stops at its next read; waits until it has.
    public func cancel(_ error: any Error) async {
        pipe.close(error: error)
        _ = try? await done.wait()
    }

    /// Compressed bytes the extraction has consumed so far (for "Extracting" progress).
    public var bytesConsumed: Int64 { pipe.bytesTaken }

    /// Unpacks a blob stored in a file, on the calling thread (tests, `docker load`).
    public static func extract(file path: String, into directory: String, options: LayerExtractionOptions) throws -> LayerExtractionResult {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FS.error("open", path) }
        defer { close(fd) }
        let allocator = ByteBufferAllocator()
        return try run(into: directory, options: options, next: {
            var buf = allocator.buffer(capacity: 1 << 20)
            let n = buf.writeWithUnsafeMutableBytes(minimumWritableBytes: 1 << 20) { raw in
                var r: Int
                repeat { r = read(fd, raw.baseAddress, raw.count) } while r < 0 && errno == EINTR
                return max(r, 0)
            }
            return n > 0 ? buf : nil
        })
    }

    /// The extraction itself (on the calling thread).
    static func run(into directory: String, options: LayerExtractionOptions, next: @escaping () throws -> ByteBuffer?) throws -> LayerExtractionResult {
        let source = try TarStreamSource(compression: options.compression, outputSize: options.blockSize,
                                         hashBlob: options.expectedBlobDigest != nil, tee: options.tee, nextChunk: next)
        guard let reader = archive_read_new() else { throw BerthError(.internalError, "libarchive: cannot allocate a reader") }
        defer { archive_read_free(reader) }
        archive_read_support_format_tar(reader)
        archive_read_support_format_empty(reader)
        let ctx = Unmanaged.passUnretained(source).toOpaque()
        let opened = archive_read_open(reader, ctx, nil, { _, ctx, buffer in
            let source = Unmanaged<TarStreamSource>.fromOpaque(ctx!).takeUnretainedValue()
            do {
                guard let block = try source.nextBlock() else { return 0 }
                buffer?.pointee = block.baseAddress
                return block.count
            } catch {
                source.error = error
                return -1
            }
        }, nil)
        let applier: TarApplier
        do {
            guard opened == ARCHIVE_OK else { throw TarApplier.archiveError(reader, "reading layer") }
            applier = try TarApplier(root: directory)
            try applier.apply(from: reader)
            // Whatever follows the end-of-archive blocks is still part of the diffID.
            while try source.nextBlock() != nil {}
        } catch {
            throw source.error ?? error
        }
        let diffID = source.diffID()
        if let expected = options.expectedDiffID, expected != diffID {
            throw BerthError(.dataCorrupted, "layer content does not match the image configuration: expected diffID \(expected), got \(diffID)")
        }
        let blobDigest = source.blobDigest()
        if let expected = options.expectedBlobDigest, expected != blobDigest {
            throw BerthError(.dataCorrupted, "filesystem layer verification failed for digest \(expected)")
        }
        return LayerExtractionResult(diffID: diffID, size: applier.contentSize, compressedBytes: source.compressedBytes,
                                     rawBytes: source.rawBytes, entries: applier.entryCount, blobDigest: blobDigest,
                                     warnings: applier.warnings)
    }
}
