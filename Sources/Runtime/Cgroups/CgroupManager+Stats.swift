import Foundation
import OCI

extension CgroupManager {
    /// Reads usage figures (missing files are reported as zero).
    public func stats() -> CgroupStats {
        var s = CgroupStats()
        func read(_ controller: String, _ file: String) -> String? {
            guard let dir = directory(for: controller) else { return nil }
            return try? sys.readFile(dir + "/" + file)
        }
        func num(_ text: String?) -> UInt64 {
            guard let t = text?.trimmingCharacters(in: .whitespacesAndNewlines) else { return 0 }
            return UInt64(t) ?? 0
        }
        func keyed(_ text: String?) -> [String: UInt64] {
            var m: [String: UInt64] = [:]
            for line in (text ?? "").split(separator: "\n") {
                let p = line.split(separator: " ")
                if p.count == 2, let v = UInt64(p[1]) { m[String(p[0])] = v }
            }
            return m
        }
        let hostMemory = Self.hostMemory()
        switch layout {
        case .v1:
            s.cpuUsageNanos = num(read("cpuacct", "cpuacct.usage"))
            s.perCPUNanos = (read("cpuacct", "cpuacct.usage_percpu") ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt64($0) }
            let cs = keyed(read("cpuacct", "cpuacct.stat"))
            let tick = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
            s.cpuUserNanos = (cs["user"] ?? 0) * 1_000_000_000 / tick
            s.cpuSystemNanos = (cs["system"] ?? 0) * 1_000_000_000 / tick
            s.memoryUsage = num(read("memory", "memory.usage_in_bytes"))
            s.memoryMaxUsage = num(read("memory", "memory.max_usage_in_bytes"))
            let limit = num(read("memory", "memory.limit_in_bytes"))
            s.memoryLimit = limit == 0 || limit > hostMemory ? hostMemory : limit
            s.memoryFailCount = num(read("memory", "memory.failcnt"))
            s.memoryStat = keyed(read("memory", "memory.stat"))
            let oom = keyed(read("memory", "memory.oom_control"))
            s.oomKills = oom["oom_kill"] ?? 0
            s.oomEvents = s.memoryFailCount
            s.pidsCurrent = num(read("pids", "pids.current"))
            let pmax = read("pids", "pids.max")?.trimmingCharacters(in: .whitespacesAndNewlines)
            s.pidsLimit = pmax == "max" ? 0 : num(pmax)
        case .unified:
            let cpu = keyed(read("cpu", "cpu.stat"))
            s.cpuUsageNanos = (cpu["usage_usec"] ?? 0) * 1000
            s.cpuUserNanos = (cpu["user_usec"] ?? 0) * 1000
            s.cpuSystemNanos = (cpu["system_usec"] ?? 0) * 1000
            s.memoryUsage = num(read("memory", "memory.current"))
            s.memoryMaxUsage = num(read("memory", "memory.peak"))
            let max = read("memory", "memory.max")?.trimmingCharacters(in: .whitespacesAndNewlines)
            s.memoryLimit = max == nil || max == "max" ? hostMemory : num(max)
            s.memoryStat = keyed(read("memory", "memory.stat"))
            let ev = keyed(read("memory", "memory.events"))
            s.oomEvents = ev["oom"] ?? 0
            s.oomKills = ev["oom_kill"] ?? 0
            s.memoryFailCount = ev["max"] ?? 0
            s.pidsCurrent = num(read("pids", "pids.current"))
            let pmax = read("pids", "pids.max")?.trimmingCharacters(in: .whitespacesAndNewlines)
            s.pidsLimit = pmax == "max" ? 0 : num(pmax)
        }
        return s
    }

    static func hostMemory() -> UInt64 {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        return pages > 0 && size > 0 ? UInt64(pages) * UInt64(size) : 0
    }
}
