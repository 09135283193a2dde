import APIModels
import Engine
import OCI

extension APIRoutes {
    /// `POST /containers/{id}/update`: resources and restart policy of a container.
    public static func updates(_ s: APIServices) -> [Route] {
        [
            Route(.POST, "/containers/{id}/update") { req in
                guard let c = s.containers else { throw BerthError(.unavailable, "containers are not available") }
                guard let body = try await req.decodeJSON(ContainerHostConfig.self) else {
                    throw BerthError(.invalidArgument, "invalid JSON: got EOF while reading request body")
                }
                return try .json(try await c.updateContainer(req.param("id"), body: body))
            },
        ]
    }
}
