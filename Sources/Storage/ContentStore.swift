#if canImport(Glibc)
import Glibc
#endif
import Foundation
import OCI

/// Content-addressed blobs under `<root>/content/blobs/sha256/<hex>`.
///
/// Writes go to `<root>/content/ingest/<random>` first and are renamed into place only once the
/// digest is verified, so a blob present under its name is whole. Leftover ingests (a killed
/// daemon) are removed when the store is opened.
public final class ContentStore: Sendable {
    public let root: String
    let blobsDir: String
    let ingestDir: String

    /// - Parameter root: the `content` directory (created if missing).
    public init(root: String) throws {
        self.root = root
        self.blobsDir = root + "/blobs/sha256"
        self.ingestDir = root + "/ingest"
        try FS.mkdirAll(blobsDir)
        try FS.mkdirAll(ingestDir)
    }

    /// Removes partial ingests left by a killed process. Call only when no ingest can be running.
    @discardableResult
    public func removeStaleIngests() -> Int {
        var n = 0
        for name in FS.list(ingestDir) {
            try? FS.removeTree(ingestDir + "/" + name)
            n += 1
        }
        for name in FS.list(blobsDir) where name.hasPrefix(".tmp-") {
            unlink(blobsDir + "/" + name)
        }
        return n
    }

    public func path(_ digest: Digest) -> String { blobsDir + "/" + digest.encoded }

    public func contains(_ digest: Digest) -> Bool {
        digest.algorithm == "sha256" && FS.exists(path(digest))
    }

    /// Size in bytes of a stored blob, or nil.
    public func size(of digest: Digest) -> Int64? {
        var st = stat()
        guard digest.algorithm == "sha256", lstat(path(digest), &st) == 0 else { return nil }
        return Int64(st.st_size)
    }

    /// Reads a (small) blob whole, verifying it against its digest unless `verify` is false.
    public func read(_ digest: Digest, verify: Bool = true) throws -> [UInt8] {
        guard digest.algorithm == "sha256" else { throw BerthError(.notFound, "blob \(digest) not found") }
        let bytes: [UInt8]
        do {
            bytes = try FS.readFile(path(digest))
        } catch let e as BerthError where e.code == .notFound {
            throw BerthError(.notFound, "blob \(digest) not found")
        }
        if verify, Digest.sha256(bytes) != digest {
            throw BerthError(.dataCorrupted, "blob \(digest) is damaged: content does not match its digest")
        }
        return bytes
    }

    /// Stores `bytes` (checked against `expected` when given) and returns their digest.
    @discardableResult
    public func write(_ bytes: [UInt8], expected: Digest? = nil) throws -> Digest {
        let digest = Digest.sha256(bytes)
        if let expected, expected != digest {
            throw BerthError(.dataCorrupted, "digest mismatch: expected \(expected), got \(digest)")
        }
        if contains(digest) { return digest }
        let ingest = try beginIngest(expected: digest, expectedSize: Int64(bytes.count))
        do {
            try bytes.withUnsafeBytes { try ingest.write($0) }
            try ingest.commit()
        } catch {
            ingest.abort()
            throw error
        }
        return digest
    }

    /// Starts an atomic ingest. With `hashing` false the caller vouches for the digest
    /// (e.g. the registry client verified the very bytes written here) and must pass `expected`.
    public func beginIngest(expected: Digest?, expectedSize: Int64? = nil, hashing: Bool = true, durable: Bool = true) throws -> ContentIngest {
        precondition(hashing || expected != nil, "an unhashed ingest needs the expected digest")
        let path = ingestDir + "/" + UUID().uuidString
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FS.error("create", path) }
        return ContentIngest(store: self, fd: fd, path: path, expected: expected, expectedSize: expectedSize, hashing: hashing, durable: durable)
    }

    /// Removes a blob; a missing blob is not an error.
    public func delete(_ digest: Digest) throws {
        if unlink(path(digest)) != 0, errno != ENOENT { throw FS.error("unlink", path(digest)) }
    }

    /// Every stored blob with its size.
    public func list() -> [Digest: Int64] {
        var out: [Digest: Int64] = [:]
        for name in FS.list(blobsDir) {
            guard let d = try? Digest(sha256Hex: name) else { continue }
            var st = stat()
            if lstat(blobsDir + "/" + name, &st) == 0 { out[d] = Int64(st.st_size) }
        }
        return out
    }

    fileprivate func install(from tmp: String, digest: Digest, durable: Bool) throws {
        let dest = path(digest)
        // Concurrent ingests of one digest: both renames are atomic and install the same bytes.
        if rename(tmp, dest) != 0 {
            let e = FS.error("rename", dest)
            unlink(tmp)
            throw e
        }
        if durable { FS.fsyncDirectory(blobsDir) }
    }
}

/// One blob being written. Not thread-safe: one writer at a time (it may move between threads).
public final class ContentIngest: @unchecked Sendable {
    let store: ContentStore
    let path: String
    let expected: Digest?
    let expectedSize: Int64?
    let durable: Bool
    private var fd: Int32
    private var hasher: DigestHasher?
    public private(set) var written: Int64 = 0
    private var done = false

    fileprivate init(store: ContentStore, fd: Int32, path: String, expected: Digest?, expectedSize: Int64?, hashing: Bool, durable: Bool) {
        self.store = store
        self.fd = fd
        self.path = path
        self.expected = expected
        self.expectedSize = expectedSize
        self.durable = durable
        self.hasher = hashing ? DigestHasher() : nil
    }

    deinit {
        if !done { abort() }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(!done, "write after commit/abort")
        guard bytes.count > 0 else { return }
        hasher?.update(bytes)
        try FS.writeAll(fd, bytes, path: path)
        written += Int64(bytes.count)
    }

    /// Verifies size and digest, then moves the blob into place. Throws `.dataCorrupted` on mismatch
    /// (and nothing is stored).
    @discardableResult
    public func commit() throws -> Digest {
        precondition(!done, "commit twice")
        defer { done = true }
        do {
            if let expectedSize, expectedSize != written {
                throw BerthError(.dataCorrupted, "size mismatch: expected \(expectedSize) bytes, got \(written)")
            }
            let digest: Digest
            if let hasher {
                digest = hasher.finalize()
                if let expected, expected != digest {
                    throw BerthError(.dataCorrupted, "digest mismatch: expected \(expected), got \(digest)")
                }
            } else {
                digest = expected!
            }
            if durable, fsync(fd) != 0 { throw FS.error("fsync", path) }
            close(fd)
            fd = -1
            try store.install(from: path, digest: digest, durable: durable)
            return digest
        } catch {
            if fd >= 0 { close(fd); fd = -1 }
            unlink(path)
            throw error
        }
    }

    /// Drops the partial blob.
    public func abort() {
        guard !done else { return }
        done = true
        if fd >= 0 { close(fd); fd = -1 }
        unlink(path)
    }
}
