import APIModels
import Engine
import Foundation
import NIOHTTP1
import OCI

extension APIRoutes {
    /// `/images/*`: pull, list, inspect, history, tag, remove, prune. Names may contain `/` and `:`
    /// (`/images/localhost:5000/a/b:tag/json`), hence `{name:.*}` as in moby.
    public static func images(_ s: APIServices) -> [Route] {
        [
            Route(.GET, "/images/json") { req in
                var filters = try req.query.filters()
                if req.version < "1.41", let legacy = req.query["filter"], !legacy.isEmpty {
                    var dict = filters.dictionary
                    dict["reference", default: []].append(legacy)
                    filters = Filters(dict)
                }
                let list = try await s.images.list(all: req.query.bool("all"), filters: filters.dictionary,
                                                   digests: req.query.bool("digests"))
                return try .json(list.map { shapeSummary($0, for: req.version) })
            },
            Route(.GET, "/images/{name:.*}/history") { req in
                try .json(try await s.images.history(req.param("name")))
            },
            Route(.GET, "/images/{name:.*}/json") { req in
                try .json(shapeInspect(try await s.images.inspect(req.param("name")), for: req.version))
            },
            Route(.POST, "/images/create") { req in try pull(req, s) },
            Route(.POST, "/images/{name:.*}/tag") { req in
                try await s.images.tag(req.param("name"), repo: req.query["repo"] ?? "", tag: req.query["tag"])
                return .status(.created)
            },
            Route(.POST, "/images/prune") { req in
                try .json(try await s.images.prune(filters: try req.query.filters().dictionary))
            },
            Route(.DELETE, "/images/{name:.*}") { req in
                try .json(try await s.images.remove(req.param("name"), force: req.query.bool("force"),
                                                    noPrune: req.query.bool("noprune")))
            },
        ]
    }

    /// `POST /images/create?fromImage=…`: progress is streamed as JSON lines. An error before the first
    /// line is an ordinary error response; after it, an `errorDetail` line in the 200 stream.
    static func pull(_ req: APIRequest, _ s: APIServices) throws -> APIResponse {
        let fromImage = req.query["fromImage"] ?? ""
        guard !fromImage.isEmpty else {
            throw BerthError(.unsupported, "importing images (fromSrc) is not supported by berth")
        }
        let tag = req.query["tag"]  // "" (with an untagged fromImage) means every tag: the service decides
        let platform = req.query["platform"].flatMap { $0.isEmpty ? nil : $0 }
        let auth = decodeRegistryAuth(req.headers.first(name: "X-Registry-Auth"))
        return .jsonStream { stream in
            do {
                try await s.images.pull(fromImage: fromImage, tag: tag, platform: platform, auth: auth) { message in
                    try? await stream.writeJSON(message)
                }
            } catch {
                guard stream.isStarted else { throw pullError(error) }
                if error is CancellationError || Task.isCancelled { return }
                try await stream.writeJSON(JSONMessage.failure(RequestDispatcher.status(for: error).1))
            }
        }
    }

    /// dockerd never answers a pull with 401: the docker CLI takes a 401 as "log in and retry" and
    /// prompts for credentials. A registry refusing us is a plain error (Docker's `errdefs.Unknown`, 500).
    static func pullError(_ error: any Error) -> any Error {
        guard let e = error as? BerthError, e.code == .unauthorized else { return error }
        return BerthError(.internalError, e.message, cause: e.cause)
    }

    /// `X-Registry-Auth`: base64url (padding optional) of an `AuthConfig` JSON. Undecodable or empty → none,
    /// as dockerd treats a pull without usable credentials.
    public static func decodeRegistryAuth(_ header: String?) -> AuthConfig? {
        guard var s = header?.trimmingCharacters(in: .whitespaces), !s.isEmpty else { return nil }
        s = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        guard let data = Data(base64Encoded: s),
              let auth = try? JSONDecoder().decode(AuthConfig.self, from: data) else { return nil }
        let empty = [auth.username, auth.password, auth.auth, auth.identitytoken, auth.registrytoken]
            .allSatisfy { ($0 ?? "").isEmpty }
        return empty ? nil : auth
    }

    /// Version-dependent fields of `/images/json` items: `VirtualSize` only before 1.44.
    static func shapeSummary(_ summary: ImageSummary, for version: APIVersion) -> ImageSummary {
        var s = summary
        s.VirtualSize = version < "1.44" ? (s.VirtualSize ?? s.Size) : nil
        if version < "1.44" {
            // Older clients expect placeholders for untagged images rather than empty lists.
            if s.RepoTags.isEmpty { s.RepoTags = ["<none>:<none>"] }
            if s.RepoDigests.isEmpty { s.RepoDigests = ["<none>@<none>"] }
        }
        return s
    }

    /// Version-dependent fields of image inspect: `VirtualSize` before 1.44, `Container` and
    /// `ContainerConfig` before 1.45, `Descriptor` from 1.48.
    static func shapeInspect(_ inspect: ImageInspect, for version: APIVersion) -> ImageInspect {
        var i = inspect
        i.VirtualSize = version < "1.44" ? (i.VirtualSize ?? i.Size) : nil
        if version < "1.45" {
            i.Container = i.Container ?? ""
            i.ContainerConfig = i.ContainerConfig ?? ImageContainerConfig()
        } else {
            i.Container = nil
            i.ContainerConfig = nil
        }
        if version < "1.48" { i.Descriptor = nil }
        return i
    }
}
