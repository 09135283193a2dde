import Engine
import Foundation
import Logging
import NIOSSL
import OCI

/// Turns the configured hosts into listeners the way dockerd's `loadListeners` does, with its safety
/// rules: plain TCP needs an explicit `--tls=false`, `--tlsverify` needs client certificates signed by
/// the CA, `fd://` takes the sockets systemd passed.
public struct ListenerPlan: Sendable {
    public struct Entry: Sendable {
        public let host: DaemonHost
        public let address: ListenerAddress
        public let tls: NIOSSLContext?
    }

    public let entries: [Entry]
    /// For `/info`'s `Warnings` (dockerd warns about unencrypted or unauthenticated TCP there too).
    public let warnings: [String]

    public static func make(config: DaemonConfig, systemdFDs: [CInt?], logger: Logger) throws -> ListenerPlan {
        let hosts = try config.parsedHosts()
        let tls = try makeTLSContext(config)
        var entries: [Entry] = []
        var warnings: [String] = []
        let gid = try socketGroup(config, logger: logger)
        var usedFDs = Set<CInt>()
        for host in hosts {
            switch host {
            case .unix(let path):
                entries.append(Entry(host: host, address: .unix(path: path, mode: 0o660, group: gid), tls: nil))
            case .tcp(let h, let port):
                if tls == nil {
                    guard config.tls == false else {
                        throw BerthError(.invalidArgument, """
                            refusing to listen on \(host) without TLS: anyone who can reach it gets root access to this \
                            machine. Use --tlsverify with --tlscacert, --tlscert and --tlskey, or pass --tls=false to \
                            listen without TLS anyway
                            """)
                    }
                    logger.warning("Binding to IP address without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network.", metadata: ["host": "\(host)"])
                    warnings.append("""
                        WARNING: API is accessible on http://\(hostPort(h, port)) without encryption.
                                 Access to the remote API is equivalent to root access on the host. Refer
                                 to the 'Docker daemon attack surface' section in the documentation for
                                 more information: https://docs.docker.com/go/attack-surface/
                        """)
                } else if !config.tlsVerifyClients {
                    logger.warning("Binding to an IP address without --tlsverify is insecure: TLS client certificates are not verified", metadata: ["host": "\(host)"])
                    warnings.append("WARNING: API is accessible on https://\(hostPort(h, port)) without TLS client verification.")
                }
                entries.append(Entry(host: host, address: .tcp(host: h, port: port), tls: tls))
            case .fd(let spec):
                let available = systemdFDs.compactMap { $0 }
                guard !systemdFDs.isEmpty else {
                    throw BerthError(.invalidArgument, "no sockets found via socket activation: make sure the service was started by systemd")
                }
                var chosen: [CInt]
                if spec.isEmpty || spec == "*" {
                    chosen = available
                } else {
                    guard let n = CInt(spec) else {
                        throw BerthError(.invalidArgument, "failed to parse systemd fd address: should be a number: \(spec)")
                    }
                    let offset = Int(n - Systemd.listenFDsStart)
                    guard offset >= 0, offset < systemdFDs.count else {
                        throw BerthError(.invalidArgument, "too few socket activated files passed in by systemd")
                    }
                    guard let fd = systemdFDs[offset] else {
                        throw BerthError(.invalidArgument, "failed to listen on systemd activated file: fd \(n)")
                    }
                    chosen = [fd]
                }
                for fd in chosen where usedFDs.insert(fd).inserted {
                    entries.append(Entry(host: host, address: .inherited(fd: fd, name: "fd://\(fd)"), tls: tls))
                }
            }
        }
        return ListenerPlan(entries: entries, warnings: warnings)
    }

    static func hostPort(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// The unix sockets' group: `--group` (name or number). The default `docker` group may be missing
    /// (the socket stays root's); an explicitly named one may not.
    static func socketGroup(_ config: DaemonConfig, logger: Logger) throws -> gid_t? {
        let name = config.group
        if name.isEmpty { return nil }
        if let numeric = gid_t(name) { return numeric }
        if let entry = getgrnam(name) { return entry.pointee.gr_gid }
        if name == DaemonConfig.defaultSocketGroup {
            logger.debug("could not change group of the API socket to \(name): group \(name) not found")
            return nil
        }
        throw BerthError(.invalidArgument, "group \(name) not found")
    }

    /// dockerd's `newAPIServerTLSConfig`: TLS 1.2+, the server key pair, and with verification
    /// client certificates signed by the CA (host names are not checked for clients).
    public static func makeTLSContext(_ config: DaemonConfig) throws -> NIOSSLContext? {
        guard config.tlsEnabled else { return nil }
        func fail(_ what: String) -> BerthError { BerthError(.invalidArgument, "invalid TLS configuration: \(what)") }
        func readable(_ path: String) throws {
            if access(path, R_OK) != 0 { throw fail("open \(path): \(String(cString: strerror(errno)))") }
        }
        try readable(config.tlsCert)
        try readable(config.tlsKey)
        let chain: [NIOSSLCertificate], key: NIOSSLPrivateKey
        do {
            chain = try NIOSSLCertificate.fromPEMFile(config.tlsCert)
            key = try NIOSSLPrivateKey(file: config.tlsKey, format: .pem)
        } catch {
            throw fail("could not load X509 key pair (\(config.tlsCert), \(config.tlsKey)): \(error)")
        }
        guard !chain.isEmpty else { throw fail("could not load X509 key pair: no certificate in \(config.tlsCert)") }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                           privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        if config.tlsVerifyClients {
            try readable(config.tlsCACert)
            let roots: [NIOSSLCertificate]
            do {
                roots = try NIOSSLCertificate.fromPEMFile(config.tlsCACert)
            } catch {
                throw fail("could not read CA certificate \"\(config.tlsCACert)\": \(error)")
            }
            guard !roots.isEmpty else { throw fail("failed to append certificates from PEM file: \"\(config.tlsCACert)\"") }
            tls.trustRoots = .certificates(roots)
            tls.certificateVerification = .noHostnameVerification
        }
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw fail("\(error)")
        }
    }
}
