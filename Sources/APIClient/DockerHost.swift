import OCI

/// Where the daemon listens, parsed the way the docker CLI parses `-H` / `DOCKER_HOST`
/// (`opts.ParseHost`): `unix:///path`, `tcp://host:port`, or a bare `host:port` (tcp).
///
/// berth's default is its own socket, `unix:///run/berth/berth.sock` (not Docker's
/// `/var/run/docker.sock`); with TLS the default is `tcp://localhost:2376` as in Docker.
public struct DockerHost: Sendable, Equatable, CustomStringConvertible {
    public enum Address: Sendable, Equatable {
        case unix(path: String)
        case tcp(host: String, port: Int)
    }

    public var address: Address

    public static let defaultUnixSocket = "/run/berth/berth.sock"
    public static let defaultUnixHost = "unix://" + defaultUnixSocket
    public static let defaultTLSHost = "tcp://localhost:2376"
    static let defaultTCPPort = 2375

    public init(address: Address) { self.address = address }

    /// The normalized URL shown in messages, e.g. `unix:///run/berth/berth.sock` or `tcp://127.0.0.1:2375`.
    public var description: String {
        switch address {
        case .unix(let p): return "unix://" + p
        case .tcp(let h, let p): return "tcp://" + (h.contains(":") ? "[\(h)]" : h) + ":\(p)"
        }
    }

    /// Parses a `-H` / `DOCKER_HOST` value; empty means the default (TLS default when `tls`).
    public static func parse(_ value: String, tls: Bool = false) throws -> DockerHost {
        var host = value.trimmingASCIIWhitespace()
        if host.isEmpty { host = tls ? defaultTLSHost : defaultUnixHost }
        var proto: String
        var addr: String
        if let r = host.range(of: "://") {
            proto = String(host[..<r.lowerBound])
            addr = String(host[r.upperBound...])
        } else {
            proto = "tcp"
            addr = host
        }
        switch proto {
        case "unix":
            if addr.isEmpty { addr = defaultUnixSocket }
            return DockerHost(address: .unix(path: addr))
        case "tcp":
            return try parseTCP(addr, original: host)
        case "ssh", "fd", "npipe":
            throw BerthError(.unsupported, "unable to resolve docker endpoint: \(proto):// hosts are not supported by berth")
        default:
            throw BerthError(.invalidArgument, "unable to resolve docker endpoint: invalid bind address format: \(host)")
        }
    }

    /// Docker's `ParseTCPAddr` with default `tcp://localhost:2375`.
    static func parseTCP(_ addr: String, original: String) throws -> DockerHost {
        var a = addr
        // Strip a path (tcp://host:port/path is accepted; the path is ignored here).
        if let slash = a.firstIndex(of: "/") { a = String(a[..<slash]) }
        if a.isEmpty { return DockerHost(address: .tcp(host: "localhost", port: defaultTCPPort)) }
        var host: String
        var portString: String?
        if a.hasPrefix("[") {
            guard let close = a.firstIndex(of: "]") else {
                throw BerthError(.invalidArgument, "unable to resolve docker endpoint: invalid bind address format: \(original)")
            }
            host = String(a[a.index(after: a.startIndex)..<close])
            let rest = a[a.index(after: close)...]
            if rest.hasPrefix(":") { portString = String(rest.dropFirst()) } else if !rest.isEmpty {
                throw BerthError(.invalidArgument, "unable to resolve docker endpoint: invalid bind address format: \(original)")
            }
        } else if let colon = a.lastIndex(of: ":") {
            host = String(a[..<colon])
            portString = String(a[a.index(after: colon)...])
        } else {
            host = a
        }
        if host.isEmpty { host = "localhost" }
        var port = defaultTCPPort
        if let ps = portString, !ps.isEmpty {
            guard let p = Int(ps), p > 0, p < 65536 else {
                throw BerthError(.invalidArgument, "unable to resolve docker endpoint: invalid bind address format: \(original)")
            }
            port = p
        }
        return DockerHost(address: .tcp(host: host, port: port))
    }

    /// The `Host` header value the docker client sends (`api.moby.localhost` for sockets).
    var hostHeader: String {
        switch address {
        case .unix: return "api.moby.localhost"
        case .tcp(let h, let p): return (h.contains(":") ? "[\(h)]" : h) + ":\(p)"
        }
    }
}

extension String {
    func trimmingASCIIWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s.removeLast() }
        return String(s)
    }
}
