import APIModels
import Engine
import NIOCore
import NIOHTTP1
import OCI

extension APIRoutes {
    /// `docker cp` / `docker export`: `HEAD`, `GET`, `PUT /containers/{id}/archive` and
    /// `GET /containers/{id}/export` (tar streams, the stat in `X-Docker-Container-Path-Stat`).
    public static func archive(_ s: APIServices) -> [Route] {
        @Sendable func svc() throws -> ContainerService {
            guard let c = s.containers else { throw BerthError(.unavailable, "containers are not available") }
            return c
        }
        /// moby's `httputils.ArchiveFormValues` (its message lacks a space).
        @Sendable func pathParam(_ req: APIRequest) throws -> String {
            guard let p = req.query["path"], !p.isEmpty else {
                throw BerthError(.invalidArgument, "bad parameter: pathcannot be empty")
            }
            return p
        }
        return [
            Route(.HEAD, "/containers/{id}/archive") { req in
                let stat = try await svc().statPath(req.param("id"), path: try pathParam(req))
                return .status(.ok, headers: [ContainerPathStat.headerName: stat.headerValue])
            },
            Route(.GET, "/containers/{id}/archive") { req in
                let (stat, tar) = try await svc().archivePath(req.param("id"), path: try pathParam(req))
                return tarStream(tar, headers: ["Content-Type": "application/x-tar",
                                                ContainerPathStat.headerName: stat.headerValue])
            },
            Route(.PUT, "/containers/{id}/archive") { req in
                try await svc().extractToDir(req.param("id"), path: try pathParam(req),
                                             noOverwriteDirNonDir: req.query.bool("noOverwriteDirNonDir"),
                                             copyUIDGID: req.query.bool("copyUIDGID"), body: req.body)
                return .status(.ok)
            },
            Route(.GET, "/containers/{id}/export") { req in
                // dockerd does not set a type; Go sniffs a tar as a generic binary.
                tarStream(try await svc().export(req.param("id")), headers: ["Content-Type": "application/octet-stream"])
            },
        ]
    }

    /// Streams a tar produced on another thread; stops the producer if the client goes away.
    static func tarStream(_ tar: ArchiveStream, headers: HTTPHeaders) -> APIResponse {
        .stream(status: .ok, headers: headers) { out in
            do {
                try await out.start()
                for try await chunk in tar { try await out.write(chunk) }
            } catch {
                tar.cancel()
                throw error
            }
        }
    }
}
