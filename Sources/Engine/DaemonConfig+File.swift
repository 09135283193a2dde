import APIModels
import Foundation
import OCI

/// `daemon.json` as dockerd reads it: a JSON object whose keys are dockerd's flag names (or, for
/// list-valued flags, their plural "named option": `hosts`, `labels`, `insecure-registries`, …).
/// Nested objects are flattened one level (`{"proxies": {"http-proxy": …}}`) except the few that are
/// maps by nature (`runtimes`, `log-opts`, …). Unknown keys are an error.
public struct DaemonConfigFile: Sendable, Equatable {
    public let path: String
    /// Keys set in the file (flattened like dockerd's `configValuesSet`) and their raw values.
    public let values: [String: JSONValue]

    public init(path: String, values: [String: JSONValue]) {
        self.path = path
        self.values = values
    }

    /// Reads `path`. A missing file is fine unless the path was given explicitly (`required`).
    public static func load(path: String, required: Bool) throws -> DaemonConfigFile? {
        var st = stat()
        if stat(path, &st) != 0 {
            let err = errno
            if err == ENOENT && !required { return nil }
            throw BerthError(.invalidArgument, "open \(path): \(String(cString: strerror(err)))")
        }
        return try parse(try readFile(path), path: path)
    }

    private static func readFile(_ path: String) throws -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BerthError(.invalidArgument, "open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var data = Data()
        var buf = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = read(fd, &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw BerthError(.invalidArgument, "read \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { return data }
            data.append(contentsOf: buf[0..<n])
            if data.count > 4 << 20 { throw BerthError(.invalidArgument, "\(path): configuration file is too large") }
        }
    }

    /// Parses file contents; checks that every key is one dockerd knows.
    public static func parse(_ data: Data, path: String = DaemonConfig.defaultConfigFile) throws -> DaemonConfigFile {
        var bytes = data
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty { return DaemonConfigFile(path: path, values: [:]) }
        let root: JSONValue
        do {
            root = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        } catch {
            throw BerthError(.invalidArgument, "invalid JSON in configuration file: \(jsonErrorDescription(error))")
        }
        guard case .object(let object) = root else {
            throw BerthError(.invalidArgument, "json: cannot unmarshal \(goType(of: root)) into Go value of type config.Config")
        }
        var flat: [String: JSONValue] = [:]
        for (key, value) in object {
            if case .object(let nested) = value, !flatOptions.contains(key) {
                for (k, v) in nested { flat[k] = v }
            } else {
                flat[key] = value
            }
        }
        let unknown = flat.keys.filter { !knownKeys.contains($0) && !skipValidateKeys.contains($0) }.sorted()
        if !unknown.isEmpty {
            throw BerthError(.invalidArgument,
                             "the following directives don't match any configuration option: \(unknown.joined(separator: ", "))")
        }
        return DaemonConfigFile(path: path, values: flat)
    }

    /// Copies the file's values into `config` (type-checked like Go's `json.Unmarshal`).
    public func apply(to config: inout DaemonConfig) throws {
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            switch key {
            case "hosts": config.hosts = try strings(key, value)
            case "data-root": config.dataRoot = try string(key, value)
            case "exec-root": config.execRoot = try string(key, value)
            case "pidfile": config.pidfile = try string(key, value)
            case "debug": config.debug = try bool(key, value)
            case "log-level": config.logLevel = try string(key, value)
            case "insecure-registries": config.insecureRegistries = try strings(key, value)
            case "registry-mirrors": config.registryMirrors = try strings(key, value)
            case "tls": config.tls = try bool(key, value)
            case "tlsverify": config.tlsVerify = try bool(key, value)
            case "tlscacert": config.tlsCACert = try string(key, value)
            case "tlscert": config.tlsCert = try string(key, value)
            case "tlskey": config.tlsKey = try string(key, value)
            case "default-runtime": config.defaultRuntime = try string(key, value)
            case "live-restore": config.liveRestore = try bool(key, value)
            case "labels": config.labels = try strings(key, value)
            case "group": config.group = try string(key, value)
            case "max-concurrent-downloads": config.maxConcurrentDownloads = try int(key, value)
            case "max-download-attempts": config.maxDownloadAttempts = try int(key, value)
            case "runtimes":
                guard case .object(let entries) = value else { throw typeError(key, value, "map[string]system.Runtime") }
                for (name, entry) in entries {
                    guard case .object(let fields) = entry else { throw typeError(key, entry, "system.Runtime") }
                    guard case .string(let path)? = fields["path"] else {
                        throw BerthError(.invalidArgument, "runtime \(name): path is required")
                    }
                    var args: [String]?
                    if let a = fields["runtimeArgs"] { args = try strings("runtimeArgs", a) }
                    config.runtimes[name] = RuntimeConfig(path: path, runtimeArgs: args)
                }
            default:
                config.ignoredKeys.append(key)
            }
        }
    }

