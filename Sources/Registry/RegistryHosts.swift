import Foundation
import NIOSSL
import OCI
#if canImport(Glibc)
import Glibc
#endif

/// One place a repository can be reached: a registry or a mirror, with scheme not yet decided.
struct EndpointCandidate: Sendable, Hashable {
    /// `host[:port]` as used in URLs and certs.d directory names.
    var authority: String
    /// A fixed scheme (mirrors given as URLs); nil means "HTTPS, maybe falling back to HTTP".
    var scheme: String?
    /// Path prefix of a mirror URL (normally empty).
    var pathPrefix: String
    var isMirror: Bool
}

/// Scheme, TLS and security decisions per host, following Docker's registry service.
struct RegistryHosts: Sendable {
    let configuration: RegistryConfiguration

    /// Docker Hub's API host.
    static let dockerHubAPIHost = "registry-1.docker.io"

    /// The endpoints to try, in order, for a registry domain: Docker Hub mirrors first, then the registry.
    func candidates(forDomain domain: String) -> [EndpointCandidate] {
        guard domain == Reference.dockerHubDomain else {
            return [EndpointCandidate(authority: domain, scheme: nil, pathPrefix: "", isMirror: false)]
        }
        var out: [EndpointCandidate] = []
        for m in configuration.mirrors {
            guard let c = Self.parseMirror(m) else { continue }
            out.append(c)
        }
        out.append(EndpointCandidate(authority: Self.dockerHubAPIHost, scheme: "https", pathPrefix: "", isMirror: false))
        return out
    }

    static func parseMirror(_ s: String) -> EndpointCandidate? {
        var rest = Substring(s.trimmingCharacters(in: .whitespaces))
        var scheme = "https"
        if rest.hasPrefix("http://") { scheme = "http"; rest = rest.dropFirst(7) } else if rest.hasPrefix("https://") { rest = rest.dropFirst(8) }
        var prefix = ""
        if let slash = rest.firstIndex(of: "/") {
            prefix = String(rest[slash...])
            while prefix.hasSuffix("/") { prefix.removeLast() }
            rest = rest[..<slash]
        }
        guard !rest.isEmpty else { return nil }
        return EndpointCandidate(authority: String(rest), scheme: scheme, pathPrefix: prefix, isMirror: true)
    }

