import APIModels
import Engine
import Foundation
import NIOHTTP1
import OCI

extension APIRoutes {
    /// `GET /containers/{id}/changes` and `POST /commit`.
    public static func commit(_ s: APIServices) -> [Route] {
        @Sendable func svc() throws -> ContainerService {
            guard let c = s.containers else { throw BerthError(.unavailable, "containers are not available") }
            return c
        }
        return [
            Route(.GET, "/containers/{id}/changes") { req in
                let list = try await svc().changes(req.param("id"))
                // Docker marshals an empty change list as `null`.
                return list.isEmpty ? try .json(JSONValue.null) : try .json(list)
            },
            Route(.POST, "/commit") { req in
                let c = try svc()
                // The body, when there is one, is a container config (`null` and empty mean none).
                let config = try await req.decodeJSON(ContainerAPIConfig?.self, allowEmpty: true) ?? nil
                let q = req.query
                // Since API 1.13 a missing `pause` means pause.
                let options = CommitOptions(repo: q["repo"], tag: q["tag"], comment: q["comment"] ?? "", author: q["author"] ?? "",
                                            pause: q.bool("pause", default: req.version >= "1.13"),
                                            changes: q.all("changes"), config: config)
                let id = try await c.commit(q["container"] ?? "", options: options)
                return try .json(IDResponse(Id: id), status: .created)
            },
        ]
    }
}
