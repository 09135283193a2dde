import APIModels
import Foundation
import Logging
import OCI
import Registry
import Storage

/// Images: pull, list, inspect, tag, remove, prune. Shapes returned are the Docker API's.
///
/// Metadata lives in the ``ImageStore`` actor (under `<root>/image`); this actor only caches parsed
/// configs. Pulls run off the actor (`nonisolated`) and touch metadata only in short steps, so a pull
/// never blocks `list`/`inspect`/other pulls.
public actor ImageService {
    let root: String
    let events: EventService
    let logger: Logger
    let store: ImageStore
    let registry: RegistryClient
    let settings: RegistrySettings
    let unpacks = InFlightUnpacks()
    let downloadSlots: AsyncSemaphore
    private var configCache: [Digest: ParsedConfig] = [:]
    private var imageUsers: (@Sendable (Digest) async -> [ImageUser])?

    /// - Parameter root: the daemon's data root (e.g. `/var/lib/berth`); the image store lives in `<root>/image`.
    public init(root: String, registry: RegistrySettings, events: EventService, logger: Logger) async throws {
        self.root = root
        self.events = events
        self.logger = logger
        self.settings = registry
        self.store = try await ImageStore.open(root: root + "/image", logger: logger)
        self.registry = RegistryClient(configuration: RegistryConfiguration(
            insecureRegistries: registry.insecureRegistries, mirrors: registry.mirrors,
            certsDirectories: registry.certsDirectories, dockerConfigPath: registry.dockerConfigPath,
            userAgent: registry.userAgent, maxRetries: max(registry.maxDownloadAttempts - 1, 0)), logger: logger)
        self.downloadSlots = AsyncSemaphore(max(registry.maxConcurrentDownloads, 1))
    }

    public func shutdown() async {
        try? await registry.shutdown()
    }

    // MARK: - For the container service

    /// Lets the container service say which containers use an image (for `rmi` conflicts and counts).
    public func setImageUsers(_ provider: @escaping @Sendable (Digest) async -> [ImageUser]) {
        imageUsers = provider
    }

    /// Resolves a name, ID or `name@digest` to what a container needs: ID, config, overlay lower dirs.
    /// With `platform` (`create ?platform=`), an image built for another platform is "not found" as in
    /// dockerd, so that the docker CLI goes on to pull the right variant.
    public func imageForContainer(_ name: String, platform: Platform? = nil) async throws -> ContainerImage {
        let rec = try await lookup(name)
        let parsed = try parsedConfig(rec.id)
        if let platform {
            let c = parsed.config
            let actual = Platform(os: c.os, architecture: c.architecture, variant: c.variant)
            if !platform.matches(actual) {
                throw BerthError(.notFound, "image with reference \(name) was found but does not match the specified platform: wanted \(platform), actual: \(actual)")
            }
        }
        return ContainerImage(id: rec.id, config: parsed.config, configBytes: parsed.bytes,
                              lowerDirs: store.snapshots.lowerDirs(chainIDs: rec.chainIDs), chainIDs: rec.chainIDs)
    }

    /// Overlay lower directories of an image, topmost first (each a layer's `fs` directory).
    public func lowerDirs(forImage name: String) async throws -> [String] {
        let rec = try await lookup(name)
        return store.snapshots.lowerDirs(chainIDs: rec.chainIDs)
    }

    /// Keeps an image's layers on disk for `owner` (e.g. `container-<id>`), even if the image is deleted,
    /// until ``releaseImage(owner:)``. Survives daemon restarts. `durable: false` skips the fsyncs
    /// (several ms on a busy disk) for an owner that retains again at start-up.
    public func retainImage(_ id: Digest, owner: String, durable: Bool = true) async throws {
        guard let rec = await store.image(id) else { throw BerthError(.notFound, "No such image: \(id)") }
        try await store.setPersistentLease(owner, Lease(chainIDs: Set(rec.chainIDs), blobs: [rec.id]), durable: durable)
    }

    /// Drops `owner`'s lease. With `image`: when that image still exists its record keeps the same
    /// layers alive, so there is nothing to collect (the common case: no scan of the stores).
    public func releaseImage(owner: String, image: Digest? = nil) async throws {
        try await store.removePersistentLease(owner)
        if let image, await store.image(image) != nil { return }
        _ = await store.collectGarbage()
    }

    // MARK: - Queries

    /// `GET /images/json`.
    public func list(all: Bool, filters: [String: [String]], digests: Bool) async throws -> [ImageSummary] {
        let f = try ImageFilters(filters, accepted: ["dangling", "label", "before", "since", "reference", "until"])
        let danglingOnly = try f.danglingExact() == true
        var before: ImageRecord?
        for v in f.values("before") { before = try await lookup(v) }
        var since: ImageRecord?
        for v in f.values("since") { since = try await lookup(v) }
        let until = try f.until()
        let patterns = f.values("reference")
        let refs = await store.allReferences()
        var byImage: [Digest: [Reference]] = [:]
        for (key, id) in refs {
            if let r = try? Reference.parse(key) { byImage[id, default: []].append(r) }
        }
        let users = await allUsers()
        var out: [ImageSummary] = []
        for rec in await store.allImages() {
            let created = stamp(rec)
            if let before, !(created < stamp(before)) { continue }
            if let since, !(created > stamp(since)) { continue }
            if let until, !(created < until) { continue }
            let parsed = try? parsedConfig(rec.id)
            if f.contains("label") {
                guard let labels = parsed?.config.config?.Labels, f.matchKVList("label", labels) else { continue }
            }
            var tags: [String] = []
            var repoDigests: [String] = []
            var skip = false
            for r in byImage[rec.id] ?? [] {
                if !patterns.isEmpty {
                    var found = false
                    for p in patterns where try PathMatch.familiarMatch(p, r) { found = true; break }
                    if !found { continue }
                }
                if r.digest != nil {
                    repoDigests.append(r.familiarString)
                } else {
                    if danglingOnly { skip = true; break }
                    tags.append(r.familiarString)
                }
            }
            if skip { continue }
            if tags.isEmpty && repoDigests.isEmpty {
                if f.contains("dangling") && !danglingOnly { continue }
                if f.contains("reference") { continue }
            }
            var s = summary(rec, tags: tags.sorted(), digests: repoDigests.sorted(), labels: parsed?.config.config?.Labels)
            if let users { s.Containers = Int64(users[rec.id]?.count ?? 0) }
            out.append(s)
        }
        out.sort { $0.Created != $1.Created ? $0.Created > $1.Created : $0.Id < $1.Id }
        return out
    }

    /// `GET /images/{name}/json`. Accepts names, full or short IDs, and `name@digest`.
    public func inspect(_ name: String) async throws -> ImageInspect {
        let rec = try await lookup(name)
        let parsed = try parsedConfig(rec.id)
        let (tags, digests) = await familiarReferences(rec.id)
        let c = parsed.config
        var comment = c.comment ?? ""
        if comment.isEmpty, let last = c.history?.last { comment = last.comment ?? "" }
        var inspect = ImageInspect(
            Id: rec.id.description, RepoTags: tags, RepoDigests: digests, Parent: "", Comment: comment,
            Created: rec.created.flatMap(RFC3339.normalize) ?? "", DockerVersion: c.dockerVersion ?? "",
            Author: c.author ?? "", Config: parsed.apiConfig, Architecture: c.architecture, Variant: c.variant,
            Os: c.os, OsVersion: c.osVersion, Size: rec.size,
            GraphDriver: graphDriver(rec), RootFS: .init(Layers: c.rootfs.diffIDs.map(\.description)),
            Metadata: .init(LastTagTime: rec.lastTagTime.map(RFC3339.format)))
        inspect.Container = c.container
        inspect.ContainerConfig = parsed.apiContainerConfig
        return inspect
    }

    /// `GET /images/{name}/history`: newest first; only the top entry carries the image ID and tags.
    public func history(_ name: String) async throws -> [HistoryItem] {
        let rec = try await lookup(name)
        let parsed = try parsedConfig(rec.id)
        var items: [HistoryItem] = []
        var layer = 0
        for h in parsed.config.history ?? [] {
            var size: Int64 = 0
            if h.emptyLayer != true {
                guard layer < rec.layers.count else {
                    throw BerthError(.internalError, "too many non-empty layers in History section")
                }
                size = rec.layers[layer].size
                layer += 1
            }
            let created = h.created.flatMap(RFC3339.parseStamp)?.seconds ?? 0
            items.insert(HistoryItem(Id: "<missing>", Created: created, CreatedBy: h.createdBy ?? "", Tags: nil,
                                     Size: size, Comment: h.comment ?? ""), at: 0)
        }
        if !items.isEmpty {
            let (tags, _) = await familiarReferences(rec.id)
            items[0].Id = rec.id.description
            items[0].Tags = tags.isEmpty ? nil : tags
        }
        return items
    }

    /// `GET /system/df` (the image half).
    public func diskUsage() async throws -> SystemDataUsage {
        var images = try await list(all: false, filters: [:], digests: true)
        let records = await store.allImages()
        var layerRefs: [Digest: Int] = [:]
        var layerSizes: [Digest: Int64] = [:]
        for rec in records {
            for l in rec.layers {
                layerRefs[l.chainID, default: 0] += 1
                layerSizes[l.chainID] = l.size
            }
        }
        let byID = Dictionary(records.map { ($0.id.description, $0) }, uniquingKeysWith: { a, _ in a })
        let users = await allUsers()
        for i in images.indices {
            guard let rec = byID[images[i].Id] else { continue }
            images[i].SharedSize = rec.layers.reduce(0) { $0 + ((layerRefs[$1.chainID] ?? 0) > 1 ? $1.size : 0) }
            images[i].Containers = Int64(users?[rec.id]?.count ?? 0)
        }
        let layersSize = store.snapshots.list().reduce(Int64(0)) { $0 + $1.size }
        return SystemDataUsage(LayersSize: layersSize, Images: images)
    }

    /// Number of images, for `/info`.
    public func imageCount() async -> Int { await store.imageCount }

    /// `POST /auth`: checks credentials against the registry.
    public func login(_ auth: AuthConfig) async throws -> AuthResponse {
        var server = auth.serveraddress ?? ""
        if server.isEmpty { server = "https://index.docker.io/v1/" }
        let token = try await registry.login(server: server, credential: Self.credential(from: auth) ?? RegistryCredential())
        return AuthResponse(Status: "Login Succeeded", IdentityToken: token)
    }

    // MARK: - Helpers

    /// Docker's `GetImage`: full ID, `name[:tag]`, `name@digest`, then a unique ID prefix.
    func lookup(_ refOrID: String) async throws -> ImageRecord {
        if let id = Self.fullID(refOrID) {
            if let rec = await store.image(id) { return rec }
            throw BerthError(.notFound, "No such image: \(id)")
        }
        let ref: Reference
        do {
            ref = try Reference.parse(refOrID)
        } catch {
            if let rec = await uniquePrefixMatch(refOrID) { return rec }
            throw error
        }
        let key = ref.digest != nil ? Reference(domain: ref.domain, path: ref.path, digest: ref.digest).description
                                    : ref.withDefaultTag().description
        if let id = await store.lookup(reference: key), let rec = await store.image(id) { return rec }
        if let rec = await uniquePrefixMatch(refOrID) { return rec }
        throw BerthError(.notFound, "No such image: \(ref.withDefaultTag().familiarString)")
    }

    private func uniquePrefixMatch(_ s: String) async -> ImageRecord? {
        let ids = await store.images(withIDPrefix: s)
        guard ids.count == 1 else { return nil }
        return await store.image(ids[0])
    }

    /// `sha256:<64 hex>` or `<64 hex>` as an image ID.
    static func fullID(_ s: String) -> Digest? {
        if Reference.isImageID(s) { return try? Digest(sha256Hex: s) }
        if s.hasPrefix("sha256:"), Reference.isImageID(String(s.dropFirst(7))) { return try? Digest(parsing: s) }
        return nil
    }

    /// RepoTags and RepoDigests of an image, familiar and sorted.
    func familiarReferences(_ id: Digest) async -> ([String], [String]) {
        var tags: [String] = []
        var digests: [String] = []
        for key in await store.references(to: id) {
            guard let r = try? Reference.parse(key) else { continue }
            if r.digest != nil { digests.append(r.familiarString) } else { tags.append(r.familiarString) }
        }
        return (tags.sorted(), digests.sorted())
    }

    func summary(_ rec: ImageRecord, tags: [String], digests: [String], labels: [String: String]?) -> ImageSummary {
        ImageSummary(Id: rec.id.description, ParentId: "", RepoTags: tags, RepoDigests: digests,
                     Created: rec.createdUnix, Size: rec.size, SharedSize: -1, Labels: labels ?? [:], Containers: -1)
    }

    private func stamp(_ rec: ImageRecord) -> RFC3339.Stamp {
        rec.created.flatMap(RFC3339.parseStamp) ?? RFC3339.Stamp(seconds: 0, nanos: 0, offsetSeconds: 0)
    }

    private func graphDriver(_ rec: ImageRecord) -> ImageInspect.GraphDriver {
        guard let top = rec.layers.last else { return .init(Name: "overlay2", Data: nil) }
        let topDir = store.snapshots.directory(top.chainID)
        var data = ["UpperDir": store.snapshots.fsPath(top.chainID), "MergedDir": topDir + "/merged", "WorkDir": topDir + "/work"]
        let lowers = store.snapshots.lowerDirs(chainIDs: rec.chainIDs.dropLast())
        if !lowers.isEmpty { data["LowerDir"] = lowers.joined(separator: ":") }
        return .init(Name: "overlay2", Data: data)
    }

    /// The image's config, parsed once and cached (configs are immutable by ID).
    func parsedConfig(_ id: Digest) throws -> ParsedConfig {
        if let c = configCache[id] { return c }
        let bytes = try store.configBytes(id)
        let parsed = try ParsedConfig(bytes: bytes)
        configCache[id] = parsed
        return parsed
    }

    func forgetConfig(_ id: Digest) { configCache.removeValue(forKey: id) }

    /// Labels of an image for event attributes (empty when unknown).
    func labels(_ id: Digest) -> [String: String] {
        (try? parsedConfig(id))?.config.config?.Labels ?? [:]
    }

    func users(of id: Digest) async -> [ImageUser] {
        guard let imageUsers else { return [] }
        return await imageUsers(id)
    }

    /// Container counts per image, or nil if no container service is attached.
    private func allUsers() async -> [Digest: [ImageUser]]? {
        guard let imageUsers else { return nil }
        var out: [Digest: [ImageUser]] = [:]
        for rec in await store.allImages() { out[rec.id] = await imageUsers(rec.id) }
        return out
    }

    /// Docker's `AuthConfig` (from `X-Registry-Auth` or `/auth`) as registry credentials; nil if empty.
    static func credential(from auth: AuthConfig?) -> RegistryCredential? {
        guard let auth else { return nil }
        var user = auth.username
        var pass = auth.password
        if (user ?? "").isEmpty, (pass ?? "").isEmpty, let a = auth.auth, let data = Data(base64Encoded: a),
           let s = String(data: data, encoding: .utf8), let colon = s.firstIndex(of: ":") {
            user = String(s[..<colon])
            pass = String(s[s.index(after: colon)...])
        }
        let c = RegistryCredential(username: user, password: pass, identityToken: auth.identitytoken, registryToken: auth.registrytoken)
        return c.isEmpty ? nil : c
    }

    /// Publishes an image event with Docker's attributes (image labels plus `name`).
    func publish(_ action: String, id: String, name: String, labelsOf image: Digest?) async {
        var attrs = image.map(labels) ?? [:]
        attrs["name"] = name
        await events.publish(type: "image", action: action, id: id, attributes: attrs)
    }
}

