import Foundation
import OCI
import Testing
@testable import Runtime

/// `berth-runtime update`: the writes and their order on a v1 memory cgroup.
@Suite struct CgroupUpdateTests {
    static let mib: Int64 = 1 << 20

    func memoryCgroup(limit: Int64, memsw: Int64) -> (FakeSystem, CgroupManager) {
        let fs = FakeSystem()
        let hs = [CgroupLayout.Hierarchy(mountPoint: "/cg/memory", controllers: ["memory"]),
                  CgroupLayout.Hierarchy(mountPoint: "/cg/pids", controllers: ["pids"]),
                  CgroupLayout.Hierarchy(mountPoint: "/cg/cpu,cpuacct", controllers: ["cpu", "cpuacct"])]
        for h in hs { try? fs.mkdirAll(h.mountPoint + "/berth/c1", mode: 0o755) }
        fs.files["/cg/memory/berth/c1/memory.limit_in_bytes"] = "\(limit)\n"
        fs.files["/cg/memory/berth/c1/memory.memsw.limit_in_bytes"] = "\(memsw)\n"
        return (fs, CgroupManager(sys: fs, layout: .v1(hierarchies: hs), path: "/berth/c1"))
    }

    // (current limit, new limit, new memory+swap) → files in write order
    @Test(arguments: [
        (100 * mib, 300 * mib, 600 * mib, ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]),   // growing: memsw first
        (300 * mib, 50 * mib, 70 * mib, ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]),     // shrinking: memory first
        (300 * mib, 400 * mib, -1, ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]),          // unlimited swap
    ] as [(Int64, Int64, Int64, [String])])
    func memoryOrder(current: Int64, limit: Int64, swap: Int64, files: [String]) throws {
        let (fs, cg) = memoryCgroup(limit: current, memsw: current * 2)
        fs.writes = []
        try cg.update(Spec.Resources(memory: Spec.Memory(limit: limit, swap: swap)))
        #expect(fs.writes.map { String($0.0.split(separator: "/").last!) } == files)
        #expect(fs.files["/cg/memory/berth/c1/memory.limit_in_bytes"] == "\(limit)")
    }

    @Test func zeroValuesAreLeftAlone() throws {
        let (fs, cg) = memoryCgroup(limit: 100 * Self.mib, memsw: 200 * Self.mib)
        fs.writes = []
        var r = Spec.Resources(cpu: Spec.CPU(shares: 512, quota: 50_000, period: 100_000), pids: Spec.Pids(limit: -1))
        r.devices = [Spec.DeviceCgroup(allow: false, access: "rwm")]
        try cg.update(r)
        #expect(fs.writes.map { "\($0.0.split(separator: "/").last!)=\($0.1)" }
            == ["cpu.shares=512", "cpu.cfs_period_us=100000", "cpu.cfs_quota_us=50000", "pids.max=max"])
    }

    @Test func writeErrorsReadLikeRunc() throws {
        let (fs, cg) = memoryCgroup(limit: 100 * Self.mib, memsw: 200 * Self.mib)
        fs.files.removeValue(forKey: "/cg/memory/berth/c1/memory.memsw.limit_in_bytes")
        #expect(throws: BerthError.self) { try cg.update(Spec.Resources(memory: Spec.Memory(limit: 50 * Self.mib, swap: 80 * Self.mib))) }
        try? fs.removeDirectory("/cg/pids/berth/c1")
        do {
            try cg.update(Spec.Resources(pids: Spec.Pids(limit: 5)))
            Issue.record("expected an error")
        } catch let e as BerthError {
            #expect(e.message == "failed to write \"5\": write /cg/pids/berth/c1/pids.max")
        }
    }
}
