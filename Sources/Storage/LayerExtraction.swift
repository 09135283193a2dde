#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import OCI
import TarArchive

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
            let r = Result {
                try LayerExtraction.run(into: directory, options: options, pipelined: true,
                                        stopInput: { pipe.fail($0) }, next: { try pipe.receive() })
            }
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

    /// The extraction itself. With `pipelined`, inflating and hashing run on a second thread feeding
    /// raw tar blocks through a ``BlockRing`` to this one, which parses and writes; otherwise both happen
    /// here. `stopInput` wakes the input side if the extraction fails while it waits for data.
    static func run(into directory: String, options: LayerExtractionOptions, pipelined: Bool = false,
                    stopInput: @escaping @Sendable (any Error) -> Void = { _ in },
                    next: @escaping () throws -> ByteBuffer?) throws -> LayerExtractionResult {
        let source = try TarStreamSource(compression: options.compression, outputSize: pipelined ? 4096 : options.blockSize,
                                         hashBlob: options.expectedBlobDigest != nil, tee: options.tee, nextChunk: next)
        let applier: TarApplier
        if pipelined {
            let ring = BlockRing(count: 4, size: options.blockSize)
            let producerDone = DispatchSemaphore(value: 0)
            let box = UncheckedBox(source)
            let producer = Thread {
                let source = box.value
                do {
                    while let buf = ring.takeFree() {
                        let n = try source.fill(buf)
                        if n == 0 {
                            ring.giveBack(buf)
                            break
                        }
                        ring.putFull(buf, n)
                    }
                    ring.finish(nil)
                } catch {
                    ring.finish(error)
                }
                producerDone.signal()
            }
            producer.name = "berth-inflate"
            producer.stackSize = 1 << 20
            producer.start()
            var current: UnsafeMutableRawBufferPointer?
            let reader: TarReader.Source = {
                if let c = current {
                    ring.giveBack(c)
                    current = nil
                }
                guard let (buf, n) = try ring.takeFull() else { return nil }
                current = buf
                return UnsafeRawBufferPointer(start: buf.baseAddress, count: n)
            }
            do {
                applier = try untar(into: directory, reader)
                producerDone.wait()
            } catch {
                ring.cancel()
                stopInput(error)
                producerDone.wait()
                throw error
            }
        } else {
            applier = try untar(into: directory) { try source.nextBlock() }
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

    /// Reads the tar from `next` with libarchive and applies it; then reads `next` to its end
    /// (whatever follows the end-of-archive blocks is still part of the diffID).
    private static func untar(into directory: String, _ next: @escaping TarReader.Source) throws -> TarApplier {
        // A raw tar only (the inflate runs before): no filter detection.
        let tar = try TarReader(decompress: false, mapError: { TarApplier.archiveError($0, "reading layer") }, source: next)
        do {
            let applier = try TarApplier(root: directory)
            try applier.apply(from: tar.archive)
            while try next() != nil {}
            return applier
        } catch {
            throw tar.sourceError ?? error
        }
    }
}

/// Hands a non-Sendable value to exactly one other thread.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