/// A container of this image (reported by the container service).
public struct ImageUser: Sendable, Hashable {
    public var containerID: String
    public var running: Bool
    public init(containerID: String, running: Bool) {
        self.containerID = containerID
        self.running = running
    }
}

/// What the container service needs to create a container from an image.
public struct ContainerImage: Sendable {
    public var id: Digest
    public var config: ImageConfig
    /// The raw config blob (its digest is `id`).
    public var configBytes: [UInt8]
    /// Overlay lower directories, topmost first.
    public var lowerDirs: [String]
    /// Layer chain IDs, bottom first.
    public var chainIDs: [Digest]
}

/// An image config parsed for the API: typed view plus the `config`/`container_config` objects as shown.
struct ParsedConfig: Sendable {
    let bytes: [UInt8]
    let config: ImageConfig
    let apiConfig: ImageContainerConfig?
    let apiContainerConfig: ImageContainerConfig?

    private struct APIView: Decodable {
        var config: ImageContainerConfig?
        var container_config: ImageContainerConfig?
    }

    init(bytes: [UInt8]) throws {
        self.bytes = bytes
        do {
            config = try JSONDecoder().decode(ImageConfig.self, from: Data(bytes))
        } catch {
            throw BerthError(.dataCorrupted, "invalid image configuration: \(error)")
        }
        let view = try? JSONDecoder().decode(APIView.self, from: Data(bytes))
        apiConfig = view?.config
        apiContainerConfig = view?.container_config
    }
}

