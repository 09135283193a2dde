import Foundation
import OCI
import TestSupport
import Testing
@testable import Registry

/// HTTPS registries with a CA made by the test, trusted through a certs.d directory.
@Suite struct TLSTests {
    @Test func caFromCertsDirectory() async throws {
        let dir = try TempDir("berth-tls")
        defer { dir.remove() }
        let pki = try TestPKI.make(in: dir)
        try await withRegistry(RegistryOptions(tlsCertificate: pki.serverCert, tlsKey: pki.serverKey)) { reg in
            let ref = try Reference.parse("\(reg.authority)/tls/app:1")
            // Loopback counts as insecure by default: HTTPS without verification.
            let img = try await withClient { client in
                let ep = try await client.endpoint(for: EndpointCandidate(authority: reg.authority, scheme: nil, pathPrefix: "", isMirror: false))
                #expect(ep.scheme == "https")
                return try await pushImage(client, ref)
            }
            // Verified: fails without the CA...
            try await withClient(testConfiguration { $0.loopbackIsInsecure = false }) { client in
                let e = await berthError { _ = try await client.resolve(ref, platform: .host, credential: nil) }
                #expect(e?.code == .unavailable)
                #expect(e?.message.hasPrefix("Get \"https://\(reg.authority)/v2/\"") == true)
            }
            // ...and works with it in certs.d/HOST:PORT/ca.crt.
            let certs = dir.file("certs.d")
            try FileManager.default.createDirectory(atPath: certs + "/" + reg.authority, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: pki.caCert, toPath: certs + "/\(reg.authority)/ca.crt")
            try await withClient(testConfiguration { $0.loopbackIsInsecure = false; $0.certsDirectories = ["/nonexistent", certs] }) { client in
                let r = try await client.resolve(ref, platform: .host, credential: nil)
                #expect(r.manifestDescriptor.digest == img.manifestDigest)
                let c = Collector()
                try await client.fetchBlob(ref, descriptor: r.manifest.layers[0], credential: nil) { c.add($0) }
                #expect(c.bytes == img.layers[0])
            }
            // Listed as insecure by CIDR: no verification needed either.
            try await withClient(testConfiguration { $0.loopbackIsInsecure = false; $0.insecureRegistries = ["127.0.0.0/8"] }) { client in
                _ = try await client.resolve(ref, platform: .host, credential: nil)
            }
        }
    }

    @Test func clientCertificates() async throws {
        let dir = try TempDir("berth-mtls")
        defer { dir.remove() }
        let pki = try TestPKI.make(in: dir)
        try await withRegistry(RegistryOptions(tlsCertificate: pki.serverCert, tlsKey: pki.serverKey, clientCAs: [pki.caCert])) { reg in
            let ref = try Reference.parse("\(reg.authority)/mtls/app:1")
            let certs = dir.file("certs.d")
            let hostDir = certs + "/" + reg.authority
            try FileManager.default.createDirectory(atPath: hostDir, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: pki.caCert, toPath: hostDir + "/ca.crt")
            // Without a client certificate the handshake fails.
            try await withClient(testConfiguration { $0.loopbackIsInsecure = false; $0.certsDirectories = [certs] }) { client in
                let e = await berthError { _ = try await client.resolve(ref, platform: .host, credential: nil) }
                #expect(e?.code == .unavailable)
            }
            try FileManager.default.copyItem(atPath: pki.clientCert, toPath: hostDir + "/client.cert")
            try FileManager.default.copyItem(atPath: pki.clientKey, toPath: hostDir + "/client.key")
            try await withClient(testConfiguration { $0.loopbackIsInsecure = false; $0.certsDirectories = [certs] }) { client in
                let img = try await pushImage(client, ref)
                let r = try await client.resolve(ref, platform: .host, credential: nil)
                #expect(r.manifestDescriptor.digest == img.manifestDigest)
            }
            // A key without its certificate is a configuration error, as in Docker.
            try FileManager.default.removeItem(atPath: hostDir + "/client.cert")
            try await withClient(testConfiguration { $0.loopbackIsInsecure = false; $0.certsDirectories = [certs] }) { client in
                let e = await berthError { _ = try await client.resolve(ref, platform: .host, credential: nil) }
                #expect(e?.message == "missing client certificate client.cert for key client.key")
            }
        }
    }
}
