import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OCI

extension RegistryClient {
    /// OAuth client ID sent to token servers.
    static let clientID = "berth"

    /// The credential for a request: the caller's, else the one stored for the domain (helpers are cached briefly).
    func credential(for auth: AuthContext) async throws -> RegistryCredential? {
        if let explicit = auth.explicit, !explicit.isEmpty { return explicit }
        let store = credentialStore
        let domain = auth.domain
        return try await storedCredentials.get(domain) { try await store.credential(forDomain: domain) }
    }

    /// The `Authorization` value for a request to `ep`, fetching (or re-fetching, if `refresh`) a bearer token.
    func authorization(_ endpointAuth: EndpointAuth, on ep: Endpoint, auth: AuthContext, refresh: Bool) async throws -> String? {
        switch endpointAuth {
        case .none:
            return nil
        case .basic:
            guard let cred = try await credential(for: auth), cred.hasUserPassword else {
                throw BerthError(.unauthorized, "no basic auth credentials")
            }
            return "Basic " + Data("\(cred.username ?? ""):\(cred.password ?? "")".utf8).base64EncodedString()
        case .bearer(let realm, let service):
            let cred = try await credential(for: auth)
            if let t = cred?.registryToken, !t.isEmpty { return "Bearer \(t)" }
            let key = TokenCache.Key(realm: realm, service: service ?? "", scopes: auth.scopes.sorted(), credential: cred?.cacheKey ?? "")
            if refresh { await tokens.invalidate(key) }
            let token = try await tokens.token(for: key) {
                try await self.fetchToken(realm: realm, service: service, scopes: auth.scopes, credential: cred, offline: false)
            }
            return "Bearer \(token.token)"
        }
    }

    struct TokenResponse: Decodable {
        var token: String?
        var access_token: String?
        var expires_in: Int?
        var issued_at: String?
        var refresh_token: String?
    }

    /// Fetches a bearer token from `realm` (Docker's token handler): an OAuth2 POST with a refresh token when the
    /// credential has an identity token, else a GET with Basic auth (anonymous without credentials).
    func fetchToken(realm: String, service: String?, scopes: [String], credential: RegistryCredential?, offline: Bool) async throws -> TokenCache.Token {
        guard var comps = URLComponents(string: realm), let scheme = comps.scheme, scheme == "https" || scheme == "http",
              let host = comps.host else {
            throw BerthError(.unauthorized, "invalid token auth challenge realm \(String(reflecting: realm))")
        }
        let authority = comps.port.map { "\(host.contains(":") ? "[\(host)]" : host):\($0)" } ?? host
        var req: HTTPClientRequest
        if let refreshToken = credential?.identityToken, !refreshToken.isEmpty {
            req = HTTPClientRequest(url: realm)
            req.method = .POST
            var form = URLComponents()
            var items = [
                URLQueryItem(name: "grant_type", value: "refresh_token"),
                URLQueryItem(name: "refresh_token", value: refreshToken),
                URLQueryItem(name: "client_id", value: Self.clientID),
            ]
            if let service { items.append(URLQueryItem(name: "service", value: service)) }
            if !scopes.isEmpty { items.append(URLQueryItem(name: "scope", value: scopes.joined(separator: " "))) }
            if offline { items.append(URLQueryItem(name: "access_type", value: "offline")) }
            form.queryItems = items
            let body = (form.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
            req.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded; charset=utf-8")
            req.body = .bytes(Array(body.utf8))
        } else {
            var items = comps.queryItems ?? []
            if let service, !service.isEmpty { items.append(URLQueryItem(name: "service", value: service)) }
            for s in scopes { items.append(URLQueryItem(name: "scope", value: s)) }
            if offline {
                items.append(URLQueryItem(name: "offline_token", value: "true"))
                items.append(URLQueryItem(name: "client_id", value: Self.clientID))
            }
            comps.queryItems = items.isEmpty ? nil : items
            req = HTTPClientRequest(url: comps.url?.absoluteString ?? realm)
            if let cred = credential, cred.hasUserPassword {
                let basic = Data("\(cred.username ?? ""):\(cred.password ?? "")".utf8).base64EncodedString()
                req.headers.add(name: "Authorization", value: "Basic \(basic)")
            }
        }
        req.headers.add(name: "User-Agent", value: configuration.userAgent)
        if scheme == "https" {
            req.tlsConfiguration = try await tlsConfiguration(for: authority)
        }
        let started = ContinuousClock.now
        var attempt = 0
        var resp: HTTPClientResponse
        while true {
            do {
                resp = try await http.execute(req, timeout: .seconds(30), logger: logger)
                let code = Int(resp.status.code)
                if (code >= 500 || code == 429) && attempt < configuration.maxRetries {
                    await Self.drain(resp)
                } else {
                    break
                }
            } catch {
                if Task.isCancelled { throw CancellationError() }
                guard attempt < configuration.maxRetries else {
                    throw BerthError(.unavailable, "\(Self.goMethod(req.method)) \"\(realm)\": \(Self.describe(error, url: realm))", cause: SendableErrorBox(error))
                }
            }
            try await Task.sleep(for: backoff(attempt))
            attempt += 1
        }
        guard resp.status == .ok else {
            let e = await responseError(resp)
            throw BerthError(e.status == 401 ? .unauthorized : e.berthCode, e.description)
        }
        let body = try await Self.readBody(resp, limit: 1 << 20)
        guard let tr = try? JSONDecoder().decode(TokenResponse.self, from: Data(body)),
              let token = [tr.access_token, tr.token].compactMap({ $0 }).first(where: { !$0.isEmpty }) else {
            throw BerthError(.unauthorized, "authorization server did not include a token in the response")
        }
        // distribution's client: at least 60 s.
        let lifetime = max(tr.expires_in ?? 60, 60)
        // Renew a little early to avoid using a token that expires in flight.
        let expires = started + .seconds(max(lifetime - 5, 1))
        return TokenCache.Token(token: token, expires: expires, refreshToken: tr.refresh_token)
    }

    /// Scope to pull from a repository.
    static func pullScope(_ ref: Reference) -> String { "repository:\(ref.path):pull" }
    /// Scope to push to a repository.
    static func pushScope(_ ref: Reference) -> String { "repository:\(ref.path):pull,push" }
}

/// Stored credentials per registry domain, kept for 30 s so that concurrent blob fetches do not each run a helper.
actor CredentialCache {
    private var entries: [String: (RegistryCredential?, ContinuousClock.Instant)] = [:]

    func get(_ domain: String, load: @Sendable () async throws -> RegistryCredential?) async throws -> RegistryCredential? {
        if let (c, at) = entries[domain], ContinuousClock.now - at < .seconds(30) { return c }
        let c = try await load()
        entries[domain] = (c, .now)
        return c
    }
}
