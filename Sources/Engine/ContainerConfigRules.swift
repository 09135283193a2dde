import APIModels
import Foundation
import OCI
import Runtime

/// Docker's rules for turning a create request plus an image config into a container's config:
/// entrypoint/cmd merge, env merge, validation of host config values. Pure functions (unit-tested).
public enum ContainerConfigRules {
    /// moby's `merge(userConf, imageConf)` for the fields berth uses, plus env/workdir/labels.
    public static func merge(user: ContainerAPIConfig, image: ContainerConfig?) -> ContainerAPIConfig {
        var c = user
        let img = image ?? ContainerConfig()
        if (c.Entrypoint?.values ?? []).isEmpty || c.Entrypoint?.values == [""] {
            if c.Entrypoint?.values == [""] { c.Entrypoint = StrSlice([]) }
            if (c.Cmd?.values ?? []).isEmpty {
                c.Cmd = img.Cmd.map(StrSlice.init)
                if c.ArgsEscaped == nil { c.ArgsEscaped = img.ArgsEscaped }
            }
            if c.Entrypoint == nil { c.Entrypoint = img.Entrypoint.map(StrSlice.init) }
        }
        c.Env = mergeEnv(image: img.Env ?? [], user: user.Env ?? [])
        if (c.WorkingDir ?? "").isEmpty { c.WorkingDir = img.WorkingDir ?? "" }
        if (c.User ?? "").isEmpty { c.User = img.User ?? "" }
        var labels = img.Labels ?? [:]
        for (k, v) in user.Labels ?? [:] { labels[k] = v }
        c.Labels = labels
        if c.StopSignal == nil, let s = img.StopSignal { c.StopSignal = s }
        if c.ExposedPorts == nil, let p = img.ExposedPorts, !p.isEmpty {
            c.ExposedPorts = p.mapValues { _ in JSONValue.object([:]) }
        }
        if c.Volumes == nil, let v = img.Volumes, !v.isEmpty { c.Volumes = v.mapValues { _ in JSONValue.object([:]) } }
        if c.OnBuild == nil { c.OnBuild = img.OnBuild }
        c.Healthcheck = HealthcheckRules.merge(user: c.Healthcheck, image: img.Healthcheck)
        return c
    }

