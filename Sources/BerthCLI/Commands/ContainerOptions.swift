import APIModels
import Foundation

/// `docker run` / `docker create` flags and their translation into a create body (docker's `containerOptions` / `parse`).
enum ContainerOptions {
    /// Flags shared by `run` and `create`.
    static let flags: [FlagSpec] = [
        .array("add-host", nil, "Add a custom host-to-IP mapping (host:ip)", type: "list"),
        .array("attach", "a", "Attach to STDIN, STDOUT or STDERR", type: "list"),
        .array("cap-add", nil, "Add Linux capabilities", type: "list"),
        .array("cap-drop", nil, "Drop Linux capabilities", type: "list"),
        .string("cgroup-parent", nil, "Optional parent cgroup for the container"),
        .string("cgroupns", nil, "Cgroup namespace to use (host|private)\n'host':    Run the container in the Docker host's cgroup namespace\n'private': Run the container in its own private cgroup namespace\n'':        Use the cgroup namespace as configured by the\n           default-cgroupns-mode option on the daemon (default)"),
        .string("cidfile", nil, "Write the container ID to the file"),
        FlagSpec("cpu-shares", short: "c", .int, usage: "CPU shares (relative weight)"),
        .string("cpus", nil, "Number of CPUs", type: "decimal"),
        .string("cpuset-cpus", nil, "CPUs in which to allow execution (0-3, 0,1)"),
        .string("cpuset-mems", nil, "MEMs in which to allow execution (0-3, 0,1)"),
        .bool("disable-content-trust", nil, "Skip image verification", default: true),
        .array("dns", nil, "Set custom DNS servers", type: "list"),
        .array("dns-option", nil, "Set DNS options", type: "list"),
        .array("dns-search", nil, "Set custom DNS search domains", type: "list"),
        .string("domainname", nil, "Container NIS domain name"),
        .string("entrypoint", nil, "Overwrite the default ENTRYPOINT of the image"),
        .array("env", "e", "Set environment variables", type: "list"),
        .array("env-file", nil, "Read in a file of environment variables", type: "list"),
        .array("group-add", nil, "Add additional groups to join", type: "list"),
        .string("hostname", "h", "Container host name"),
        .bool("init", nil, "Run an init inside the container that forwards signals and reaps processes"),
        .bool("interactive", "i", "Keep STDIN open even if not attached"),
        .string("ipc", nil, "IPC mode to use"),
        .array("label", "l", "Set meta data on a container", type: "list"),
        .array("label-file", nil, "Read in a line delimited file of labels", type: "list"),
        .string("log-driver", nil, "Logging driver for the container"),
        .array("log-opt", nil, "Log driver options", type: "list"),
        .string("memory", "m", "Memory limit", type: "bytes"),
        .string("memory-reservation", nil, "Memory soft limit", type: "bytes"),
        .string("memory-swap", nil, "Swap limit equal to memory plus swap: '-1' to enable unlimited swap", type: "bytes"),
        .string("name", nil, "Assign a name to the container"),
        .string("network", nil, "Connect a container to a network", type: "network"),
        .bool("oom-kill-disable", nil, "Disable OOM Killer"),
        FlagSpec("oom-score-adj", .int, usage: "Tune host's OOM preferences (-1000 to 1000)"),
        .string("pid", nil, "PID namespace to use"),
        FlagSpec("pids-limit", .int, usage: "Tune container pids limit (set -1 for unlimited)"),
        .string("platform", nil, "Set platform if server is multi-platform capable"),
        .bool("privileged", nil, "Give extended privileges to this container"),
        .string("pull", nil, "Pull image before running (\"always\", \"missing\", \"never\")", default: "missing"),
        .bool("quiet", "q", "Suppress the pull output"),
        .bool("read-only", nil, "Mount the container's root filesystem as read only"),
        .string("restart", nil, "Restart policy to apply when a container exits", default: "no"),
        .bool("rm", nil, "Automatically remove the container and its associated anonymous volumes when it exits"),
        .string("runtime", nil, "Runtime to use for this container"),
        .array("security-opt", nil, "Security Options", type: "list"),
        .string("shm-size", nil, "Size of /dev/shm", type: "bytes"),
        .string("stop-signal", nil, "Signal to stop the container"),
        FlagSpec("stop-timeout", .int, usage: "Timeout (in seconds) to stop a container"),
        FlagSpec("sysctl", .array, usage: "Sysctl options", typeName: "map", defaultValue: "map[]"),
        .array("tmpfs", nil, "Mount a tmpfs directory", type: "list"),
        .bool("tty", "t", "Allocate a pseudo-TTY"),
        FlagSpec("ulimit", .array, usage: "Ulimit options", typeName: "ulimit", defaultValue: "[]"),
        .string("user", "u", "Username or UID (format: <name|uid>[:<group|gid>])"),
        .string("userns", nil, "User namespace to use"),
        .string("uts", nil, "UTS namespace to use"),
        .array("volume", "v", "Bind mount a volume", type: "list"),
        .array("volumes-from", nil, "Mount volumes from the specified container(s)", type: "list"),
        .string("workdir", "w", "Working directory inside the container"),
    ]

