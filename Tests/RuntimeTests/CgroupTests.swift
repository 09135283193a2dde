import Foundation
import OCI
import Testing
@testable import Runtime

@Suite struct CgroupPathTests {
    @Test(arguments: [
        ("/berth/abc", "/berth/abc"), ("berth/abc", "/berth/abc"), ("/a//b/", "/a/b"),
        ("system.slice:berth:abc", "/system.slice/berth-abc.scope"), ("", "/berth/id1"),
    ])
    func normalize(input: String, expected: String) throws {
        #expect(try CgroupManager.normalize(cgroupsPath: input, id: "id1") == expected)
    }

    @Test func rejectsDotDot() {
        #expect(throws: BerthError.self) { try CgroupManager.normalize(cgroupsPath: "/a/../../etc", id: "x") }
    }

    static let mountinfo = """
    30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
    31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
    32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
    33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpu,cpuacct
    34 30 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,memory
    35 30 0:31 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpuset,clone_children
    """

    @Test func parsesV1Hierarchies() {
        let hs = CgroupLayout.parseV1(mountinfo: Self.mountinfo)
        #expect(hs.map(\.mountPoint) == ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpuset"])
        #expect(hs[0].options == "name=systemd")
        #expect(hs[1].controllers == ["cpu", "cpuacct"])
        #expect(hs[3].controllers == ["cpuset"])
    }

    @Test func detectsUnifiedMode() throws {
        let fs = FakeSystem()
        fs.fsTypes["/sys/fs/cgroup"] = 0x6367_7270
        #expect(try CgroupLayout.detect(fs) == .unified(root: "/sys/fs/cgroup"))
        let v1 = FakeSystem()
        v1.fsTypes["/sys/fs/cgroup"] = 0x0102_1994 // tmpfs
        v1.files["/proc/self/mountinfo"] = Self.mountinfo
        guard case .v1(let hs) = try CgroupLayout.detect(v1) else { Issue.record("expected v1"); return }
        #expect(hs.count == 4)
    }
}

@Suite struct CgroupValueTests {
    static let v1 = CgroupLayout.v1(hierarchies: [])
    static let v2 = CgroupLayout.unified(root: "/sys/fs/cgroup")

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var resources: Spec.Resources
        var v1: [String]
        var v2: [String]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "memory", resources: Spec.Resources(memory: Spec.Memory(limit: 104_857_600, reservation: 52_428_800, swap: 209_715_200)),
             v1: ["memory.limit_in_bytes=104857600", "memory.memsw.limit_in_bytes=209715200", "memory.soft_limit_in_bytes=52428800"],
             v2: ["memory.low=52428800", "memory.max=104857600", "memory.swap.max=104857600"]),
        Case(name: "unlimited swap", resources: Spec.Resources(memory: Spec.Memory(limit: 1_048_576, swap: -1)),
             v1: ["memory.limit_in_bytes=1048576", "memory.memsw.limit_in_bytes=-1"],
             v2: ["memory.max=1048576", "memory.swap.max=max"]),
        Case(name: "cpu", resources: Spec.Resources(cpu: Spec.CPU(shares: 512, quota: 50000, period: 100_000, cpus: "0", mems: "0")),
             v1: ["cpu.shares=512", "cpu.cfs_period_us=100000", "cpu.cfs_quota_us=50000", "cpuset.cpus=0", "cpuset.mems=0"],
             v2: ["cpu.weight=20", "cpu.max=50000 100000", "cpuset.cpus=0", "cpuset.mems=0"]),
        Case(name: "pids", resources: Spec.Resources(pids: Spec.Pids(limit: 100)), v1: ["pids.max=100"], v2: ["pids.max=100"]),
        Case(name: "pids unlimited", resources: Spec.Resources(pids: Spec.Pids(limit: -1)), v1: ["pids.max=max"], v2: ["pids.max=max"]),
    ]

    @Test(arguments: cases)
    func writes(c: Case) throws {
        #expect(try CgroupManager.writes(for: c.resources, layout: Self.v1).map { "\($0.0)=\($0.1)" } == c.v1)
        #expect(try CgroupManager.writes(for: c.resources, layout: Self.v2).map { "\($0.0)=\($0.1)" } == c.v2)
    }

    @Test(arguments: [(UInt64(2), UInt64(1)), (1024, 39), (512, 20), (262_144, 10000)])
    func sharesToWeight(shares: UInt64, weight: UInt64) {
        #expect(CgroupManager.cpuWeight(shares: shares) == weight)
    }

    @Test(arguments: [
        (Spec.DeviceCgroup(allow: false, access: "rwm"), "a *:* rwm"),
        (Spec.DeviceCgroup(allow: true, type: "c", major: 1, minor: 3, access: "rwm"), "c 1:3 rwm"),
        (Spec.DeviceCgroup(allow: true, type: "c", major: 136, minor: -1, access: "rwm"), "c 136:* rwm"),
        (Spec.DeviceCgroup(allow: true, type: "b", access: "m"), "b *:* m"),
    ])
    func deviceRules(rule: Spec.DeviceCgroup, text: String) throws {
        #expect(try CgroupManager.deviceRule(rule) == text)
    }

    @Test func deviceRulesEndWithRuncDefaults() throws {
        let w = try CgroupManager.writes(for: Spec.Resources(devices: [Spec.DeviceCgroup(allow: false, access: "rwm")]), layout: Self.v1)
        #expect(w.first! == ("devices.deny", "a *:* rwm"))
        #expect(w.contains { $0 == ("devices.allow", "c 136:* rwm") })
    }

    @Test func unifiedOnV1IsAnError() throws {
        var r = Spec.Resources()
        r.unified = ["memory.high": "1000"]
        #expect(throws: BerthError.self) { try CgroupManager.writes(for: r, layout: Self.v1) }
        #expect(try CgroupManager.writes(for: r, layout: Self.v2).map { "\($0.0)=\($0.1)" } == ["memory.high=1000"])
    }
}

