import Foundation
import NIOSSL
import OCI

/// TLS settings for `tcp://` hosts, as the docker CLI's `--tls`, `--tlsverify`, `--tlscacert`,
/// `--tlscert`, `--tlskey` flags and `DOCKER_TLS_VERIFY` / `DOCKER_CERT_PATH` define them.
public struct TLSOptions: Sendable, Equatable {
    /// Verify the daemon's certificate against `caFile` (`--tlsverify`).
    public var verify: Bool
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?

    public init(verify: Bool, caFile: String?, certFile: String?, keyFile: String?) {
        self.verify = verify
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
    }

    /// Docker's defaults: files in `certPath`; a default cert/key that does not exist is dropped,
    /// the CA file must exist.
    public static func resolve(verify: Bool, certPath: String, caFile: String?, certFile: String?, keyFile: String?) -> TLSOptions {
        func defaulted(_ explicit: String?, _ name: String, dropIfMissing: Bool) -> String? {
            if let explicit { return explicit }
            let p = certPath + "/" + name
            if dropIfMissing && !FileManager.default.fileExists(atPath: p) { return nil }
            return p
        }
        return TLSOptions(verify: verify,
                          caFile: defaulted(caFile, "ca.pem", dropIfMissing: false),
                          certFile: defaulted(certFile, "cert.pem", dropIfMissing: true),
                          keyFile: defaulted(keyFile, "key.pem", dropIfMissing: true))
    }

    /// Builds the NIOSSL context; errors read like Go's (`open /root/.docker/ca.pem: no such file or directory`).
    func makeContext() throws -> NIOSSLContext {
        var config = TLSConfiguration.makeClientConfiguration()
        config.minimumTLSVersion = .tlsv12
        if let caFile {
            try checkReadable(caFile)
            do {
                config.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw BerthError(.invalidArgument, "unable to resolve docker endpoint: failed to append certificates from PEM file: \"\(caFile)\"")
            }
        }
        if !verify { config.certificateVerification = .none }
        if let certFile, let keyFile {
            try checkReadable(certFile)
            try checkReadable(keyFile)
            do {
                config.certificateChain = try NIOSSLCertificate.fromPEMFile(certFile).map { .certificate($0) }
                config.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw BerthError(.invalidArgument, "unable to resolve docker endpoint: could not load X509 key pair: \(error)")
            }
        }
        do {
            return try NIOSSLContext(configuration: config)
        } catch {
            throw BerthError(.invalidArgument, "unable to resolve docker endpoint: \(error)")
        }
    }

    func checkReadable(_ path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            throw BerthError(.invalidArgument, "unable to resolve docker endpoint: open \(path): no such file or directory")
        }
        if !FileManager.default.isReadableFile(atPath: path) {
            throw BerthError(.invalidArgument, "unable to resolve docker endpoint: open \(path): permission denied")
        }
    }
}
