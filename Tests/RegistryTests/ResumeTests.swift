import Foundation
import NIOCore
import OCI
import TestSupport
import Testing
@testable import Registry

/// Fault injection with an HTTP proxy (Python, loopback) in front of a real registry.
@Suite struct ResumeTests {
    /// Runs `body` with a registry holding one image and a proxy in front of it.
    func withProxy(_ proxyConfig: [String: Any], layerSize: Int = 400_000, auth: RegistryOptions.Auth = .none,
                   credential: RegistryCredential? = nil,
                   _ body: (RegistryClient, Reference, PushedImage, _ stats: @escaping () async throws -> [String: Any]) async throws -> Void) async throws {
        var options = RegistryOptions()
        options.auth = auth
        try await withRegistry(options) { reg in
            let img = try await withClient { client in
                try await pushImage(client, try Reference.parse("\(reg.authority)/resume/img:v1"), layerSizes: [layerSize], credential: credential)
            }
            let dir = try TempDir("berth-proxy")
            defer { dir.remove() }
            var cfg = proxyConfig
            cfg["upstream_host"] = "127.0.0.1"
            cfg["upstream_port"] = reg.port
            let (proxy, port) = try await TestSupport.startPython(mode: "proxy", config: cfg, dir: dir)
            defer { proxy.stop(signal: SIGKILL) }
            let stats: () async throws -> [String: Any] = {
                try await withClient { c in
                    let resp = try await c.http.get(url: "http://127.0.0.1:\(port)/__stats").get()
                    let data = Data(resp.body.map { Array($0.readableBytesView) } ?? [])
                    return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
                }
            }
            try await withClient { client in
                try await body(client, try Reference.parse("127.0.0.1:\(port)/resume/img:v1"), img, stats)
            }
        }
    }

    @Test func resumesWithRangeAfterBrokenConnections() async throws {
        try await withProxy(["cuts": 2, "cut_after": 100_000]) { client, ref, img, stats in
            let layer = img.manifest.layers[0]
            let c = Collector()
            try await client.fetchBlob(ref, descriptor: layer, credential: nil) { c.add($0) }
            #expect(c.bytes == img.layers[0])
            let requests = try await stats()["requests"] as? [String] ?? []
            #expect(requests.filter { $0.contains("/blobs/\(layer.digest)") }.count == 3)
        }
    }

    @Test func skipsPrefixWhenServerIgnoresRange() async throws {
        try await withProxy(["cuts": 1, "cut_after": 123_457, "strip_range": true]) { client, ref, img, _ in
            let c = Collector()
            try await client.fetchBlob(ref, descriptor: img.manifest.layers[0], credential: nil) { c.add($0) }
            #expect(c.bytes == img.layers[0])
        }
    }

    @Test func givesUpAfterRepeatedBreaks() async throws {
        // Every attempt is cut before any byte: no progress, so retries run out.
        try await withProxy(["cuts": 100, "cut_after": 0]) { client, ref, img, _ in
            let e = await berthError { try await client.fetchBlob(ref, descriptor: img.manifest.layers[0], credential: nil) { _ in } }
            #expect(e?.code == .unavailable)
            #expect(e?.message.contains("after 4 attempts") == true)
        }
    }

    @Test func retriesServerErrors() async throws {
        try await withProxy(["fail503": 2]) { client, ref, img, _ in
            let r = try await client.resolve(ref, platform: .host, credential: nil)
            #expect(r.manifestDescriptor.digest == img.manifestDigest)
        }
        try await withProxy(["fail503": 100]) { client, ref, img, _ in
            let e = await berthError { _ = try await client.resolve(ref, platform: .host, credential: nil) }
            #expect(e?.code == .unavailable)
            let e2 = await berthError { try await client.fetchBlob(ref, descriptor: img.manifest.layers[0], credential: nil) { _ in } }
            #expect(e2?.code == .unavailable)
            #expect(e2?.message.contains("503") == true)
        }
    }

    @Test func manifestsFetchedByDigestAreVerified() async throws {
        try await withProxy(["mangle_manifests": true]) { client, ref, img, _ in
            // By tag too: the tag is resolved with HEAD first (as Docker does), and the digest it names is verified.
            let byTag = await berthError { _ = try await client.resolve(ref, platform: .host, credential: nil) }
            #expect(byTag?.code == .dataCorrupted)
            let byDigest = Reference(domain: ref.domain, path: ref.path, digest: img.manifestDigest)
            let e = await berthError { _ = try await client.resolve(byDigest, platform: .host, credential: nil) }
            #expect(e?.code == .dataCorrupted)
            #expect(e?.message == "manifest verification failed for digest \(img.manifestDigest)")
        }
    }

    @Test func consumerErrorsPassThroughUnretried() async throws {
        struct Stop: Error {}
        try await withProxy([:]) { client, ref, img, stats in
            do {
                try await client.fetchBlob(ref, descriptor: img.manifest.layers[0], credential: nil) { _ in throw Stop() }
                Issue.record("expected the consumer's error")
            } catch is Stop {}
            let requests = try await stats()["requests"] as? [String] ?? []
            #expect(requests.filter { $0.contains("/blobs/") }.count == 1)
        }
    }

    @Test func redirectToOtherHostDropsAuthorization() async throws {
        let basic = "Basic " + Data("alice:s3cret".utf8).base64EncodedString()
        let cred = RegistryCredential(username: "alice", password: "s3cret")
        try await withProxy(["redirect": true, "redirect_auth": basic, "cuts": 1, "cut_after": 50_000],
                            auth: .htpasswd(user: "alice", password: "s3cret"), credential: cred) { client, ref, img, stats in
            let c = Collector()
            try await client.fetchBlob(ref, descriptor: img.manifest.layers[0], credential: cred) { c.add($0) }
            #expect(c.bytes == img.layers[0])
            let s = try await stats()
            #expect((s["redirected"] as? Int ?? 0) >= 2)
            #expect(s["redirected_with_auth"] as? Int == 0)
        }
    }
}
