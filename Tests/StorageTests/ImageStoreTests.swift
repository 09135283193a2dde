#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import OCI
import Testing
@testable import Storage

let testLogger = Logger(label: "berth.storage.tests")

/// Unpacks `tar` as the layer on top of `parent` and commits the snapshot.
func commitLayer(_ store: ImageStore, _ tar: TarBuilder, parent: Digest?) throws -> LayerRecord {
    let raw = try tar.build()
    let blob = try tar.build(.gzip)
    let diffID = Digest.sha256(raw)
    let chainID = parent.map { Digest.sha256("\($0) \(diffID)") } ?? diffID
    if store.snapshots.contains(chainID), let info = store.snapshots.info(chainID) {
        return LayerRecord(diffID: diffID, chainID: chainID, size: info.size, blob: nil, blobStored: false)
    }
    let prepared = try store.snapshots.prepare()
    let blobPath = store.root + "/tmp/blob-" + UUID().uuidString
    try writeBytes(blobPath, blob)
    defer { unlink(blobPath) }
    let r = try LayerExtraction.extract(file: blobPath, into: prepared.fsPath, options: .init(compression: .gzip, expectedDiffID: diffID))
    let desc = Descriptor(mediaType: MediaType.ociLayerGzip, digest: Digest.sha256(blob), size: Int64(blob.count))
    try store.snapshots.commit(prepared, info: SnapshotInfo(chainID: chainID, diffID: diffID, parent: parent, size: r.size, blob: desc))
    return LayerRecord(diffID: diffID, chainID: chainID, size: r.size, blob: desc, blobStored: false)
}

/// Stores a config naming `layers` and records the image.
func recordImage(_ store: ImageStore, _ layers: [LayerRecord], label: String) async throws -> ImageRecord {
    let config = ImageConfig(diffIDs: layers.map(\.diffID), history: [.init(createdBy: label)], created: "2024-05-06T07:08:09.123456789Z")
    let bytes = Array(try JSONEncoder().encode(config))
    let digest = try store.content.write(bytes)
    let rec = ImageRecord(config: Descriptor(mediaType: MediaType.ociConfig, digest: digest, size: Int64(bytes.count)),
                          manifests: [], layers: layers, created: config.created)
    try await store.add(rec)
    return rec
}

func layerTar(_ name: String, _ content: String) -> TarBuilder {
    var t = TarBuilder()
    t.file(name, content)
    return t
}

@Suite(.enabled(if: isRoot, "snapshots keep owners: needs root"))
struct ImageStoreTests {
    @Test func snapshotsAreSharedByChainIDAndCollected() async throws {
        let tmp = try TempDir()
        let store = try await ImageStore.open(root: tmp.path, logger: testLogger)
        let base = try commitLayer(store, layerTar("base", "b"), parent: nil)
        let a1 = try commitLayer(store, layerTar("a", "1"), parent: base.chainID)
        let b1 = try commitLayer(store, layerTar("b", "1"), parent: base.chainID)
        let imgA = try await recordImage(store, [base, a1], label: "A")
        let imgB = try await recordImage(store, [base, b1], label: "B")
        #expect(store.snapshots.list().count == 3)
        try await store.setReference("docker.io/library/a:latest", to: imgA.id)

        // The same layer on another parent is another snapshot; the same chain is not unpacked twice.
        let again = try commitLayer(store, layerTar("base", "b"), parent: nil)
        #expect(again.chainID == base.chainID)
        #expect(store.snapshots.list().count == 3)

        #expect(try await store.lowerDirs(for: imgA.id) == [store.snapshots.fsPath(a1.chainID), store.snapshots.fsPath(base.chainID)])

        let r1 = try await store.delete(imgA.id)
        #expect(r1.snapshots == [a1.chainID])
        #expect(r1.blobs == [imgA.id])
        #expect(await store.lookup(reference: "docker.io/library/a:latest") == nil)
        #expect(store.snapshots.contains(base.chainID))
        let r2 = try await store.delete(imgB.id)
        #expect(Set(r2.snapshots) == [b1.chainID, base.chainID])
        #expect(store.snapshots.list().isEmpty)
        #expect(store.content.list().isEmpty)
        #expect(FS.list(tmp.sub("tmp")).isEmpty)
    }

