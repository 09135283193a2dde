import Foundation
import OCI
import Testing
@testable import Runtime

@Suite struct PlanTests {
    /// A probe for a fake host: the bundle's rootfs and /data are directories, /etc/hosts a file.
    static func probe(_ p: String) -> Bool? {
        switch p {
        case "/b/rootfs", "/data", "/sys": return true
        case "/etc/hosts", "/proc/1/ns/net": return false
        default: return nil
        }
    }

    func builder() -> PlanBuilder {
        var b = PlanBuilder(probe: Self.probe, cgroup: CgroupManager(sys: FakeSystem(), layout: .v1(hierarchies: [
            CgroupLayout.Hierarchy(mountPoint: "/sys/fs/cgroup/memory", controllers: ["memory"]),
        ]), path: "/berth/c1"))
        b.hasKcore = false
        return b
    }

    @Test func dockerDefaultPlan() throws {
        var spec = Spec.dockerDefault(args: ["true"], hostname: "box")
        spec.root?.readonly = true
        spec.linux?.sysctl = ["net.ipv4.ip_forward": "1"]
        let plan = try builder().build(spec: spec, bundle: "/b")
        #expect(plan.rootfs == "/b/rootfs")
        let flags: Int32 = 0x0002_0000 | 0x4000_0000 | 0x0400_0000 | 0x2000_0000 | 0x0800_0000
        #expect(plan.unshareFlags == flags)
        let kinds = plan.ops.map(\.kind)
        // Root propagation first, then the rootfs bind, spec mounts, /dev nodes, pivot, then the rest.
        #expect(kinds.first == .propagate && kinds[1] == .bindRootfs)
        let pivot = try #require(kinds.firstIndex(of: .pivot))
        #expect(kinds[pivot + 1] == .rootReadonly)
        #expect(kinds.lastIndex(of: .mount)! < pivot && kinds.firstIndex(of: .mask)! > pivot)
        // sysctls are written before /proc/sys becomes read-only.
        #expect(kinds.firstIndex(of: .write)! < kinds.firstIndex(of: .readonly)!)
        #expect(plan.ops.contains(SetupOp(.hostname, a: "box")))
        #expect(plan.ops.contains(SetupOp(.symlink, a: "pts/ptmx", b: "/dev/ptmx")))
        let null = try #require(plan.ops.first { $0.kind == .mknod && $0.b == "/dev/null" })
        #expect(null.n1 == 0o020666 && null.n2 == Int(PlanBuilder.makedev(1, 3)))
        // /sys/fs/cgroup: a tmpfs and a bind of the container's own cgroup (no cgroup namespace).
        #expect(plan.ops.contains(SetupOp(.mount, a: "/sys/fs/cgroup/memory/berth/c1", b: "/sys/fs/cgroup/memory",
                                          flags: [.rdonly, .nosuid, .nodev, .noexec, .bind])))
        #expect(plan.process.capsSet && plan.process.bounding == 0xa80425fb)
        #expect(plan.seccomp != nil)
    }

    @Test func bindMounts() throws {
        var spec = Spec.dockerDefault(args: ["true"])
        spec.mounts = [
            Spec.Mount(destination: "/data", type: "bind", source: "/data", options: ["rbind", "ro", "rslave"]),
            Spec.Mount(destination: "/etc/hosts", type: "bind", source: "/etc/hosts", options: ["bind"]),
        ]
        let plan = try builder().build(spec: spec, bundle: "/b")
        #expect(plan.ops.contains(SetupOp(.mount, a: "/data", b: "/data", flags: [.bind, .rec, .rdonly])))
        #expect(plan.ops.contains(SetupOp(.propagate, b: "/data", flags: [.slave, .rec])))
        #expect(plan.ops.contains(SetupOp(.mount, a: "/etc/hosts", b: "/etc/hosts", flags: [.bind], n2: 1)))
    }

    @Test func joinsNamespacesByPath() throws {
        var spec = Spec.dockerDefault(args: ["true"])
        spec.linux?.namespaces = [Spec.Namespace(type: "mount"), Spec.Namespace(type: "network", path: "/proc/1/ns/net")]
        let plan = try builder().build(spec: spec, bundle: "/b")
        #expect(plan.joins.map(\.path) == ["/proc/1/ns/net"])
        #expect(plan.unshareFlags == 0x0002_0000)
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        var name: String
        var edit: @Sendable (inout Spec) -> Void
        var message: String
        var testDescription: String { name }
    }

    static let bad: [Bad] = [
        Bad(name: "unknown namespace", edit: { $0.linux?.namespaces?.append(Spec.Namespace(type: "bogus")) },
            message: "unknown namespace type \"bogus\""),
        Bad(name: "duplicate namespace", edit: { $0.linux?.namespaces?.append(Spec.Namespace(type: "pid")) },
            message: "duplicate namespace type \"pid\""),
        Bad(name: "missing rootfs", edit: { $0.root?.path = "nope" }, message: "rootfs (/b/nope) does not exist"),
        Bad(name: "relative mount", edit: { $0.mounts?.append(Spec.Mount(destination: "data", type: "tmpfs")) },
            message: "mount destination data is not an absolute path"),
        Bad(name: "missing bind source", edit: { $0.mounts?.append(Spec.Mount(destination: "/x", type: "bind", source: "/nonexistent", options: ["bind"])) },
            message: "stat /nonexistent: no such file or directory"),
        Bad(name: "empty args", edit: { $0.process?.args = [] }, message: "args must not be empty"),
        Bad(name: "relative cwd", edit: { $0.process?.cwd = "tmp" }, message: "cwd property must be an absolute path"),
        Bad(name: "hostname without uts", edit: { $0.hostname = "h"; $0.linux?.namespaces = [Spec.Namespace(type: "mount")] },
            message: "unable to set hostname without a private UTS namespace"),
        Bad(name: "user ns without maps", edit: { $0.linux?.namespaces?.append(Spec.Namespace(type: "user")) },
            message: "no uid or gid mappings"),
        Bad(name: "bad rlimit", edit: { $0.process?.rlimits = [Spec.Rlimit(type: "RLIMIT_BOGUS", hard: 1, soft: 1)] },
            message: "invalid rlimit type RLIMIT_BOGUS"),
        Bad(name: "bad seccomp action", edit: { $0.linux?.seccomp = Spec.Seccomp(defaultAction: "SCMP_ACT_NOPE") },
            message: "invalid seccomp action SCMP_ACT_NOPE"),
        Bad(name: "no mount namespace", edit: { $0.linux?.namespaces = [Spec.Namespace(type: "pid")] },
            message: "a mount namespace is required"),
    ]

    @Test(arguments: bad)
    func badSpecs(c: Bad) {
        var spec = Spec.dockerDefault(args: ["true"])
        c.edit(&spec)
        #expect {
            _ = try builder().build(spec: spec, bundle: "/b")
        } throws: { error in
            let ok = (error as? BerthError)?.code == .invalidArgument && "\(error)".contains(c.message)
            if !ok { Issue.record("got: \(error)") }
            return ok
        }
    }

    @Test(arguments: [("/a/./b//c/", "/a/b/c"), ("/../x", "/x"), ("/a/b/../c", "/a/c"), ("/", "/")])
    func cleanPaths(input: String, expected: String) {
        #expect(PlanBuilder.clean(input) == expected)
    }

    @Test(arguments: [("9", Int32(9)), ("KILL", 9), ("SIGTERM", 15), ("sigusr1", 10), ("HUP", 1)])
    func signals(text: String, number: Int32) throws {
        #expect(try ContainerRuntime.parseSignal(text) == number)
    }
}

@Suite struct DockerExitCodeTests {
    @Test(arguments: [
        ("unable to start container process: exec: \"x\": executable file not found in $PATH", Int32(127)),
        ("unable to start container process: exec: \"/x\": stat /x: no such file or directory", 127),
        ("unable to start container process: exec: \"/etc/passwd\": permission denied", 126),
        ("unable to start container process: exec /bad: exec format error", nil),
    ] as [(String, Int32?)])
    func codes(message: String, code: Int32?) {
        #expect(ContainerRuntime.dockerExitCode(forStartError: BerthError(.invalidArgument, message)) == code)
    }
}
