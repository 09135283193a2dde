import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OCI

extension RegistryClient {
    /// The outcome of a cross-repository mount attempt.
    public enum MountResult: Sendable, Equatable {
        /// The registry linked the existing blob into the repository.
        case mounted
        /// The registry did not mount (blob or source unknown, or not allowed); upload it instead.
        case notMounted
    }

    /// The registry itself (never a mirror) for pushes.
    func pushEndpoint(_ ref: Reference) async throws -> Endpoint {
        guard let c = hosts.candidates(forDomain: ref.domain).last else {
            throw BerthError(.unavailable, "no endpoint for \(ref.domain)")
        }
        return try await endpoint(for: c)
    }

    func pushAuth(_ ref: Reference, _ credential: RegistryCredential?, extra: [String] = []) -> AuthContext {
        AuthContext(domain: ref.domain, explicit: credential, scopes: [Self.pushScope(ref)] + extra)
    }

    /// Starts an upload session; returns its location (absolute URL or path).
    func startUpload(_ ref: Reference, on ep: Endpoint, auth: AuthContext, query: String = "") async throws -> (HTTPResponseStatus, String?) {
        var req = Request(method: .POST, path: "/v2/\(ref.path)/blobs/uploads/\(query)")
        req.body = []
        let resp = try await sendRetrying(req, on: ep, auth: auth)
        let status = resp.status
        guard status == .accepted || status == .created else {
            let e = await responseError(resp)
            throw e.berthError()
        }
        await Self.drain(resp)
        return (status, resp.headers.first(name: "Location"))
    }

    static func appendQuery(_ location: String, _ query: String) -> String {
        location + (location.contains("?") ? "&" : "?") + query
    }

    /// Tries to mount `digest` from repository `from` (same registry) into `ref` (`POST …?mount=&from=`).
    public func mountBlob(_ ref: Reference, digest: Digest, from: Reference, credential: RegistryCredential? = nil) async throws -> MountResult {
        let ep = try await pushEndpoint(ref)
        let auth = pushAuth(ref, credential, extra: [Self.pullScope(from)])
        let q = "?mount=\(digest)&from=\(from.path)"
        let (status, location) = try await startUpload(ref, on: ep, auth: auth, query: q)
        if status == .created { return .mounted }
        if let location {
            // Not mounted: drop the upload session the registry opened instead.
            let req = Request(method: .DELETE, path: location)
            if let resp = try? await send(req, on: ep, auth: auth) { await Self.drain(resp) }
        }
        return .notMounted
    }

    /// Uploads a blob held in memory in one PUT (POST to start, PUT `?digest=` with the bytes).
    public func uploadBlob(_ ref: Reference, bytes: [UInt8], credential: RegistryCredential? = nil) async throws -> Descriptor {
        let digest = Digest.sha256(bytes)
        let ep = try await pushEndpoint(ref)
        let auth = pushAuth(ref, credential)
        let (_, location) = try await startUpload(ref, on: ep, auth: auth)
        guard let location else { throw BerthError(.unavailable, "registry did not return an upload location for \(ref.familiarName)") }
        var req = Request(method: .PUT, path: Self.appendQuery(location, "digest=\(digest)"))
        req.headers.add(name: "Content-Type", value: "application/octet-stream")
        req.body = bytes
        let resp = try await sendRetrying(req, on: ep, auth: auth)
        guard resp.status == .created else {
            let e = await responseError(resp)
            throw e.berthError()
        }
        await Self.drain(resp)
        return Descriptor(mediaType: "application/octet-stream", digest: digest, size: Int64(bytes.count))
    }

    /// Uploads a blob from a stream: POST to start, one streamed PATCH, then PUT `?digest=`.
    /// The stream is read once; nothing is buffered beyond a chunk.
    public func uploadBlob<S: AsyncSequence & Sendable>(_ ref: Reference, digest: Digest, size: Int64?, credential: RegistryCredential? = nil,
                                                        chunks: S) async throws where S.Element == ByteBuffer {
        let ep = try await pushEndpoint(ref)
        let auth = pushAuth(ref, credential)
        let (_, location) = try await startUpload(ref, on: ep, auth: auth)
        guard let location else { throw BerthError(.unavailable, "registry did not return an upload location for \(ref.familiarName)") }
        var patch = Request(method: .PATCH, path: location)
        patch.headers.add(name: "Content-Type", value: "application/octet-stream")
        patch.stream = .stream(chunks, length: size.map { .known($0) } ?? .unknown)
        let presp: HTTPClientResponse
        do {
            presp = try await send(patch, on: ep, auth: auth)
        } catch let e as RetryableFailure {
            throw BerthError(.unavailable, e.description)
        }
        guard presp.status == .accepted || presp.status == .noContent || presp.status == .created else {
            let e = await responseError(presp)
            throw e.berthError()
        }
        await Self.drain(presp)
        let next = presp.headers.first(name: "Location") ?? location
        var put = Request(method: .PUT, path: Self.appendQuery(next, "digest=\(digest)"))
        put.body = []
        let resp = try await sendRetrying(put, on: ep, auth: auth)
        guard resp.status == .created else {
            let e = await responseError(resp)
            throw e.berthError()
        }
        await Self.drain(resp)
    }

    /// PUTs a manifest or index under `ref`'s tag (or digest); returns the digest the registry reports.
    @discardableResult
    public func putManifest(_ ref: Reference, mediaType: String, bytes: [UInt8], credential: RegistryCredential? = nil) async throws -> Digest {
        let ep = try await pushEndpoint(ref)
        let auth = pushAuth(ref, credential)
        var req = Request(method: .PUT, path: "/v2/\(ref.path)/manifests/\(Self.manifestReference(ref))")
        req.headers.add(name: "Content-Type", value: mediaType)
        req.body = bytes
        let resp = try await sendRetrying(req, on: ep, auth: auth)
        guard resp.status == .created || resp.status == .ok else {
            let e = await responseError(resp)
            throw e.berthError()
        }
        await Self.drain(resp)
        let local = Digest.sha256(bytes)
        if let s = resp.headers.first(name: "Docker-Content-Digest"), let d = try? Digest(parsing: s) { return d }
        return local
    }
}