    @Test func leasesKeepContent() async throws {
        let tmp = try TempDir()
        let store = try await ImageStore.open(root: tmp.path, logger: testLogger)
        let layer = try commitLayer(store, layerTar("f", "x"), parent: nil)
        let blob = try store.content.write(Array("manifest".utf8))
        let lease = await store.lease(chainIDs: [layer.chainID], blobs: [blob])
        var report = await store.collectGarbage()
        #expect(report.snapshots.isEmpty && report.blobs.isEmpty)
        await store.release(lease)

        try await store.setPersistentLease("container-abc", Lease(chainIDs: [layer.chainID]))
        report = await store.collectGarbage()
        #expect(report.snapshots.isEmpty)
        #expect(report.blobs == [blob])

        // Persistent leases survive a restart.
        let reopened = try await ImageStore.open(root: tmp.path, logger: testLogger)
        #expect(reopened.snapshots.contains(layer.chainID))
        try await reopened.removePersistentLease("container-abc")
        report = await reopened.collectGarbage()
        #expect(report.snapshots == [layer.chainID])
    }

    @Test func referencesAndRecordsPersist() async throws {
        let tmp = try TempDir()
        var id: Digest
        do {
            let store = try await ImageStore.open(root: tmp.path, logger: testLogger)
            let layer = try commitLayer(store, layerTar("f", "x"), parent: nil)
            let rec = try await recordImage(store, [layer], label: "x")
            id = rec.id
            try await store.setReference("docker.io/library/x:latest", to: id)
            try await store.setReference("docker.io/library/x@sha256:" + String(repeating: "a", count: 64), to: id)
            try await store.setLastTagTime(id, Date(timeIntervalSince1970: 1000))
        }
        let store = try await ImageStore.open(root: tmp.path, logger: testLogger)
        #expect(await store.references(to: id).count == 2)
        #expect(await store.image(id)?.lastTagTime == Date(timeIntervalSince1970: 1000))
        #expect(await store.image(id)?.created == "2024-05-06T07:08:09.123456789Z")
        #expect(await store.images(withIDPrefix: String(id.encoded.prefix(6))) == [id])
        #expect(await store.images(withIDPrefix: "sha256:" + String(id.encoded.prefix(12))) == [id])
        #expect(await store.images(withIDPrefix: "zz").isEmpty)
    }

    @Test func recoveryCleansLeftoversAndDropsIncompleteImages() async throws {
        let tmp = try TempDir()
        var whole: Digest
        var broken: Digest
        do {
            let store = try await ImageStore.open(root: tmp.path, logger: testLogger)
            let l1 = try commitLayer(store, layerTar("one", "1"), parent: nil)
            let l2 = try commitLayer(store, layerTar("two", "2"), parent: nil)
            whole = try await recordImage(store, [l1], label: "whole").id
            broken = try await recordImage(store, [l2], label: "broken").id
            try await store.setReference("docker.io/library/broken:latest", to: broken)
            // What a kill -9 mid-pull leaves: a snapshot being built, a partial blob, a half-deleted
            // snapshot, an orphaned (committed but unrecorded) snapshot, and a temp metadata file.
            let prepared = try store.snapshots.prepare()
            try writeBytes(prepared.fsPath + "/partial", Array("p".utf8))
            try writeBytes(tmp.sub("content/ingest/0000"), Array("partial blob".utf8))
            try FS.mkdirAll(tmp.sub("snapshots/" + String(repeating: "c", count: 64) + "/fs"))
            _ = try commitLayer(store, layerTar("orphan", "o"), parent: nil)
            try writeBytes(tmp.sub("images/sha256/.tmp-123"), Array("{".utf8))
            // A layer of `broken` disappears (e.g. deleted by hand).
            try FS.removeTree(store.snapshots.directory(l2.chainID))
        }
        let store = try await ImageStore.open(root: tmp.path, logger: testLogger)
        #expect(await store.image(whole) != nil)
        #expect(await store.image(broken) == nil)
        #expect(await store.lookup(reference: "docker.io/library/broken:latest") == nil)
        #expect(FS.list(tmp.sub("tmp")).isEmpty)
        #expect(FS.list(tmp.sub("content/ingest")).isEmpty)
        #expect(FS.list(tmp.sub("snapshots")).count == 1)
        #expect(FS.list(tmp.sub("images/sha256")).count == 1)
        #expect(store.content.list().keys.sorted() == [whole])
    }

