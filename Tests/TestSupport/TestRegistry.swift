import Foundation
import OCI

/// How to configure a test `docker-registry`.
public struct RegistryOptions: Sendable {
    /// How clients authenticate to the registry.
    public enum Auth: Sendable {
        case none
        case htpasswd(user: String, password: String)
        case token(realm: String, service: String, issuer: String, rootCertBundle: String)
    }
    public var auth: Auth
    /// Serve HTTPS with this certificate and key (PEM paths) when both are set.
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// CA bundles for client-certificate verification (mutual TLS); empty for none.
    public var clientCAs: [String]
    /// Prefix of the registry's temp dir (config, log, storage), so a leftover names its suite.
    public var dirPrefix: String

    public init(auth: Auth = .none, tlsCertificate: String? = nil, tlsKey: String? = nil, clientCAs: [String] = [],
                dirPrefix: String = "berth-registry") {
        self.auth = auth
        self.tlsCertificate = tlsCertificate
        self.tlsKey = tlsKey
        self.clientCAs = clientCAs
        self.dirPrefix = dirPrefix
    }
}

/// A real CNCF distribution registry (Debian's `docker-registry`) on 127.0.0.1, storing in a temp dir.
/// The process is tied to the test process (`ChildProcess.start`): it dies with it even if `stop()`
/// never runs.
public final class TestRegistry: @unchecked Sendable {
    /// The loopback port it listens on.
    public let port: Int
    /// Its temp dir: config.yml, registry.log, storage/.
    public let dir: TempDir
    /// The `docker-registry serve` process.
    public let process: ChildProcess
    /// `127.0.0.1:PORT`, for references.
    public var authority: String { "127.0.0.1:\(port)" }
    /// The filesystem storage driver's root directory.
    public var storageRoot: String { dir.file("storage") }

    private init(port: Int, dir: TempDir, process: ChildProcess) {
        self.port = port
        self.dir = dir
        self.process = process
    }

    /// Writes a config for `options`, starts the registry and waits until it accepts connections.
    public static func start(_ options: RegistryOptions = RegistryOptions()) async throws -> TestRegistry {
        let dir = try TempDir(options.dirPrefix)
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
        let child: ChildProcess
        do {
            child = try ChildProcess.start(p)
        } catch {
            dir.remove()
            throw error
        }
        do {
            try await TestSupport.waitForPort(port, process: child, log: log)
        } catch {
            // Also on cancellation of the wait: the registry must not be left running.
            child.stop()
            dir.remove()
            throw error
        }
        return TestRegistry(port: port, dir: dir, process: child)
    }

    /// Stops the registry (SIGTERM, then SIGKILL after 5 s) and removes its temp dir.
    public func stop() {
        process.stop()
        dir.remove()
    }

    /// The on-disk data file of a blob (distribution's filesystem layout).
    public func blobDataPath(_ d: Digest) -> String {
        "\(storageRoot)/docker/registry/v2/blobs/\(d.algorithm)/\(d.encoded.prefix(2))/\(d.encoded)/data"
    }
}

/// Runs `body` with a fresh registry, stopping it afterwards.
public func withRegistry<T>(_ options: RegistryOptions = RegistryOptions(), _ body: (TestRegistry) async throws -> T) async throws -> T {
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