    /// Splits `host[:port]` / `[v6]:port` into host and optional port.
    static func splitAuthority(_ authority: String) -> (host: String, port: Int?) {
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            let host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            return (host, after.hasPrefix(":") ? Int(after.dropFirst()) : nil)
        }
        if let colon = authority.lastIndex(of: ":"), authority.firstIndex(of: ":") == colon {
            return (String(authority[..<colon]), Int(authority[authority.index(after: colon)...]))
        }
        return (authority, nil)
    }

    /// Docker's `isSecureIndex`, negated: configured by name, or any address of the host inside an insecure CIDR
    /// (loopback counts when `loopbackIsInsecure`).
    func isInsecure(_ authority: String) -> Bool {
        // Docker Hub is always secure (Docker's official index config).
        if authority == Self.dockerHubAPIHost || authority == Reference.dockerHubDomain { return false }
        let cidrs = configuration.insecureRegistries.compactMap(CIDR.init)
        if configuration.insecureRegistries.contains(where: { CIDR($0) == nil && Self.stripScheme($0) == authority }) { return true }
        let (host, _) = Self.splitAuthority(authority)
        let addresses: [[UInt8]]
        if let ip = IPAddress.parse(host) {
            addresses = [ip]
        } else if host == "localhost" {
            addresses = [[127, 0, 0, 1]]
        } else if !cidrs.isEmpty || configuration.loopbackIsInsecure {
            addresses = IPAddress.resolve(host)
        } else {
            addresses = []
        }
        for a in addresses {
            if configuration.loopbackIsInsecure && IPAddress.isLoopback(a) { return true }
            if cidrs.contains(where: { $0.contains(a) }) { return true }
        }
        return false
    }

    static func stripScheme(_ s: String) -> String {
        var t = Substring(s)
        if t.hasPrefix("http://") { t = t.dropFirst(7) } else if t.hasPrefix("https://") { t = t.dropFirst(8) }
        while t.hasSuffix("/") { t = t.dropLast() }
        return String(t)
    }

    /// TLS settings for a host: system roots plus certs.d CAs, a certs.d client pair, no verification if insecure.
    func tlsConfiguration(for authority: String, insecure: Bool) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if insecure { tls.certificateVerification = .none }
        let fm = FileManager.default
        for base in configuration.certsDirectories {
            let dir = base + "/" + authority
            guard let files = try? fm.contentsOfDirectory(atPath: dir) else { continue }
            for f in files.sorted() {
                let path = dir + "/" + f
                do {
                    if f.hasSuffix(".crt") {
                        let certs = try NIOSSLCertificate.fromPEMFile(path)
                        tls.additionalTrustRoots.append(.certificates(certs))
                    } else if f.hasSuffix(".cert") {
                        let keyName = String(f.dropLast(5)) + ".key"
                        guard files.contains(keyName) else {
                            throw BerthError(.invalidArgument, "missing key \(keyName) for client certificate \(f). CA certificates must use the extension .crt")
                        }
                        if tls.privateKey == nil {
                            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(path).map { .certificate($0) }
                            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: dir + "/" + keyName, format: .pem))
                        }
                    } else if f.hasSuffix(".key") {
                        let certName = String(f.dropLast(4)) + ".cert"
                        guard files.contains(certName) else {
                            throw BerthError(.invalidArgument, "missing client certificate \(certName) for key \(f)")
                        }
                    }
                } catch let e as BerthError {
                    throw e
                } catch {
                    throw BerthError(.invalidArgument, "loading TLS material \(path): \(error)")
                }
            }
        }
        return tls
    }
}

/// IPv4 (4 bytes) or IPv6 (16 bytes) addresses.
enum IPAddress {
    static func parse(_ s: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, s, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, s, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }

    static func isLoopback(_ a: [UInt8]) -> Bool {
        if a.count == 4 { return a[0] == 127 }
        if a.count == 16 {
            if a[0..<15].allSatisfy({ $0 == 0 }) && a[15] == 1 { return true }
            // IPv4-mapped 127.x
            if a[0..<10].allSatisfy({ $0 == 0 }) && a[10] == 0xff && a[11] == 0xff && a[12] == 127 { return true }
        }
        return false
    }

    /// All addresses of a host name (blocking getaddrinfo).
    static func resolve(_ host: String) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &res) == 0, let first = res else { return [] }
        defer { freeaddrinfo(first) }
        var out: [[UInt8]] = []
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let ai = p {
            if let sa = ai.pointee.ai_addr {
                if ai.pointee.ai_family == AF_INET {
                    sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                        var a = sin.pointee.sin_addr
                        out.append(withUnsafeBytes(of: &a) { Array($0) })
                    }
                } else if ai.pointee.ai_family == AF_INET6 {
                    sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin in
                        var a = sin.pointee.sin6_addr
                        out.append(withUnsafeBytes(of: &a) { Array($0) })
                    }
                }
            }
            p = ai.pointee.ai_next
        }
        return out
    }
}

struct CIDR: Sendable {
    var network: [UInt8]
    var prefix: Int

    init?(_ s: String) {
        let parts = s.split(separator: "/")
        guard parts.count == 2, let ip = IPAddress.parse(String(parts[0])), let bits = Int(parts[1]),
              bits >= 0, bits <= ip.count * 8 else { return nil }
        network = ip
        prefix = bits
    }

    func contains(_ a: [UInt8]) -> Bool {
        guard a.count == network.count else { return false }
        var remaining = prefix
        for i in 0..<a.count where remaining > 0 {
            let take = min(8, remaining)
            let mask: UInt8 = take == 8 ? 0xff : ~(UInt8(0xff) >> UInt8(take))
            if a[i] & mask != network[i] & mask { return false }
            remaining -= take
        }
        return true
    }
}
