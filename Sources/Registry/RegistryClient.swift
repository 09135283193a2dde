import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import OCI

/// A client for the OCI distribution API (Docker registries), on one shared `HTTPClient`.
///
/// Handles scheme selection and HTTP fallback for insecure registries, per-host TLS from `certs.d`,
/// bearer/basic authentication with token caching, Docker Hub mirrors, retries and resumable blob streams.
/// Safe to use from many tasks at once; several blobs may download concurrently.
public final class RegistryClient: Sendable {
    let configuration: RegistryConfiguration
    let logger: Logger
    let http: HTTPClient
    let hosts: RegistryHosts
    let credentialStore: DockerCredentialStore
    let endpoints = EndpointCache()
    let security = SecurityCache()
    let tokens = TokenCache()
    let storedCredentials = CredentialCache()

    public init(configuration: RegistryConfiguration = RegistryConfiguration(), logger: Logger = Logger(label: "berth.registry")) {
        self.configuration = configuration
        self.logger = logger
        self.hosts = RegistryHosts(configuration: configuration)
        self.credentialStore = DockerCredentialStore(configPath: configuration.dockerConfigPath)
        var config = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: configuration.connectTimeout.timeAmount, read: configuration.readTimeout.timeAmount),
            decompression: .disabled
        )
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
        // Fail fast on refused connections (HTTP fallback, mirrors); berth retries by itself.
        config.connectionPool.retryConnectionEstablishment = false
        self.http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config)
    }

    /// Closes all connections. Call once, when done with the client.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: - Endpoints

    /// A reachable endpoint: scheme decided by a `/v2/` ping, TLS settings, and how it authenticates.
    struct Endpoint: Sendable {
        var candidate: EndpointCandidate
        var scheme: String
        var tls: TLSConfiguration?
        var auth: EndpointAuth

        var authority: String { candidate.authority }
        var isMirror: Bool { candidate.isMirror }
        var baseURL: String { "\(scheme)://\(candidate.authority)\(candidate.pathPrefix)" }
        /// Retries per request: mirrors get one, so that a failing mirror quickly yields to the next endpoint.
        var maxRetries: Int
    }

    /// Whether a host is insecure (HTTP fallback, no verification); address lookups run off the cooperative pool.
    func isInsecure(_ authority: String) async -> Bool {
        if let v = await security.get(authority) { return v }
        let hosts = self.hosts
        let v = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            Thread.detachNewThread { c.resume(returning: hosts.isInsecure(authority)) }
        }
        await security.set(authority, v)
        return v
    }

    /// TLS settings for any host (registry, token realm, redirect target).
    func tlsConfiguration(for authority: String) async throws -> TLSConfiguration {
        try hosts.tlsConfiguration(for: authority, insecure: await isInsecure(authority))
    }

    /// Pings `/v2/` (HTTPS first; HTTP too for insecure and loopback registries), caching the result.
    func endpoint(for candidate: EndpointCandidate) async throws -> Endpoint {
        if let cached = await endpoints.get(candidate) { return cached }
        let insecure = await isInsecure(candidate.authority)
        let tls = try hosts.tlsConfiguration(for: candidate.authority, insecure: insecure)
        let schemes = candidate.scheme.map { [$0] } ?? (insecure ? ["https", "http"] : ["https"])
        var lastError: (any Error)?
        for scheme in schemes {
            let url = "\(scheme)://\(candidate.authority)\(candidate.pathPrefix)/v2/"
            do {
                var req = HTTPClientRequest(url: url)
                req.headers.add(name: "User-Agent", value: configuration.userAgent)
                if scheme == "https" { req.tlsConfiguration = tls }
                let resp = try await http.execute(req, timeout: .seconds(15), logger: logger)
                let status = Int(resp.status.code)
                await Self.drain(resp)
                let auth = status == 401 ? EndpointAuth(challenges: AuthChallenge.parse(resp.headers["WWW-Authenticate"])) : .none
                let ep = Endpoint(candidate: candidate, scheme: scheme, tls: scheme == "https" ? tls : nil, auth: auth,
                                  maxRetries: candidate.isMirror ? min(1, configuration.maxRetries) : configuration.maxRetries)
                logger.debug("registry endpoint", metadata: ["url": "\(url)", "status": "\(status)", "auth": "\(auth)"])
                await endpoints.set(candidate, ep)
                return ep
            } catch {
                logger.debug("registry ping failed", metadata: ["url": "\(url)", "error": "\(error)"])
                lastError = BerthError(.unavailable, "Get \"\(url)\": \(Self.describe(error, url: url))")
            }
        }
        throw lastError!
    }

    /// Runs `body` against each endpoint for `domain` in turn (Docker Hub mirrors, then the registry);
    /// a failing mirror falls through to the next endpoint.
    func withEndpoints<T: Sendable>(domain: String, _ body: (Endpoint) async throws -> T) async throws -> T {
        let candidates = hosts.candidates(forDomain: domain)
        var lastError: (any Error)?
        for c in candidates {
            do {
                let ep = try await endpoint(for: c)
                return try await body(ep)
            } catch {
                if c.isMirror, !Task.isCancelled, !(error is ConsumerFailure), (error as? BerthError)?.code != .dataCorrupted {
                    await endpoints.remove(c)
                    logger.info("registry mirror failed, trying next endpoint", metadata: ["mirror": "\(c.authority)", "error": "\(error)"])
                    lastError = error
                    continue
                }
                throw error
            }
        }
        throw lastError ?? BerthError(.unavailable, "no endpoints for \(domain)")
    }

    // MARK: - Requests

    struct Request: Sendable {
        var method: HTTPMethod = .GET
        /// A path below the endpoint (`/v2/…`) or an absolute URL (upload locations, redirects).
        var path: String
        var headers = HTTPHeaders()
        var body: [UInt8]?
        /// A non-replayable body; requests carrying one are neither retried nor re-sent on 401.
        var stream: HTTPClientRequest.Body?
        var followRedirects = false
        var timeout: Duration?
    }

    /// Who is asking: the caller's credential (wins) or else the stored one for `domain`, and the scopes.
    struct AuthContext: Sendable {
        var domain: String
        var explicit: RegistryCredential?
        var scopes: [String]
    }

    func url(_ path: String, on ep: Endpoint) -> String {
        if path.hasPrefix("http://") || path.hasPrefix("https://") { return path }
        return ep.baseURL + path
    }

    /// Sends a request with authentication (one re-authentication on 401) and, if asked, following redirects
    /// (dropping `Authorization` when the host changes). Returns any response; the caller checks the status.
    func send(_ request: Request, on ep: Endpoint, auth: AuthContext) async throws -> HTTPClientResponse {
        var endpointAuth = ep.auth
        var reauthenticated = false
        while true {
            let target = url(request.path, on: ep)
            var headers = request.headers
            headers.replaceOrAdd(name: "User-Agent", value: configuration.userAgent)
            do {
                if let value = try await authorization(endpointAuth, on: ep, auth: auth, refresh: reauthenticated) {
                    headers.replaceOrAdd(name: "Authorization", value: value)
                }
            } catch let e as BerthError {
                throw BerthError(e.code, "\(Self.goMethod(request.method)) \"\(target)\": \(e.message)", cause: e.cause)
            }
            let resp = try await execute(method: request.method, url: target, headers: headers, body: request.body,
                                         stream: request.stream, ep: ep, timeout: request.timeout)
            if resp.status == .unauthorized, !reauthenticated, request.stream == nil {
                let challenged = EndpointAuth(challenges: AuthChallenge.parse(resp.headers["WWW-Authenticate"]))
                if challenged != .none {
                    await Self.drain(resp)
                    if challenged != endpointAuth {
                        var updated = ep
                        updated.auth = challenged
                        await endpoints.set(ep.candidate, updated)
                    }
                    endpointAuth = challenged
                    reauthenticated = true
                    continue
                }
            }
            if request.followRedirects, [301, 302, 303, 307, 308].contains(Int(resp.status.code)),
               let location = resp.headers.first(name: "Location") {
                await Self.drain(resp)
                return try await followRedirect(from: target, location: location, request: request, headers: headers, ep: ep, hops: 1)
            }
            return resp
        }
    }

    private func followRedirect(from: String, location: String, request: Request, headers: HTTPHeaders, ep: Endpoint, hops: Int) async throws -> HTTPClientResponse {
        guard hops <= 10 else { throw BerthError(.unavailable, "\(Self.goMethod(request.method)) \"\(from)\": stopped after 10 redirects") }
        guard let base = URL(string: from), let next = URL(string: location, relativeTo: base)?.absoluteURL else {
            throw BerthError(.unavailable, "invalid redirect location \(location)")
        }
        var headers = headers
        if next.host != base.host || next.port != base.port || next.scheme != base.scheme {
            headers.remove(name: "Authorization")
        }
        let sameHost = next.host == base.host && next.port == base.port
        let nextURL = next.absoluteString
        var tls: TLSConfiguration? = nil
        if next.scheme == "https" {
            if sameHost {
                tls = ep.tls
            } else {
                let authority = next.port.map { "\(next.host ?? ""):\($0)" } ?? (next.host ?? "")
                tls = try await tlsConfiguration(for: authority)
            }
        }
        var req = HTTPClientRequest(url: nextURL)
        req.method = request.method == .HEAD ? .HEAD : .GET
        req.headers = headers
        req.tlsConfiguration = tls
        logger.debug("following redirect", metadata: ["to": "\(next.host ?? "")"])
        let resp: HTTPClientResponse
        do {
            resp = try await http.execute(req, timeout: (request.timeout ?? configuration.responseTimeout).timeAmount, logger: logger)
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw RetryableFailure(description: "\(Self.goMethod(req.method)) \"\(nextURL)\": \(Self.describe(error, url: nextURL))")
        }
        if [301, 302, 303, 307, 308].contains(Int(resp.status.code)), let loc = resp.headers.first(name: "Location") {
            await Self.drain(resp)
            return try await followRedirect(from: nextURL, location: loc, request: request, headers: headers, ep: ep, hops: hops + 1)
        }
        return resp
    }

    func execute(method: HTTPMethod, url: String, headers: HTTPHeaders, body: [UInt8]?, stream: HTTPClientRequest.Body?,
                 ep: Endpoint, timeout: Duration?) async throws -> HTTPClientResponse {
        var req = HTTPClientRequest(url: url)
        req.method = method
        req.headers = headers
        if let stream {
            req.body = stream
        } else if let body {
            req.body = .bytes(body)
        } else if method == .PUT || method == .POST || method == .PATCH {
            req.headers.replaceOrAdd(name: "Content-Length", value: "0")
        }
        if url.hasPrefix("https://") {
            if url.hasPrefix("https://\(ep.authority)/") {
                req.tlsConfiguration = ep.tls
            } else if let u = URL(string: url), let host = u.host {
                let authority = u.port.map { "\(host):\($0)" } ?? host
                req.tlsConfiguration = try await tlsConfiguration(for: authority)
            }
        }
        do {
            return try await http.execute(req, timeout: (timeout ?? configuration.responseTimeout).timeAmount, logger: logger)
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw RetryableFailure(description: "\(Self.goMethod(method)) \"\(url)\": \(Self.describe(error, url: url))")
        }
    }

    /// `send`, retrying transport failures, 5xx and 429 with backoff (only for replayable requests).
    /// The last failing response is returned for the caller's error mapping.
    func sendRetrying(_ request: Request, on ep: Endpoint, auth: AuthContext) async throws -> HTTPClientResponse {
        var attempt = 0
        while true {
            do {
                let resp = try await send(request, on: ep, auth: auth)
                let code = Int(resp.status.code)
                if (code >= 500 || code == 429), request.stream == nil, attempt < ep.maxRetries {
                    await Self.drain(resp)
                    logger.debug("registry returned \(code), retrying", metadata: ["path": "\(request.path)"])
                } else {
                    return resp
                }
            } catch let e as RetryableFailure {
                guard request.stream == nil, attempt < ep.maxRetries else {
                    throw BerthError(.unavailable, e.description)
                }
                logger.debug("registry request failed, retrying", metadata: ["error": "\(e)"])
            }
            try await Task.sleep(for: backoff(attempt))
            attempt += 1
        }
    }

    func backoff(_ attempt: Int) -> Duration {
        let d = configuration.retryBaseDelay * (1 << min(attempt, 10))
        return min(d, .seconds(10))
    }

    /// Reads a whole (small) body, failing past `limit` bytes.
    static func readBody(_ resp: HTTPClientResponse, limit: Int) async throws -> [UInt8] {
        do {
            var buf = try await resp.body.collect(upTo: limit)
            return buf.readBytes(length: buf.readableBytes) ?? []
        } catch let e as NIOTooManyBytesError {
            throw BerthError(.dataCorrupted, "response body too large (more than \(limit) bytes)", cause: SendableErrorBox(e))
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw RetryableFailure(description: "reading response body: \(describe(error))")
        }
    }

    /// Consumes and discards a response body so the connection can be reused.
    static func drain(_ resp: HTTPClientResponse) async {
        do {
            for try await _ in resp.body {}
        } catch {}
    }

    /// The error a non-success response stands for (body read for the registry's JSON errors).
    func responseError(_ resp: HTTPClientResponse) async -> RegistryAPIError {
        let body = (try? await Self.readBody(resp, limit: 1 << 16)) ?? []
        return RegistryAPIError.from(status: Int(resp.status.code), headers: resp.headers, body: body)
    }

    /// Go's `url.Error` verb: `Get`, `Head`, `Put`…
    static func goMethod(_ m: HTTPMethod) -> String {
        let s = m.rawValue.lowercased()
        return s.prefix(1).uppercased() + s.dropFirst()
    }

    /// Go's wording for a transport error, as Docker prints it (`dial tcp 127.0.0.1:5000: connect: connection refused`).
    static func describe(_ error: any Error, url: String? = nil) -> String {
        let text = "\(error)"
        if text.contains("Connection refused") || text.contains("ECONNREFUSED") {
            let authority = url.flatMap { URL(string: $0) }.map { u in
                let host = u.host ?? ""
                let port = u.port ?? (u.scheme == "https" ? 443 : 80)
                return " \(host.contains(":") ? "[\(host)]" : host):\(port)"
            } ?? ""
            return "dial tcp\(authority): connect: connection refused"
        }
        if let e = error as? HTTPClientError {
            switch e {
            case .connectTimeout: return "dial tcp: i/o timeout"
            case .readTimeout: return "read: i/o timeout"
            case .remoteConnectionClosed: return "connection closed by the registry"
            case .deadlineExceeded: return "timeout awaiting response headers"
            default: return "\(e)"
            }
        }
        if let e = error as? IOError {
            return "\(e.description)"
        }
        return "\(error)"
    }
}

