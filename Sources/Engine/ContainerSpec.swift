import APIModels
import Foundation
import OCI
import Runtime

/// Builds a container's OCI spec: the runtime's Docker-default spec plus the container's flags
/// (moby's `daemon/oci_linux.go`, for what berth supports).
public enum ContainerSpecBuilder {
    /// Whether the container gets a network namespace of its own (everything but `--network host`).
    static func wantsOwnNetworkNamespace(_ h: ContainerHostConfig) -> Bool { h.NetworkMode != "host" }

    public struct Paths: Sendable {
        public var rootfs: String
        public var hostname: String
        public var hosts: String
        public var resolvConf: String
        public init(rootfs: String, hostname: String, hosts: String, resolvConf: String) {
            self.rootfs = rootfs
            self.hostname = hostname
            self.hosts = hosts
            self.resolvConf = resolvConf
        }
    }

    public static func build(id: String, config c: ContainerAPIConfig, host h: ContainerHostConfig, paths: Paths,
                             user: Spec.User, cgroupV2: Bool, initPath: String? = nil) throws -> Spec {
        guard let (path, args) = ContainerConfigRules.pathAndArgs(c) else {
            throw BerthError(.invalidArgument, "No command specified")
        }
        let privileged = h.Privileged == true
        var seccomp = !privileged
        var noNewPrivs = false
        for opt in h.SecurityOpt ?? [] {
            if opt == "seccomp=unconfined" || opt == "seccomp:unconfined" { seccomp = false }
            if opt == "no-new-privileges" || opt == "no-new-privileges=true" || opt == "no-new-privileges:true" { noNewPrivs = true }
        }
        let hostNet = !wantsOwnNetworkNamespace(h)
        let hostname = (c.Hostname ?? "").isEmpty ? String(id.prefix(12)) : c.Hostname!
        var env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=\(hostname)"]
        if c.Tty == true { env.append("TERM=xterm") }
        env = ContainerConfigRules.mergeEnv(image: env, user: c.Env ?? [])
        var spec = Spec.dockerDefault(args: [path] + args, env: env, rootfs: paths.rootfs, hostname: hostname,
                                      cgroupsPath: (h.CgroupParent.flatMap { $0.isEmpty ? nil : $0 } ?? "/berth") + "/" + id,
                                      terminal: c.Tty == true, cgroupNamespace: cgroupV2 && h.CgroupnsMode != "host",
                                      seccomp: seccomp)
        spec.process?.user = user
        spec.process?.cwd = (c.WorkingDir ?? "").isEmpty ? "/" : c.WorkingDir!
        if noNewPrivs { spec.process?.noNewPrivileges = true }
        let caps = ContainerConfigRules.capabilities(privileged: privileged, add: h.CapAdd, drop: h.CapDrop)
        spec.process?.capabilities = Spec.Capabilities(bounding: caps, effective: caps, permitted: caps)
        if let o = h.OomScoreAdj, o != 0 { spec.process?.oomScoreAdj = o }
        if let ul = h.Ulimits, !ul.isEmpty {
            spec.process?.rlimits = ul.compactMap { u in
                Signals.rlimitName(u.Name).map { Spec.Rlimit(type: $0, hard: UInt64(bitPattern: u.Hard), soft: UInt64(bitPattern: u.Soft)) }
            }
        }
        if let cs = h.ConsoleSize, cs.count == 2, cs[0] > 0, cs[1] > 0, c.Tty == true {
            spec.process?.consoleSize = Spec.Box(height: UInt(cs[0]), width: UInt(cs[1]))
        }
        spec.root?.readonly = h.ReadonlyRootfs == true
        if hostNet {
            spec.linux?.namespaces?.removeAll { $0.type == "network" }
        }
        if h.PidMode == "host" { spec.linux?.namespaces?.removeAll { $0.type == "pid" } }
        if h.IpcMode == "host" { spec.linux?.namespaces?.removeAll { $0.type == "ipc" } }
        if h.UTSMode == "host" {
            spec.linux?.namespaces?.removeAll { $0.type == "uts" }
            spec.hostname = nil
        }
        if let d = c.Domainname, !d.isEmpty { spec.domainname = d }
        // /etc/hostname, /etc/hosts, /etc/resolv.conf from the container directory.
        var mounts = spec.mounts ?? []
        let ro = h.ReadonlyRootfs == true
        for (dest, src) in [("/etc/resolv.conf", paths.resolvConf), ("/etc/hostname", paths.hostname), ("/etc/hosts", paths.hosts)] {
            mounts.append(Spec.Mount(destination: dest, type: "bind", source: src,
                                     options: ["rbind", "rprivate"] + (ro ? ["ro"] : [])))
        }
        if let shm = h.ShmSize, shm > 0, let i = mounts.firstIndex(where: { $0.destination == "/dev/shm" }) {
            mounts[i].options = ["nosuid", "noexec", "nodev", "mode=1777", "size=\(shm)"]
        }
        for (dest, opts) in h.Tmpfs ?? [:] {
            var o = ["nosuid", "nodev", "noexec"]
            if !opts.isEmpty { o += opts.split(separator: ",").map(String.init) }
            mounts.append(Spec.Mount(destination: dest, type: "tmpfs", source: "tmpfs", options: o))
        }
        for m in try ContainerMount.parse(h) {
            mounts.removeAll { $0.destination == m.destination }
            mounts.append(m.spec)
        }
        if privileged {
            for i in mounts.indices where mounts[i].destination == "/sys" || mounts[i].destination == "/sys/fs/cgroup" {
                mounts[i].options = (mounts[i].options ?? []).map { $0 == "ro" ? "rw" : $0 }
            }
            spec.linux?.maskedPaths = []
            spec.linux?.readonlyPaths = []
            spec.linux?.resources?.devices = [Spec.DeviceCgroup(allow: true, access: "rwm")]
        }
        spec.mounts = mounts
        if let m = h.MaskedPaths { spec.linux?.maskedPaths = m }
        if let r = h.ReadonlyPaths { spec.linux?.readonlyPaths = r }
        if let s = h.Sysctls, !s.isEmpty { spec.linux?.sysctl = s }
        // Resources.
        var res = spec.linux?.resources ?? Spec.Resources()
        if (h.Memory ?? 0) > 0 || (h.MemoryReservation ?? 0) > 0 || h.MemorySwap != nil || h.OomKillDisable == true
            || (h.MemorySwappiness ?? -1) >= 0 {
            var mem = Spec.Memory()
            if let m = h.Memory, m > 0 {
                mem.limit = m
                // Docker: swap defaults to twice the memory limit.
                mem.swap = (h.MemorySwap ?? 0) == 0 ? m * 2 : h.MemorySwap
            } else if let s = h.MemorySwap, s != 0 {
                mem.swap = s
            }
            if let r = h.MemoryReservation, r > 0 { mem.reservation = r }
            if let s = h.MemorySwappiness, s >= 0 { mem.swappiness = UInt64(s) }
            if h.OomKillDisable == true { mem.disableOOMKiller = true }
            res.memory = mem
        }
        var cpu = Spec.CPU()
        var hasCPU = false
        if let n = h.NanoCpus, n > 0 {
            cpu.period = 100_000
            cpu.quota = n * 100_000 / 1_000_000_000
            hasCPU = true
        }
        if let s = h.CpuShares, s > 0 { cpu.shares = UInt64(s); hasCPU = true }
        if let q = h.CpuQuota, q != 0 { cpu.quota = q; hasCPU = true }
        if let p = h.CpuPeriod, p != 0 { cpu.period = UInt64(p); hasCPU = true }
        if let s = h.CpusetCpus, !s.isEmpty { cpu.cpus = s; hasCPU = true }
        if let s = h.CpusetMems, !s.isEmpty { cpu.mems = s; hasCPU = true }
        if hasCPU { res.cpu = cpu }
        if let p = h.PidsLimit, p != 0 { res.pids = Spec.Pids(limit: p < 0 ? -1 : p) }
        if let w = h.BlkioWeight, w > 0 { res.blockIO = Spec.BlockIO(weight: UInt16(w)) }
        spec.linux?.resources = res
        // --init: Docker's docker-init (tini) bind-mounted at /sbin/docker-init as PID 1.
        if h.Init == true {
            guard let initPath else {
                throw BerthError(.invalidArgument, "exec: \"docker-init\": executable file not found in $PATH")
            }
            let args = spec.process?.args ?? []
            spec.process?.args = ["/sbin/docker-init", "--"] + args
            spec.mounts?.append(Spec.Mount(destination: "/sbin/docker-init", type: "bind", source: initPath,
                                           options: ["bind", "ro"]))
        }
        if let ann = h.Annotations, !ann.isEmpty { spec.annotations = ann }
        return spec
    }

