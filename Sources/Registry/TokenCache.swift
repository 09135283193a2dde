import Foundation

/// Bearer tokens per (realm, service, scopes, credential), with expiry; concurrent requests for the same
/// key share one token fetch.
actor TokenCache {
    struct Key: Hashable, Sendable {
        var realm: String
        var service: String
        var scopes: [String]
        var credential: String
    }

    struct Token: Sendable {
        var token: String
        var expires: ContinuousClock.Instant
        var refreshToken: String?
    }

    private var tokens: [Key: Token] = [:]
    private var inflight: [Key: Task<Token, any Error>] = [:]

    /// A valid cached token, or the result of `fetch` (shared with concurrent callers).
    func token(for key: Key, fetch: @escaping @Sendable () async throws -> Token) async throws -> Token {
        if let t = tokens[key], t.expires > .now { return t }
        if let task = inflight[key] { return try await task.value }
        let task = Task { try await fetch() }
        inflight[key] = task
        defer { inflight[key] = nil }
        let t = try await task.value
        tokens[key] = t
        return t
    }

    func invalidate(_ key: Key) {
        tokens[key] = nil
    }
}
