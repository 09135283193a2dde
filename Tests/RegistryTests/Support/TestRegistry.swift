import Foundation
import OCI

/// How to configure a test `docker-registry`.
struct RegistryOptions: Sendable {
    enum Auth: Sendable {
        case none
        case htpasswd(user: String, password: String)
        case token(realm: String, service: String, issuer: String, rootCertBundle: String)
    }
    var auth: Auth = .none
    var tlsCertificate: String?
    var tlsKey: String?
    var clientCAs: [String] = []
}

/// A real CNCF distribution registry (Debian's `docker-registry`) on 127.0.0.1, storing in a temp dir.
final class TestRegistry: @unchecked Sendable {
    let port: Int
    let dir: TempDir
    let process: ChildProcess
    var authority: String { "127.0.0.1:\(port)" }
    var storageRoot: String { dir.file("storage") }

    private init(port: Int, dir: TempDir, process: ChildProcess) {
        self.port = port
        self.dir = dir
        self.process = process
    }

    static func start(_ options: RegistryOptions = RegistryOptions()) async throws -> TestRegistry {
        let dir = try TempDir("berth-registry")
        let port = try TestSupport.freePort()
        var yaml = """
        version: 0.1
        log:
          level: error
          accesslog:
            disabled: true
        storage:
          filesystem:
            rootdirectory: \(dir.file("storage"))
          delete:
            enabled: true
        http:
          addr: 127.0.0.1:\(port)

        """
        if let cert = options.tlsCertificate, let key = options.tlsKey {
            yaml += "  tls:\n    certificate: \(cert)\n    key: \(key)\n"
            if !options.clientCAs.isEmpty {
                yaml += "    clientcas:\n" + options.clientCAs.map { "      - \($0)\n" }.joined()
            }
        }
        switch options.auth {
        case .none:
            break
        case .htpasswd(let user, let password):
            let line = try TestSupport.run("/usr/bin/htpasswd", ["-Bbn", user, password])
            let path = try dir.write("htpasswd", line.trimmingCharacters(in: .whitespacesAndNewlines) + "\n")
            yaml += "auth:\n  htpasswd:\n    realm: basic-realm\n    path: \(path)\n"
        case .token(let realm, let service, let issuer, let bundle):
            yaml += "auth:\n  token:\n    realm: \(realm)\n    service: \(service)\n    issuer: \(issuer)\n    rootcertbundle: \(bundle)\n"
        }
        let config = try dir.write("config.yml", yaml)
        let log = dir.file("registry.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/docker-registry")
        p.arguments = ["serve", config]
        let logHandle = FileHandle(forWritingAtPath: log)
        p.standardOutput = logHandle
        p.standardError = logHandle
        try p.run()
        let child = ChildProcess(p)
        do {
            try await TestSupport.waitForPort(port, process: child, log: log)
        } catch {
            child.stop()
            dir.remove()
            throw error
        }
        return TestRegistry(port: port, dir: dir, process: child)
    }

    func stop() {
        process.stop()
        dir.remove()
    }

    /// The on-disk data file of a blob (distribution's filesystem layout).
    func blobDataPath(_ d: Digest) -> String {
        "\(storageRoot)/docker/registry/v2/blobs/\(d.algorithm)/\(d.encoded.prefix(2))/\(d.encoded)/data"
    }
}

/// Runs `body` with a fresh registry, stopping it afterwards.
func withRegistry<T>(_ options: RegistryOptions = RegistryOptions(), _ body: (TestRegistry) async throws -> T) async throws -> T {
    let reg = try await TestRegistry.start(options)
    do {
        let r = try await body(reg)
        reg.stop()
        return r
    } catch {
        reg.stop()
        throw error
    }
}

/// Test PKI made with the openssl CLI: a CA, a server cert for 127.0.0.1/localhost, a client cert,
/// and a self-signed token-signing cert.
struct TestPKI {
    let dir: TempDir
    var caCert: String { dir.file("ca.crt") }
    var serverCert: String { dir.file("server.crt") }
    var serverKey: String { dir.file("server.key") }
    var clientCert: String { dir.file("client.cert") }
    var clientKey: String { dir.file("client.key") }
    var tokenCert: String { dir.file("token.crt") }
    var tokenKey: String { dir.file("token.key") }

    static func make(in dir: TempDir) throws -> TestPKI {
        let pki = TestPKI(dir: dir)
        let o = "/usr/bin/openssl"
        try TestSupport.run(o, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=berth test CA",
                                "-keyout", dir.file("ca.key"), "-out", pki.caCert])
        let ext = try dir.write("server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        try TestSupport.run(o, ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", pki.serverKey, "-out", dir.file("server.csr")])
        try TestSupport.run(o, ["x509", "-req", "-in", dir.file("server.csr"), "-CA", pki.caCert, "-CAkey", dir.file("ca.key"),
                                "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", pki.serverCert])
        let cext = try dir.write("client.ext", "extendedKeyUsage=clientAuth\n")
        try TestSupport.run(o, ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=berth client", "-keyout", pki.clientKey, "-out", dir.file("client.csr")])
        try TestSupport.run(o, ["x509", "-req", "-in", dir.file("client.csr"), "-CA", pki.caCert, "-CAkey", dir.file("ca.key"),
                                "-CAcreateserial", "-days", "2", "-extfile", cext, "-out", pki.clientCert])
        try TestSupport.run(o, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=token signer",
                                "-keyout", pki.tokenKey, "-out", pki.tokenCert])
        return pki
    }

    /// The token cert as base64 DER (for the JWT `x5c` header).
    func tokenCertBase64() throws -> String {
        let pem = try String(contentsOfFile: tokenCert, encoding: .utf8)
        return pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
    }
}
