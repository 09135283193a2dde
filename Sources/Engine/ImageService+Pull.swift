import APIModels
import Foundation
import NIOCore
import OCI
import Registry
import Storage

extension ImageService {
    /// `POST /images/create?fromImage=…&tag=…&platform=…`. An empty `tag` with no tag or digest in
    /// `fromImage` pulls every tag, as Docker does. Progress lines are Docker's JSON stream.
    ///
    /// Errors before the first progress line (bad reference, unknown manifest, auth) are thrown as such;
    /// the caller turns later ones into an `errorDetail` line.
    public nonisolated func pull(fromImage: String, tag: String?, platform: String?, auth: AuthConfig?,
                                 progress: @escaping @Sendable (JSONMessage) async -> Void) async throws {
        var ref = try Reference.parse(fromImage)
        if let tag, !tag.isEmpty {
            if let d = try? Digest(parsing: tag) {
                ref = Reference(domain: ref.domain, path: ref.path, digest: d)
            } else {
                guard Self.isValidTag(tag) else { throw BerthError(.invalidArgument, "invalid tag format") }
                ref.tag = tag
            }
        }
        if ref.familiarName == "scratch" { throw BerthError(.forbidden, "'scratch' is a reserved name") }
        let plat = try platform.map { try Platform(parsing: $0) } ?? Platform.host
        let credential = Self.credential(from: auth)
        let sink = ProgressSink(progress)
        do {
            var updated = false
            if ref.tag == nil && ref.digest == nil {
                let tags = try await registry.listTags(ref, credential: credential)
                for t in tags {
                    var tagged = ref
                    tagged.tag = t
                    if try await pullOne(tagged, platform: plat, credential: credential, sink: sink) { updated = true }
                }
            } else {
                updated = try await pullOne(ref, platform: plat, credential: credential, sink: sink)
            }
            sink.send(PullMessages.message((updated ? "Status: Downloaded newer image for " : "Status: Image is up to date for ") + ref.familiarString))
            await sink.finish()
        } catch {
            await sink.finish()
            throw error
        }
        let eventImage = await store.lookup(reference: (ref.tag == nil && ref.digest == nil ? ref.withDefaultTag() : ref).description)
        await publish("pull", id: ref.familiarString, name: ref.familiarName, labelsOf: eventImage)
    }

    /// `[\w][\w.-]{0,127}`
    static func isValidTag(_ t: String) -> Bool {
        let u = Array(t.utf8)
        guard !u.isEmpty, u.count <= 128 else { return false }
        func word(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 }
        return word(u[0]) && u.dropFirst().allSatisfy { word($0) || $0 == 46 || $0 == 45 }
    }

    /// Pulls one tag or digest; returns whether the reference now points at a different image
    /// (Docker's "Downloaded newer image" vs "Image is up to date").
    nonisolated func pullOne(_ ref: Reference, platform: Platform, credential: RegistryCredential?, sink: ProgressSink) async throws -> Bool {
        let resolved = try await registry.resolve(ref, platform: platform, credential: credential)
        let tagOrDigest = ref.digest?.description ?? ref.tag ?? Reference.defaultTag
        sink.send(PullMessages.message("Pulling from " + ref.path, id: tagOrDigest))

        let manifest = resolved.manifest
        let imageID = manifest.config.digest
        var manifests = [resolved.manifestDescriptor]
        if let idx = resolved.indexDigest, let bytes = resolved.indexBytes {
            manifests.append(Descriptor(mediaType: MediaType.ociIndex, digest: idx, size: Int64(bytes.count)))
        }
        let lease = await store.lease(blobs: [imageID] + manifests.map(\.digest))
        do {
            try storeManifests(resolved)
            if let existing = await store.image(imageID) {
                var rec = existing
                rec.manifests = manifests
                try await store.add(rec) // merges the manifests
            } else {
                let rec = try await pullImage(ref, resolved: resolved, manifests: manifests, platform: platform,
                                              credential: credential, lease: lease, sink: sink)
                try await store.add(rec)
            }
            await store.release(lease)
        } catch {
            await store.release(lease)
            throw error
        }
        sink.send(PullMessages.message("Digest: \(resolved.repoDigest)"))
        return try await updateReferences(ref, imageID: imageID, repoDigest: resolved.repoDigest)
    }

    /// Stores the manifest (and index) documents in the content store.
    private nonisolated func storeManifests(_ r: ResolvedManifest) throws {
        try store.content.write(r.manifestBytes, expected: r.manifestDescriptor.digest)
        if let idx = r.indexDigest, let bytes = r.indexBytes { try store.content.write(bytes, expected: idx) }
    }

