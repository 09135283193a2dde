import APIModels
import Foundation
import OCI

/// berthd's settings: defaults, then `daemon.json`, then command-line flags (dockerd's rules:
/// a setting given both in the file and as a flag is an error, not an override).
///
/// Key names are Docker's (`data-root`, `hosts`, `insecure-registries`, …). Validation messages
/// follow dockerd's so that scripts written for Docker read the same errors.
public struct DaemonConfig: Sendable, Hashable {
    public static let defaultDataRoot = "/var/lib/berth"
    public static let defaultExecRoot = "/run/berth"
    public static let defaultPidfile = "/run/berth/berthd.pid"
    public static let defaultConfigFile = "/etc/berth/daemon.json"
    public static let defaultUnixSocket = "/run/berth/berth.sock"
    public static let defaultSocketGroup = "docker"
    /// The built-in runtime's name. Docker's stock runtime is `runc`; berth answers to the same name so
    /// `--runtime=runc` and compose files keep working, but it is berth's own OCI runtime.
    public static let stockRuntimeName = "runc"
    public static let stockRuntimePath = "berth-runtime (built-in)"
    /// Docker's default insecure CIDRs (loopback registries are always plain-HTTP capable).
    public static let defaultInsecureCIDRs = ["::1/128", "127.0.0.0/8"]

    /// `-H` / `hosts`: `unix:///path`, `tcp://host:port`, `fd://` or `fd://N`. Empty → the default socket.
    public var hosts: [String] = []
    public var dataRoot: String = DaemonConfig.defaultDataRoot
    public var execRoot: String = DaemonConfig.defaultExecRoot
    public var pidfile: String = DaemonConfig.defaultPidfile
    public var debug = false
    /// `debug`, `info`, `warn`, `error`, `fatal` (also `trace`, `panic`).
    public var logLevel = "info"
    public var insecureRegistries: [String] = []
    public var registryMirrors: [String] = []
    /// `nil`: not given (dockerd tells "not given" from "false" for the plain-TCP safety check).
    public var tls: Bool?
    public var tlsVerify: Bool?
    public var tlsCACert: String = ""
    public var tlsCert: String = ""
    public var tlsKey: String = ""
    public var defaultRuntime: String = DaemonConfig.stockRuntimeName
    /// Extra runtimes (`--add-runtime name=path`, `runtimes` in daemon.json).
    public var runtimes: [String: RuntimeConfig] = [:]
    public var liveRestore = false
    /// Layers downloaded at once across all pulls (`max-concurrent-downloads`, default 3 as dockerd).
    public var maxConcurrentDownloads = 3
    /// Attempts per layer download before a pull fails (`max-download-attempts`, default 5 as dockerd).
    public var maxDownloadAttempts = 5
    public var labels: [String] = []
    /// Group owning unix sockets. The default (`docker`) may be missing; an explicit one may not.
    public var group: String = DaemonConfig.defaultSocketGroup
    /// Keys of daemon.json that dockerd knows and berth accepts without acting on them.
    public var ignoredKeys: [String] = []

    public init() {}

    /// TLS is on: `--tls`, or `tlsverify` given at all (dockerd turns TLS on for `--tlsverify=false` too).
    public var tlsEnabled: Bool { tls == true || tlsVerify != nil }
    /// Client certificates are required: once TLS is on, dockerd verifies clients unless
    /// `tlsverify` is turned off explicitly (`--tlsverify=false`).
    public var tlsVerifyClients: Bool { tlsEnabled && (tlsVerify ?? true) }

    /// Every runtime known to the daemon, the built-in one included.
    public var allRuntimes: [String: RuntimeConfig] {
        var all = runtimes
        all[DaemonConfig.stockRuntimeName] = RuntimeConfig(path: DaemonConfig.stockRuntimePath)
        return all
    }

    /// The hosts to listen on, parsed; the default socket (or `tcp://localhost:2376` with TLS) when none.
    public func parsedHosts() throws -> [DaemonHost] {
        let list = hosts.isEmpty ? [""] : hosts
        return try list.map { try DaemonHost.parse($0, tls: tlsEnabled) }
    }

