import APIModels
import Engine
import Foundation
import OCI

/// berthd's command line, parsed with pflag's rules as dockerd's is: `--flag value`, `--flag=value`,
/// `-H value`, `-Hvalue`, `-D` (bool), `--tls=false`; repeatable list flags; unknown flags are errors.
public struct DaemonFlags: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case bool, string, int, list }

    /// One flag: its names, kind, its key in daemon.json and how it sets the configuration.
    public struct Spec: Sendable {
        public let name: String
        public let short: Character?
        public let kind: Kind
        /// The daemon.json key it conflicts with (the "named option" for list flags), nil if none.
        public let configKey: String?
        public let usage: String
        let apply: @Sendable (inout DaemonConfig, [String]) throws -> Void
    }

    /// Raw values of the flags given on the command line, in order, by long name.
    public private(set) var values: [String: [String]] = [:]

    public init() {}

    public func isSet(_ name: String) -> Bool { values[name] != nil }
    public func string(_ name: String) -> String? { values[name]?.last }
    public func bool(_ name: String) -> Bool { values[name]?.last == "true" }

    public var configFile: String { string("config-file") ?? DaemonConfig.defaultConfigFile }
    public var validateOnly: Bool { bool("validate") }
    public var showVersion: Bool { bool("version") }
    public var showHelp: Bool { bool("help") }

    // MARK: - the flag table

    public static let specs: [Spec] = [
        Spec(name: "debug", short: "D", kind: .bool, configKey: "debug", usage: "Enable debug mode") { c, v in c.debug = v.last == "true" },
        Spec(name: "log-level", short: "l", kind: .string, configKey: "log-level",
             usage: #"Set the logging level ("debug"|"info"|"warn"|"error"|"fatal") (default "info")"#) { c, v in c.logLevel = v.last! },
        Spec(name: "host", short: "H", kind: .list, configKey: "hosts", usage: "Daemon socket(s) to connect to") { c, v in c.hosts = v },
        Spec(name: "data-root", short: nil, kind: .string, configKey: "data-root",
             usage: "Root directory of persistent berth state (default \"\(DaemonConfig.defaultDataRoot)\")") { c, v in c.dataRoot = v.last! },
        Spec(name: "exec-root", short: nil, kind: .string, configKey: "exec-root",
             usage: "Root directory for execution state files (default \"\(DaemonConfig.defaultExecRoot)\")") { c, v in c.execRoot = v.last! },
        Spec(name: "pidfile", short: "p", kind: .string, configKey: "pidfile",
             usage: "Path to use for daemon PID file (default \"\(DaemonConfig.defaultPidfile)\")") { c, v in c.pidfile = v.last! },
        Spec(name: "config-file", short: nil, kind: .string, configKey: "config-file",
             usage: "Daemon configuration file (default \"\(DaemonConfig.defaultConfigFile)\")") { _, _ in },
        Spec(name: "insecure-registry", short: nil, kind: .list, configKey: "insecure-registries",
             usage: "Enable insecure registry communication") { c, v in c.insecureRegistries = v },
        Spec(name: "registry-mirror", short: nil, kind: .list, configKey: "registry-mirrors",
             usage: "Preferred registry mirror") { c, v in c.registryMirrors = v },
        Spec(name: "max-concurrent-downloads", short: nil, kind: .int, configKey: "max-concurrent-downloads",
             usage: "Set the max concurrent downloads (default 3)") { c, v in c.maxConcurrentDownloads = Int(v.last!) ?? 3 },
        Spec(name: "max-download-attempts", short: nil, kind: .int, configKey: "max-download-attempts",
             usage: "Set the max download attempts for each pull (default 5)") { c, v in c.maxDownloadAttempts = Int(v.last!) ?? 5 },
        Spec(name: "tls", short: nil, kind: .bool, configKey: "tls", usage: "Use TLS; implied by --tlsverify") { c, v in c.tls = v.last == "true" },
        Spec(name: "tlsverify", short: nil, kind: .bool, configKey: "tlsverify", usage: "Use TLS and verify the remote") { c, v in c.tlsVerify = v.last == "true" },
        Spec(name: "tlscacert", short: nil, kind: .string, configKey: "tlscacert", usage: "Trust certs signed only by this CA") { c, v in c.tlsCACert = v.last! },
        Spec(name: "tlscert", short: nil, kind: .string, configKey: "tlscert", usage: "Path to TLS certificate file") { c, v in c.tlsCert = v.last! },
        Spec(name: "tlskey", short: nil, kind: .string, configKey: "tlskey", usage: "Path to TLS key file") { c, v in c.tlsKey = v.last! },
        Spec(name: "add-runtime", short: nil, kind: .list, configKey: "runtimes", usage: "Register an additional OCI compatible runtime") { c, v in
            for item in v {
                let (name, runtime) = try DaemonConfig.parseRuntimeFlag(item)
                c.runtimes[name] = runtime
            }
        },
        Spec(name: "default-runtime", short: nil, kind: .string, configKey: "default-runtime",
             usage: "Default OCI runtime for containers (default \"\(DaemonConfig.stockRuntimeName)\")") { c, v in c.defaultRuntime = v.last! },
        Spec(name: "live-restore", short: nil, kind: .bool, configKey: "live-restore",
             usage: "Enable live restore of containers when the daemon stops") { c, v in c.liveRestore = v.last == "true" },
        Spec(name: "group", short: "G", kind: .string, configKey: "group",
             usage: "Group for the unix socket (default \"docker\")") { c, v in c.group = v.last! },
        Spec(name: "label", short: nil, kind: .list, configKey: "labels", usage: "Set key=value labels to the daemon") { c, v in c.labels = v },
        Spec(name: "validate", short: nil, kind: .bool, configKey: "validate", usage: "Validate daemon configuration and exit") { _, _ in },
        Spec(name: "version", short: "v", kind: .bool, configKey: nil, usage: "Print version information and quit") { _, _ in },
        Spec(name: "help", short: "h", kind: .bool, configKey: nil, usage: "Print usage") { _, _ in },
    ]

    static func spec(named name: String) -> Spec? { specs.first { $0.name == name } }
    static func spec(short: Character) -> Spec? { specs.first { $0.short == short } }

    // MARK: - parsing

    /// Parses `arguments` (without the program name). Errors read like pflag's.
    public static func parse(_ arguments: [String]) throws -> DaemonFlags {
        var flags = DaemonFlags()
        var i = 0
        func next(for display: String) throws -> String {
            i += 1
            guard i < arguments.count else { throw BerthError(.invalidArgument, "flag needs an argument: \(display)") }
            return arguments[i]
        }
        while i < arguments.count {
            let arg = arguments[i]
            if arg == "--" {
                if i + 1 < arguments.count { throw BerthError(.invalidArgument, "\"berthd\" accepts no arguments.") }
                break
            }
            if arg.hasPrefix("--") {
                let body = arg.dropFirst(2)
                let name: String, inline: String?
                if let eq = body.firstIndex(of: "=") {
                    name = String(body[..<eq])
                    inline = String(body[body.index(after: eq)...])
                } else {
                    name = String(body)
                    inline = nil
                }
                guard let spec = spec(named: name) else { throw BerthError(.invalidArgument, "unknown flag: --\(name)") }
                if spec.kind == .bool {
                    try flags.set(spec, inline ?? "true", display: "--\(name)")
                } else {
                    try flags.set(spec, try inline ?? next(for: "--\(name)"), display: "--\(name)")
                }
            } else if arg.hasPrefix("-") && arg.count > 1 {
                var chars = Substring(arg.dropFirst())
                while let c = chars.first {
                    chars = chars.dropFirst()
                    guard let spec = spec(short: c) else {
                        throw BerthError(.invalidArgument, "unknown shorthand flag: '\(c)' in \(arg)")
                    }
                    if spec.kind == .bool {
                        if chars.hasPrefix("=") {
                            try flags.set(spec, String(chars.dropFirst()), display: "-\(c)")
                            break
                        }
                        try flags.set(spec, "true", display: "-\(c)")
                        continue
                    }
                    let value = chars.isEmpty ? try next(for: "'\(c)' in \(arg)")
                        : String(chars.hasPrefix("=") ? chars.dropFirst() : chars)
                    try flags.set(spec, value, display: "-\(c)")
                    break
                }
            } else {
                throw BerthError(.invalidArgument, "\"berthd\" accepts no arguments.")
            }
            i += 1
        }
        return flags
    }

    private mutating func set(_ spec: Spec, _ value: String, display: String) throws {
        switch spec.kind {
        case .bool:
            guard let b = Self.parseBool(value) else {
                throw BerthError(.invalidArgument,
                                 "invalid argument \"\(value)\" for \"\(display)\" flag: strconv.ParseBool: parsing \"\(value)\": invalid syntax")
            }
            values[spec.name] = [b ? "true" : "false"]
        case .string:
            values[spec.name] = [value]
        case .int:
            guard Int(value) != nil else {
                throw BerthError(.invalidArgument,
                                 "invalid argument \"\(value)\" for \"\(display)\" flag: strconv.ParseInt: parsing \"\(value)\": invalid syntax")
            }
            values[spec.name] = [value]
        case .list:
            values[spec.name, default: []].append(value)
        }
    }

    /// Go's `strconv.ParseBool`.
    static func parseBool(_ s: String) -> Bool? {
        switch s {
        case "1", "t", "T", "TRUE", "true", "True": return true
        case "0", "f", "F", "FALSE", "false", "False": return false
        default: return nil
        }
    }

    /// pflag's `Value.String()` of a set flag, for dockerd's conflict message.
    func display(_ spec: Spec) -> String {
        let v = values[spec.name] ?? []
        return spec.kind == .list ? "[" + v.joined(separator: " ") + "]" : (v.last ?? "")
    }

    // MARK: - merging with daemon.json

    /// Defaults, then the config file (a missing default file is fine, a missing explicit one is not),
    /// then these flags; a key set in both places is dockerd's conflict error. Validated.
    public func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DaemonConfig {
        var config = DaemonConfig()
        let path = configFile
        do {
            if let file = try DaemonConfigFile.load(path: path, required: isSet("config-file")) {
                try checkConflicts(with: file)
                try file.apply(to: &config)
            }
        } catch let error as BerthError {
            throw BerthError(error.code, "unable to configure the berth daemon with file \(path): \(error.message)")
        }
        for spec in Self.specs {
            guard let v = values[spec.name] else { continue }
            try spec.apply(&config, v)
        }
        // dockerd: tlsverify given at all, in either place, turns TLS on.
        if config.tlsVerify != nil { config.tls = true }
        if config.tlsEnabled {
            let certDir = Self.defaultCertDirectory(environment)
            if config.tlsCACert.isEmpty { config.tlsCACert = certDir + "/ca.pem" }
            if config.tlsCert.isEmpty { config.tlsCert = certDir + "/cert.pem" }
            if config.tlsKey.isEmpty { config.tlsKey = certDir + "/key.pem" }
        }
        config.dataRoot = Self.absolute(config.dataRoot)
        config.execRoot = Self.absolute(config.execRoot)
        config.pidfile = Self.absolute(config.pidfile)
        try config.validate()
        config.labels = try DaemonConfig.conflictFreeLabels(config.labels)
        return config
    }

    /// dockerd's `findConfigurationConflicts` (flags visited in name order, as pflag does).
    func checkConflicts(with file: DaemonConfigFile) throws {
        var conflicts: [String] = []
        for spec in Self.specs.sorted(by: { $0.name < $1.name }) where values[spec.name] != nil {
            guard let key = spec.configKey, key != "runtimes" else { continue }
            var candidates = [key]
            if spec.kind != .list, let short = spec.short { candidates.append(String(short)) }
            for name in candidates {
                if let fileValue = file.values[name] {
                    conflicts.append("\(name): (from flag: \(display(spec)), from file: \(DaemonConfigFile.goDescription(fileValue)))")
                    break
                }
            }
        }
        if !conflicts.isEmpty {
            throw BerthError(.invalidArgument,
                             "the following directives are specified both as a flag and in the configuration file: \(conflicts.joined(separator: ", "))")
        }
    }

    /// dockerd's default TLS directory: `$DOCKER_CERT_PATH`, `$DOCKER_CONFIG`, else `~/.docker`.
    static func defaultCertDirectory(_ env: [String: String]) -> String {
        if let p = env["DOCKER_CERT_PATH"], !p.isEmpty { return p }
        if let p = env["DOCKER_CONFIG"], !p.isEmpty { return p }
        return (env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "/root") + "/.docker"
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") || path.isEmpty { return path }
        return FileManager.default.currentDirectoryPath + "/" + path
    }

    // MARK: - help

    public static var usage: String {
        var out = "Usage:\tberthd [OPTIONS]\n\nA self-sufficient runtime for containers (Docker Engine API compatible).\n\nOptions:\n"
        for spec in specs {
            let short = spec.short.map { "-\($0), " } ?? "    "
            let kind = spec.kind == .bool ? "" : (spec.kind == .list ? " list" : (spec.kind == .int ? " int" : " string"))
            let left = "  \(short)--\(spec.name)\(kind)"
            out += left.padding(toLength: max(left.count + 2, 36), withPad: " ", startingAt: 0) + spec.usage + "\n"
        }
        return out
    }
}

