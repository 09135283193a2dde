import OCI

extension CgroupManager {
    /// The (file, value) writes that apply `r`, in order. Pure: unit-tested per layout.
    public static func writes(for r: Spec.Resources, layout: CgroupLayout) throws -> [(String, String)] {
        switch layout {
        case .v1: return try v1Writes(r)
        case .unified: return try v2Writes(r)
        }
    }

    static func v1Writes(_ r: Spec.Resources) throws -> [(String, String)] {
        var w: [(String, String)] = []
        if let u = r.unified, !u.isEmpty {
            throw BerthError(.invalidArgument, "invalid configuration: cannot use unified on cgroup v1")
        }
        if let m = r.memory {
            if let l = m.limit, l != 0 { w.append(("memory.limit_in_bytes", String(l))) }
            if let s = m.swap, s != 0 { w.append(("memory.memsw.limit_in_bytes", String(s))) }
            if let res = m.reservation, res != 0 { w.append(("memory.soft_limit_in_bytes", String(res))) }
            if let sw = m.swappiness, sw <= 100 { w.append(("memory.swappiness", String(sw))) }
            if m.disableOOMKiller == true { w.append(("memory.oom_control", "1")) }
        }
        if let c = r.cpu {
            if let s = c.shares, s != 0 { w.append(("cpu.shares", String(s))) }
            if let p = c.period, p != 0 { w.append(("cpu.cfs_period_us", String(p))) }
            if let q = c.quota, q != 0 { w.append(("cpu.cfs_quota_us", String(q))) }
            if let p = c.realtimePeriod, p != 0 { w.append(("cpu.rt_period_us", String(p))) }
            if let rt = c.realtimeRuntime, rt != 0 { w.append(("cpu.rt_runtime_us", String(rt))) }
            if let cpus = c.cpus, !cpus.isEmpty { w.append(("cpuset.cpus", cpus)) }
            if let mems = c.mems, !mems.isEmpty { w.append(("cpuset.mems", mems)) }
        }
        if let p = r.pids { w.append(("pids.max", p.limit > 0 ? String(p.limit) : "max")) }
        if let b = r.blockIO {
            if let wt = b.weight, wt != 0 { w.append(("blkio.weight", String(wt))) }
            if let lw = b.leafWeight, lw != 0 { w.append(("blkio.leaf_weight", String(lw))) }
            for d in b.weightDevice ?? [] {
                if let wt = d.weight { w.append(("blkio.weight_device", "\(d.major):\(d.minor) \(wt)")) }
            }
            for d in b.throttleReadBpsDevice ?? [] { w.append(("blkio.throttle.read_bps_device", "\(d.major):\(d.minor) \(d.rate)")) }
            for d in b.throttleWriteBpsDevice ?? [] { w.append(("blkio.throttle.write_bps_device", "\(d.major):\(d.minor) \(d.rate)")) }
            for d in b.throttleReadIOPSDevice ?? [] { w.append(("blkio.throttle.read_iops_device", "\(d.major):\(d.minor) \(d.rate)")) }
            for d in b.throttleWriteIOPSDevice ?? [] { w.append(("blkio.throttle.write_iops_device", "\(d.major):\(d.minor) \(d.rate)")) }
        }
        if let devices = r.devices {
            // As runc: the spec's rules, then its always-allowed devices.
            for rule in devices + runcAllowedDevices {
                w.append((rule.allow ? "devices.allow" : "devices.deny", try deviceRule(rule)))
            }
        }
        return w
    }

    /// Devices runc always allows after the spec's rules (mknod of anything, the standard nodes,
    /// ptys and tun).
    public static let runcAllowedDevices: [Spec.DeviceCgroup] = [
        .init(allow: true, type: "c", major: -1, minor: -1, access: "m"),
        .init(allow: true, type: "b", major: -1, minor: -1, access: "m"),
        .init(allow: true, type: "c", major: 1, minor: 3, access: "rwm"),
        .init(allow: true, type: "c", major: 1, minor: 8, access: "rwm"),
        .init(allow: true, type: "c", major: 1, minor: 7, access: "rwm"),
        .init(allow: true, type: "c", major: 5, minor: 0, access: "rwm"),
        .init(allow: true, type: "c", major: 1, minor: 5, access: "rwm"),
        .init(allow: true, type: "c", major: 1, minor: 9, access: "rwm"),
        .init(allow: true, type: "c", major: 136, minor: -1, access: "rwm"),
        .init(allow: true, type: "c", major: 5, minor: 2, access: "rwm"),
        .init(allow: true, type: "c", major: 10, minor: 200, access: "rwm"),
    ]

