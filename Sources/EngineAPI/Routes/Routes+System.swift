import APIModels
import Engine
import NIOHTTP1
import OCI

extension APIRoutes {
    /// `/_ping`, `/version`, `/info`, `/system/df`, `/auth`.
    public static func system(_ s: APIServices) -> [Route] {
        [
            Route(.GET, "/_ping") { _ in ping(head: false) },
            Route(.HEAD, "/_ping") { _ in ping(head: true) },
            Route(.GET, "/version") { _ in try .json(s.system.version()) },
            Route(.GET, "/info") { _ in
                let images = await s.images.imageCount()
                let listeners = await s.events.listenerCount
                let n = await s.containers?.counts()
                return try .json(s.system.info(images: images, containers: .init(running: n?.running ?? 0, paused: n?.paused ?? 0, stopped: n?.stopped ?? 0),
                                               eventListeners: listeners, warnings: s.warnings))
            },
            Route(.GET, "/system/df") { req in
                try validateDiskUsageTypes(req.query.all("type"))
                var usage = try await s.images.diskUsage()
                usage.Images = usage.Images.map { shapeSummary($0, for: req.version) }
                return try .json(usage)
            },
            Route(.POST, "/auth") { req in
                guard let auth = try await req.decodeJSON(AuthConfig.self) else {
                    throw BerthError(.invalidArgument, "invalid JSON: got EOF while reading request body")
                }
                return try .json(try await s.images.login(auth))
            },
        ]
    }

    /// dockerd's ping: `OK` (empty for HEAD) with the capability headers and no caching.
    static func ping(head: Bool) -> APIResponse {
        var headers: HTTPHeaders = [
            "Cache-Control": "no-cache, no-store, must-revalidate",
            "Pragma": "no-cache",
            "Builder-Version": "1",
            "Docker-Experimental": "false",
            "Swarm": "inactive",
            "Content-Type": "text/plain; charset=utf-8",
        ]
        if head {
            headers.add(name: "Content-Length", value: "0")
            return .full(status: .ok, headers: headers, body: nil)
        }
        return .full(status: .ok, headers: headers, body: .init(string: "OK"))
    }

    static func validateDiskUsageTypes(_ types: [String]) throws {
        for t in types where !["container", "image", "volume", "build-cache"].contains(t) {
            throw BerthError(.invalidArgument, "unknown object type: \(t)")
        }
    }
}