@Suite struct CgroupManagerTests {
    func v1System() -> (FakeSystem, CgroupManager) {
        let fs = FakeSystem()
        let hs = [CgroupLayout.Hierarchy(mountPoint: "/cg/memory", controllers: ["memory"]),
                  CgroupLayout.Hierarchy(mountPoint: "/cg/cpuset", controllers: ["cpuset"]),
                  CgroupLayout.Hierarchy(mountPoint: "/cg/freezer", controllers: ["freezer"])]
        for h in hs { try? fs.mkdirAll(h.mountPoint, mode: 0o755) }
        fs.files["/cg/cpuset/cpuset.cpus"] = "0-1\n"
        fs.files["/cg/cpuset/cpuset.mems"] = "0\n"
        return (fs, CgroupManager(sys: fs, layout: .v1(hierarchies: hs), path: "/berth/c1"))
    }

    @Test func createsJoinsAppliesAndDestroys() throws {
        let (fs, cg) = v1System()
        try cg.create()
        #expect(fs.dirs.isSuperset(of: ["/cg/memory/berth/c1", "/cg/cpuset/berth", "/cg/cpuset/berth/c1", "/cg/freezer/berth/c1"]))
        // New cpuset groups get their parent's cpus and mems.
        #expect(fs.files["/cg/cpuset/berth/c1/cpuset.cpus"] == "0-1")
        try cg.apply(Spec.Resources(memory: Spec.Memory(limit: 4096)))
        #expect(fs.files["/cg/memory/berth/c1/memory.limit_in_bytes"] == "4096")
        try cg.join(pid: 42)
        #expect(fs.files["/cg/freezer/berth/c1/cgroup.procs"] == "42")
        try cg.destroy()
        #expect(!fs.dirs.contains("/cg/memory/berth/c1"))
    }

    @Test func freezes() throws {
        let (fs, cg) = v1System()
        try cg.create()
        try cg.setFrozen(true)
        #expect(fs.files["/cg/freezer/berth/c1/freezer.state"] == "FROZEN")
        #expect(cg.isFrozen())
    }

    @Test func readsV2Stats() throws {
        let fs = FakeSystem()
        let cg = CgroupManager(sys: fs, layout: .unified(root: "/cg"), path: "/c")
        try cg.create()
        fs.files["/cg/c/cpu.stat"] = "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"
        fs.files["/cg/c/memory.current"] = "8192\n"
        fs.files["/cg/c/memory.max"] = "1048576\n"
        fs.files["/cg/c/memory.events"] = "low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\n"
        fs.files["/cg/c/pids.current"] = "4\n"
        fs.files["/cg/c/pids.max"] = "max\n"
        let s = cg.stats()
        #expect(s.cpuUsageNanos == 1_500_000)
        #expect(s.memoryUsage == 8192 && s.memoryLimit == 1_048_576)
        #expect(s.oomEvents == 2 && s.oomKills == 1)
        #expect(s.pidsCurrent == 4 && s.pidsLimit == 0)
    }
}
