import Foundation
import NIOHTTP1
import OCI
import TestSupport
import Testing
@testable import Registry

@Suite struct ChallengeTests {
    @Test func bearer() {
        let c = AuthChallenge.parse(value: #"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#)
        #expect(c.count == 1)
        #expect(c[0].scheme == "bearer")
        #expect(c[0].realm == "https://auth.docker.io/token")
        #expect(c[0].service == "registry.docker.io")
        #expect(c[0].parameters["scope"] == "repository:library/busybox:pull")
        #expect(EndpointAuth(challenges: c) == .bearer(realm: "https://auth.docker.io/token", service: "registry.docker.io"))
    }

    @Test func basicAndMultiple() {
        let c = AuthChallenge.parse(value: #"Basic realm="basic-realm", Bearer realm="https://x/token", error="insufficient_scope""#)
        #expect(c.map(\.scheme) == ["basic", "bearer"])
        #expect(c[1].parameters["error"] == "insufficient_scope")
        #expect(EndpointAuth(challenges: c) == .bearer(realm: "https://x/token", service: nil))
        #expect(EndpointAuth(challenges: AuthChallenge.parse(value: #"Basic realm="r""#)) == .basic(realm: "r"))
        #expect(AuthChallenge.parse(value: #"Bearer realm="a\"b""#)[0].realm == #"a"b"#)
        #expect(EndpointAuth(challenges: []) == .none)
    }
}

@Suite struct ErrorMappingTests {
    let ref = try! Reference.parse("busybox:nope")

    func err(_ status: Int, _ body: String, challenge: String? = nil) -> RegistryAPIError {
        var h = HTTPHeaders()
        if let challenge { h.add(name: "WWW-Authenticate", value: challenge) }
        return RegistryAPIError.from(status: status, headers: h, body: Array(body.utf8))
    }

    @Test func dockerPullMessages() {
        let unknown = err(404, #"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}"#)
        #expect(unknown.pullError(ref).message == "manifest for busybox:nope not found: manifest unknown: manifest unknown")
        #expect(unknown.pullError(ref).code == .notFound)

        let denied = err(401, #"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                         challenge: #"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nope:pull",error="insufficient_scope""#)
        let d = denied.pullError(try! Reference.parse("nope"))
        #expect(d.message == "pull access denied for nope, repository does not exist or may require 'docker login': denied: requested access to the resource is denied")

        let name = err(404, #"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#)
        #expect(name.pullError(try! Reference.parse("localhost:5000/a/b:1")).message == "repository localhost:5000/a/b not found: name unknown: repository name not known to registry")

        let unauth = err(401, #"{"details":"incorrect username or password"}"#)
        #expect(unauth.description == "unauthorized: incorrect username or password")
        #expect(unauth.berthCode == .unauthorized)
        #expect(err(401, "").description == "unauthorized: authentication required")
        #expect(err(503, "oops").description == "received unexpected HTTP status: 503 Service Unavailable")
        #expect(err(503, "").berthCode == .unavailable)
        #expect(err(429, #"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}"#).description == "toomanyrequests: You have reached your pull rate limit.")
        let two = err(400, #"{"errors":[{"code":"MANIFEST_INVALID","message":"a"},{"code":"BLOB_UNKNOWN","message":"b"}]}"#)
        #expect(two.description == "errors:\nmanifest invalid: a\nblob unknown: b\n")
    }
}

@Suite struct HostTests {
    func hosts(_ insecure: [String] = [], loopback: Bool = true, mirrors: [String] = []) -> RegistryHosts {
        RegistryHosts(configuration: testConfiguration {
            $0.insecureRegistries = insecure
            $0.loopbackIsInsecure = loopback
            $0.mirrors = mirrors
        })
    }

    @Test func insecureMatching() {
        // By name (no address lookups: no CIDRs, loopback not special).
        let named = hosts(["myregistry:5000", "plain", "http://other:5000/"], loopback: false)
        #expect(named.isInsecure("myregistry:5000"))
        #expect(!named.isInsecure("myregistry:5001"))
        #expect(named.isInsecure("plain"))
        #expect(!named.isInsecure("plain:443"))
        #expect(named.isInsecure("other:5000"))
        #expect(!named.isInsecure("127.0.0.1:5000"))
        // By CIDR, for address literals.
        let cidrs = hosts(["10.0.0.0/8", "fd00::/8"], loopback: false)
        #expect(cidrs.isInsecure("10.1.2.3:5000"))
        #expect(!cidrs.isInsecure("11.1.2.3:5000"))
        #expect(cidrs.isInsecure("[fd00::1]:5000"))
        #expect(!cidrs.isInsecure("[fe00::1]:5000"))
        // Loopback, as Docker's default 127.0.0.0/8.
        let loop = hosts()
        #expect(loop.isInsecure("localhost:5000"))
        #expect(loop.isInsecure("127.0.0.2:5000"))
        #expect(loop.isInsecure("[::1]:5000"))
        #expect(!loop.isInsecure("10.0.0.1"))
    }

    @Test func cidr() throws {
        let c = try #require(CIDR("192.168.0.0/20"))
        #expect(c.contains([192, 168, 15, 255]))
        #expect(!c.contains([192, 168, 16, 0]))
        #expect(CIDR("nonsense/8") == nil)
        #expect(CIDR("10.0.0.0/33") == nil)
    }

    @Test func endpointsForDockerHub() {
        let h = hosts(mirrors: ["https://mirror.example:5000", "http://m2.example/prefix/"])
        let c = h.candidates(forDomain: "docker.io")
        #expect(c.map(\.authority) == ["mirror.example:5000", "m2.example", "registry-1.docker.io"])
        #expect(c.map(\.scheme) == ["https", "http", "https"])
        #expect(c[1].pathPrefix == "/prefix")
        #expect(c.map(\.isMirror) == [true, true, false])
        #expect(h.candidates(forDomain: "quay.io").map(\.authority) == ["quay.io"])
        #expect(RegistryHosts.splitAuthority("[::1]:5000") == ("::1", 5000))
        #expect(RegistryHosts.splitAuthority("host") == ("host", nil))
    }
}

@Suite struct MiscTests {
    @Test func contentRange() {
        #expect(RegistryClient.contentRangeStart("bytes 100-199/200") == 100)
        #expect(RegistryClient.contentRangeStart("bytes=5-") == 5)
        #expect(RegistryClient.contentRangeStart(nil) == nil)
        #expect(RegistryClient.contentRangeStart("items 1-2") == nil)
    }

    @Test func linkHeader() {
        #expect(RegistryClient.nextLink([#"</v2/x/tags/list?last=b&n=2>; rel="next""#]) == "/v2/x/tags/list?last=b&n=2")
        #expect(RegistryClient.nextLink([#"<https://a/b>; rel="prev""#]) == nil)
        #expect(RegistryClient.nextLink([]) == nil)
    }

    @Test func platformSelection() throws {
        func d(_ p: String?, _ seed: String, type: String = MediaType.ociManifest) throws -> Descriptor {
            Descriptor(mediaType: type, digest: .sha256(seed), size: 1, platform: try p.map { try Platform(parsing: $0) })
        }
        let index = Index(manifests: [
            try d("linux/amd64", "a"),
            Descriptor(mediaType: MediaType.ociManifest, digest: .sha256("att"), size: 1, platform: Platform(os: "unknown", architecture: "unknown")),
            try d("linux/arm/v6", "v6"),
            try d("linux/arm/v7", "v7"),
            try d("linux/arm64/v8", "arm64"),
        ])
        #expect(RegistryClient.selectPlatform(index, try Platform(parsing: "linux/amd64"))?.digest == .sha256("a"))
        #expect(RegistryClient.selectPlatform(index, try Platform(parsing: "linux/arm/v7"))?.digest == .sha256("v7"))
        #expect(RegistryClient.selectPlatform(index, try Platform(parsing: "linux/arm64"))?.digest == .sha256("arm64"))
        #expect(RegistryClient.selectPlatform(index, try Platform(parsing: "windows/amd64")) == nil)
    }

    @Test func dockerConfigAuths() async throws {
        let dir = try TempDir("berth-cfg")
        defer { dir.remove() }
        let hub = Data("hubuser:hubpass".utf8).base64EncodedString()
        let path = try dir.write("config.json", #"""
        {"auths": {
          "https://index.docker.io/v1/": {"auth": "\#(hub)"},
          "registry.example:5000": {"username": "u", "password": "p"},
          "https://tok.example/v1/": {"identitytoken": "idt"}
        }}
        """#)
        let store = DockerCredentialStore(configPath: path)
        #expect(try await store.credential(forDomain: "docker.io") == RegistryCredential(username: "hubuser", password: "hubpass"))
        #expect(try await store.credential(forDomain: "registry.example:5000") == RegistryCredential(username: "u", password: "p"))
        #expect(try await store.credential(forDomain: "tok.example") == RegistryCredential(identityToken: "idt"))
        #expect(try await store.credential(forDomain: "none.example") == nil)
        #expect(try await DockerCredentialStore(configPath: dir.file("absent.json")).credential(forDomain: "docker.io") == nil)
        let broken = try dir.write("broken.json", "{")
        await #expect(throws: BerthError.self) { try await DockerCredentialStore(configPath: broken).credential(forDomain: "docker.io") }
    }
}

@Suite struct TokenCacheTests {
    final class Counter: @unchecked Sendable {
        let lock = NSLock()
        var n = 0
        func bump() { lock.lock(); n += 1; lock.unlock() }
    }

    @Test func expiryAndSharing() async throws {
        let cache = TokenCache()
        let key = TokenCache.Key(realm: "r", service: "s", scopes: ["repository:a:pull"], credential: "")
        let fetches = Counter()
        // Concurrent callers share one fetch.
        try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await cache.token(for: key) {
                        fetches.bump()
                        try await Task.sleep(for: .milliseconds(50))
                        return TokenCache.Token(token: "t1", expires: .now + .seconds(60))
                    }.token
                }
            }
            for try await t in group { #expect(t == "t1") }
        }
        #expect(fetches.n == 1)
        // An expired token is fetched again; other scopes and credentials have their own tokens.
        let expiring = TokenCache.Key(realm: "r", service: "s", scopes: ["repository:b:pull"], credential: "")
        _ = try await cache.token(for: expiring) { TokenCache.Token(token: "old", expires: .now - .seconds(1)) }
        let fresh = try await cache.token(for: expiring) { TokenCache.Token(token: "new", expires: .now + .seconds(60)) }
        #expect(fresh.token == "new")
        var other = key
        other.credential = "someone"
        #expect(try await cache.token(for: other) { TokenCache.Token(token: "t2", expires: .now + .seconds(60)) }.token == "t2")
        await cache.invalidate(key)
        #expect(try await cache.token(for: key) { TokenCache.Token(token: "t3", expires: .now + .seconds(60)) }.token == "t3")
    }
}