/// Registry settings the daemon passes down (from flags and daemon.json).
public struct RegistrySettings: Sendable {
    public var insecureRegistries: [String]
    public var mirrors: [String]
    public var certsDirectories: [String]
    /// Layers downloaded at once, across all pulls (`max-concurrent-downloads`).
    public var maxConcurrentDownloads: Int
    /// Attempts per request before giving up (`max-download-attempts`); broken blobs resume with Range.
    public var maxDownloadAttempts = 5
    /// Keep compressed layer blobs in the content store besides the unpacked snapshots.
    public var keepLayerBlobs: Bool
    /// Docker CLI config for default credentials; berthd, like dockerd, uses only what clients send.
    public var dockerConfigPath: String?
    public var userAgent: String
    public init(insecureRegistries: [String] = [], mirrors: [String] = [], certsDirectories: [String] = ["/etc/berth/certs.d", "/etc/docker/certs.d"],
                maxConcurrentDownloads: Int = RegistrySettings.defaultMaxConcurrentDownloads, keepLayerBlobs: Bool = RegistrySettings.defaultKeepLayerBlobs,
                dockerConfigPath: String? = "/nonexistent/berth-no-docker-config.json", userAgent: String = "berth/0.1") {
        self.insecureRegistries = insecureRegistries
        self.mirrors = mirrors
        self.certsDirectories = certsDirectories
        self.maxConcurrentDownloads = maxConcurrentDownloads
        self.keepLayerBlobs = keepLayerBlobs
        self.dockerConfigPath = dockerConfigPath
        self.userAgent = userAgent
    }

    public static let defaultMaxConcurrentDownloads = 3
    public static let defaultKeepLayerBlobs = false
}

extension RFC3339.Stamp {
    static func < (a: Self, b: Self) -> Bool { a.seconds != b.seconds ? a.seconds < b.seconds : a.nanos < b.nanos }
    static func > (a: Self, b: Self) -> Bool { b < a }
}
