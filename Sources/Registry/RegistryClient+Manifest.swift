import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OCI

extension RegistryClient {
    /// Largest manifest or index accepted (Docker: 4 MiB).
    static let maxManifestSize = 4 << 20

    /// A fetched manifest or index document.
    struct FetchedManifest: Sendable {
        var bytes: [UInt8]
        var mediaType: String
        var digest: Digest
    }

    /// Resolves `ref` (tag, default `latest`, or digest) to one platform's image manifest.
    ///
    /// For an index / manifest list the entry matching `platform` is chosen (first match in index order) and
    /// fetched by digest. Documents fetched by digest are verified. Errors read as Docker's pull errors.
    public func resolve(_ ref: Reference, platform: Platform = .host, credential: RegistryCredential? = nil) async throws -> ResolvedManifest {
        let auth = AuthContext(domain: ref.domain, explicit: credential, scopes: [Self.pullScope(ref)])
        return try await withEndpoints(domain: ref.domain) { ep in
            // Like Docker, resolve a tag with HEAD first: the digest it names is then fetched and verified,
            // and auth or not-found errors read "Head …" as Docker's do.
            var expected = ref.digest
            if expected == nil {
                expected = try await headManifestDigest(ref, on: ep, auth: auth)
            }
            let top = try await fetchManifest(ref, reference: expected?.description ?? Self.manifestReference(ref), on: ep, auth: auth)
            if let d = expected, d != top.digest {
                throw BerthError(.dataCorrupted, "manifest verification failed for digest \(d)")
            }
            if MediaType.isIndex(top.mediaType) {
                let index: Index
                do {
                    index = try JSONDecoder().decode(Index.self, from: Data(top.bytes))
                } catch {
                    throw BerthError(.dataCorrupted, "failed to parse image index \(top.digest): \(error)")
                }
                guard let chosen = Self.selectPlatform(index, platform) else {
                    throw BerthError(.notFound, "no matching manifest for \(platform) in the manifest list entries")
                }
                let m = try await fetchManifest(ref, reference: chosen.digest.description, on: ep, auth: auth)
                guard m.digest == chosen.digest else {
                    throw BerthError(.dataCorrupted, "manifest verification failed for digest \(chosen.digest)")
                }
                guard Int64(m.bytes.count) == chosen.size || chosen.size <= 0 else {
                    throw BerthError(.dataCorrupted, "manifest \(chosen.digest) has size \(m.bytes.count), expected \(chosen.size)")
                }
                guard MediaType.isManifest(m.mediaType) else {
                    throw BerthError(.unsupported, "unsupported manifest media type \(m.mediaType) for \(chosen.digest) in index \(top.digest)")
                }
                let manifest = try Self.decodeManifest(m)
                var desc = Descriptor(mediaType: m.mediaType, digest: m.digest, size: Int64(m.bytes.count), platform: chosen.platform)
                desc.annotations = chosen.annotations
                return ResolvedManifest(reference: ref, indexDigest: top.digest, manifestDescriptor: desc, manifest: manifest,
                                        manifestBytes: m.bytes, indexBytes: top.bytes)
            }
            guard MediaType.isManifest(top.mediaType) else {
                throw Self.unsupportedManifest(ref, top.mediaType)
            }
            let manifest = try Self.decodeManifest(top)
            let desc = Descriptor(mediaType: top.mediaType, digest: top.digest, size: Int64(top.bytes.count))
            return ResolvedManifest(reference: ref, indexDigest: nil, manifestDescriptor: desc, manifest: manifest,
                                    manifestBytes: top.bytes, indexBytes: nil)
        }
    }

    /// Fetches the raw manifest or index `ref` points to, without platform selection (e.g. for `manifest inspect`).
    /// Verified against the digest when `ref` has one.
    public func fetchManifestDocument(_ ref: Reference, credential: RegistryCredential? = nil) async throws -> (descriptor: Descriptor, bytes: [UInt8]) {
        let auth = AuthContext(domain: ref.domain, explicit: credential, scopes: [Self.pullScope(ref)])
        return try await withEndpoints(domain: ref.domain) { ep in
            let m = try await fetchManifest(ref, reference: Self.manifestReference(ref), on: ep, auth: auth)
            if let d = ref.digest, d != m.digest {
                throw BerthError(.dataCorrupted, "manifest verification failed for digest \(d)")
            }
            return (Descriptor(mediaType: m.mediaType, digest: m.digest, size: Int64(m.bytes.count)), m.bytes)
        }
    }

    /// The digest a tag points to, from a HEAD request; nil when the registry sends no `Docker-Content-Digest`.
    func headManifestDigest(_ ref: Reference, on ep: Endpoint, auth: AuthContext) async throws -> Digest? {
        var req = Request(method: .HEAD, path: "/v2/\(ref.path)/manifests/\(Self.manifestReference(ref))")
        req.headers.add(name: "Accept", value: MediaType.manifestAccept.joined(separator: ", "))
        let resp = try await sendRetrying(req, on: ep, auth: auth)
        await Self.drain(resp)
        guard resp.status == .ok else {
            if resp.status == .notFound {
                throw RegistryAPIError(status: 404, entries: [.init(code: "MANIFEST_UNKNOWN", message: "manifest unknown")]).pullError(ref)
            }
            throw RegistryAPIError.from(status: Int(resp.status.code), headers: resp.headers, body: []).pullError(ref)
        }
        return resp.headers.first(name: "Docker-Content-Digest").flatMap { try? Digest(parsing: $0) }
    }