    /// A flag-value error: pflag's `invalid argument "v" for "-m, --memory" flag: reason`.
    struct ValueError: Error {
        var flag: String
        var value: String
        var reason: String
    }

    /// An error docker reports after parsing (`docker: …`, status 125).
    struct ParseError: Error {
        var message: String
    }

    /// The translated flags.
    struct Parsed {
        var config = ContainerAPIConfig()
        var host = ContainerHostConfig()
        var name: String?
        var platform: String?
        var pull = "missing"
        var detach = false
        var detachKeys: String?
        var quiet = false
        var cidfile: String?
    }

    /// `units.RAMInBytes`: `512m`, `1.5g`, `1024`, `2GiB` (binary multipliers).
    static func ramInBytes(_ s: String) -> Int64? {
        var body = Substring(s)
        // Optional suffix: [kmgtp]?[i]?[b]?
        var mult: Double = 1
        if let l = body.last, l == "b" || l == "B" { body.removeLast() }
        if let l = body.last, l == "i" || l == "I" {
            body.removeLast()
            guard let p = body.last, "kKmMgGtTpP".contains(p) else { return nil }
        }
        if let l = body.last, let idx = "kmgtp".firstIndex(of: Character(l.lowercased())) {
            let n = "kmgtp".distance(from: "kmgtp".startIndex, to: idx) + 1
            mult = pow(1024, Double(n))
            body.removeLast()
        }
        if body.last == " " { body.removeLast() }
        // ^\d+(\.\d+)*$
        guard !body.isEmpty, body.first!.isASCII, body.first!.isNumber, body.last!.isNumber else { return nil }
        var prevDot = false
        for c in body {
            if c == "." { if prevDot { return nil }; prevDot = true; continue }
            guard c.isASCII && c.isNumber else { return nil }
            prevDot = false
        }
        guard let v = Double(body.split(separator: ".").prefix(2).joined(separator: ".")) else { return nil }
        return Int64(v * mult)
    }

    /// `--cpus 1.5` → 1_500_000_000 NanoCPUs (docker's `NanoCPUs.Set`, a rational number).
    static func nanoCPUs(_ s: String) throws(ValueError) -> Int64 {
        let fail = ValueError(flag: "cpus", value: s, reason: "failed to parse \(s) as a rational number")
        var t = Substring(s)
        var negative = false
        if t.first == "-" || t.first == "+" { negative = t.first == "-"; t.removeFirst() }
        let parts = t.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, !t.isEmpty, parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
              !(parts.count == 2 && parts[0].isEmpty && parts[1].isEmpty)
        else {
            // a/b fractions
            let frac = s.split(separator: "/")
            if frac.count == 2, let a = Double(frac[0]), let b = Double(frac[1]), b != 0 {
                let n = a / b * 1e9
                guard n == n.rounded() else { throw ValueError(flag: "cpus", value: s, reason: "value is too precise") }
                return Int64(n)
            }
            throw fail
        }
        let intPart = Int64(parts[0].isEmpty ? "0" : String(parts[0])) ?? 0
        var fracPart = parts.count == 2 ? String(parts[1]) : ""
        while fracPart.hasSuffix("0") { fracPart.removeLast() }
        if fracPart.count > 9 { throw ValueError(flag: "cpus", value: s, reason: "value is too precise") }
        let fracNano = Int64(fracPart.padding(toLength: 9, withPad: "0", startingAt: 0)) ?? 0
        let n = intPart * 1_000_000_000 + fracNano
        return negative ? -n : n
    }

    static let ulimitNames: Set<String> = ["core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
                                           "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"]

