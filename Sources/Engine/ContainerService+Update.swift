import APIModels
import Foundation
import OCI

/// What the host's cgroups can do, as far as `update` cares (moby's `sysinfo`).
public struct UpdateHostInfo: Sendable, Equatable {
    public var cpus: Int
    /// cpuset of the cgroup root (`0-1`), for "Requested CPUs are not available".
    public var cpusetCpus: String
    public var cpusetMems: String
    public var swapLimit: Bool
    public var blkioWeight: Bool

    public init(cpus: Int, cpusetCpus: String, cpusetMems: String, swapLimit: Bool, blkioWeight: Bool) {
        self.cpus = cpus
        self.cpusetCpus = cpusetCpus
        self.cpusetMems = cpusetMems
        self.swapLimit = swapLimit
        self.blkioWeight = blkioWeight
    }

    /// Read from `/sys/fs/cgroup` (v1 or v2).
    public static func current() -> UpdateHostInfo {
        func read(_ p: String) -> String? {
            (try? String(contentsOfFile: p, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let fm = FileManager.default
        let v2 = fm.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers")
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        if v2 {
            return UpdateHostInfo(
                cpus: cpus, cpusetCpus: read("/sys/fs/cgroup/cpuset.cpus.effective") ?? read("/sys/devices/system/cpu/online") ?? "",
                cpusetMems: read("/sys/fs/cgroup/cpuset.mems.effective") ?? "0",
                swapLimit: true, blkioWeight: fm.fileExists(atPath: "/sys/fs/cgroup/berth/io.weight")
                    || (read("/sys/fs/cgroup/cgroup.subtree_control") ?? "").contains("io"))
        }
        return UpdateHostInfo(
            cpus: cpus, cpusetCpus: read("/sys/fs/cgroup/cpuset/cpuset.cpus") ?? read("/sys/devices/system/cpu/online") ?? "",
            cpusetMems: read("/sys/fs/cgroup/cpuset/cpuset.mems") ?? "0",
            swapLimit: fm.fileExists(atPath: "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
            blkioWeight: fm.fileExists(atPath: "/sys/fs/cgroup/blkio/blkio.weight"))
    }
}

/// Docker's rules for `POST /containers/{id}/update`: moby's `verifyPlatformContainerResources(update:
/// true)` on the request, then `Container.UpdateContainer` (merge into the stored host config), then
/// `toContainerdResources` (what goes to the runtime: the request's own values, zero = unchanged).
/// Pure: unit-tested.
public enum ContainerUpdateRules {
    static let minMemory: Int64 = 6 * 1024 * 1024

    /// Checks the request and adjusts what the host cannot do (with Docker's warnings). Errors are 400s.
    public static func validate(_ u: inout ContainerHostConfig, host: UpdateHostInfo) throws -> [String] {
        var warnings: [String] = []
        let memory = u.Memory ?? 0
        if memory != 0 && memory < minMemory { throw BerthError(.invalidArgument, "Minimum memory limit allowed is 6MB") }
        if memory > 0, (u.MemorySwap ?? 0) != -1, !host.swapLimit {
            warnings.append("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.")
            u.MemorySwap = -1
        }
        if let s = u.MemorySwap, memory > 0, s > 0, s < memory {
            throw BerthError(.invalidArgument, "Minimum memoryswap limit should be larger than memory limit, see usage")
        }
        if let s = u.MemorySwappiness, s != -1, s < 0 || s > 100 {
            throw BerthError(.invalidArgument, "Invalid value: \(s), valid memory swappiness range is 0-100")
        }
        let reservation = u.MemoryReservation ?? 0
        if reservation > 0 && reservation < minMemory {
            throw BerthError(.invalidArgument, "Minimum memory reservation allowed is 6MB")
        }
        if memory > 0 && reservation > 0 && memory < reservation {
            throw BerthError(.invalidArgument, "Minimum memory limit can not be less than memory reservation limit, see usage")
        }
        let nano = u.NanoCpus ?? 0, period = u.CpuPeriod ?? 0, quota = u.CpuQuota ?? 0
        if nano > 0 && period > 0 {
            throw BerthError(.invalidArgument, "Conflicting options: Nano CPUs and CPU Period cannot both be set")
        }
        if nano > 0 && quota > 0 {
            throw BerthError(.invalidArgument, "Conflicting options: Nano CPUs and CPU Quota cannot both be set")
        }
        if nano < 0 || nano > Int64(host.cpus) * 1_000_000_000 {
            throw BerthError(.invalidArgument,
                             "Range of CPUs is from 0.01 to \(host.cpus).00, as there are only \(host.cpus) CPUs available")
        }
        if period != 0 && (period < 1000 || period > 1_000_000) {
            throw BerthError(.invalidArgument,
                             "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1 second (i.e. 1000000)")
        }
        if quota > 0 && quota < 1000 {
            throw BerthError(.invalidArgument, "CPU cfs quota can not be less than 1ms (i.e. 1000)")
        }
        if let shares = u.CpuShares, shares < 0 {
            throw BerthError(.invalidArgument, "Invalid value \(shares) for cpu shares: must not be negative")
        }
        try checkSet(u.CpusetCpus, available: host.cpusetCpus, what: "cpus", missing: "Requested CPUs are not available")
        try checkSet(u.CpusetMems, available: host.cpusetMems, what: "mems", missing: "Requested memory nodes are not available")
        if let w = u.BlkioWeight, w > 0, !host.blkioWeight {
            warnings.append("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.")
            u.BlkioWeight = 0
        }
        if let w = u.BlkioWeight, w != 0, w < 10 || w > 1000 {
            throw BerthError(.invalidArgument, "Range of blkio weight is from 10 to 1000")
        }
        if let p = u.RestartPolicy { try validateRestart(p) }
        // Both 0 and any negative value mean "unlimited" in an update (moby's router).
        if let p = u.PidsLimit, p <= 0 { u.PidsLimit = 0 }
        return warnings
    }

    static func checkSet(_ value: String?, available: String, what: String, missing: String) throws {
        guard let value, !value.isEmpty else { return }
        guard let want = ContainerConfigRules.parseCPUSet(value) else {
            throw BerthError(.invalidArgument, "Invalid value \(value) for cpuset \(what): invalid format: \(value)")
        }
        let have = Set(ContainerConfigRules.parseCPUSet(available) ?? [])
        if !have.isEmpty, !want.allSatisfy(have.contains) {
            throw BerthError(.invalidArgument, "\(missing) - requested \(value), available: \(available)")
        }
    }

    /// moby's `validateRestartPolicy`.
    public static func validateRestart(_ p: RestartPolicy) throws {
        let n = p.MaximumRetryCount ?? 0
        switch p.Name ?? "" {
        case "always", "unless-stopped", "no":
            if n != 0 {
                throw BerthError(.invalidArgument, "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                                 + (n < 0 ? " and cannot be negative" : ""))
            }
        case "on-failure":
            if n < 0 { throw BerthError(.invalidArgument, "invalid restart policy: maximum retry count cannot be negative") }
        case "":
            break
        case let name:
            throw BerthError(.invalidArgument,
                             "invalid restart policy: unknown policy '\(name)'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'")
        }
    }

    /// moby's `Container.UpdateContainer`: the request's non-zero values over the stored ones.
    /// Errors are conflicts (409), reported as "Cannot update container ID: …".
    public static func merge(_ u: ContainerHostConfig, into h: ContainerHostConfig) throws -> ContainerHostConfig {
        var c = h
        let nano = u.NanoCpus ?? 0, period = u.CpuPeriod ?? 0, quota = u.CpuQuota ?? 0
        if nano > 0 && (h.CpuPeriod ?? 0) > 0 {
            throw BerthError(.conflict, "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set")
        }
        if nano > 0 && (h.CpuQuota ?? 0) > 0 {
            throw BerthError(.conflict, "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set")
        }
        if period > 0 && (h.NanoCpus ?? 0) > 0 {
            throw BerthError(.conflict, "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set")
        }
        if quota > 0 && (h.NanoCpus ?? 0) > 0 {
            throw BerthError(.conflict, "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
        }
        if let v = u.BlkioWeight, v != 0 { c.BlkioWeight = v }
        if let v = u.CpuShares, v != 0 { c.CpuShares = v }
        if nano != 0 { c.NanoCpus = nano }
        if period != 0 { c.CpuPeriod = period }
        if quota != 0 { c.CpuQuota = quota }
        if let v = u.CpusetCpus, !v.isEmpty { c.CpusetCpus = v }
        if let v = u.CpusetMems, !v.isEmpty { c.CpusetMems = v }
        if let m = u.Memory, m != 0 {
            // Docker's check, literally: the stored memory+swap (0 when never set) bounds a new limit.
            if m > (c.MemorySwap ?? 0) && (u.MemorySwap ?? 0) == 0 {
                throw BerthError(.conflict,
                                 "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")
            }
            c.Memory = m
        }
        if let v = u.MemorySwap, v != 0 { c.MemorySwap = v }
        if let v = u.MemoryReservation, v != 0 { c.MemoryReservation = v }
        if let v = u.CpuRealtimePeriod, v != 0 { c.CpuRealtimePeriod = v }
        if let v = u.CpuRealtimeRuntime, v != 0 { c.CpuRealtimeRuntime = v }
        if let v = u.PidsLimit { c.PidsLimit = v }
        if let p = u.RestartPolicy, let name = p.Name, !name.isEmpty {
            if h.AutoRemove == true && name != "no" {
                throw BerthError(.conflict, "Restart policy cannot be updated because AutoRemove is enabled for the container")
            }
            c.RestartPolicy = RestartPolicy(Name: name, MaximumRetryCount: p.MaximumRetryCount ?? 0)
        }
        return c
    }

    /// moby's `toContainerdResources`: the request's values for the runtime (absent = unchanged).
    public static func resources(_ u: ContainerHostConfig) -> Spec.Resources {
        var r = Spec.Resources()
        let memory = u.Memory ?? 0, swap = u.MemorySwap ?? 0, reservation = u.MemoryReservation ?? 0
        if memory != 0 || swap > 0 || reservation != 0 {
            r.memory = Spec.Memory(limit: memory != 0 ? memory : nil, reservation: reservation != 0 ? reservation : nil,
                                   swap: swap > 0 ? swap : nil)
        }
        var period: Int64 = 0, quota: Int64 = 0
        if let nano = u.NanoCpus, nano != 0 {
            period = 100_000
            quota = nano * period / 1_000_000_000
        }
        if quota == 0, let q = u.CpuQuota, q != 0 { quota = q }
        if period == 0, let p = u.CpuPeriod, p != 0 { period = p }
        let shares = u.CpuShares ?? 0
        let cpus = u.CpusetCpus ?? "", mems = u.CpusetMems ?? ""
        if shares > 0 || period > 0 || quota != 0 || !cpus.isEmpty || !mems.isEmpty {
            r.cpu = Spec.CPU(shares: shares > 0 ? UInt64(shares) : nil, quota: quota != 0 ? quota : nil,
                             period: period > 0 ? UInt64(period) : nil, cpus: cpus.isEmpty ? nil : cpus,
                             mems: mems.isEmpty ? nil : mems)
        }
        if let p = u.PidsLimit { r.pids = Spec.Pids(limit: p <= 0 ? -1 : p) }
        if let w = u.BlkioWeight, w > 0 { r.blockIO = Spec.BlockIO(weight: UInt16(clamping: w)) }
        return r
    }

    /// Whether the request changes anything the runtime must apply.
    static func touchesCgroups(_ r: Spec.Resources) -> Bool {
        r.memory != nil || r.cpu != nil || r.pids != nil || r.blockIO != nil
    }
}

/// `POST /containers/{id}/update` response.
public struct ContainerUpdateResponse: Codable, Sendable {
    public var Warnings: [String]
}

extension ContainerService {
    /// `POST /containers/{id}/update`: validates, stores the merged host config, and applies the new
    /// limits to a running (or paused) container with `RUNTIME update -r FILE`; on a runtime failure
    /// the stored config is put back. Stopped containers get the new values at their next start.
    public func updateContainer(_ ref: String, body: ContainerHostConfig, host: UpdateHostInfo = .current()) async throws
        -> ContainerUpdateResponse {
        var request = body
        let warnings = try ContainerUpdateRules.validate(&request, host: host)
        let r = try resolve(ref)
        let merged: ContainerHostConfig
        do {
            merged = try ContainerUpdateRules.merge(request, into: r.HostConfig)
        } catch let e as BerthError {
            throw BerthError(e.code, "Cannot update container \(r.ID): \(e.message)")
        }
        var updated = r
        updated.HostConfig = merged
        update(updated)
        let resources = ContainerUpdateRules.resources(request)
        var failure: BerthError?
        if r.State.Running, ContainerUpdateRules.touchesCgroups(resources) {
            failure = await applyResources(r, resources)
            if failure != nil, var cur = containers[r.ID] {
                cur.HostConfig = r.HostConfig
                update(cur)
            }
        }
        // As dockerd: the event goes out once the config was accepted, even if the runtime refused.
        if let cur = containers[r.ID] { await publish("update", cur) }
        if let failure { throw failure }
        return ContainerUpdateResponse(Warnings: warnings)
    }

    /// `RUNTIME update -r FILE ID`; the error to report, if any.
    private func applyResources(_ r: ContainerRecord, _ resources: Spec.Resources) async -> BerthError? {
        let file = bundleDir(r.ID) + "/update-\(UInt32.random(in: 0...UInt32.max)).json"
        let enc = JSONEncoder()
        enc.outputFormatting = [.withoutEscapingSlashes]
        do {
            try CFS.writeAtomically(file, Array(try enc.encode(resources)))
        } catch {
            return BerthError(.internalError, "Cannot update container \(r.ID): \(error)")
        }
        defer { try? FileManager.default.removeItem(atPath: file) }
        let out = await runtimeCommand(r, ["update", "-r", file, r.ID])
        guard out.status == 0 else {
            let text = Self.runtimeMessage(out.stderr + out.stdout) ?? "\(r.RuntimeName) update exited with status \(out.status)"
            return BerthError(.internalError, "Cannot update container \(r.ID): \(text)")
        }
        return nil
    }
}