    /// Checks values the way dockerd's `config.Validate` does; fills nothing in.
    public func validate() throws {
        switch logLevel.lowercased() {
        case "panic", "fatal", "error", "warn", "info", "debug", "trace": break
        default: throw BerthError(.invalidArgument, "invalid logging level: \(logLevel)")
        }
        // dockerd accepts 0 here (it means "the default"); only negatives are refused.
        if maxConcurrentDownloads < 0 {
            throw BerthError(.invalidArgument, "invalid max concurrent downloads: \(maxConcurrentDownloads)")
        }
        if maxDownloadAttempts < 0 {
            throw BerthError(.invalidArgument, "invalid max download attempts: \(maxDownloadAttempts)")
        }
        for label in labels { try DaemonConfig.validateLabel(label) }
        _ = try DaemonConfig.conflictFreeLabels(labels)
        for host in hosts { _ = try DaemonHost.parse(host, tls: tlsEnabled) }
        for mirror in registryMirrors { _ = try DaemonConfig.validateMirror(mirror) }
        for registry in insecureRegistries { try DaemonConfig.validateInsecureRegistry(registry) }
        for (name, runtime) in runtimes {
            if name == DaemonConfig.stockRuntimeName || name == "io.containerd.runc.v2" {
                throw BerthError(.invalidArgument, "runtime name '\(name)' is reserved")
            }
            if name.isEmpty || runtime.path.isEmpty {
                throw BerthError(.invalidArgument, "invalid runtime \(name): path is required")
            }
        }
        if allRuntimes[defaultRuntime] == nil {
            throw BerthError(.invalidArgument, "specified default runtime '\(defaultRuntime)' does not exist")
        }
        for path in [dataRoot, execRoot] where !path.hasPrefix("/") {
            throw BerthError(.invalidArgument, "\(path) is not an absolute path")
        }
    }

    // MARK: - Docker's value validators

    /// `opts.ValidateLabel`: `key=value` with a non-empty key.
    public static func validateLabel(_ label: String) throws {
        guard let eq = label.firstIndex(of: "="), eq != label.startIndex else {
            throw BerthError(.invalidArgument, "invalid label '\(label)': label must be in the form key=value")
        }
        if label[..<eq].contains(where: { $0.isWhitespace }) {
            throw BerthError(.invalidArgument, "invalid label '\(label)': label name must not contain whitespace")
        }
    }

    /// Same key twice with different values is an error; exact duplicates collapse.
    public static func conflictFreeLabels(_ labels: [String]) throws -> [String] {
        var seen: [String: String] = [:]
        var out: [String] = []
        for label in labels {
            guard let eq = label.firstIndex(of: "=") else { continue }
            let key = String(label[..<eq]), value = String(label[label.index(after: eq)...])
            if let existing = seen[key] {
                if existing != value {
                    throw BerthError(.invalidArgument, "conflict labels for \(key)=\(value) and \(key)=\(existing)")
                }
                continue
            }
            seen[key] = value
            out.append(label)
        }
        return out
    }

    /// `registry.ValidateMirror`: an http(s) URL without query, fragment or credentials; returns it
    /// with a trailing slash, as `docker info` shows it.
    public static func validateMirror(_ value: String) throws -> String {
        guard let url = URLComponents(string: value), let scheme = url.scheme else {
            throw BerthError(.invalidArgument, "invalid mirror: \"\(value)\" is not a valid URI")
        }
        guard scheme == "http" || scheme == "https" else {
            throw BerthError(.invalidArgument, "invalid mirror: unsupported scheme \"\(scheme)\" in \"\(value)\"")
        }
        guard (url.host ?? "").isEmpty == false else {
            throw BerthError(.invalidArgument, "invalid mirror: \"\(value)\" is not a valid URI")
        }
        if url.query != nil || url.fragment != nil {
            throw BerthError(.invalidArgument, "invalid mirror: query or fragment at end of the URI \"\(value)\"")
        }
        if url.user != nil || url.password != nil {
            throw BerthError(.invalidArgument, "invalid mirror: username/password not allowed in URI \"\(value)\"")
        }
        return value.hasSuffix("/") ? value : value + "/"
    }

    /// `insecure-registries` entries are `host[:port]` or a CIDR, never a URL.
    public static func validateInsecureRegistry(_ value: String) throws {
        if value.contains("://") {
            throw BerthError(.invalidArgument, "insecure registry \(value) should not contain '://'")
        }
        if value.isEmpty || value.contains(where: { $0.isWhitespace }) {
            throw BerthError(.invalidArgument, "insecure registry \"\(value)\" is not valid")
        }
    }