    /// `nofile=1024:2048` (docker's `units.ParseUlimit`).
    static func parseUlimit(_ s: String) throws(ValueError) -> Ulimit {
        func fail(_ r: String) -> ValueError { ValueError(flag: "ulimit", value: s, reason: r) }
        let parts = s.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw fail("invalid ulimit argument: \(s)") }
        let name = String(parts[0])
        guard ulimitNames.contains(name) else { throw fail("invalid ulimit type: \(name)") }
        let limits = parts[1].split(separator: ":", omittingEmptySubsequences: false)
        guard limits.count <= 2 else { throw fail("too many limit value arguments - \(parts[1]), can only have up to two, `soft[:hard]`") }
        guard let soft = Int64(limits[0]) else { throw fail("strconv.ParseInt: parsing \(GoFormat.quote(String(limits[0]))): invalid syntax") }
        var hard = soft
        if limits.count == 2 {
            guard let h = Int64(limits[1]) else { throw fail("strconv.ParseInt: parsing \(GoFormat.quote(String(limits[1]))): invalid syntax") }
            hard = h
        }
        if soft > hard { throw fail("ulimit soft limit must be less than or equal to hard limit: \(soft) > \(hard)") }
        return Ulimit(Name: name, Soft: soft, Hard: hard)
    }

    /// `opts.ParseRestartPolicy`.
    static func parseRestart(_ s: String) throws(ParseError) -> RestartPolicy? {
        if s.isEmpty { return nil }
        let (k, v): (String, String?) = {
            guard let i = s.firstIndex(of: ":") else { return (s, nil) }
            return (String(s[..<i]), String(s[s.index(after: i)...]))
        }()
        if v != nil && k.isEmpty { throw ParseError(message: "invalid restart policy format: no policy provided before colon") }
        var p = RestartPolicy(Name: k, MaximumRetryCount: 0)
        if let v, !v.isEmpty {
            guard let n = Int(v) else { throw ParseError(message: "invalid restart policy format: maximum retry count must be an integer") }
            p.MaximumRetryCount = n
        }
        return p
    }

    /// `opts.ValidateEnv`: `A=1` as is, `B` takes the value from the environment when set.
    static func expandEnv(_ v: String, env: [String: String]) throws(ValueError) -> String {
        let k = v.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
        if k.isEmpty { throw ValueError(flag: "env", value: v, reason: "invalid environment variable: \(v)") }
        if v.contains("=") { return v }
        if let e = env[String(k)] { return "\(k)=\(e)" }
        return v
    }

    /// `opts.ParseEnvFile`: `KEY=value` lines, `#` comments, bare names taken from the environment (or dropped).
    static func parseEnvFile(_ path: String, env: [String: String]) throws(ParseError) -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ParseError(message: "open \(path): no such file or directory")
        }
        var out: [String] = []
        var text = String(decoding: data, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(raw)
            while let f = line.first, f == " " || f == "\t" { line.removeFirst() }
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty || line.hasPrefix("#") { continue }
            if let eq = line.firstIndex(of: "=") {
                let key = line[..<eq]
                if key.isEmpty { throw ParseError(message: "no variable name on line '\(line)'") }
                if key.contains(where: { $0 == " " || $0 == "\t" }) {
                    throw ParseError(message: "variable '\(key)' contains whitespaces")
                }
                out.append(String(line))
            } else {
                let key = line.trimmingCharacters(in: .whitespaces)
                if key.contains(where: { $0 == " " || $0 == "\t" }) {
                    throw ParseError(message: "variable '\(key)' contains whitespaces")
                }
                if let v = env[key] { out.append("\(key)=\(v)") }
            }
            _ = n
        }
        return out
    }

    /// Builds the create request from the parsed flags and positional `IMAGE [COMMAND] [ARG...]`.
    static func parse(_ f: ParsedFlags, args: [String], env: [String: String], stdoutIsTerminal: Bool,
                      consoleSize: (Int, Int)? = nil) throws -> Parsed {
        var p = Parsed()
        var c = ContainerAPIConfig()
        var h = ContainerHostConfig()
        c.Image = args[0]
        if args.count > 1 { c.Cmd = StrSlice(Array(args.dropFirst())) }

        // Attach.
        var attach = (stdin: false, stdout: false, stderr: false)
        let attachList = f.strings("attach")
        for a in attachList {
            switch a.lowercased() {
            case "stdin": attach.stdin = true
            case "stdout": attach.stdout = true
            case "stderr": attach.stderr = true
            default: throw ValueError(flag: "attach", value: a, reason: "valid streams are STDIN, STDOUT and STDERR")
            }
        }
        let interactive = f.bool("interactive"), tty = f.bool("tty")
        if attachList.isEmpty {
            attach.stdout = true
            attach.stderr = true
            if interactive { attach.stdin = true }
        }
        c.AttachStdin = attach.stdin
        c.AttachStdout = attach.stdout
        c.AttachStderr = attach.stderr
        c.Tty = tty
        c.OpenStdin = interactive
        c.StdinOnce = false

        // Environment and labels.
        var envs: [String] = []
        for file in f.strings("env-file") { envs += try parseEnvFile(file, env: env) }
        for e in f.strings("env") { envs.append(try expandEnv(e, env: env)) }
        c.Env = envs
        var labels: [String: String] = [:]
        for file in f.strings("label-file") {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ParseError(message: "open \(file): no such file or directory")
            }
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
                let l = line.trimmingCharacters(in: .whitespaces)
                if l.isEmpty || l.hasPrefix("#") { continue }
                let kv = l.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                labels[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
            }
        }
        for l in f.strings("label") {
            let kv = l.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            labels[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
        }
        c.Labels = labels

        c.Hostname = f.string("hostname")
        c.Domainname = f.string("domainname")
        c.User = f.string("user")
        c.WorkingDir = f.string("workdir")
        if f.isSet("entrypoint") {
            let e = f.string("entrypoint")
            c.Entrypoint = StrSlice([e])
        }
        if f.isSet("stop-signal") { c.StopSignal = f.string("stop-signal") }
        if f.isSet("stop-timeout") { c.StopTimeout = f.int("stop-timeout") }
        c.Volumes = [:]

        // Host config.
        if f.isSet("memory") {
            let v = f.string("memory")
            guard let b = ramInBytes(v) else { throw ValueError(flag: "memory", value: v, reason: "invalid size: '\(v)'") }
            h.Memory = b
        } else { h.Memory = 0 }
        if f.isSet("memory-reservation") {
            let v = f.string("memory-reservation")
            guard let b = ramInBytes(v) else { throw ValueError(flag: "memory-reservation", value: v, reason: "invalid size: '\(v)'") }
            h.MemoryReservation = b
        }
        if f.isSet("memory-swap") {
            let v = f.string("memory-swap")
            if v == "-1" { h.MemorySwap = -1 } else {
                guard let b = ramInBytes(v) else { throw ValueError(flag: "memory-swap", value: v, reason: "invalid size: '\(v)'") }
                h.MemorySwap = b
            }
        }
        if f.isSet("shm-size") {
            let v = f.string("shm-size")
            guard let b = ramInBytes(v) else { throw ValueError(flag: "shm-size", value: v, reason: "invalid size: '\(v)'") }
            h.ShmSize = b
        }
        if f.isSet("cpus") { h.NanoCpus = try nanoCPUs(f.string("cpus")) }
        if f.isSet("cpu-shares") { h.CpuShares = Int64(f.int("cpu-shares")) }
        if f.isSet("cpuset-cpus") { h.CpusetCpus = f.string("cpuset-cpus") }
        if f.isSet("cpuset-mems") { h.CpusetMems = f.string("cpuset-mems") }
        if f.isSet("pids-limit") { h.PidsLimit = Int64(f.int("pids-limit")) }
        if f.isSet("oom-kill-disable") { h.OomKillDisable = f.bool("oom-kill-disable") }
        if f.isSet("oom-score-adj") { h.OomScoreAdj = f.int("oom-score-adj") }
        if f.isSet("cgroup-parent") { h.CgroupParent = f.string("cgroup-parent") }
        let ulimits = try f.strings("ulimit").map { v throws(ValueError) in try parseUlimit(v) }
        h.Ulimits = ulimits.isEmpty ? nil : ulimits
        h.CapAdd = f.strings("cap-add").isEmpty ? nil : f.strings("cap-add")
        h.CapDrop = f.strings("cap-drop").isEmpty ? nil : f.strings("cap-drop")
        h.Privileged = f.bool("privileged")
        h.ReadonlyRootfs = f.bool("read-only")
        var secopts: [String] = []
        for s in f.strings("security-opt") {
            var o = s
            if !o.contains("=") && o.contains(":") { o = o.replacingAll(":", with: "=") }  // legacy `seccomp:file`
            if o.hasPrefix("seccomp="), !["unconfined", "builtin"].contains(String(o.dropFirst(8))) {
                let path = String(o.dropFirst(8))
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw ParseError(message: "opening seccomp profile (\(path)) failed: open \(path): no such file or directory")
                }
                guard (try? JSONSerialization.jsonObject(with: data)) != nil else {
                    throw ParseError(message: "compacting json for seccomp profile (\(path)) failed: invalid character")
                }
                o = "seccomp=" + String(decoding: data, as: UTF8.self)
            }
            secopts.append(o)
        }
        h.SecurityOpt = secopts.isEmpty ? nil : secopts
        if f.isSet("init") { h.Init = f.bool("init") }
        if f.isSet("runtime") { h.Runtime = f.string("runtime") }
        h.RestartPolicy = try parseRestart(f.string("restart")) ?? RestartPolicy(Name: "no", MaximumRetryCount: 0)
        let network = f.string("network")
        h.NetworkMode = network.isEmpty ? "default" : network
        if f.isSet("ipc") { h.IpcMode = f.string("ipc") }
        if f.isSet("pid") { h.PidMode = f.string("pid") }
        if f.isSet("uts") { h.UTSMode = f.string("uts") }
        if f.isSet("userns") { h.UsernsMode = f.string("userns") }
        if f.isSet("cgroupns") { h.CgroupnsMode = f.string("cgroupns") }
        if !f.strings("add-host").isEmpty { h.ExtraHosts = f.strings("add-host") }
        if !f.strings("dns").isEmpty { h.Dns = f.strings("dns") }
        if !f.strings("dns-option").isEmpty { h.DnsOptions = f.strings("dns-option") }
        if !f.strings("dns-search").isEmpty { h.DnsSearch = f.strings("dns-search") }
        if !f.strings("group-add").isEmpty { h.GroupAdd = f.strings("group-add") }
        if !f.strings("volume").isEmpty { h.Binds = f.strings("volume") }
        if !f.strings("volumes-from").isEmpty { h.VolumesFrom = f.strings("volumes-from") }
        if !f.strings("tmpfs").isEmpty {
            var t: [String: String] = [:]
            for v in f.strings("tmpfs") {
                let kv = v.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                t[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
            }
            h.Tmpfs = t
        }
        if !f.strings("sysctl").isEmpty {
            var s: [String: String] = [:]
            for v in f.strings("sysctl") {
                let kv = v.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard kv.count == 2 else { throw ValueError(flag: "sysctl", value: v, reason: "sysctl '\(v)' is not allowed") }
                s[String(kv[0])] = String(kv[1])
            }
            h.Sysctls = s
        }
        var logOpts: [String: String] = [:]
        for v in f.strings("log-opt") {
            let kv = v.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            logOpts[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
        }
        h.LogConfig = LogConfig(Type: f.string("log-driver"), Config: logOpts.isEmpty ? nil : logOpts)
        if tty, stdoutIsTerminal, let cs = consoleSize { h.ConsoleSize = [cs.0, cs.1] } else { h.ConsoleSize = [0, 0] }

        let pull = f.string("pull")
        guard ["always", "missing", "never"].contains(pull) else {
            throw ParseError(message: "invalid pull option: '\(pull)': must be one of \"always\", \"missing\" or \"never\"")
        }
        p.pull = pull
        p.name = f.optionalString("name")
        p.platform = f.optionalString("platform")
        p.quiet = f.bool("quiet")
        p.cidfile = f.optionalString("cidfile")
        if h.RestartPolicy?.Name != "no", h.RestartPolicy?.Name != "", f.bool("rm") {
            throw ParseError(message: "conflicting options: cannot specify both --restart and --rm")
        }
        h.AutoRemove = f.bool("rm")
        p.config = c
        p.host = h
        return p
    }

    /// The JSON body of `POST /containers/create`.
    static func encodeBody(_ p: Parsed) throws -> [UInt8] {
        struct Body: Encodable {
            var config: ContainerAPIConfig
            var host: ContainerHostConfig
            enum K: String, CodingKey { case HostConfig, NetworkingConfig }
            func encode(to encoder: any Encoder) throws {
                try config.encode(to: encoder)
                var c = encoder.container(keyedBy: K.self)
                try c.encode(host, forKey: .HostConfig)
                try c.encode(["EndpointsConfig": [String: String]()], forKey: .NetworkingConfig)
            }
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try enc.encode(Body(config: p.config, host: p.host)))
    }
}
