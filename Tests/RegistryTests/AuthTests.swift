import Foundation
import NIOCore
import OCI
import TestSupport
import Testing
@testable import Registry

/// Basic (htpasswd) and bearer-token authentication against real registries.
@Suite struct AuthTests {
    let good = RegistryCredential(username: "alice", password: "s3cret")
    let bad = RegistryCredential(username: "alice", password: "wrong")

    @Test func basicAuth() async throws {
        try await withRegistry(RegistryOptions(auth: .htpasswd(user: "alice", password: "s3cret"))) { reg in
            try await withClient { client in
                let ref = try Reference.parse("\(reg.authority)/private/app:1")
                let img = try await pushImage(client, ref, credential: good)
                let r = try await client.resolve(ref, platform: .host, credential: good)
                #expect(r.manifestDescriptor.digest == img.manifestDigest)

                let anon = await berthError { _ = try await client.resolve(ref, platform: .host, credential: nil) }
                #expect(anon?.code == .unauthorized)
                #expect(anon?.message == "Head \"http://\(reg.authority)/v2/private/app/manifests/1\": no basic auth credentials")

                let wrong = await berthError { _ = try await client.resolve(ref, platform: .host, credential: bad) }
                #expect(wrong?.code == .unauthorized)
                #expect(wrong?.message == "unauthorized: authentication required")

                #expect(try await client.login(server: reg.authority, credential: good) == nil)
                let badLogin = await berthError { _ = try await client.login(server: reg.authority, credential: bad) }
                #expect(badLogin?.code == .unauthorized)
                #expect(badLogin?.message == "login attempt to http://\(reg.authority)/v2/ failed with status: 401 Unauthorized")
            }
        }
    }

