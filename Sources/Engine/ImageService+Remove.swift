import APIModels
import Foundation
import OCI
import Storage

extension ImageService {
    /// `POST /images/{name}/tag?repo=…&tag=…`.
    public func tag(_ source: String, repo: String, tag: String?) async throws {
        let rec = try await lookup(source)
        guard !repo.isEmpty else { throw BerthError(.invalidArgument, "repository name must have at least one component") }
        var ref = try Reference.parse(repo)
        if ref.digest != nil { throw BerthError(.invalidArgument, "cannot tag using a digest reference") }
        if let tag, !tag.isEmpty {
            guard Self.isValidTag(tag) else { throw BerthError(.invalidArgument, "invalid tag format") }
            ref.tag = tag
        }
        ref = ref.withDefaultTag()
        try await store.setReference(ref.description, to: rec.id)
        try await store.setLastTagTime(rec.id, Date())
        await publish("tag", id: rec.id.description, name: ref.familiarString, labelsOf: rec.id)
    }

    /// `DELETE /images/{name}`: moby's `ImageDelete`. A name only untags unless it was the last
    /// reference; an ID deletes, but needs `force` when the image is in several repositories.
    public func remove(_ name: String, force: Bool, noPrune: Bool) async throws -> [ImageDeleteResponseItem] {
        let rec = try await lookup(name)
        let imgID = rec.id
        var records: [ImageDeleteResponseItem] = []
        var repoRefs = await parsedReferences(imgID)
        let users = await users(of: imgID)
        var removedRepositoryRef = false

        if !Self.isImageIDPrefix(imgID, name) {
            if !force && Self.isSingleReference(repoRefs), let c = users.first {
                throw BerthError(.conflict, "conflict: unable to remove repository reference \"\(name)\" (must force) - container \(Self.short(c.containerID)) is using its referenced image \(Self.short(imgID.encoded))")
            }
            let parsed = try Reference.parse(name)
            let target = parsed.digest != nil ? Reference(domain: parsed.domain, path: parsed.path, digest: parsed.digest) : parsed.withDefaultTag()
            try await store.removeReference(target.description)
            records.append(ImageDeleteResponseItem(Untagged: target.familiarString))
            await publish("untag", id: imgID.description, name: imgID.description, labelsOf: imgID)
            repoRefs = await parsedReferences(imgID)
            // Untagging the last tag of a repository also drops that repository's digest references.
            if target.digest == nil && !repoRefs.contains(where: { $0.digest == nil && $0.name == target.name }) {
                var remaining: [Reference] = []
                for r in repoRefs {
                    if r.digest != nil && r.name == target.name {
                        try await store.removeReference(r.description)
                        records.append(ImageDeleteResponseItem(Untagged: r.familiarString))
                    } else {
                        remaining.append(r)
                    }
                }
                repoRefs = remaining
            }
            if !repoRefs.isEmpty { return records }
            removedRepositoryRef = true
        } else if Self.isSingleReference(repoRefs) {
            if let conflict = conflict(imgID, users: users, refs: [], force: force, checkRefs: false) { throw conflict.error }
            for r in repoRefs {
                try await store.removeReference(r.description)
                await publish("untag", id: imgID.description, name: imgID.description, labelsOf: imgID)
                records.append(ImageDeleteResponseItem(Untagged: r.familiarString))
            }
        }
        try await deleteImage(imgID, records: &records, force: force, quiet: removedRepositoryRef, users: users)
        return records
    }

    /// moby's `imageDeleteHelper`: refuses on conflicts (unless only soft ones and `force`), else removes
    /// the remaining references and the image, listing the layers that went with it.
    private func deleteImage(_ imgID: Digest, records: inout [ImageDeleteResponseItem], force: Bool, quiet: Bool, users: [ImageUser]) async throws {
        let refs = await parsedReferences(imgID)
        if let c = conflict(imgID, users: users, refs: refs, force: force, checkRefs: true) {
            if quiet && (!refs.isEmpty || c.used) { return }
            throw c.error
        }
        for r in refs {
            try await store.removeReference(r.description)
            await publish("untag", id: imgID.description, name: imgID.description, labelsOf: imgID)
            records.append(ImageDeleteResponseItem(Untagged: r.familiarString))
        }
        let chain = await store.image(imgID)?.chainIDs ?? []
        let labels = labels(imgID)
        let report = try await store.delete(imgID)
        forgetConfig(imgID)
        var attrs = labels
        attrs["name"] = imgID.description
        await events.publish(type: "image", action: "delete", id: imgID.description, attributes: attrs)
        records.append(ImageDeleteResponseItem(Deleted: imgID.description))
        let freed = Set(report.snapshots)
        for c in chain.reversed() where freed.contains(c) {
            records.append(ImageDeleteResponseItem(Deleted: c.description))
        }
    }