    /// HEADs the manifest to learn its digest, media type and size without downloading it.
    public func headManifest(_ ref: Reference, credential: RegistryCredential? = nil) async throws -> Descriptor {
        let auth = AuthContext(domain: ref.domain, explicit: credential, scopes: [Self.pullScope(ref)])
        return try await withEndpoints(domain: ref.domain) { ep in
            var req = Request(method: .HEAD, path: "/v2/\(ref.path)/manifests/\(Self.manifestReference(ref))")
            req.headers.add(name: "Accept", value: MediaType.manifestAccept.joined(separator: ", "))
            let resp = try await sendRetrying(req, on: ep, auth: auth)
            await Self.drain(resp)
            guard resp.status == .ok else {
                // HEAD responses have no body; map from status and challenge alone.
                let e = RegistryAPIError.from(status: Int(resp.status.code), headers: resp.headers, body: [])
                if resp.status == .notFound {
                    throw RegistryAPIError(status: 404, entries: [.init(code: "MANIFEST_UNKNOWN", message: "manifest unknown")]).pullError(ref)
                }
                throw e.pullError(ref)
            }
            guard let ds = resp.headers.first(name: "Docker-Content-Digest"), let digest = try? Digest(parsing: ds) else {
                if let d = ref.digest, let len = resp.headers.first(name: "Content-Length").flatMap(Int64.init) {
                    return Descriptor(mediaType: Self.contentType(resp.headers) ?? MediaType.ociManifest, digest: d, size: len)
                }
                throw BerthError(.unavailable, "registry did not return a Docker-Content-Digest header for \(ref.familiarString)")
            }
            if let d = ref.digest, d != digest {
                throw BerthError(.dataCorrupted, "manifest verification failed for digest \(d)")
            }
            let size = resp.headers.first(name: "Content-Length").flatMap(Int64.init) ?? -1
            return Descriptor(mediaType: Self.contentType(resp.headers) ?? MediaType.ociManifest, digest: digest, size: size)
        }
    }

    static func manifestReference(_ ref: Reference) -> String {
        ref.digest?.description ?? ref.tag ?? Reference.defaultTag
    }

    static func contentType(_ headers: HTTPHeaders) -> String? {
        guard let ct = headers.first(name: "Content-Type") else { return nil }
        let t = ct.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        return t.isEmpty ? nil : t
    }

    /// GETs one manifest document with `Accept` negotiation; maps failures to Docker's pull errors.
    func fetchManifest(_ ref: Reference, reference: String, on ep: Endpoint, auth: AuthContext) async throws -> FetchedManifest {
        var req = Request(path: "/v2/\(ref.path)/manifests/\(reference)")
        req.headers.add(name: "Accept", value: MediaType.manifestAccept.joined(separator: ", "))
        let resp = try await sendRetrying(req, on: ep, auth: auth)
        guard resp.status == .ok else {
            let e = await responseError(resp)
            throw e.pullError(ref)
        }
        let bytes: [UInt8]
        do {
            bytes = try await Self.readBody(resp, limit: Self.maxManifestSize)
        } catch let e as RetryableFailure {
            throw BerthError(.unavailable, e.description)
        }
        let digest = Digest.sha256(bytes)
        let probe = try? JSONDecoder().decode(ManifestProbe.self, from: Data(bytes))
        let header = Self.contentType(resp.headers)
        let mediaType: String
        if let t = probe?.mediaType, !t.isEmpty {
            mediaType = t
        } else if let header, MediaType.isIndex(header) || MediaType.isManifest(header) || header.contains("manifest.v1") {
            mediaType = header
        } else if let t = probe?.effectiveMediaType {
            mediaType = t
        } else if probe?.schemaVersion == 1 {
            mediaType = MediaType.dockerManifestV1Signed
        } else {
            mediaType = header ?? "application/octet-stream"
        }
        if probe == nil && (MediaType.isIndex(mediaType) || MediaType.isManifest(mediaType)) {
            throw BerthError(.dataCorrupted, "invalid manifest for \(ref.familiarName)@\(digest): not valid JSON")
        }
        return FetchedManifest(bytes: bytes, mediaType: mediaType, digest: digest)
    }

    static func unsupportedManifest(_ ref: Reference, _ mediaType: String) -> BerthError {
        if mediaType == MediaType.dockerManifestV1Signed || mediaType == MediaType.dockerManifestV1 {
            return BerthError(.unsupported, "Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of \(ref.familiarString) to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2.")
        }
        return BerthError(.unsupported, "unsupported manifest media type and no default available: \(mediaType)")
    }

    static func decodeManifest(_ m: FetchedManifest) throws -> Manifest {
        do {
            return try JSONDecoder().decode(Manifest.self, from: Data(m.bytes))
        } catch {
            throw BerthError(.dataCorrupted, "failed to parse manifest \(m.digest): \(error)")
        }
    }

    /// The first index entry whose platform satisfies `platform`; entries without a platform are skipped.
    /// An exact variant match wins over a variant-less match.
    static func selectPlatform(_ index: Index, _ platform: Platform) -> Descriptor? {
        let candidates = index.manifests.filter { d in
            guard let p = d.platform, MediaType.isManifest(d.mediaType) || d.mediaType.isEmpty else { return false }
            return platform.matches(p)
        }
        if let v = platform.variant, let exact = candidates.first(where: { $0.platform?.variant == v }) {
            return exact
        }
        return candidates.first
    }
}