    @Test func credentialsFromDockerConfig() async throws {
        try await withRegistry(RegistryOptions(auth: .htpasswd(user: "alice", password: "s3cret"))) { reg in
            let dir = try TempDir("berth-dockercfg")
            defer { dir.remove() }
            let ref = try Reference.parse("\(reg.authority)/cfg/app:1")
            let img = try await withClient { try await pushImage($0, ref, credential: good) }

            // auths with base64 user:password
            let auth = Data("alice:s3cret".utf8).base64EncodedString()
            let path = try dir.write("config.json", #"{"auths": {"http://\#(reg.authority)": {"auth": "\#(auth)"}}}"#)
            try await withClient(testConfiguration { $0.dockerConfigPath = path }) { client in
                let r = try await client.resolve(ref, platform: .host, credential: nil)
                #expect(r.manifestDescriptor.digest == img.manifestDigest)
                // An explicit credential wins over the stored one.
                let e = await berthError { _ = try await client.resolve(ref, platform: .host, credential: bad) }
                #expect(e?.code == .unauthorized)
            }

            // credHelpers: docker-credential-NAME get, server address on stdin.
            let helperName = "berthtest\(UInt32.random(in: 0...UInt32.max))"
            let helper = try dir.write("bin/docker-credential-\(helperName)", """
            #!/bin/sh
            read server
            if [ "$1" = get ] && [ "$server" = "\(reg.authority)" ]; then
              echo '{"ServerURL":"\(reg.authority)","Username":"alice","Secret":"s3cret"}'
            else
              echo "credentials not found in native keychain"; exit 1
            fi
            """)
            chmod(helper, 0o755)
            let oldPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            setenv("PATH", dir.file("bin") + ":" + oldPath, 1)
            defer { setenv("PATH", oldPath, 1) }
            let path2 = try dir.write("config2.json", #"{"credHelpers": {"\#(reg.authority)": "\#(helperName)"}, "auths": {}}"#)
            try await withClient(testConfiguration { $0.dockerConfigPath = path2 }) { client in
                let r = try await client.resolve(ref, platform: .host, credential: nil)
                #expect(r.manifestDescriptor.digest == img.manifestDigest)
            }
            let store = DockerCredentialStore(configPath: path2)
            #expect(try await store.credential(forDomain: reg.authority) == good)
            #expect(try await store.credential(forDomain: "other.example:5000") == nil)
        }
    }

    /// A registry with `auth.token`, and a token server issuing JWTs signed by a key whose cert is the
    /// registry's `rootcertbundle`: anonymous users may pull `public/*`, alice may do anything.
    func withTokenRegistry(expiresIn: Int = 300, _ body: (TestRegistry, _ tokenRequests: @escaping () async throws -> Int) async throws -> Void) async throws {
        let dir = try TempDir("berth-token")
        defer { dir.remove() }
        let pki = try TestPKI.make(in: dir)
        let tokenPort = try TestSupport.freePort()
        let service = "berth-test-registry", issuer = "berth-test-issuer"
        let (server, _) = try await TestSupport.startPython(mode: "token", config: [
            "port": tokenPort, "users": ["alice": "s3cret"], "issuer": issuer, "service": service,
            "key": pki.tokenKey, "cert_b64": try pki.tokenCertBase64(), "expires_in": expiresIn,
        ], dir: dir)
        defer { server.stop(signal: SIGKILL) }
        let options = RegistryOptions(auth: .token(realm: "http://127.0.0.1:\(tokenPort)/token", service: service, issuer: issuer, rootCertBundle: pki.tokenCert))
        try await withRegistry(options) { reg in
            try await body(reg) {
                try await withClient { c in
                    let resp = try await c.http.get(url: "http://127.0.0.1:\(tokenPort)/__stats").get()
                    let data = Data(resp.body.map { Array($0.readableBytesView) } ?? [])
                    let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any]
                    return obj?["token_requests"] as? Int ?? -1
                }
            }
        }
    }

    @Test func bearerTokenAuth() async throws {
        try await withTokenRegistry { reg, tokenRequests in
            let pub = try Reference.parse("\(reg.authority)/public/app:1")
            let priv = try Reference.parse("\(reg.authority)/private/app:1")
            try await withClient { client in
                let pubImg = try await pushImage(client, pub, layerSizes: [1000, 2000, 3000], credential: good)
                _ = try await pushImage(client, priv, credential: good)

                let ep = try await client.endpoint(for: EndpointCandidate(authority: reg.authority, scheme: nil, pathPrefix: "", isMirror: false))
                guard case .bearer(let realm, let service) = ep.auth else {
                    Issue.record("expected a bearer challenge, got \(ep.auth)")
                    return
                }
                #expect(realm.hasSuffix("/token"))
                #expect(service == "berth-test-registry")

                // Anonymous pull of a public repository; the token is cached across blob fetches.
                let before = try await tokenRequests()
                let r = try await client.resolve(pub, platform: .host, credential: nil)
                #expect(r.manifestDescriptor.digest == pubImg.manifestDigest)
                for (i, layer) in r.manifest.layers.enumerated() {
                    let c = Collector()
                    try await client.fetchBlob(pub, descriptor: layer, credential: nil) { c.add($0) }
                    #expect(c.bytes == pubImg.layers[i])
                }
                #expect(try await tokenRequests() - before == 1)

                // Anonymous pull of a private repository: denied, worded like Docker.
                let denied = await berthError { _ = try await client.resolve(priv, platform: .host, credential: nil) }
                #expect(denied?.code == .notFound)
                #expect(denied?.message == "pull access denied for \(reg.authority)/private/app, repository does not exist or may require 'docker login': denied: requested access to the resource is denied")

                // With credentials.
                let rp = try await client.resolve(priv, platform: .host, credential: good)
                #expect(rp.manifest.layers.count == 1)
                #expect(try await client.listTags(priv, credential: good) == ["1"])

                // Wrong password.
                let wrong = await berthError { _ = try await client.resolve(priv, platform: .host, credential: bad) }
                #expect(wrong?.code == .unauthorized)
                #expect(wrong?.message.hasSuffix("unauthorized: incorrect username or password") == true)
            }
        }
    }

    @Test func loginAndIdentityToken() async throws {
        try await withTokenRegistry { reg, _ in
            try await withClient { client in
                let identity = try await client.login(server: reg.authority, credential: good)
                #expect(identity == "refresh-alice")
                let e = await berthError { _ = try await client.login(server: "http://\(reg.authority)", credential: bad) }
                #expect(e?.code == .unauthorized)
                #expect(e?.message.contains("unauthorized: incorrect username or password") == true)

                // The identity token alone works (OAuth2 refresh_token grant).
                let ref = try Reference.parse("\(reg.authority)/private/x:1")
                let img = try await pushImage(client, ref, credential: RegistryCredential(identityToken: identity))
                let r = try await client.resolve(ref, platform: .host, credential: RegistryCredential(identityToken: identity))
                #expect(r.manifestDescriptor.digest == img.manifestDigest)
                let badToken = await berthError { _ = try await client.resolve(ref, platform: .host, credential: RegistryCredential(identityToken: "nope")) }
                #expect(badToken?.code == .unauthorized)
            }
        }
    }

    @Test func expiredTokensAreRefreshed() async throws {
        // Tokens live 60 s at least on the client side; invalidate through a 401 instead: a token for one
        // credential never serves another, and a rejected token is fetched again.
        try await withTokenRegistry { reg, tokenRequests in
            try await withClient { client in
                let ref = try Reference.parse("\(reg.authority)/private/y:1")
                _ = try await pushImage(client, ref, credential: good)
                let n0 = try await tokenRequests()
                _ = try await client.resolve(ref, platform: .host, credential: good)
                _ = try await client.resolve(ref, platform: .host, credential: good)
                let n1 = try await tokenRequests()
                #expect(n1 - n0 == 1)
                // Poison the cached token: the registry answers 401 and the client fetches a fresh one.
                let ep = try await client.endpoint(for: EndpointCandidate(authority: reg.authority, scheme: nil, pathPrefix: "", isMirror: false))
                guard case .bearer(let realm, let service) = ep.auth else { return }
                let key = TokenCache.Key(realm: realm, service: service ?? "", scopes: [RegistryClient.pullScope(ref)], credential: good.cacheKey)
                _ = try await client.tokens.token(for: key) { TokenCache.Token(token: "garbage", expires: .now + .seconds(60)) }
                await client.tokens.invalidate(key)
                _ = try await client.tokens.token(for: key) { TokenCache.Token(token: "garbage", expires: .now + .seconds(60)) }
                let r = try await client.resolve(ref, platform: .host, credential: good)
                #expect(r.manifest.layers.count == 1)
                #expect(try await tokenRequests() - n1 == 1)
            }
        }
    }
}