    /// Docker's reference bookkeeping after a pull: `repo@digest` is added (never moved), the tag is
    /// pointed at the image.
    private nonisolated func updateReferences(_ ref: Reference, imageID: Digest, repoDigest: Digest) async throws -> Bool {
        let digestRef = Reference(domain: ref.domain, path: ref.path, digest: ref.digest ?? repoDigest)
        let digestKey = digestRef.description
        if ref.digest != nil {
            let old = await store.lookup(reference: digestKey)
            if old == imageID { return false }
            try await store.setReference(digestKey, to: imageID)
            return true
        }
        var updates: [(String, Digest)] = []
        if await store.lookup(reference: digestKey) == nil { updates.append((digestKey, imageID)) }
        let tagKey = ref.withDefaultTag().description
        let moved = await store.lookup(reference: tagKey) != imageID
        if moved { updates.append((tagKey, imageID)) }
        try await store.setReferences(updates)
        return moved
    }

    /// Fetches the config and every missing layer; returns the record to store.
    private nonisolated func pullImage(_ ref: Reference, resolved: ResolvedManifest, manifests: [Descriptor], platform: Platform,
                                       credential: RegistryCredential?, lease: UUID, sink: ProgressSink) async throws -> ImageRecord {
        let manifest = resolved.manifest
        let configBytes: [UInt8]
        if let b = try? store.content.read(manifest.config.digest) {
            configBytes = b
        } else {
            do {
                configBytes = try await registry.fetchBlobBytes(ref, descriptor: manifest.config, credential: credential)
            } catch let e as BerthError {
                throw BerthError(e.code, "error pulling image configuration: \(e.message)", cause: e.cause)
            }
            try store.content.write(configBytes, expected: manifest.config.digest)
        }
        let config: ImageConfig
        do {
            config = try JSONDecoder().decode(ImageConfig.self, from: Data(configBytes))
        } catch {
            throw BerthError(.invalidArgument, "invalid image configuration \(manifest.config.digest): \(error)")
        }
        guard config.rootfs.diffIDs.count == manifest.layers.count else {
            throw BerthError(.invalidArgument, "layers from manifest don't match image configuration")
        }
        if config.os != platform.os {
            throw BerthError(.invalidArgument, "image operating system \"\(config.os)\" cannot be used on this platform")
        }
        let chainIDs = Digest.chainIDs(diffIDs: config.rootfs.diffIDs)
        await store.extend(lease, chainIDs: chainIDs, blobs: manifest.layers.map(\.digest))
        let layers = try await pullLayers(ref, manifest: manifest, diffIDs: config.rootfs.diffIDs, chainIDs: chainIDs,
                                          credential: credential, sink: sink)
        return ImageRecord(config: manifest.config, manifests: manifests, layers: layers, created: config.created)
    }

    /// Announces every layer (`Already exists` / `Pulling fs layer` / `Waiting`), then downloads and
    /// unpacks the missing ones in parallel, each streamed straight into its snapshot.
    private nonisolated func pullLayers(_ ref: Reference, manifest: Manifest, diffIDs: [Digest], chainIDs: [Digest],
                                        credential: RegistryCredential?, sink: ProgressSink) async throws -> [LayerRecord] {
        var results = [LayerRecord?](repeating: nil, count: manifest.layers.count)
        var missing: [Int] = []
        var announced = Set<Digest>()
        for (i, desc) in manifest.layers.enumerated() {
            let id = PullMessages.shortID(desc.digest)
            if let info = store.snapshots.info(chainIDs[i]) {
                results[i] = LayerRecord(diffID: diffIDs[i], chainID: chainIDs[i], size: info.size, blob: desc,
                                         blobStored: store.content.contains(desc.digest))
                if announced.insert(desc.digest).inserted { sink.send(PullMessages.update("Already exists", id: id)) }
            } else {
                missing.append(i)
                if announced.insert(desc.digest).inserted { sink.send(PullMessages.update("Pulling fs layer", id: id)) }
            }
        }
        guard !missing.isEmpty else { return results.map { $0! } }

        try await withThrowingTaskGroup(of: (Int, LayerRecord).self) { group in
            // Layers start in order; those beyond the download slots say "Waiting" at once, as Docker does.
            var queued: [Int] = []
            for i in missing {
                if downloadSlots.tryAcquire() {
                    group.addTask { try await self.layerTask(i, ref: ref, manifest: manifest, diffIDs: diffIDs, chainIDs: chainIDs, credential: credential, sink: sink) }
                } else {
                    queued.append(i)
                    sink.send(PullMessages.update("Waiting", id: PullMessages.shortID(manifest.layers[i].digest)))
                }
            }
            // Each task frees its slot when done; the queued layers take them in order.
            for i in queued {
                await downloadSlots.acquire()
                group.addTask { try await self.layerTask(i, ref: ref, manifest: manifest, diffIDs: diffIDs, chainIDs: chainIDs, credential: credential, sink: sink) }
            }
            for try await (i, rec) in group { results[i] = rec }
        }
        return results.map { $0! }
    }