    /// `--add-runtime name=path`.
    public static func parseRuntimeFlag(_ value: String) throws -> (String, RuntimeConfig) {
        guard let eq = value.firstIndex(of: "="), eq != value.startIndex,
              value.index(after: eq) != value.endIndex else {
            throw BerthError(.invalidArgument, "invalid runtime argument: \(value)")
        }
        return (String(value[..<eq]), RuntimeConfig(path: String(value[value.index(after: eq)...])))
    }

    /// The insecure registries split the way `docker info` shows them: CIDRs and host names.
    public var insecureRegistryCIDRs: [String] {
        var cidrs = DaemonConfig.defaultInsecureCIDRs
        for r in insecureRegistries where DaemonConfig.isCIDR(r) && !cidrs.contains(r) { cidrs.append(r) }
        return cidrs
    }

    public var insecureRegistryHosts: [String] {
        insecureRegistries.filter { !DaemonConfig.isCIDR($0) }
    }

    static func isCIDR(_ s: String) -> Bool {
        guard let slash = s.firstIndex(of: "/"), let bits = Int(s[s.index(after: slash)...]) else { return false }
        let addr = String(s[..<slash])
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, addr, &v4) == 1 { return (0...32).contains(bits) }
        if inet_pton(AF_INET6, addr, &v6) == 1 { return (0...128).contains(bits) }
        return false
    }
}

/// One entry of `runtimes` (`{"path": "...", "runtimeArgs": [...]}`).
public struct RuntimeConfig: Sendable, Hashable, Codable {
    public var path: String
    public var runtimeArgs: [String]?
    public init(path: String, runtimeArgs: [String]? = nil) {
        self.path = path
        self.runtimeArgs = runtimeArgs
    }
}

/// A parsed `-H` address, as dockerd's `opts.ParseHost` normalizes it.
public enum DaemonHost: Sendable, Hashable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int)
    /// `fd://` (every socket systemd passed) or `fd://N` (the socket at descriptor N).
    case fd(String)

    public static let defaultTCPPort = 2375
    public static let defaultTLSPort = 2376

    public var description: String {
        switch self {
        case .unix(let path): return "unix://\(path)"
        case .tcp(let host, let port): return host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
        case .fd(let spec): return "fd://\(spec)"
        }
    }

    /// Parses `unix:///p`, `tcp://h:p`, `fd://`, or a bare `host:port` (tcp). Empty → the default socket
    /// (`tcp://localhost:2376` when TLS is on, like dockerd).
    public static func parse(_ raw: String, tls: Bool = false) throws -> DaemonHost {
        let value = raw.trimmingCharacters(in: .whitespaces)
        if value.isEmpty {
            return tls ? .tcp(host: "localhost", port: defaultTLSPort) : .unix(path: DaemonConfig.defaultUnixSocket)
        }
        var proto = "tcp", addr = value
        if let r = value.range(of: "://") {
            proto = String(value[..<r.lowerBound])
            addr = String(value[r.upperBound...])
        }
        switch proto {
        case "unix":
            return .unix(path: addr.isEmpty ? DaemonConfig.defaultUnixSocket : addr)
        case "fd":
            return .fd(addr)
        case "tcp":
            return try parseTCP(addr, original: value)
        default:
            throw BerthError(.invalidArgument, "Invalid bind address format: \(value)")
        }
    }

    private static func parseTCP(_ addr: String, original: String) throws -> DaemonHost {
        var hostPort = addr
        if let slash = addr.firstIndex(of: "/") {
            if addr[slash...] != "/" {
                throw BerthError(.invalidArgument, "invalid bind address (\(original)): should not contain a path element")
            }
            hostPort = String(addr[..<slash])
        }
        var host = hostPort, portString = ""
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw BerthError(.invalidArgument, "invalid bind address (\(original)): missing ']' in address")
            }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let rest = hostPort[hostPort.index(after: close)...]
            if rest.hasPrefix(":") { portString = String(rest.dropFirst()) }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[..<colon])
            portString = String(hostPort[hostPort.index(after: colon)...])
        }
        if host.isEmpty { host = "localhost" }
        var port = defaultTCPPort
        if !portString.isEmpty {
            guard let p = Int(portString), (0...65535).contains(p) else {
                throw BerthError(.invalidArgument, "invalid bind address (\(original)): invalid port \"\(portString)\"")
            }
            port = p
        }
        return .tcp(host: host, port: port)
    }
}