    // MARK: - dockerd's key set

    /// Keys whose values are maps by nature and are not flattened.
    static let flatOptions: Set<String> = [
        "cluster-store-opts", "default-network-opts", "log-opts", "runtimes", "default-ulimits", "features", "builder",
    ]
    /// Keys accepted without validation (dockerd's `skipValidateOptions`).
    static let skipValidateKeys: Set<String> = [
        "features", "builder", "deprecated-key-path", "allow-nondistributable-artifacts",
    ]
    /// Every key dockerd (Linux, v28) accepts: its flag names and the "named options" of list flags.
    public static let knownKeys: Set<String> = [
        // flags berth acts on
        "debug", "log-level", "tls", "tlsverify", "tlscacert", "tlscert", "tlskey", "data-root", "exec-root",
        "pidfile", "group", "default-runtime", "live-restore", "config-file", "validate",
        "max-concurrent-downloads", "max-download-attempts",
        // named options (list flags) berth acts on
        "hosts", "labels", "insecure-registries", "registry-mirrors", "runtimes",
        // the rest of dockerd's flags
        "log-format", "raw-logs", "containerd", "containerd-namespace", "containerd-plugins-namespace",
        "storage-driver", "log-driver", "mtu", "max-concurrent-uploads", "shutdown-timeout", "network-diagnostic-port", "swarm-default-advertise-addr",
        "swarm-raft-heartbeat-tick", "swarm-raft-election-tick", "metrics-addr", "network-control-plane-mtu",
        "experimental", "http-proxy", "https-proxy", "no-proxy", "cgroup-parent", "default-shm-size",
        "default-ipc-mode", "default-cgroupns-mode", "init", "init-path", "oom-score-adjust", "no-new-privileges",
        "rootless", "seccomp-profile", "userland-proxy", "userland-proxy-path", "userns-remap", "selinux-enabled",
        "icc", "ip", "ip-forward", "ip-forward-no-drop", "ip-masq", "iptables", "ip6tables", "ipv6", "bridge", "bip",
        "bip6", "fixed-cidr", "fixed-cidr-v6", "default-gateway", "default-gateway-v6", "allow-direct-routing",
        "firewall-backend", "cpu-rt-period", "cpu-rt-runtime", "cri-containerd", "host-gateway-ip",
        "default-address-pools", "storage-opts", "authorization-plugins", "exec-opts", "log-opts",
        "node-generic-resources", "default-network-opts", "dns", "dns-opts", "dns-search", "host-gateway-ips",
        "cdi-spec-dirs", "default-ulimits", "features", "builder", "proxies", "api-cors-header",
    ]

    // MARK: - Go-style type errors

    private func string(_ key: String, _ v: JSONValue) throws -> String {
        guard case .string(let s) = v else { throw typeError(key, v, "string") }
        return s
    }

    private func bool(_ key: String, _ v: JSONValue) throws -> Bool {
        guard case .bool(let b) = v else { throw typeError(key, v, "bool") }
        return b
    }

    private func int(_ key: String, _ v: JSONValue) throws -> Int {
        guard case .number(let n) = v, n == n.rounded(), abs(n) < 1e15 else { throw typeError(key, v, "int") }
        return Int(n)
    }

    private func strings(_ key: String, _ v: JSONValue) throws -> [String] {
        guard case .array(let items) = v else { throw typeError(key, v, "[]string") }
        return try items.map {
            guard case .string(let s) = $0 else { throw typeError(key, $0, "string") }
            return s
        }
    }

    private func typeError(_ key: String, _ v: JSONValue, _ goType: String) -> BerthError {
        BerthError(.invalidArgument,
                   "json: cannot unmarshal \(DaemonConfigFile.goType(of: v)) into Go struct field Config.\(key) of type \(goType)")
    }

    static func goType(of v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool: return "bool"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// Go's `%v` rendering of a JSON value, for dockerd's conflict message.
    public static func goDescription(_ v: JSONValue) -> String {
        switch v {
        case .null: return "<nil>"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n.rounded() == n && abs(n) < 1e15 ? String(Int64(n)) : String(n)
        case .string(let s): return s
        case .array(let a): return "[" + a.map(goDescription).joined(separator: " ") + "]"
        case .object(let o): return "map[" + o.sorted { $0.key < $1.key }.map { "\($0.key):\(goDescription($0.value))" }.joined(separator: " ") + "]"
        }
    }

    private static func jsonErrorDescription(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let ctx) = error {
            if let underlying = ctx.underlyingError as NSError?, let detail = underlying.userInfo[NSDebugDescriptionErrorKey] as? String {
                return detail
            }
            return ctx.debugDescription
        }
        return "\(error)"
    }
}