    /// moby's `ReplaceOrAppendEnvValues`: later values replace earlier ones by key, order kept.
    public static func mergeEnv(image: [String], user: [String]) -> [String] {
        var out = image
        func key(_ kv: String) -> Substring { kv.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0] }
        for kv in user {
            if let i = out.firstIndex(where: { key($0) == key(kv) }) {
                if kv.contains("=") { out[i] = kv } else { out.remove(at: i) }
            } else if kv.contains("=") {
                out.append(kv)
            }
        }
        return out
    }

    /// moby's `getEntrypointAndArgs`.
    public static func pathAndArgs(_ c: ContainerAPIConfig) -> (String, [String])? {
        let ep = c.Entrypoint?.values ?? []
        let cmd = c.Cmd?.values ?? []
        if ep.isEmpty {
            guard let first = cmd.first else { return nil }
            return (first, Array(cmd.dropFirst()))
        }
        return (ep[0], Array(ep.dropFirst()) + cmd)
    }

    static let knownSecurityOpts = ["seccomp", "no-new-privileges", "label", "apparmor", "systempaths", "mask", "writable-cgroups"]

    /// Validation done before anything is created (400s with Docker's messages).
    public static func validate(_ h: ContainerHostConfig, config: ContainerAPIConfig, cpus: Int, runtimes: Set<String>) throws {
        if let m = h.Memory, m > 0, m < 6 * 1024 * 1024 {
            throw BerthError(.invalidArgument, "Minimum memory limit allowed is 6MB")
        }
        if let r = h.MemoryReservation, r > 0, r < 6 * 1024 * 1024 {
            throw BerthError(.invalidArgument, "Minimum memory reservation allowed is 6MB")
        }
        if let m = h.Memory, let s = h.MemorySwap, m > 0, s > 0, s < m {
            throw BerthError(.invalidArgument, "Minimum memoryswap limit should be larger than memory limit, see usage")
        }
        if let s = h.MemorySwappiness, s != -1, s < 0 || s > 100 {
            throw BerthError(.invalidArgument, "Invalid value: \(s), valid memory swappiness range is 0-100")
        }
        if let n = h.NanoCpus, n != 0 {
            if (h.CpuQuota ?? 0) > 0 || (h.CpuPeriod ?? 0) > 0 {
                throw BerthError(.invalidArgument, "Conflicting options: Nano CPUs and CPU Period cannot both be set")
            }
            if n < 0 || n > Int64(cpus) * 1_000_000_000 {
                throw BerthError(.invalidArgument,
                                 "Range of CPUs is from 0.01 to \(cpus).00, as there are only \(cpus) CPUs available")
            }
        }
        if let q = h.CpuQuota, q > 0, q < 1000 {
            throw BerthError(.invalidArgument, "CPU cfs quota can not be less than 1ms (i.e. 1000)")
        }
        if let p = h.CpuPeriod, p != 0, p < 1000 || p > 1_000_000 {
            throw BerthError(.invalidArgument, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1 second (i.e. 1000000)")
        }
        if let set = h.CpusetCpus, !set.isEmpty, parseCPUSet(set) == nil {
            throw BerthError(.invalidArgument, "Invalid value \(set) for cpuset cpus")
        }
        if let o = h.OomScoreAdj, o < -1000 || o > 1000 {
            throw BerthError(.invalidArgument, "Invalid value \(o), range for oom score adj is [-1000, 1000]")
        }
        for cap in (h.CapAdd ?? []) + (h.CapDrop ?? []) where cap.uppercased() != "ALL" {
            if Capabilities.number(of: cap) == nil {
                throw BerthError(.invalidArgument, "unknown capability: \"\(normalizeCap(cap))\"")
            }
        }
        for opt in h.SecurityOpt ?? [] {
            let key = opt.split(whereSeparator: { $0 == "=" || $0 == ":" }).first.map(String.init) ?? opt
            if !knownSecurityOpts.contains(key) {
                throw BerthError(.invalidArgument, "Invalid --security-opt: \"\(opt)\"")
            }
            if key == "seccomp", opt != "seccomp=unconfined", !opt.hasPrefix("seccomp=") {
                throw BerthError(.invalidArgument, "Invalid --security-opt: \"\(opt)\"")
            }
        }
        if let p = h.RestartPolicy?.Name, !["", "no", "always", "unless-stopped", "on-failure"].contains(p) {
            throw BerthError(.invalidArgument,
                             "invalid restart policy: unknown policy '\(p)'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")
        }
        if h.AutoRemove == true, let p = h.RestartPolicy?.Name, !["", "no"].contains(p) {
            throw BerthError(.invalidArgument, "can't create 'AutoRemove' container with restart policy")
        }
        if let mode = h.NetworkMode, !["", "default", "bridge", "none", "host"].contains(mode) {
            if mode.hasPrefix("container:") {
                throw BerthError(.unsupported, "network mode \(mode) is not supported by berth yet")
            }
            throw BerthError(.notFound, "network \(mode) not found")
        }
        if let rt = h.Runtime, !rt.isEmpty, !runtimes.contains(rt) {
            throw BerthError(.invalidArgument, "unknown or invalid runtime name: \(rt)")
        }
        if let t = h.LogConfig?.Type, !["", "json-file", "none"].contains(t) {
            throw BerthError(.invalidArgument, "logging driver \(t) is not supported by berth (json-file, none)")
        }
        if let sig = config.StopSignal, !sig.isEmpty, Signals.parse(sig) == nil {
            throw BerthError(.invalidArgument, "Invalid signal: \(sig)")
        }
        _ = try ContainerMount.parse(h)
        try HealthcheckRules.validate(config.Healthcheck)
        for u in h.Ulimits ?? [] where Signals.rlimitName(u.Name) == nil {
            throw BerthError(.invalidArgument, "invalid ulimit type: \(u.Name)")
        }
    }

    static func normalizeCap(_ c: String) -> String {
        let u = c.uppercased()
        return u.hasPrefix("CAP_") ? u : "CAP_" + u
    }

    /// `0-3,5` → cpu list; nil if malformed.
    static func parseCPUSet(_ s: String) -> [Int]? {
        var out: [Int] = []
        for part in s.split(separator: ",", omittingEmptySubsequences: false) {
            let r = part.split(separator: "-", omittingEmptySubsequences: false)
            if r.count == 1, let v = Int(r[0]), v >= 0 { out.append(v) }
            else if r.count == 2, let a = Int(r[0]), let b = Int(r[1]), a >= 0, a <= b { out += Array(a...b) }
            else { return nil }
        }
        return out
    }

    /// Every capability the daemon itself has (its bounding set), as moby's `caps.GetAllCapabilities`:
    /// a privileged container cannot get more than that.
    static let allCapabilities: [String] = {
        var bnd: UInt64 = ~0
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapBnd:") }),
           let v = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) {
            bnd = v
        }
        var last = 63
        if let s = try? String(contentsOfFile: "/proc/sys/kernel/cap_last_cap", encoding: .utf8),
           let n = Int(s.trimmingCharacters(in: .whitespacesAndNewlines)) { last = n }
        return Capabilities.names.enumerated().compactMap { i, name in
            !name.isEmpty && i <= last && i < 64 && bnd & (1 << UInt64(i)) != 0 ? name : nil
        }
    }()

    /// Capabilities after Privileged/CapAdd/CapDrop (moby's `caps.TweakCapabilities`).
    public static func capabilities(privileged: Bool, add: [String]?, drop: [String]?) -> [String] {
        if privileged { return allCapabilities }
        let addN = (add ?? []).map { $0.uppercased() == "ALL" ? "ALL" : normalizeCap($0) }
        let dropN = (drop ?? []).map { $0.uppercased() == "ALL" ? "ALL" : normalizeCap($0) }
        var caps: [String] = dropN.contains("ALL") ? [] : Capabilities.dockerDefault
        caps.removeAll { dropN.contains($0) }
        if addN.contains("ALL") {
            caps = allCapabilities.filter { !dropN.contains($0) }
        } else {
            for c in addN where !caps.contains(c) { caps.append(c) }
        }
        return caps
    }
}

/// Signal names and numbers (Linux x86-64/arm64 numbering), and rlimit names.
public enum Signals {
    static let table: [String: Int32] = [
        "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
        "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17,
        "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25,
        "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
    ]

    /// `SIGTERM`, `TERM`, `15`, `RTMIN+3` → number.
    public static func parse(_ s: String) -> Int32? {
        if let n = Int32(s) { return n > 0 && n <= 64 ? n : nil }
        var u = s.uppercased()
        if u.hasPrefix("SIG") { u.removeFirst(3) }
        if let n = table[u] { return n }
        if u.hasPrefix("RTMIN+"), let k = Int32(u.dropFirst(6)), k >= 0, 34 + k <= 64 { return 34 + k }
        if u == "RTMIN" { return 34 }
        if u == "RTMAX" { return 64 }
        return nil
    }

    static let rlimits: [String: String] = [
        "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
        "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE",
        "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
        "rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK", "as": "RLIMIT_AS",
    ]

    public static func rlimitName(_ name: String) -> String? { rlimits[name.lowercased()] }
}
