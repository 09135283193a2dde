import APIModels
import Foundation
import OCI

/// `GET /containers/{id}/stats`: cgroup counters (v1 or v2) in Docker's `StatsJSON` shape.
public enum ContainerStats {
    /// One sample; `pre` is the previous sample's `cpu_stats` (zeros for the first).
    static func sample(id: String, name: String, pid: Int, running: Bool, pre: JSONValue?, preRead: String) -> JSONValue {
        let now = ContainerSystem.nowStamp()
        var cpuTotal: Double = 0, percpu: [JSONValue] = [], user: Double = 0, kernel: Double = 0
        var memUsage: Double = 0, memMax: Double = 0, memLimit: Double = 0, pids: Double = 0
        var memStats: [String: JSONValue] = [:]
        if running, pid > 0 {
            let paths = cgroupPaths(pid)
            if let v2 = paths[""] {
                let base = "/sys/fs/cgroup" + v2
                let cpu = keyValues(base + "/cpu.stat")
                cpuTotal = (cpu["usage_usec"] ?? 0) * 1000
                user = (cpu["user_usec"] ?? 0) * 1000
                kernel = (cpu["system_usec"] ?? 0) * 1000
                memUsage = number(base + "/memory.current") ?? 0
                memMax = number(base + "/memory.peak") ?? memUsage
                memLimit = number(base + "/memory.max") ?? physicalMemory()
                pids = number(base + "/pids.current") ?? 0
                for (k, v) in keyValues(base + "/memory.stat") { memStats[k] = .number(v) }
            }
            if let p = paths["cpuacct"] {
                let base = "/sys/fs/cgroup/cpu,cpuacct" + p
                let dir = FileManager.default.fileExists(atPath: base) ? base : "/sys/fs/cgroup/cpuacct" + p
                cpuTotal = number(dir + "/cpuacct.usage") ?? cpuTotal
                percpu = ((try? String(contentsOfFile: dir + "/cpuacct.usage_percpu", encoding: .utf8)) ?? "")
                    .split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }.map { .number($0) }
                let st = keyValues(dir + "/cpuacct.stat")
                user = (st["user"] ?? 0) * 10_000_000
                kernel = (st["system"] ?? 0) * 10_000_000
            }
            if let p = paths["memory"] {
                let base = "/sys/fs/cgroup/memory" + p
                memUsage = number(base + "/memory.usage_in_bytes") ?? 0
                memMax = number(base + "/memory.max_usage_in_bytes") ?? 0
                memLimit = min(number(base + "/memory.limit_in_bytes") ?? physicalMemory(), physicalMemory())
                for (k, v) in keyValues(base + "/memory.stat") { memStats[k] = .number(v) }
            }
            if let p = paths["pids"] { pids = number("/sys/fs/cgroup/pids" + p + "/pids.current") ?? 0 }
        }
        let cpus = Double(ProcessInfo.processInfo.activeProcessorCount)
        let cpuStats: JSONValue = .object([
            "cpu_usage": .object(["total_usage": .number(cpuTotal), "percpu_usage": .array(percpu),
                                  "usage_in_kernelmode": .number(kernel), "usage_in_usermode": .number(user)]),
            "system_cpu_usage": .number(systemCPU()), "online_cpus": .number(cpus),
            "throttling_data": .object(["periods": .number(0), "throttled_periods": .number(0), "throttled_time": .number(0)]),
        ])
        return .object([
            "read": .string(running ? now : "0001-01-01T00:00:00Z"), "preread": .string(preRead),
            "pids_stats": .object(running ? ["current": .number(pids)] : [:]),
            "blkio_stats": .object(["io_service_bytes_recursive": .null, "io_serviced_recursive": .null]),
            "num_procs": .number(0), "storage_stats": .object([:]),
            "cpu_stats": cpuStats,
            "precpu_stats": pre ?? .object(["cpu_usage": .object(["total_usage": .number(0), "usage_in_kernelmode": .number(0),
                                                                  "usage_in_usermode": .number(0)]),
                                             "throttling_data": .object(["periods": .number(0), "throttled_periods": .number(0),
                                                                         "throttled_time": .number(0)])]),
            "memory_stats": running ? .object(["usage": .number(memUsage), "max_usage": .number(memMax),
                                               "stats": .object(memStats), "limit": .number(memLimit)]) : .object([:]),
            "name": .string(name), "id": .string(id),
        ])
    }

    /// controller → path from `/proc/PID/cgroup` (`""` for the v2 unified hierarchy).
    static func cgroupPaths(_ pid: Int) -> [String: String] {
        var out: [String: String] = [:]
        let text = (try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            if parts[1].isEmpty {
                if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") { out[""] = String(parts[2]) }
                continue
            }
            for c in parts[1].split(separator: ",") { out[String(c)] = String(parts[2]) }
        }
        return out
    }

    static func number(_ path: String) -> Double? {
        guard let s = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return Double(s.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func keyValues(_ path: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2, let v = Double(f[1]) { out[String(f[0])] = v }
        }
        return out
    }

    static func physicalMemory() -> Double { Double(ProcessInfo.processInfo.physicalMemory) }

    /// `/proc/stat` total jiffies in nanoseconds (Docker's `system_cpu_usage`).
    static func systemCPU() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return 0 }
        let total = line.split(separator: " ").dropFirst().prefix(7).compactMap { Double($0) }.reduce(0, +)
        return total * 1e9 / 100
    }
}

extension ContainerService {
    /// One stats sample for the container; `pre` from the previous sample.
    public func stats(_ ref: String, pre: JSONValue?, preRead: String) throws -> JSONValue {
        let r = try resolve(ref)
        return ContainerStats.sample(id: r.ID, name: r.Name, pid: r.State.Pid, running: r.State.Running, pre: pre, preRead: preRead)
    }
}