/// An error thrown by a blob consumer; passed through untouched, never retried.
struct ConsumerFailure: Error, @unchecked Sendable {
    var error: any Error
}

/// Insecure-or-not decisions per host, kept for a few minutes.
actor SecurityCache {
    private var entries: [String: (Bool, ContinuousClock.Instant)] = [:]

    func get(_ authority: String) -> Bool? {
        guard let (v, at) = entries[authority], ContinuousClock.now - at < .seconds(300) else { return nil }
        return v
    }

    func set(_ authority: String, _ v: Bool) {
        entries[authority] = (v, .now)
    }
}

/// Pinged endpoints, kept for a few minutes.
actor EndpointCache {
    private var entries: [EndpointCandidate: (RegistryClient.Endpoint, ContinuousClock.Instant)] = [:]

    func get(_ c: EndpointCandidate) -> RegistryClient.Endpoint? {
        guard let (ep, at) = entries[c], ContinuousClock.now - at < .seconds(300) else { return nil }
        return ep
    }

    func set(_ c: EndpointCandidate, _ ep: RegistryClient.Endpoint) {
        entries[c] = (ep, .now)
    }

    func remove(_ c: EndpointCandidate) {
        entries[c] = nil
    }
}

extension Duration {
    var timeAmount: TimeAmount {
        let (s, atto) = components
        return .nanoseconds(s * 1_000_000_000 + atto / 1_000_000_000)
    }
}
