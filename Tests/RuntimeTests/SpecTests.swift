import Foundation
import OCI
import Testing
@testable import Runtime

@Suite struct SpecTests {
    static let runcSpec = #"""
    {"ociVersion":"1.0.2-dev","process":{"terminal":true,"user":{"uid":0,"gid":0},"args":["sh"],
     "env":["PATH=/usr/bin:/bin","TERM=xterm"],"cwd":"/","capabilities":{"bounding":["CAP_KILL"],"effective":["CAP_KILL"],
     "permitted":["CAP_KILL"],"ambient":["CAP_KILL"]},"rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}],
     "noNewPrivileges":true},"root":{"path":"rootfs","readonly":true},"hostname":"runc",
     "mounts":[{"destination":"/proc","type":"proc","source":"proc"}],
     "linux":{"resources":{"devices":[{"allow":false,"access":"rwm"}],"memory":{"limit":1048576}},
     "namespaces":[{"type":"pid"},{"type":"network"},{"type":"ipc"},{"type":"uts"},{"type":"mount"},{"type":"cgroup"}],
     "maskedPaths":["/proc/kcore"],"readonlyPaths":["/proc/sys"]}}
    """#

    @Test func decodesRuncSpec() throws {
        let spec = try Spec.decode(Data(Self.runcSpec.utf8))
        #expect(spec.process?.args == ["sh"])
        #expect(spec.process?.rlimits?.first?.type == "RLIMIT_NOFILE")
        #expect(spec.root?.readonly == true)
        #expect(spec.linux?.namespaces?.count == 6)
        #expect(spec.linux?.resources?.memory?.limit == 1_048_576)
        #expect(spec.linux?.resources?.devices?.first?.allow == false)
    }

    @Test func roundTrips() throws {
        let spec = try Spec.decode(Data(Self.runcSpec.utf8))
        let again = try Spec.decode(try spec.encoded())
        #expect(again == spec)
    }

    @Test(arguments: [
        ("{", "malformed JSON"),
        (#"{"process":{"cwd":"/","user":{"uid":0,"gid":0}}}"#, "missing field ociVersion"),
        (#"{"ociVersion":"1","process":{"cwd":"/","user":{"uid":"x","gid":0}}}"#, "wrong type at process.user.uid"),
    ])
    func badSpecsGiveClearErrors(json: String, expected: String) {
        #expect {
            _ = try Spec.decode(Data(json.utf8))
        } throws: { error in
            (error as? BerthError)?.code == .invalidArgument && "\(error)".contains(expected)
        }
    }

    @Test func dockerDefaultLooksLikeDockers() throws {
        let s = Spec.dockerDefault(args: ["true"])
        #expect(s.process?.capabilities?.bounding?.count == 14)
        #expect(s.process?.capabilities?.inheritable == nil)
        #expect(s.mounts?.map(\.destination) == ["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"])
        #expect(s.linux?.maskedPaths?.contains("/proc/kcore") == true)
        #expect(s.linux?.readonlyPaths == ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"])
        #expect(s.linux?.namespaces?.map(\.type) == ["mount", "network", "uts", "pid", "ipc"])
        #expect(s.linux?.resources?.devices?.first == Spec.DeviceCgroup(allow: false, access: "rwm"))
        let seccomp = try #require(s.linux?.seccomp)
        #expect(seccomp.defaultAction == "SCMP_ACT_ERRNO")
        #expect(seccomp.syscalls?.contains { $0.names.contains("read") } == true)
        // Spec.dockerDefault round-trips through JSON.
        #expect(try Spec.decode(try s.encoded()) == s)
    }
}

@Suite struct CapabilityTests {
    @Test(arguments: [
        ("CAP_CHOWN", 0), ("CAP_KILL", 5), ("CAP_NET_BIND_SERVICE", 10), ("CAP_SYS_ADMIN", 21), ("CAP_MKNOD", 27),
        ("CAP_AUDIT_WRITE", 29), ("CAP_SETFCAP", 31), ("CAP_BPF", 39), ("CAP_CHECKPOINT_RESTORE", 40),
        ("cap_sys_chroot", 18), ("NET_RAW", 13),
    ])
    func numbers(name: String, number: Int) {
        #expect(Capabilities.number(of: name) == number)
    }

    @Test func unknownNamesAreReported() {
        let (mask, unknown) = Capabilities.mask(["CAP_KILL", "CAP_BOGUS"])
        #expect(mask == 1 << 5)
        #expect(unknown == ["CAP_BOGUS"])
    }

    @Test func dockerDefaultMaskMatchesDocker() {
        // What /proc/self/status shows in a default docker container.
        #expect(Capabilities.mask(Capabilities.dockerDefault).mask == 0xa80425fb)
        #expect(Capabilities.names(in: 0xa80425fb).count == 14)
    }

    @Test func capsAboveLastCapAreLeftOut() {
        #expect(Capabilities.mask(["CAP_CHECKPOINT_RESTORE", "CAP_CHOWN"], lastCap: 37).mask == 1)
    }
}

@Suite struct MountOptionTests {
    @Test(arguments: [
        (["ro", "nosuid", "nodev"], MountFlags([.rdonly, .nosuid, .nodev]), [MountFlags](), [String]()),
        (["rbind", "rslave"], MountFlags([.bind, .rec]), [MountFlags([.slave, .rec])], []),
        (["bind", "ro", "private"], MountFlags([.bind, .rdonly]), [MountFlags.private], []),
        (["nosuid", "mode=755", "size=65536k"], MountFlags.nosuid, [], ["mode=755", "size=65536k"]),
        (["ro", "rw"], MountFlags(), [], []),
        (["newinstance", "ptmxmode=0666"], MountFlags(), [], ["newinstance", "ptmxmode=0666"]),
    ])
    func parse(options: [String], flags: MountFlags, propagation: [MountFlags], data: [String]) {
        let p = ParsedMountOptions(options)
        #expect(p.flags == flags)
        #expect(p.propagation == propagation)
        #expect(p.data == data)
    }
}