    /// A device cgroup rule in v1 syntax: "c 1:3 rwm", "a *:* rwm".
    public static func deviceRule(_ d: Spec.DeviceCgroup) throws -> String {
        let type = d.type ?? "a"
        guard ["a", "b", "c"].contains(type) else {
            throw BerthError(.invalidArgument, "invalid device cgroup type \(type)")
        }
        let access = d.access ?? "rwm"
        guard !access.isEmpty, access.allSatisfy({ "rwm".contains($0) }) else {
            throw BerthError(.invalidArgument, "invalid device cgroup access \(access)")
        }
        func num(_ n: Int64?) -> String { n.map { $0 < 0 ? "*" : String($0) } ?? "*" }
        if type == "a" { return "a *:* \(access)" }
        return "\(type) \(num(d.major)):\(num(d.minor)) \(access)"
    }

    /// cpu.shares (2..262144) → cpu.weight (1..10000), as runc converts.
    public static func cpuWeight(shares: UInt64) -> UInt64 {
        if shares == 0 { return 0 }
        let s = min(max(shares, 2), 262_144)
        return 1 + ((s - 2) * 9999) / 262_142
    }

    /// blkio.weight (10..1000) → io.weight (1..10000).
    public static func ioWeight(blkio: UInt16) -> UInt64 {
        if blkio == 0 { return 0 }
        return 1 + (UInt64(max(blkio, 10)) - 10) * 9999 / 990
    }

    static func v2Writes(_ r: Spec.Resources) throws -> [(String, String)] {
        var w: [(String, String)] = []
        func lim(_ v: Int64) -> String { v < 0 ? "max" : String(v) }
        if let m = r.memory {
            if let res = m.reservation, res != 0 { w.append(("memory.low", lim(res))) }
            if let l = m.limit, l != 0 { w.append(("memory.max", lim(l))) }
            if let s = m.swap, s != 0 {
                // v1's memory+swap total → v2's swap alone.
                if s < 0 {
                    w.append(("memory.swap.max", "max"))
                } else if let l = m.limit, l > 0 {
                    guard s >= l else { throw BerthError(.invalidArgument, "memory+swap limit should be >= memory limit") }
                    w.append(("memory.swap.max", String(s - l)))
                } else {
                    throw BerthError(.invalidArgument, "memory swap limit needs a memory limit")
                }
            }
            if m.disableOOMKiller == true {
                throw BerthError(.unsupported, "disabling the OOM killer is not supported on cgroup v2")
            }
        }
        if let c = r.cpu {
            if let s = c.shares, s != 0 { w.append(("cpu.weight", String(cpuWeight(shares: s)))) }
            if c.quota != nil || c.period != nil {
                let q = c.quota.map { $0 > 0 ? String($0) : "max" } ?? "max"
                w.append(("cpu.max", "\(q) \(c.period ?? 100_000)"))
            }
            if let idle = c.idle, idle != 0 { w.append(("cpu.idle", String(idle))) }
            if let cpus = c.cpus, !cpus.isEmpty { w.append(("cpuset.cpus", cpus)) }
            if let mems = c.mems, !mems.isEmpty { w.append(("cpuset.mems", mems)) }
        }
        if let p = r.pids { w.append(("pids.max", p.limit > 0 ? String(p.limit) : "max")) }
        if let b = r.blockIO {
            if let wt = b.weight, wt != 0 { w.append(("io.weight", String(ioWeight(blkio: wt)))) }
            var io: [String: [String]] = [:]
            for d in b.throttleReadBpsDevice ?? [] { io["\(d.major):\(d.minor)", default: []].append("rbps=\(d.rate)") }
            for d in b.throttleWriteBpsDevice ?? [] { io["\(d.major):\(d.minor)", default: []].append("wbps=\(d.rate)") }
            for d in b.throttleReadIOPSDevice ?? [] { io["\(d.major):\(d.minor)", default: []].append("riops=\(d.rate)") }
            for d in b.throttleWriteIOPSDevice ?? [] { io["\(d.major):\(d.minor)", default: []].append("wiops=\(d.rate)") }
            for key in io.keys.sorted() { w.append(("io.max", "\(key) " + io[key]!.joined(separator: " "))) }
        }
        for key in (r.unified ?? [:]).keys.sorted() {
            guard !key.contains("/"), key.contains(".") else { throw BerthError(.invalidArgument, "invalid unified key \(key)") }
            w.append((key, r.unified![key]!))
        }
        // Device rules are no files on v2: `apply` attaches them as an eBPF program (DeviceFilter).
        return w
    }
}
