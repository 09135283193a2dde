import APIModels
import Foundation
import OCI
import Storage

/// What `docker commit` turns into an image (assembled by the container service).
struct CommitRequest: Sendable {
    /// The container's image (the new image's parent).
    var parent: Digest
    /// The container's overlay: upper dir and lower dirs (topmost first).
    var upperDir: String
    var lowerDirs: [String]
    /// The new image's config (already merged) and where it came from.
    var config: ContainerAPIConfig
    var origin: CommitConfig.Origin
}

extension ImageService {
    /// Makes an image from a container's upper dir: a gzip layer (overlay whiteouts as OCI ones) written
    /// into the content store while its diffID and digest are hashed, unpacked into the snapshot of the
    /// new chain ID through the ordinary layer applier (the same bytes a pull would unpack), then the
    /// config and a Docker schema 2 manifest. An empty upper dir adds no layer (Docker: an empty tar
    /// is `empty_layer` in history). Everything is leased until the image record holds it; on failure
    /// nothing is recorded and the scratch snapshot is discarded.
    nonisolated func commit(_ req: CommitRequest) async throws -> Digest {
        let parentConfig = try store.configBytes(req.parent)
        let parentLayers = try await layers(of: req.parent, configBytes: parentConfig)
        let lease = await store.lease(chainIDs: parentLayers.map(\.chainID), blobs: [req.parent])
        do {
            let id = try await commitLeased(req, parentConfig: parentConfig, parentLayers: parentLayers, lease: lease)
            await store.release(lease)
            return id
        } catch {
            await store.release(lease)
            throw error
        }
    }

    private nonisolated func commitLeased(_ req: CommitRequest, parentConfig: [UInt8], parentLayers: [LayerRecord], lease: UUID) async throws -> Digest {
        let content = store.content
        let diff = OverlayChanges(upper: req.upperDir, lowers: req.lowerDirs)
        let ingest = try content.beginIngest(expected: nil)
        let written: LayerWriterResult
        do {
            written = try await Self.onThread("berth-commit") {
                try LayerWriter.write(directory: req.upperDir, compression: .gzip, exclude: { diff.isInitStub($0, $1) }) { try ingest.write($0) }
            }
        } catch {
            ingest.abort()
            throw error
        }
        var layers = parentLayers
        if written.isEmpty {
            ingest.abort()
        } else {
            let chainID = Digest.chainIDs(diffIDs: parentLayers.map(\.diffID) + [written.diffID]).last!
            await store.extend(lease, chainIDs: [chainID], blobs: [written.blobDigest])
            try ingest.commit()
            let blob = Descriptor(mediaType: MediaType.dockerLayerGzip, digest: written.blobDigest, size: written.blobSize)
            let size = try await snapshot(chainID: chainID, diffID: written.diffID, parent: parentLayers.last?.chainID, blob: blob)
            layers.append(LayerRecord(diffID: written.diffID, chainID: chainID, size: size, blob: blob, blobStored: true))
        }
        let configBytes = try CommitConfig.imageConfig(parent: parentConfig, config: req.config, origin: req.origin,
                                                       diffID: written.isEmpty ? nil : written.diffID)
        let configDesc = Descriptor(mediaType: MediaType.dockerConfig, digest: Digest.sha256(configBytes), size: Int64(configBytes.count))
        let manifest = Manifest(mediaType: MediaType.dockerManifest, config: configDesc, layers: layers.compactMap(\.blob))
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let manifestBytes = Array(try enc.encode(manifest))
        let manifestDesc = Descriptor(mediaType: MediaType.dockerManifest, digest: Digest.sha256(manifestBytes), size: Int64(manifestBytes.count))
        await store.extend(lease, blobs: [configDesc.digest, manifestDesc.digest])
        try content.write(configBytes, expected: configDesc.digest)
        try content.write(manifestBytes, expected: manifestDesc.digest)
        try await store.add(ImageRecord(config: configDesc, manifests: [manifestDesc], layers: layers, created: req.origin.created))
        await forgetConfig(configDesc.digest)
        return configDesc.digest
    }

    /// Unpacks the stored blob into the snapshot for `chainID` (unless it exists); returns the layer size.
    private nonisolated func snapshot(chainID: Digest, diffID: Digest, parent: Digest?, blob: Descriptor) async throws -> Int64 {
        if let info = store.snapshots.info(chainID) { return info.size }
        let snapshots = store.snapshots
        let prepared = try snapshots.prepare()
        let blobPath = store.content.path(blob.digest)
        do {
            let result = try await Self.onThread("berth-unpack") {
                try LayerExtraction.extract(file: blobPath, into: prepared.fsPath,
                                            options: .init(compression: .gzip, expectedDiffID: diffID))
            }
            try snapshots.commit(prepared, info: SnapshotInfo(chainID: chainID, diffID: diffID, parent: parent, size: result.size, blob: blob))
            return result.size
        } catch {
            snapshots.discard(prepared)
            throw error
        }
    }

    /// The parent's layers: from its record, or — when the image was deleted while a container kept its
    /// layers leased — rebuilt from its config and the snapshots.
    private nonisolated func layers(of id: Digest, configBytes: [UInt8]) async throws -> [LayerRecord] {
        if let rec = await store.image(id) { return rec.layers }
        let config: ImageConfig
        do {
            config = try JSONDecoder().decode(ImageConfig.self, from: Data(configBytes))
        } catch {
            throw BerthError(.dataCorrupted, "invalid image configuration \(id): \(error)")
        }
        let diffIDs = config.rootfs.diffIDs
        return try zip(diffIDs, Digest.chainIDs(diffIDs: diffIDs)).map { diffID, chainID in
            guard let info = store.snapshots.info(chainID) else { throw BerthError(.notFound, "layer \(chainID) of image \(id) is missing") }
            return LayerRecord(diffID: diffID, chainID: chainID, size: info.size, blob: info.blob,
                               blobStored: info.blob.map { store.content.contains($0.digest) } ?? false)
        }
    }

    /// Runs blocking work on a thread of its own (not the cooperative pool).
    static func onThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            let t = Thread { c.resume(with: Result { try body() }) }
            t.name = name
            t.stackSize = 4 << 20
            t.start()
        }
    }
}
