import APIModels
import Foundation
import Logging
import OCI

/// Images: pull, list, inspect, tag, remove, prune. Shapes returned are the Docker API's.
///
/// SKELETON: signatures are the contract between Engine and EngineAPI; the bodies are being written.
public actor ImageService {
    let root: String
    let events: EventService
    let logger: Logger

    /// - Parameter root: the daemon's data root (e.g. `/var/lib/berth`); the image store lives below it.
    public init(root: String, registry: RegistrySettings, events: EventService, logger: Logger) async throws {
        self.root = root
        self.events = events
        self.logger = logger
    }

    public func shutdown() async {}

    /// `POST /images/create?fromImage=…&tag=…&platform=…`. An empty `tag` with no tag or digest in
    /// `fromImage` pulls every tag, as Docker does. Progress lines are Docker's JSON stream.
    public func pull(fromImage: String, tag: String?, platform: String?, auth: AuthConfig?,
                     progress: @escaping @Sendable (JSONMessage) async -> Void) async throws {
        throw BerthError(.unsupported, "pull is not implemented yet")
    }

    /// `GET /images/json`.
    public func list(all: Bool, filters: [String: [String]], digests: Bool) async throws -> [ImageSummary] { [] }

    /// `GET /images/{name}/json`. Accepts names, full or short IDs, and `name@digest`.
    public func inspect(_ name: String) async throws -> ImageInspect {
        throw BerthError(.notFound, "No such image: \(name)")
    }

    /// `GET /images/{name}/history`.
    public func history(_ name: String) async throws -> [HistoryItem] {
        throw BerthError(.notFound, "No such image: \(name)")
    }

    /// `DELETE /images/{name}`.
    public func remove(_ name: String, force: Bool, noPrune: Bool) async throws -> [ImageDeleteResponseItem] {
        throw BerthError(.notFound, "No such image: \(name)")
    }

    /// `POST /images/{name}/tag?repo=…&tag=…`.
    public func tag(_ source: String, repo: String, tag: String?) async throws {
        throw BerthError(.notFound, "No such image: \(source)")
    }

    /// `POST /images/prune`.
    public func prune(filters: [String: [String]]) async throws -> ImagePruneResponse {
        ImagePruneResponse(ImagesDeleted: nil, SpaceReclaimed: 0)
    }

    /// `GET /system/df` (the image half).
    public func diskUsage() async throws -> SystemDataUsage { SystemDataUsage(LayersSize: 0, Images: []) }

    /// Number of images, for `/info`.
    public func imageCount() async -> Int { 0 }

    /// `POST /auth`: checks credentials against the registry.
    public func login(_ auth: AuthConfig) async throws -> AuthResponse {
        throw BerthError(.unsupported, "login is not implemented yet")
    }
}

/// Registry settings the daemon passes down (from flags and daemon.json).
public struct RegistrySettings: Sendable {
    public var insecureRegistries: [String]
    public var mirrors: [String]
    public var certsDirectories: [String]
    public init(insecureRegistries: [String] = [], mirrors: [String] = [], certsDirectories: [String] = ["/etc/berth/certs.d", "/etc/docker/certs.d"]) {
        self.insecureRegistries = insecureRegistries
        self.mirrors = mirrors
        self.certsDirectories = certsDirectories
    }
}