    private struct Conflict {
        var error: BerthError
        var used: Bool
    }

    /// moby's `checkImageDeleteConflict`: running containers (hard), then references and stopped
    /// containers (soft, ignored with `force`).
    private func conflict(_ id: Digest, users: [ImageUser], refs: [Reference], force: Bool, checkRefs: Bool) -> Conflict? {
        let short = Self.short(id.encoded)
        if let c = users.first(where: \.running) {
            return Conflict(error: BerthError(.conflict, "conflict: unable to delete \(short) (cannot be forced) - image is being used by running container \(Self.short(c.containerID))"), used: true)
        }
        if force { return nil }
        if checkRefs && !refs.isEmpty {
            return Conflict(error: BerthError(.conflict, "conflict: unable to delete \(short) (must be forced) - image is referenced in multiple repositories"), used: false)
        }
        if let c = users.first(where: { !$0.running }) {
            return Conflict(error: BerthError(.conflict, "conflict: unable to delete \(short) (must be forced) - image is being used by stopped container \(Self.short(c.containerID))"), used: true)
        }
        return nil
    }

    /// `POST /images/prune`: dangling (untagged) images by default; every unused image with
    /// `dangling=false`; `until` and `label`/`label!` narrow it.
    public func prune(filters: [String: [String]]) async throws -> ImagePruneResponse {
        let f = try ImageFilters(filters, accepted: ["dangling", "label", "label!", "until"])
        let danglingOnly = try f.bool("dangling", default: true)
        let until = try f.until()
        var layerSizes: [Digest: Int64] = [:]
        var candidates: [ImageRecord] = []
        for rec in await store.allImages() {
            for l in rec.layers { layerSizes[l.chainID] = l.size }
            let refs = await parsedReferences(rec.id)
            if danglingOnly && refs.contains(where: { $0.digest == nil }) { continue }
            if let until, let created = rec.created.flatMap(RFC3339.parseStamp), !(created < until) { continue }
            if let labels = (try? parsedConfig(rec.id))?.config.config?.Labels ?? ((f.contains("label") || f.contains("label!")) ? [:] : nil),
               !f.matchLabels(labels) { continue }
            candidates.append(rec)
        }
        var deleted: [ImageDeleteResponseItem] = []
        for rec in candidates {
            let refs = await parsedReferences(rec.id)
            if refs.isEmpty {
                deleted += (try? await remove(rec.id.encoded, force: false, noPrune: false)) ?? []
                continue
            }
            let shouldDelete = !danglingOnly || !refs.contains(where: { $0.digest == nil })
            guard shouldDelete else { continue }
            for r in refs {
                do {
                    deleted += try await remove(r.description, force: false, noPrune: false)
                } catch let e as BerthError where e.code == .conflict || e.code == .notFound {
                    continue
                }
            }
        }
        var reclaimed: Int64 = 0
        for d in deleted {
            if let s = d.Deleted, let digest = try? Digest(parsing: s), let size = layerSizes[digest] { reclaimed += size }
        }
        await events.publish(type: "image", action: "prune", id: "", attributes: ["reclaimed": String(reclaimed)])
        return ImagePruneResponse(ImagesDeleted: deleted.isEmpty ? nil : deleted, SpaceReclaimed: reclaimed)
    }

    // MARK: - Helpers

    func parsedReferences(_ id: Digest) async -> [Reference] {
        await store.references(to: id).compactMap { try? Reference.parse($0) }
    }

    /// moby `isImageIDPrefix`: `name` is (a prefix of) the ID, with or without `sha256:`.
    static func isImageIDPrefix(_ id: Digest, _ name: String) -> Bool {
        id.description.hasPrefix(name) || id.encoded.hasPrefix(name)
    }

    /// moby `isSingleReference`: all references in one repository, with at most one tag.
    static func isSingleReference(_ refs: [Reference]) -> Bool {
        if refs.count <= 1 { return refs.count == 1 }
        var single: Reference?
        var canonical = Set<String>()
        for r in refs {
            if r.digest != nil {
                canonical.insert(r.name)
            } else if single == nil {
                single = r
            } else {
                return false
            }
        }
        let s = single ?? refs[0]
        return canonical.count == 1 && canonical.contains(s.name)
    }

    static func short(_ s: String) -> String {
        let hex = s.hasPrefix("sha256:") ? String(s.dropFirst(7)) : s
        return String(hex.prefix(12))
    }
}
