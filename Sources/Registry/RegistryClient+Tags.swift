import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OCI

extension RegistryClient {
    private struct TagList: Decodable {
        var name: String?
        var tags: [String]?
    }

    /// All tags of a repository (`/v2/NAME/tags/list`, following `Link: <…>; rel="next"` pagination).
    public func listTags(_ ref: Reference, credential: RegistryCredential? = nil) async throws -> [String] {
        try await listTags(ref, credential: credential, pageSize: nil)
    }

    func listTags(_ ref: Reference, credential: RegistryCredential?, pageSize: Int?) async throws -> [String] {
        let auth = AuthContext(domain: ref.domain, explicit: credential, scopes: [Self.pullScope(ref)])
        return try await withEndpoints(domain: ref.domain) { ep in
            var tags: [String] = []
            var path = "/v2/\(ref.path)/tags/list" + (pageSize.map { "?n=\($0)" } ?? "")
            var pages = 0
            while true {
                pages += 1
                guard pages <= 10_000 else { throw BerthError(.unavailable, "too many tag list pages for \(ref.familiarName)") }
                let req = Request(path: path)
                let resp = try await sendRetrying(req, on: ep, auth: auth)
                guard resp.status == .ok else {
                    let e = await responseError(resp)
                    throw e.pullError(ref)
                }
                let body: [UInt8]
                do {
                    body = try await Self.readBody(resp, limit: 16 << 20)
                } catch let e as RetryableFailure {
                    throw BerthError(.unavailable, e.description)
                }
                guard let list = try? JSONDecoder().decode(TagList.self, from: Data(body)) else {
                    throw BerthError(.unavailable, "invalid tag list from \(ep.authority) for \(ref.familiarName)")
                }
                tags += list.tags ?? []
                guard let next = Self.nextLink(resp.headers["Link"]) else { break }
                path = Self.resolveLink(next, currentPath: path, on: ep)
            }
            return tags
        }
    }

    /// The target of a `rel="next"` link.
    static func nextLink(_ values: [String]) -> String? {
        for value in values {
            for part in value.split(separator: ",") {
                let p = part.trimmingCharacters(in: .whitespaces)
                guard p.hasPrefix("<"), let close = p.firstIndex(of: ">") else { continue }
                let params = p[p.index(after: close)...].lowercased()
                if params.contains("rel=\"next\"") || params.contains("rel=next") {
                    return String(p[p.index(after: p.startIndex)..<close])
                }
            }
        }
        return nil
    }

    /// Link targets are absolute URLs or absolute paths on the same endpoint.
    static func resolveLink(_ link: String, currentPath: String, on ep: Endpoint) -> String {
        if link.hasPrefix("http://") || link.hasPrefix("https://") || link.hasPrefix("/") { return link }
        return "/v2/" + link
    }
}

extension RegistryClient {
    /// Checks credentials against a registry the way `docker login` does: pings `/v2/`, then authenticates
    /// (basic, or bearer with an offline token request) and GETs `/v2/` again.
    ///
    /// `server` may be a hostname (`localhost:5000`), a URL, or Docker Hub's `https://index.docker.io/v1/`.
    /// Returns the identity (refresh) token the token server handed out, if any; throws `.unauthorized` when
    /// the credentials are rejected.
    public func login(server: String, credential: RegistryCredential) async throws -> String? {
        var host = DockerCredentialStore.hostname(of: server)
        if host.isEmpty || DockerCredentialStore.isDockerHub(host) { host = Reference.dockerHubDomain }
        let authority = host == Reference.dockerHubDomain ? RegistryHosts.dockerHubAPIHost : host
        var scheme: String? = nil
        if server.hasPrefix("http://") { scheme = "http" }
        let candidate = EndpointCandidate(authority: authority, scheme: scheme ?? (host == Reference.dockerHubDomain ? "https" : nil),
                                          pathPrefix: "", isMirror: false)
        await endpoints.remove(candidate)
        let ep = try await endpoint(for: candidate)
        let target = ep.baseURL + "/v2/"
        var headers = HTTPHeaders()
        headers.add(name: "User-Agent", value: configuration.userAgent)
        var identityToken: String?
        switch ep.auth {
        case .none:
            break
        case .basic:
            guard credential.hasUserPassword else { throw BerthError(.unauthorized, "Get \"\(target)\": no basic auth credentials") }
            headers.add(name: "Authorization", value: "Basic " + Data("\(credential.username ?? ""):\(credential.password ?? "")".utf8).base64EncodedString())
        case .bearer(let realm, let service):
            if let t = credential.registryToken, !t.isEmpty {
                headers.add(name: "Authorization", value: "Bearer \(t)")
            } else {
                let token: TokenCache.Token
                do {
                    token = try await fetchToken(realm: realm, service: service, scopes: [], credential: credential, offline: true)
                } catch let e as BerthError {
                    throw BerthError(e.code == .unavailable ? .unavailable : .unauthorized, "Get \"\(target)\": \(e.message)", cause: e.cause)
                }
                identityToken = token.refreshToken
                headers.add(name: "Authorization", value: "Bearer \(token.token)")
            }
        }
        let resp: HTTPClientResponse
        do {
            resp = try await execute(method: .GET, url: target, headers: headers, body: nil, stream: nil, ep: ep, timeout: .seconds(30))
        } catch let e as RetryableFailure {
            throw BerthError(.unavailable, e.description)
        }
        await Self.drain(resp)
        guard resp.status == .ok else {
            let code = Int(resp.status.code)
            throw BerthError(code == 401 ? .unauthorized : code == 403 ? .forbidden : .unavailable,
                             "login attempt to \(target) failed with status: \(RegistryAPIError.statusText(code))")
        }
        return identityToken ?? (credential.identityToken?.isEmpty == false ? credential.identityToken : nil)
    }
}
