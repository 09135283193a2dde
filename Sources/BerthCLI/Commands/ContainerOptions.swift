import APIModels
import OCI
import Foundation

/// `docker run` / `docker create` flags and their translation into a create body (docker's `containerOptions` / `parse`).
enum ContainerOptions {
    /// Flags shared by `run` and `create`.
    static let flags: [FlagSpec] = [
        .array("add-host", nil, "Add a custom host-to-IP mapping (host:ip)", type: "list"),
        FlagSpec("annotation", .array, usage: "Add an annotation to the container (passed through to the OCI runtime)", typeName: "map", defaultValue: "map[]"),
        .array("attach", "a", "Attach to STDIN, STDOUT or STDERR", type: "list"),
        FlagSpec("blkio-weight", .int, usage: "Block IO (relative weight), between 10 and 1000, or 0 to disable", typeName: "uint16", defaultValue: "0"),
        FlagSpec("blkio-weight-device", .array, usage: "Block IO weight (relative device weight)", typeName: "list", defaultValue: "[]"),
        .array("cap-add", nil, "Add Linux capabilities", type: "list"),
        .array("cap-drop", nil, "Drop Linux capabilities", type: "list"),
        .string("cgroup-parent", nil, "Optional parent cgroup for the container"),
        .string("cgroupns", nil, "Cgroup namespace to use (host|private)\n'host':    Run the container in the Docker host's cgroup namespace\n'private': Run the container in its own private cgroup namespace\n'':        Use the cgroup namespace as configured by the\n           default-cgroupns-mode option on the daemon (default)"),
        .string("cidfile", nil, "Write the container ID to the file"),
        FlagSpec("cpu-count", .int, usage: "CPU count (Windows only)"),
        FlagSpec("cpu-percent", .int, usage: "CPU percent (Windows only)"),
        FlagSpec("cpu-shares", short: "c", .int, usage: "CPU shares (relative weight)"),
        .string("cpus", nil, "Number of CPUs", type: "decimal"),
        .string("cpuset-cpus", nil, "CPUs in which to allow execution (0-3, 0,1)"),
        .string("cpuset-mems", nil, "MEMs in which to allow execution (0-3, 0,1)"),
        .bool("disable-content-trust", nil, "Skip image verification", default: true),
        FlagSpec("help", .bool, usage: "Print usage"),
        FlagSpec("cpu-period", .int, usage: "Limit CPU CFS (Completely Fair Scheduler) period"),
        FlagSpec("cpu-quota", .int, usage: "Limit CPU CFS (Completely Fair Scheduler) quota"),
        FlagSpec("cpu-rt-period", .int, usage: "Limit CPU real-time period in microseconds"),
        FlagSpec("cpu-rt-runtime", .int, usage: "Limit CPU real-time runtime in microseconds"),
        .array("device", nil, "Add a host device to the container", type: "list"),
        .array("device-cgroup-rule", nil, "Add a rule to the cgroup allowed devices list", type: "list"),
        FlagSpec("device-read-bps", .array, usage: "Limit read rate (bytes per second) from a device", typeName: "list", defaultValue: "[]"),
        FlagSpec("device-read-iops", .array, usage: "Limit read rate (IO per second) from a device", typeName: "list", defaultValue: "[]"),
        FlagSpec("device-write-bps", .array, usage: "Limit write rate (bytes per second) to a device", typeName: "list", defaultValue: "[]"),
        FlagSpec("device-write-iops", .array, usage: "Limit write rate (IO per second) to a device", typeName: "list", defaultValue: "[]"),
        .array("dns", nil, "Set custom DNS servers", type: "list"),
        .array("dns-option", nil, "Set DNS options", type: "list"),
        .array("dns-search", nil, "Set custom DNS search domains", type: "list"),
        .string("domainname", nil, "Container NIS domain name"),
        .string("entrypoint", nil, "Overwrite the default ENTRYPOINT of the image"),
        .array("env", "e", "Set environment variables", type: "list"),
        .array("env-file", nil, "Read in a file of environment variables", type: "list"),
        .array("expose", nil, "Expose a port or a range of ports", type: "list"),
        .string("gpus", nil, "GPU devices to add to the container ('all' to pass all GPUs)", type: "gpu-request"),
        .array("group-add", nil, "Add additional groups to join", type: "list"),
        .string("health-cmd", nil, "Command to run to check health"),
        FlagSpec("health-interval", .array, usage: "Time between running the check (ms|s|m|h)", typeName: "duration", defaultValue: "0s"),
        FlagSpec("health-retries", .int, usage: "Consecutive failures needed to report unhealthy"),
        FlagSpec("health-start-interval", .array, usage: "Time between running the check during the start period (ms|s|m|h)", typeName: "duration", defaultValue: "0s"),
        FlagSpec("health-start-period", .array, usage: "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h)", typeName: "duration", defaultValue: "0s"),
        FlagSpec("health-timeout", .array, usage: "Maximum time to allow one check to run (ms|s|m|h)", typeName: "duration", defaultValue: "0s"),
        .string("hostname", "h", "Container host name"),
        .bool("init", nil, "Run an init inside the container that forwards signals and reaps processes"),
        .bool("interactive", "i", "Keep STDIN open even if not attached"),
        .string("io-maxbandwidth", nil, "Maximum IO bandwidth limit for the system drive (Windows only)", type: "bytes"),
        FlagSpec("io-maxiops", .int, usage: "Maximum IOps limit for the system drive (Windows only)", typeName: "uint"),
        .string("ip", nil, "IPv4 address (e.g., 172.30.100.104)"),
        .string("ip6", nil, "IPv6 address (e.g., 2001:db8::33)"),
        .string("ipc", nil, "IPC mode to use"),
        .string("isolation", nil, "Container isolation technology"),
        .string("kernel-memory", nil, "Kernel memory limit", type: "bytes"),
        .array("label", "l", "Set meta data on a container", type: "list"),
        .array("label-file", nil, "Read in a line delimited file of labels", type: "list"),
        .array("link", nil, "Add link to another container", type: "list"),
        .array("link-local-ip", nil, "Container IPv4/IPv6 link-local addresses", type: "list"),
        .string("log-driver", nil, "Logging driver for the container"),
        .array("log-opt", nil, "Log driver options", type: "list"),
        .string("mac-address", nil, "Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
        .string("memory", "m", "Memory limit", type: "bytes"),
        .string("memory-reservation", nil, "Memory soft limit", type: "bytes"),
        .string("memory-swap", nil, "Swap limit equal to memory plus swap: '-1' to enable unlimited swap", type: "bytes"),
        FlagSpec("memory-swappiness", .int, usage: "Tune container memory swappiness (0 to 100)", defaultValue: "-1"),
        FlagSpec("mount", .array, usage: "Attach a filesystem mount to the container", typeName: "mount"),
        .string("name", nil, "Assign a name to the container"),
        .string("network", nil, "Connect a container to a network", type: "network"),
        .array("network-alias", nil, "Add network-scoped alias for the container", type: "list"),
        .bool("no-healthcheck", nil, "Disable any container-specified HEALTHCHECK"),
        .bool("oom-kill-disable", nil, "Disable OOM Killer"),
        FlagSpec("oom-score-adj", .int, usage: "Tune host's OOM preferences (-1000 to 1000)"),
        .string("pid", nil, "PID namespace to use"),
        FlagSpec("pids-limit", .int, usage: "Tune container pids limit (set -1 for unlimited)"),
        .string("platform", nil, "Set platform if server is multi-platform capable"),
        .bool("privileged", nil, "Give extended privileges to this container"),
        .array("publish", "p", "Publish a container's port(s) to the host", type: "list"),
        .bool("publish-all", "P", "Publish all exposed ports to random ports"),
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
        .array("storage-opt", nil, "Storage driver options for the container", type: "list"),
        FlagSpec("sysctl", .array, usage: "Sysctl options", typeName: "map", defaultValue: "map[]"),
        .array("tmpfs", nil, "Mount a tmpfs directory", type: "list"),
        .bool("tty", "t", "Allocate a pseudo-TTY"),
        FlagSpec("ulimit", .array, usage: "Ulimit options", typeName: "ulimit", defaultValue: "[]"),
        .bool("use-api-socket", nil, "Bind mount Docker API socket and required auth"),
        .string("user", "u", "Username or UID (format: <name|uid>[:<group|gid>])"),
        .string("userns", nil, "User namespace to use"),
        .string("uts", nil, "UTS namespace to use"),
        .array("volume", "v", "Bind mount a volume", type: "list"),
        .string("volume-driver", nil, "Optional volume driver for the container"),
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
        c.StdinOnce = interactive && attach.stdin

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
        h.PidsLimit = Int64(f.int("pids-limit"))
        h.OomKillDisable = f.bool("oom-kill-disable")
        if f.isSet("oom-score-adj") { h.OomScoreAdj = f.int("oom-score-adj") }
        if f.isSet("cgroup-parent") { h.CgroupParent = f.string("cgroup-parent") }
        let ulimits = try f.strings("ulimit").map { v throws(ValueError) in try parseUlimit(v) }
        h.Ulimits = ulimits
        let (capAdd, capDrop) = effectiveCaps(add: f.strings("cap-add"), drop: f.strings("cap-drop"))
        h.CapAdd = capAdd.isEmpty ? nil : capAdd
        h.CapDrop = capDrop.isEmpty ? nil : capDrop
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
        h.Dns = f.strings("dns")
        h.DnsOptions = f.strings("dns-option")
        h.DnsSearch = f.strings("dns-search")
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
        try parsePorts(f, &c, &h)
        if f.isSet("cpu-period") { h.CpuPeriod = Int64(f.int("cpu-period")) }
        if f.isSet("cpu-quota") { h.CpuQuota = Int64(f.int("cpu-quota")) }
        h.MemorySwappiness = Int64(f.int("memory-swappiness"))
        h.Devices = .array([])
        if !f.strings("device").isEmpty {
            h.Devices = .array(try f.strings("device").map { v throws(ValueError) in
                let parts = v.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                guard (1...3).contains(parts.count), !parts[0].isEmpty else { throw ValueError(flag: "device", value: v, reason: "invalid device specification: \(v)") }
                var perms = "rwm", inner = parts[0]
                if parts.count == 2 {
                    if parts[1].allSatisfy({ "rwm".contains($0) }) && !parts[1].isEmpty { perms = parts[1] } else { inner = parts[1] }
                }
                if parts.count == 3 { inner = parts[1]; perms = parts[2] }
                return .object(["PathOnHost": .string(parts[0]), "PathInContainer": .string(inner), "CgroupPermissions": .string(perms)])
            })
        }
        if !f.strings("mount").isEmpty {
            h.Mounts = .array(try f.strings("mount").map { v throws(ValueError) in try parseMount(v) })
        }
        try parseHealth(f, &c)
        var annotations: [String: String] = [:]
        for v in f.strings("annotation") {
            let kv = v.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            annotations[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
        }
        if !annotations.isEmpty { h.Annotations = annotations }
        if f.isSet("blkio-weight") { h.BlkioWeight = f.int("blkio-weight") }
        if f.isSet("cpu-rt-period") { h.CpuRealtimePeriod = Int64(f.int("cpu-rt-period")) }
        if f.isSet("cpu-rt-runtime") { h.CpuRealtimeRuntime = Int64(f.int("cpu-rt-runtime")) }
        if !f.strings("device-cgroup-rule").isEmpty { h.DeviceCgroupRules = f.strings("device-cgroup-rule") }
        if f.isSet("isolation") { h.Isolation = f.string("isolation") }
        if !f.strings("link").isEmpty { h.Links = f.strings("link") }
        if f.isSet("mac-address") { c.MacAddress = f.string("mac-address") }
        if f.isSet("volume-driver") { h.VolumeDriver = f.string("volume-driver") }
        var storageOpts: [String: String] = [:]
        for v in f.strings("storage-opt") {
            let kv = v.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.count == 2 else { throw ParseError(message: "invalid storage option") }
            storageOpts[String(kv[0])] = String(kv[1])
        }
        if !storageOpts.isEmpty { h.StorageOpt = storageOpts }
        for unsupported in ["gpus", "use-api-socket", "ip", "ip6", "network-alias", "link-local-ip", "device-read-bps",
                            "device-read-iops", "device-write-bps", "device-write-iops", "blkio-weight-device"] where f.isSet(unsupported) {
            throw ParseError(message: "--\(unsupported) is not supported by berth yet")
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

    /// Docker's `opts.EffectiveCapAddCapDrop`: names upper-cased with `CAP_` (except `ALL`), de-duplicated and sorted;
    /// `ALL` in one list wins over the rest of it, and a capability both added and dropped is only added.
    static func effectiveCaps(add: [String], drop: [String]) -> ([String], [String]) {
        func norm(_ c: String) -> String {
            let u = c.uppercased()
            if u == "ALL" || u.hasPrefix("CAP_") { return u }
            return "CAP_" + u
        }
        var a = Set(add.map(norm)), d = Set(drop.map(norm))
        if a.contains("ALL") { a = ["ALL"] }
        if d.contains("ALL") { d = ["ALL"] } else { d.subtract(a) }
        return (a.sorted(), d.sorted())
    }

    /// `-p [ip:][hostPort:]containerPort[/proto]` (ranges allowed), `--expose`, `-P` (docker's `nat.ParsePortSpecs`).
    static func parsePorts(_ f: ParsedFlags, _ c: inout ContainerAPIConfig, _ h: inout ContainerHostConfig) throws(ValueError) {
        func range(_ s: String, _ flag: String, _ v: String) throws(ValueError) -> ClosedRange<Int> {
            let parts = s.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count <= 2, let lo = Int(parts[0]), let hi = Int(parts.count == 2 ? parts[1] : parts[0]),
                  (0...65535).contains(lo), (0...65535).contains(hi), lo <= hi
            else { throw ValueError(flag: flag, value: v, reason: "invalid containerPort: \(s)") }
            return lo...hi
        }
        var exposed: [String: JSONValue] = [:]
        var bindings: [String: [JSONValue]] = [:]
        for v in f.strings("expose") {
            var spec = v, proto = "tcp"
            if let i = v.lastIndex(of: "/") { proto = String(v[v.index(after: i)...]); spec = String(v[..<i]) }
            for p in try range(spec, "expose", v) { exposed["\(p)/\(proto)"] = .object([:]) }
        }
        for v in f.strings("publish") {
            var spec = v, proto = "tcp"
            if let i = v.lastIndex(of: "/") { proto = String(v[v.index(after: i)...]); spec = String(v[..<i]) }
            var ip = "", host = "", ctr = spec
            if spec.hasPrefix("["), let close = spec.firstIndex(of: "]") {
                ip = String(spec[spec.index(after: spec.startIndex)..<close])
                let rest = spec[spec.index(after: close)...].dropFirst()
                let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
                host = parts.count == 2 ? String(parts[0]) : ""
                ctr = String(parts.last ?? "")
            } else {
                let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                switch parts.count {
                case 1: ctr = parts[0]
                case 2: host = parts[0]; ctr = parts[1]
                case 3: ip = parts[0]; host = parts[1]; ctr = parts[2]
                default: throw ValueError(flag: "publish", value: v, reason: "invalid hostPort: \(v)")
                }
            }
            if ctr.isEmpty { throw ValueError(flag: "publish", value: v, reason: "no port specified: \(spec)<empty>") }
            let cr = try range(ctr, "publish", v)
            let hr: ClosedRange<Int>? = host.isEmpty ? nil : try range(host, "publish", v)
            if let hr, hr.count != cr.count, hr.count != 1 {
                throw ValueError(flag: "publish", value: v, reason: "invalid ranges specified for container and host Ports: \(ctr) and \(host)")
            }
            for (i, p) in cr.enumerated() {
                let key = "\(p)/\(proto)"
                exposed[key] = .object([:])
                var hp = ""
                if let hr { hp = hr.count == 1 ? (hr.count == cr.count ? String(hr.lowerBound) : "\(hr.lowerBound)-\(hr.upperBound)") : String(hr.lowerBound + i) }
                bindings[key, default: []].append(.object(["HostIp": .string(ip), "HostPort": .string(hp)]))
            }
        }
        if !exposed.isEmpty { c.ExposedPorts = exposed }
        h.PortBindings = .object(bindings.mapValues { .array($0) })
        if f.bool("publish-all") { h.PublishAllPorts = true }
    }

    /// `--mount type=bind,source=/a,target=/b,readonly` (docker's `opts.MountOpt`).
    static func parseMount(_ v: String) throws(ValueError) -> JSONValue {
        var m: [String: JSONValue] = ["Type": .string("volume")]
        var bind: [String: JSONValue] = [:], tmpfs: [String: JSONValue] = [:], vol: [String: JSONValue] = [:]
        for field in v.split(separator: ",") {
            let kv = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let key = kv[0].lowercased(), val = kv.count > 1 ? kv[1] : nil
            switch key {
            case "type": m["Type"] = .string(val ?? "")
            case "source", "src": m["Source"] = .string(val ?? "")
            case "target", "dst", "destination": m["Target"] = .string(val ?? "")
            case "readonly", "ro":
                let b = val.map { FlagParser.parseBool($0) ?? false } ?? true
                m["ReadOnly"] = .bool(b)
            case "bind-propagation": bind["Propagation"] = .string(val ?? "")
            case "tmpfs-size":
                guard let n = ramInBytes(val ?? "") else { throw ValueError(flag: "mount", value: v, reason: "invalid value for \(key): \(val ?? "")") }
                tmpfs["SizeBytes"] = .number(Double(n))
            case "tmpfs-mode": tmpfs["Mode"] = .number(Double(Int(val ?? "", radix: 8) ?? 0))
            case "volume-nocopy": vol["NoCopy"] = .bool(true)
            case "consistency": m["Consistency"] = .string(val ?? "")
            default: throw ValueError(flag: "mount", value: v, reason: "unexpected key '\(key)' in '\(field)'")
            }
        }
        if m["Target"] == nil { throw ValueError(flag: "mount", value: v, reason: "target is required") }
        if !bind.isEmpty { m["BindOptions"] = .object(bind) }
        if !tmpfs.isEmpty { m["TmpfsOptions"] = .object(tmpfs) }
        if !vol.isEmpty { m["VolumeOptions"] = .object(vol) }
        return .object(m)
    }

    /// `--health-*` / `--no-healthcheck` → `Config.Healthcheck` (durations in nanoseconds).
    static func parseHealth(_ f: ParsedFlags, _ c: inout ContainerAPIConfig) throws(ValueError) {
        let names = ["health-cmd", "health-interval", "health-retries", "health-start-interval", "health-start-period", "health-timeout"]
        let any = names.contains { f.isSet($0) }
        if f.bool("no-healthcheck") {
            if any { throw ValueError(flag: "no-healthcheck", value: "true", reason: "--no-healthcheck conflicts with --health-* options") }
            c.Healthcheck = .object(["Test": .array([.string("NONE")])])
            return
        }
        guard any else { return }
        var hc: [String: JSONValue] = [:]
        if f.isSet("health-cmd") { hc["Test"] = .array([.string("CMD-SHELL"), .string(f.string("health-cmd"))]) }
        for (flag, key) in [("health-interval", "Interval"), ("health-timeout", "Timeout"), ("health-start-period", "StartPeriod"),
                            ("health-start-interval", "StartInterval")] where f.isSet(flag) {
            let v = f.string(flag)
            guard let d = ContainerManageCommands.parseGoDuration(v) else {
                throw ValueError(flag: flag, value: v, reason: "time: invalid duration \(GoFormat.quote(v))")
            }
            hc[key] = .number((d * 1e9).rounded())
        }
        if f.isSet("health-retries") { hc["Retries"] = .number(Double(f.int("health-retries"))) }
        c.Healthcheck = .object(hc)
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
        // Same bytes as JSONEncoder with [.sortedKeys, .withoutEscapingSlashes], in a third of the time.
        return try FastJSONEncoder(sortedKeys: true).encode(Body(config: p.config, host: p.host))
    }
}
