#if canImport(Glibc)
import Glibc
#endif
import CLinuxFS
import Foundation
import OCI

/// What a committed snapshot holds: one layer's files, unpacked for overlayfs.
public struct SnapshotInfo: Codable, Sendable, Hashable {
    /// The layer's chain ID (the snapshot's key).
    public var chainID: Digest
    /// Digest of the uncompressed layer tar.
    public var diffID: Digest
    /// Chain ID of the layer below, nil for a base layer.
    public var parent: Digest?
    /// Bytes of file content in the layer (Docker's layer size: the sum of tar entry sizes).
    public var size: Int64
    /// The (compressed) blob the layer was unpacked from, if known.
    public var blob: Descriptor?
    public var created: Date

    public init(chainID: Digest, diffID: Digest, parent: Digest?, size: Int64, blob: Descriptor?, created: Date = Date()) {
        self.chainID = chainID
        self.diffID = diffID
        self.parent = parent
        self.size = size
        self.blob = blob
        self.created = created
    }
}

/// A snapshot being built in `<root>/tmp/snap-<uuid>`; its `fsPath` is the directory layers unpack into.
public struct PreparedSnapshot: Sendable {
    public let directory: String
    public var fsPath: String { directory + "/fs" }
}

/// Layer snapshots at `<root>/snapshots/<chainID hex>/{fs,info.json}`. Each holds exactly one layer's
/// changes in overlayfs form (whiteouts as 0:0 character devices, opaque directories by xattr), so an
/// image's root is the overlay of its snapshots' `fs` directories, topmost first.
///
/// Snapshots are built in a temporary directory and renamed into place whole; removal renames them
/// into `tmp/` before deleting, so a crash never leaves a half snapshot under its key.
public final class SnapshotStore: Sendable {
    public let root: String
    let tmpDir: String

    /// - Parameters:
    ///   - root: the `snapshots` directory.
    ///   - tmpDir: scratch on the same file system (wiped at open).
    public init(root: String, tmpDir: String) throws {
        try FS.mkdirAll(root)
        try FS.mkdirAll(tmpDir)
        // Extraction refuses symlinks below the snapshot root, so the root itself is made canonical.
        self.root = try FS.canonical(root)
        self.tmpDir = try FS.canonical(tmpDir)
        Self.spreadSubdirectories(self.tmpDir)
    }

    /// On ext4, new snapshots (made in `tmpDir`) are placed in fresh block groups rather than next to
    /// each other. Besides spreading the load, this avoids ext4's slow path for groups full of
    /// recently deleted inodes (without a journal, every create then scans past them), which a pull
    /// right after an `rmi` or a `rm -rf` of an old data root otherwise hits hard. Best effort.
    static func spreadSubdirectories(_ path: String) {
        if ProcessInfo.processInfo.environment["BERTH_NO_TOPDIR"] != nil { return }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = berth_set_topdir(fd)
        close(fd)
    }

    public func directory(_ chainID: Digest) -> String { root + "/" + chainID.encoded }

    /// The directory holding the layer's files (an overlay lowerdir).
    public func fsPath(_ chainID: Digest) -> String { directory(chainID) + "/fs" }

    public func contains(_ chainID: Digest) -> Bool { FS.isDirectory(directory(chainID) + "/fs") && FS.exists(directory(chainID) + "/info.json") }

    public func info(_ chainID: Digest) -> SnapshotInfo? {
        guard let bytes = try? FS.readFile(directory(chainID) + "/info.json") else { return nil }
        return try? JSONDecoder.store.decode(SnapshotInfo.self, from: Data(bytes))
    }

    /// Every committed snapshot (directories without valid info are skipped).
    public func list() -> [SnapshotInfo] {
        FS.list(root).compactMap { name in
            guard let d = try? Digest(sha256Hex: name) else { return nil }
            return info(d)
        }
    }

    /// Names in the snapshots directory that are not whole snapshots (for recovery).
    func strayEntries() -> [String] {
        FS.list(root).filter { name in
            guard let d = try? Digest(sha256Hex: name) else { return true }
            return !contains(d)
        }
    }

    /// Creates an empty scratch snapshot to unpack into.
    public func prepare() throws -> PreparedSnapshot {
        let dir = tmpDir + "/snap-" + UUID().uuidString
        if mkdir(dir, 0o700) != 0 { throw FS.error("mkdir", dir) }
        if mkdir(dir + "/fs", 0o755) != 0 {
            let e = FS.error("mkdir", dir + "/fs")
            rmdir(dir)
            throw e
        }
        return PreparedSnapshot(directory: dir)
    }

    /// Records `info` and moves the prepared snapshot under its chain ID. Returns false (and discards
    /// the prepared copy) if that snapshot already exists.
    @discardableResult
    public func commit(_ prepared: PreparedSnapshot, info: SnapshotInfo) throws -> Bool {
        do {
            let bytes = try JSONEncoder.store.encode(info)
            try FS.writeAtomically(prepared.directory + "/info.json", Array(bytes), durable: false)
            let dest = directory(info.chainID)
            if contains(info.chainID) {
                discard(prepared)
                return false
            }
            if FS.exists(dest) { try removeToTrash(dest) } // a stray, incomplete directory
            if rename(prepared.directory, dest) != 0 {
                if errno == EEXIST || errno == ENOTEMPTY {
                    discard(prepared)
                    return false
                }
                throw FS.error("rename", dest)
            }
            return true
        } catch {
            discard(prepared)
            throw error
        }
    }

    /// Deletes a prepared snapshot that will not be committed.
    public func discard(_ prepared: PreparedSnapshot) {
        do { try FS.removeTree(prepared.directory) } catch {}
    }

    /// Removes a committed snapshot: renamed out of the way atomically, then deleted.
    public func remove(_ chainID: Digest) throws {
        let dir = directory(chainID)
        guard FS.exists(dir) else { return }
        try removeToTrash(dir)
    }

    /// Renames `path` into the scratch area and deletes it there.
    func removeToTrash(_ path: String) throws {
        let trash = tmpDir + "/trash-" + UUID().uuidString
        if rename(path, trash) != 0 {
            if errno == ENOENT { return }
            throw FS.error("rename", path)
        }
        try FS.removeTree(trash)
    }

    /// Moves `path` into the scratch area and returns where, for deletion outside a critical section.
    func moveToTrash(_ path: String) throws -> String? {
        let trash = tmpDir + "/trash-" + UUID().uuidString
        if rename(path, trash) != 0 {
            if errno == ENOENT { return nil }
            throw FS.error("rename", path)
        }
        return trash
    }

    /// Overlay lower directories for a chain of snapshots given bottom first, returned topmost first.
    public func lowerDirs(chainIDs: [Digest]) -> [String] {
        chainIDs.reversed().map(fsPath)
    }
}

extension JSONEncoder {
    static var store: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(RFC3339.format(date))
        }
        return e
    }
}

extension JSONDecoder {
    static var store: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let s = try decoder.singleValueContainer().decode(String.self)
            guard let date = RFC3339.parse(s) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad date \(s)"))
            }
            return date
        }
        return d
    }
}
