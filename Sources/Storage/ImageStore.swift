#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import OCI

/// The image store under a data root:
///
/// ```
/// <root>/content/blobs/sha256/<hex>      blobs: configs, manifests, indexes, compressed layers
/// <root>/content/ingest/                 blobs being written
/// <root>/snapshots/<chainID hex>/fs      unpacked layers (overlay lowerdirs), info.json beside
/// <root>/images/sha256/<id hex>.json     image records
/// <root>/images/references.json          tags and digests → image IDs
/// <root>/leases/<name>.json              holds that outlive the daemon (containers)
/// <root>/tmp/                            scratch: snapshots being built, trash being deleted
/// ```
///
/// Invariants: an image record is written only after its snapshots and config are committed, and at
/// open every record is checked (config blob and snapshots present) and dropped otherwise; anything
/// no record, reference or lease uses is garbage. Metadata writes are atomic (temp file, fsync,
/// rename), so a killed daemon leaves either the old or the new state.
public actor ImageStore {
    public nonisolated let root: String
    public nonisolated let content: ContentStore
    public nonisolated let snapshots: SnapshotStore
    let logger: Logger
    let imagesDir: String
    let refsPath: String
    let leasesDir: String
    let tmpDir: String

    private var records: [Digest: ImageRecord] = [:]
    private var refs: [String: Digest] = [:]
    private var leases: [UUID: Lease] = [:]
    private var persistentLeases: [String: Lease] = [:]

    /// Opens (creating if needed) the store at `root` and recovers from an interrupted run:
    /// scratch and partial ingests are deleted, incomplete images dropped, garbage collected.
    public static func open(root: String, logger: Logger) async throws -> ImageStore {
        try FS.mkdirAll(root)
        let store = try ImageStore(root: try FS.canonical(root), logger: logger)
        try await store.recover()
        return store
    }

    private init(root: String, logger: Logger) throws {
        self.root = root
        self.logger = logger
        self.tmpDir = root + "/tmp"
        self.imagesDir = root + "/images/sha256"
        self.refsPath = root + "/images/references.json"
        self.leasesDir = root + "/leases"
        try FS.mkdirAll(tmpDir)
        try FS.mkdirAll(imagesDir)
        try FS.mkdirAll(leasesDir)
        self.content = try ContentStore(root: root + "/content")
        self.snapshots = try SnapshotStore(root: root + "/snapshots", tmpDir: tmpDir)
    }

    // MARK: - Recovery

    private func recover() async throws {
        // Scratch: snapshots that were being built, trees that were being deleted.
        for name in FS.list(tmpDir) {
            do { try FS.removeTree(tmpDir + "/" + name) } catch { logger.warning("cannot clean \(tmpDir)/\(name): \(error)") }
        }
        let ingests = content.removeStaleIngests()
        if ingests > 0 { logger.info("removed \(ingests) partial blob ingests") }
        for name in snapshots.strayEntries() {
            logger.info("removing incomplete snapshot \(name)")
            try? snapshots.removeToTrash(snapshots.root + "/" + name)
        }
        for name in FS.list(imagesDir) {
            let path = imagesDir + "/" + name
            if name.hasPrefix(".tmp-") { unlink(path); continue }
            guard name.hasSuffix(".json"), let bytes = try? FS.readFile(path),
                  let rec = try? JSONDecoder.store.decode(ImageRecord.self, from: Data(bytes)),
                  rec.id.encoded + ".json" == name
            else {
                logger.warning("removing unreadable image record \(name)")
                unlink(path)
                continue
            }
            if let missing = missingParts(rec) {
                logger.warning("image \(rec.id) is incomplete (\(missing)); removing its record")
                unlink(path)
                continue
            }
            records[rec.id] = rec
        }
        if let bytes = try? FS.readFile(refsPath) {
            if let file = try? JSONDecoder.store.decode(ReferencesFile.self, from: Data(bytes)) {
                refs = file.references
            } else {
                logger.error("\(refsPath) is unreadable; image tags are lost")
            }
        }
        let dangling = refs.filter { records[$0.value] == nil }
        if !dangling.isEmpty {
            for key in dangling.keys { refs.removeValue(forKey: key) }
            try saveReferences()
        }
        for name in FS.list(leasesDir) where name.hasSuffix(".json") {
            if let bytes = try? FS.readFile(leasesDir + "/" + name),
               let lease = try? JSONDecoder.store.decode(Lease.self, from: Data(bytes)) {
                persistentLeases[String(name.dropLast(5))] = lease
            } else if name.hasPrefix(".tmp-") {
                unlink(leasesDir + "/" + name)
            }
        }
        let report = await collectGarbage()
        if !report.snapshots.isEmpty || !report.blobs.isEmpty {
            logger.info("garbage collected \(report.snapshots.count) snapshots and \(report.blobs.count) blobs (\(report.bytesFreed) bytes)")
        }
    }

    private func missingParts(_ rec: ImageRecord) -> String? {
        if !content.contains(rec.config.digest) { return "config \(rec.config.digest) missing" }
        for l in rec.layers where !snapshots.contains(l.chainID) { return "layer \(l.chainID) missing" }
        return nil
    }

    // MARK: - Queries

    public func allImages() -> [ImageRecord] { Array(records.values) }

    public func image(_ id: Digest) -> ImageRecord? { records[id] }

    public var imageCount: Int { records.count }

    /// Every reference (normalized `domain/path:tag` or `domain/path@digest`) and its image.
    public func allReferences() -> [String: Digest] { refs }

    /// References to one image, sorted.
    public func references(to id: Digest) -> [String] {
        refs.compactMap { $0.value == id ? $0.key : nil }.sorted()
    }

    public func lookup(reference: String) -> Digest? { refs[reference] }

    /// Image IDs starting with `prefix` (hex, optionally after `sha256:`).
    public func images(withIDPrefix prefix: String) -> [Digest] {
        var p = Substring(prefix)
        if p.hasPrefix("sha256:") { p = p.dropFirst(7) }
        guard !p.isEmpty, p.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return [] }
        return records.keys.filter { $0.encoded.hasPrefix(p) }
    }

    /// Overlay lower directories for an image, topmost first.
    public func lowerDirs(for id: Digest) throws -> [String] {
        guard let rec = records[id] else { throw BerthError(.notFound, "No such image: \(id)") }
        return snapshots.lowerDirs(chainIDs: rec.chainIDs)
    }

    /// The image's config bytes (verified against the image ID).
    public nonisolated func configBytes(_ id: Digest) throws -> [UInt8] {
        try content.read(id)
    }

    // MARK: - Mutations

    /// Stores an image record; its config and snapshots must already be committed. If the image
    /// exists, manifests are merged and its tag time kept.
    public func add(_ record: ImageRecord) throws {
        if let missing = missingParts(record) {
            throw BerthError(.internalError, "cannot record image \(record.id): \(missing)")
        }
        var rec = record
        if let old = records[record.id] {
            var seen = Set(old.manifests.map(\.digest))
            rec.manifests = old.manifests
            for m in record.manifests where seen.insert(m.digest).inserted { rec.manifests.append(m) }
            rec.lastTagTime = old.lastTagTime
            rec.added = old.added
            for (i, l) in rec.layers.enumerated() where !l.blobStored && i < old.layers.count && old.layers[i].blobStored {
                rec.layers[i] = old.layers[i]
            }
            if rec == old { return }
        }
        try saveRecord(rec)
        records[rec.id] = rec
    }

    /// Points `reference` at an image; returns the image it pointed at before.
    @discardableResult
    public func setReference(_ reference: String, to id: Digest) throws -> Digest? {
        guard records[id] != nil else { throw BerthError(.notFound, "No such image: \(id)") }
        let old = refs[reference]
        if old == id { return old }
        refs[reference] = id
        do { try saveReferences() } catch {
            refs[reference] = old
            throw error
        }
        return old
    }

    /// Points several references at images in one metadata write.
    public func setReferences(_ pairs: [(String, Digest)]) throws {
        guard !pairs.isEmpty else { return }
        let before = refs
        for (ref, id) in pairs {
            guard records[id] != nil else { throw BerthError(.notFound, "No such image: \(id)") }
            refs[ref] = id
        }
        if refs == before { return }
        do { try saveReferences() } catch {
            refs = before
            throw error
        }
    }

    /// Removes a reference; returns the image it pointed at.
    @discardableResult
    public func removeReference(_ reference: String) throws -> Digest? {
        guard let old = refs.removeValue(forKey: reference) else { return nil }
        do { try saveReferences() } catch {
            refs[reference] = old
            throw error
        }
        return old
    }

    public func setLastTagTime(_ id: Digest, _ date: Date) throws {
        guard var rec = records[id] else { return }
        rec.lastTagTime = date
        try saveRecord(rec)
        records[id] = rec
    }

    /// Deletes an image and every reference to it, then collects garbage. Returns the chain IDs of
    /// snapshots this freed (Docker lists them as `Deleted:`) and what was reclaimed.
    public func delete(_ id: Digest) async throws -> GarbageReport {
        guard records[id] != nil else { throw BerthError(.notFound, "No such image: \(id)") }
        let before = refs
        refs = refs.filter { $0.value != id }
        if refs.count != before.count {
            do { try saveReferences() } catch {
                refs = before
                throw error
            }
        }
        let path = imagesDir + "/" + id.encoded + ".json"
        if unlink(path) != 0, errno != ENOENT { throw FS.error("unlink", path) }
        FS.fsyncDirectory(imagesDir)
        records.removeValue(forKey: id)
        return await collectGarbage()
    }

    // MARK: - Leases

    /// Keeps snapshots and blobs from garbage collection until ``release(_:)`` (in memory only:
    /// a restart drops it, which is right for pulls).
    public func lease(chainIDs: some Sequence<Digest> = [], blobs: some Sequence<Digest> = []) -> UUID {
        let id = UUID()
        leases[id] = Lease(chainIDs: Set(chainIDs), blobs: Set(blobs))
        return id
    }

    public func extend(_ lease: UUID, chainIDs: some Sequence<Digest> = [], blobs: some Sequence<Digest> = []) {
        leases[lease]?.chainIDs.formUnion(chainIDs)
        leases[lease]?.blobs.formUnion(blobs)
    }

    public func release(_ lease: UUID) {
        leases.removeValue(forKey: lease)
    }

    /// A lease kept on disk under `name` (e.g. `container-<id>`), surviving restarts. `durable: false`
    /// skips the fsyncs, for an owner that re-creates its lease at start-up (containers do).
    public func setPersistentLease(_ name: String, _ lease: Lease, durable: Bool = true) throws {
        guard !name.isEmpty, name.utf8.allSatisfy({ $0 == 45 || $0 == 46 || $0 == 95 || ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) }),
              !name.hasPrefix(".") else {
            throw BerthError(.invalidArgument, "invalid lease name \(name)")
        }
        let bytes = try JSONEncoder.store.encode(lease)
        try FS.writeAtomically(leasesDir + "/" + name + ".json", Array(bytes), durable: durable)
        persistentLeases[name] = lease
    }

    public func removePersistentLease(_ name: String) throws {
        guard persistentLeases.removeValue(forKey: name) != nil else { return }
        let path = leasesDir + "/" + name + ".json"
        if unlink(path) != 0, errno != ENOENT { throw FS.error("unlink", path) }
    }

    // MARK: - Garbage collection

    /// Removes snapshots and blobs that no image, reference or lease uses. Decisions and the renames
    /// out of the way happen on the actor; the deletion itself runs on a separate thread.
    public func collectGarbage() async -> GarbageReport {
        var liveChains = Set<Digest>()
        var liveBlobs = Set<Digest>()
        for rec in records.values {
            liveChains.formUnion(rec.chainIDs)
            liveBlobs.formUnion(rec.blobs)
        }
        for l in leases.values.concat(persistentLeases.values) {
            liveChains.formUnion(l.chainIDs)
            liveBlobs.formUnion(l.blobs)
        }
        var report = GarbageReport()
        var trash: [String] = []
        for info in snapshots.list() where !liveChains.contains(info.chainID) {
            do {
                if let t = try snapshots.moveToTrash(snapshots.directory(info.chainID)) {
                    trash.append(t)
                    report.snapshots.append(info.chainID)
                    report.bytesFreed += info.size
                }
            } catch {
                logger.warning("cannot remove snapshot \(info.chainID): \(error)")
            }
        }
        for (digest, size) in content.list() where !liveBlobs.contains(digest) {
            do {
                try content.delete(digest)
                report.blobs.append(digest)
                report.bytesFreed += size
            } catch {
                logger.warning("cannot remove blob \(digest): \(error)")
            }
        }
        if !trash.isEmpty { await Self.delete(trash) }
        return report
    }

    /// Takes directories out of the way at once — renamed into the scratch area, a rename each on
    /// the data root's file system — and deletes them on a background thread without waiting (a
    /// removed container's directories: on a file system mounted with `discard` each freed block
    /// is trimmed synchronously, ≈ 1 ms per container on the `run --rm` path). A path that cannot
    /// be renamed there is deleted in place; what a crash leaves in the scratch area goes at `open`.
    public nonisolated func discard(_ paths: [String]) {
        var moved: [String] = []
        for p in paths {
            if let t = try? snapshots.moveToTrash(p) {
                moved.append(t)
            } else {
                try? FS.removeTree(p)
            }
        }
        guard !moved.isEmpty else { return }
        let trees = moved
        let t = Thread {
            for m in trees { try? FS.removeTree(m) }
        }
        t.name = "berth-discard"
        t.start()
    }

    /// Deletes trees on a plain thread (not the cooperative pool: big trees take a while).
    nonisolated static func delete(_ paths: [String]) async {
        let done = Completion<Void>()
        let t = Thread {
            for p in paths { try? FS.removeTree(p) }
            done.complete(.success(()))
        }
        t.name = "berth-gc"
        t.start()
        _ = try? await done.wait()
    }

    // MARK: - Files

    private struct ReferencesFile: Codable {
        var references: [String: Digest]
    }

    private func saveReferences() throws {
        let bytes = try JSONEncoder.store.encode(ReferencesFile(references: refs))
        try FS.writeAtomically(refsPath, Array(bytes))
    }

    private func saveRecord(_ rec: ImageRecord) throws {
        let bytes = try JSONEncoder.store.encode(rec)
        try FS.writeAtomically(imagesDir + "/" + rec.id.encoded + ".json", Array(bytes))
    }
}

extension Sequence {
    fileprivate func concat<S: Sequence>(_ other: S) -> [Element] where S.Element == Element {
        Array(self) + Array(other)
    }
}