    /// One layer: joins an unpack of the same chain already running, or runs it; releases the download
    /// slot taken for it.
    private nonisolated func layerTask(_ i: Int, ref: Reference, manifest: Manifest, diffIDs: [Digest], chainIDs: [Digest],
                                       credential: RegistryCredential?, sink: ProgressSink) async throws -> (Int, LayerRecord) {
        defer { downloadSlots.release() }
        let desc = manifest.layers[i]
        let chainID = chainIDs[i]
        let parent = i > 0 ? chainIDs[i - 1] : nil
        let (task, isNew) = await unpacks.join(chainID) {
            Task {
                try await self.fetchLayer(ref, desc: desc, diffID: diffIDs[i], chainID: chainID, parent: parent,
                                          credential: credential, sink: sink)
            }
        }
        if !isNew {
            sink.send(PullMessages.update("Waiting", id: PullMessages.shortID(desc.digest)))
            let rec = try await task.value
            sink.send(PullMessages.update("Pull complete", id: PullMessages.shortID(desc.digest)))
            return (i, rec)
        }
        return (i, try await task.value)
    }

    /// Downloads a layer blob and unpacks it as it arrives: chunks go to a ``LayerExtraction`` (own
    /// thread: inflate, diffID hash, untar) and, if kept, to the content store. The snapshot is committed
    /// only after the registry client verified the blob digest and the extraction verified the diffID.
    nonisolated func fetchLayer(_ ref: Reference, desc: Descriptor, diffID: Digest, chainID: Digest, parent: Digest?,
                                credential: RegistryCredential?, sink: ProgressSink) async throws -> LayerRecord {
        let id = PullMessages.shortID(desc.digest)
        if let info = store.snapshots.info(chainID) {
            sink.send(PullMessages.update("Already exists", id: id))
            return LayerRecord(diffID: diffID, chainID: chainID, size: info.size, blob: desc, blobStored: store.content.contains(desc.digest))
        }
        guard let compression = MediaType.layerCompression(desc.mediaType) else {
            throw BerthError(.unsupported, "unsupported layer media type \(desc.mediaType)")
        }
        let prepared = try store.snapshots.prepare()
        var tee: ContentIngest?
        if settings.keepLayerBlobs && !store.content.contains(desc.digest) {
            tee = try store.content.beginIngest(expected: desc.digest, expectedSize: desc.size, hashing: false, durable: false)
        }
        let x = LayerExtraction.start(into: prepared.fsPath, options: .init(compression: compression, expectedDiffID: diffID, tee: tee))
        let state = DownloadState()
        let total = desc.size
        do {
            try await registry.fetchBlob(ref, descriptor: desc, credential: credential) { chunk in
                // After an extraction failure the download goes on (hashed, not unpacked): a blob that fails
                // its digest must be reported as damaged, as Docker does, not as a broken archive.
                if state.extractionError == nil {
                    do {
                        try await x.write(chunk)
                    } catch {
                        state.extractionError = error
                    }
                }
                state.received += Int64(chunk.readableBytes)
                if state.throttle.allow(final: state.received >= total) {
                    sink.send(PullMessages.progress("Downloading", id: id, current: state.received, total: total))
                }
            }
        } catch {
            await x.cancel(error)
            tee?.abort()
            store.snapshots.discard(prepared)
            throw error
        }
        if let failure = state.extractionError {
            await x.cancel(failure)
            tee?.abort()
            store.snapshots.discard(prepared)
            throw Self.registerError(failure)
        }
        sink.send(PullMessages.update("Verifying Checksum", id: id))
        sink.send(PullMessages.update("Download complete", id: id))
        let consumed = x.bytesConsumed
        if consumed < total {
            sink.send(PullMessages.progress("Extracting", id: id, current: consumed, total: total))
        }
        let result: LayerExtractionResult
        do {
            result = try await x.finish()
            try tee?.commit()
        } catch {
            tee?.abort()
            store.snapshots.discard(prepared)
            throw Self.registerError(error)
        }
        sink.send(PullMessages.progress("Extracting", id: id, current: total, total: total))
        try store.snapshots.commit(prepared, info: SnapshotInfo(chainID: chainID, diffID: diffID, parent: parent, size: result.size, blob: desc))
        sink.send(PullMessages.update("Pull complete", id: id))
        return LayerRecord(diffID: diffID, chainID: chainID, size: result.size, blob: desc,
                           blobStored: tee != nil || store.content.contains(desc.digest))
    }

    static func registerError(_ error: any Error) -> BerthError {
        let e = BerthError.wrap(error)
        return BerthError(e.code, "failed to register layer: \(e.message)", cause: e.cause)
    }
}