    @Test func commitIsAllOrNothing() async throws {
        let tmp = try TempDir()
        let store = try await ImageStore.open(root: tmp.path, logger: testLogger)
        let layer = try commitLayer(store, layerTar("f", "x"), parent: nil)
        // A second commit of the same chain ID is discarded, not merged.
        let prepared = try store.snapshots.prepare()
        try writeBytes(prepared.fsPath + "/other", Array("y".utf8))
        let committed = try store.snapshots.commit(prepared, info: SnapshotInfo(chainID: layer.chainID, diffID: layer.diffID, parent: nil, size: 1, blob: nil))
        #expect(!committed)
        #expect(!FS.exists(store.snapshots.fsPath(layer.chainID) + "/other"))
        #expect(FS.list(tmp.sub("tmp")).isEmpty)
        // Recording an image whose layers are missing is refused.
        let missing = LayerRecord(diffID: Digest.sha256("m"), chainID: Digest.sha256("m"), size: 0, blob: nil, blobStored: false)
        await #expect(throws: BerthError.self) { _ = try await recordImage(store, [missing], label: "m") }
    }

    @Test func overlayMountStacksSnapshots() async throws {
        let tmp = try TempDir()
        let store = try await ImageStore.open(root: tmp.path, logger: testLogger)
        var lower = TarBuilder()
        lower.file("keep", "k")
        lower.file("gone", "g")
        lower.dir("dir")
        lower.file("dir/old", "o")
        var upper = TarBuilder()
        upper.file(".wh.gone", "")
        upper.dir("dir")
        upper.file("dir/.wh..wh..opq", "")
        upper.file("dir/new", "n")
        let l1 = try commitLayer(store, lower, parent: nil)
        let l2 = try commitLayer(store, upper, parent: l1.chainID)
        let img = try await recordImage(store, [l1, l2], label: "overlay")
        let dirs = try await store.lowerDirs(for: img.id)
        let mnt = tmp.sub("mnt")
        try FS.mkdirAll(mnt)
        let rc = mount("overlay", mnt, "overlay", 0, "lowerdir=" + dirs.joined(separator: ":"))
        try #require(rc == 0, "mount overlay: \(String(cString: strerror(errno)))")
        defer { umount2(mnt, 0) }
        #expect(readText(mnt + "/keep") == "k")
        #expect(lstatOf(mnt + "/gone") == nil)
        #expect(FS.list(mnt + "/dir") == ["new"])
        #expect(readText(mnt + "/dir/new") == "n")
    }

    @Test func diskFullFailsCleanly() async throws {
        let tmp = try TempDir()
        let mnt = tmp.sub("small")
        try FS.mkdirAll(mnt)
        try #require(mount("tmpfs", mnt, "tmpfs", 0, "size=2m") == 0, "mount tmpfs: \(String(cString: strerror(errno)))")
        defer { umount2(mnt, 0) }
        let store = try await ImageStore.open(root: mnt + "/store", logger: testLogger)
        var t = TarBuilder()
        t.add(.init(path: "big", kind: .bytes(noise(4 << 20))))
        let blob = try t.build(.gzip)
        let prepared = try store.snapshots.prepare()
        let error = await #expect(throws: BerthError.self) {
            _ = try await streamExtract(blob, into: prepared.fsPath, .init(compression: .gzip))
        }
        #expect(error?.message.contains("no space left on device") == true)
        store.snapshots.discard(prepared)
        #expect(FS.list(mnt + "/store/tmp").isEmpty)
        #expect(store.snapshots.list().isEmpty)
        // Metadata writes fail cleanly too, and the store still opens.
        let filler = mnt + "/filler"
        let fd = open(filler, O_WRONLY | O_CREAT, 0o644)
        let chunk = [UInt8](repeating: 1, count: 1 << 20)
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        close(fd)
        #expect(throws: BerthError.self) { try store.content.write(noise(64 << 10)) }
        #expect(FS.list(mnt + "/store/content/ingest").isEmpty)
        unlink(filler)
        _ = try await ImageStore.open(root: mnt + "/store", logger: testLogger)
    }
}