    // MARK: - Users

    /// Resolves Docker's `User` (`name`, `uid`, `name:group`, `uid:gid`) against the rootfs' files
    /// (moby's `getUser` via `user.GetExecUserPath`). `groupAdd` adds supplementary groups.
    public static func resolveUser(_ spec: String, passwd: String?, group: String?, groupAdd: [String] = []) throws -> Spec.User {
        let users = parseColonFile(passwd ?? "")
        let groups = parseColonFile(group ?? "")
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let userPart = parts.first ?? ""
        let groupPart = parts.count > 1 ? parts[1] : nil
        var uid: UInt32 = 0, gid: UInt32 = 0
        var userName: String?
        if userPart.isEmpty {
            if let root = users.first(where: { $0.count >= 4 && $0[2] == "0" }) {
                userName = root[0]
                gid = UInt32(root[3]) ?? 0
            }
        } else if let entry = users.first(where: { $0.count >= 4 && ($0[0] == userPart || $0[2] == userPart) }) {
            uid = UInt32(entry[2]) ?? 0
            gid = UInt32(entry[3]) ?? 0
            userName = entry[0]
        } else if let n = UInt32(userPart) {
            uid = n
        } else {
            throw BerthError(.internalError, "unable to find user \(userPart): no matching entries in passwd file")
        }
        if let g = groupPart, !g.isEmpty {
            if let entry = groups.first(where: { $0.count >= 3 && ($0[0] == g || $0[2] == g) }) {
                gid = UInt32(entry[2]) ?? 0
            } else if let n = UInt32(g) {
                gid = n
            } else {
                throw BerthError(.internalError, "unable to find group \(g): no matching entries in group file")
            }
        }
        var extra: [UInt32] = []
        if groupPart == nil, let name = userName {
            for g in groups where g.count >= 4 {
                let members = g[3].split(separator: ",").map(String.init)
                if members.contains(name), let n = UInt32(g[2]), n != gid, !extra.contains(n) { extra.append(n) }
            }
        }
        for g in groupAdd {
            if let entry = groups.first(where: { $0.count >= 3 && ($0[0] == g || $0[2] == g) }), let n = UInt32(entry[2]) {
                if !extra.contains(n) { extra.append(n) }
            } else if let n = UInt32(g) {
                if !extra.contains(n) { extra.append(n) }
            } else {
                throw BerthError(.internalError, "Unable to find group \(g): no matching entries in group file")
            }
        }
        var u = Spec.User(uid: uid, gid: gid, additionalGids: extra.isEmpty ? nil : extra)
        u.username = nil
        return u
    }

    static func parseColonFile(_ text: String) -> [[String]] {
        text.split(separator: "\n").compactMap { line in
            let l = line.trimmingCharacters(in: .whitespaces)
            if l.isEmpty || l.hasPrefix("#") { return nil }
            return l.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        }
    }
}
