import Foundation
import OCI
import Testing
@testable import Runtime

@Suite struct DeviceFilterTests {
    typealias Rule = Spec.DeviceCgroup

    @Test func dockersDefaultRulesBecomeAnAllowList() throws {
        let rules = Spec.dockerDefault().linux!.resources!.devices! + CgroupManager.runcAllowedDevices
        let (defaultAllow, exceptions) = try DeviceFilter.emulate(rules)
        #expect(defaultAllow == false)
        let rwm: UInt32 = 7
        #expect(exceptions.contains(.init(type: "c", major: 1, minor: 5, access: rwm)))
        #expect(exceptions.contains(.init(type: "c", major: -1, minor: -1, access: 1)))   // mknod of any char device
        #expect(exceptions.contains(.init(type: "c", major: 136, minor: -1, access: rwm)))
        // "deny c 10:229" only removes an exception; there was none.
        #expect(!exceptions.contains { $0.major == 10 && $0.minor == 229 })
        #expect(exceptions.count == 12)
    }

    @Test(arguments: [
        // (rules, default allow, exceptions as "type major:minor access-bits")
        ([Rule(allow: true, access: "rwm"), Rule(allow: false, type: "c", major: 1, minor: 3, access: "w")], true, ["c 1:3 4"]),
        ([Rule(allow: false, access: "rwm"), Rule(allow: true, type: "c", major: 1, minor: 3, access: "rwm"),
          Rule(allow: false, type: "c", major: 1, minor: 3, access: "w")], false, ["c 1:3 3"]),
        ([Rule(allow: false, access: "rwm"), Rule(allow: true, type: "b", major: 8, access: "r"),
          Rule(allow: true, type: "b", major: 8, access: "w")], false, ["b 8:-1 6"]),
        ([Rule(allow: false, access: "rwm"), Rule(allow: true, type: "c", major: 1, minor: 3, access: "rwm"),
          Rule(allow: true, access: "rwm")], true, []),
    ])
    func emulatesTheV1Controller(rules: [Rule], defaultAllow: Bool, expected: [String]) throws {
        let (d, e) = try DeviceFilter.emulate(rules)
        #expect(d == defaultAllow)
        #expect(e.map { "\($0.type) \($0.major):\($0.minor) \($0.access)" } == expected)
    }

    @Test func rejectsBadRules() {
        #expect(throws: BerthError.self) { try DeviceFilter.program(for: [Rule(allow: true, type: "x", access: "r")]) }
        #expect(throws: BerthError.self) { try DeviceFilter.program(for: [Rule(allow: true, type: "c", access: "rx")]) }
    }

    @Test func programShape() throws {
        // deny all, allow c 1:3 rwm: prologue (6), one block (jne type, jne major, jne minor, mov, exit), default (2).
        let p = try DeviceFilter.program(for: [Rule(allow: false, access: "rwm"), Rule(allow: true, type: "c", major: 1, minor: 3, access: "rwm")])
        #expect(p.count == (6 + 5 + 2) * 8)
        let last = Array(p.suffix(16))
        #expect(last == [0xb4, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])  // r0 = 0 (deny); exit
        let first = Array(p[(6 * 8)..<(7 * 8)])
        #expect(first == [0x55, 2, 4, 0, 2, 0, 0, 0])  // if r2 != CHAR goto the default (+4)
    }

    /// Records attachments; everything else goes to a FakeSystem.
    final class AttachRecorder: SystemInterface, @unchecked Sendable {
        let fake = FakeSystem()
        var attached: [(program: [UInt8], dir: String)] = []
        func readFile(_ path: String) throws -> String { try fake.readFile(path) }
        func writeFile(_ path: String, _ contents: String) throws { try fake.writeFile(path, contents) }
        func mkdirAll(_ path: String, mode: mode_t) throws { try fake.mkdirAll(path, mode: mode) }
        func removeDirectory(_ path: String) throws { try fake.removeDirectory(path) }
        func exists(_ path: String) -> Bool { fake.exists(path) }
        func fileSystemType(_ path: String) -> Int? { fake.fileSystemType(path) }
        func listDirectory(_ path: String) throws -> [String] { try fake.listDirectory(path) }
        func attachDeviceFilter(_ program: [UInt8], cgroup dir: String) throws { attached.append((program, dir)) }
    }

    @Test func applyAttachesTheProgramOnV2Only() throws {
        let resources = Spec.dockerDefault().linux!.resources!
        let expected = try DeviceFilter.program(for: resources.devices! + CgroupManager.runcAllowedDevices)
        let v2 = AttachRecorder()
        let cg = CgroupManager(sys: v2, layout: .unified(root: "/sys/fs/cgroup"), path: "/berth/x")
        try cg.create()
        try cg.apply(resources)
        #expect(v2.attached.count == 1 && v2.attached.first?.dir == "/sys/fs/cgroup/berth/x")
        #expect(v2.attached.first?.program == expected)
        #expect(!v2.fake.writes.contains { $0.0.contains("devices.") })

        let v1 = AttachRecorder()
        let layout = CgroupLayout.v1(hierarchies: [.init(mountPoint: "/sys/fs/cgroup/devices", controllers: ["devices"])])
        let cg1 = CgroupManager(sys: v1, layout: layout, path: "/berth/x")
        try cg1.create()
        try cg1.apply(resources)
        #expect(v1.attached.isEmpty)
        #expect(v1.fake.writes.first?.0 == "/sys/fs/cgroup/devices/berth/x/devices.deny")
    }

    /// A cgroup2 mount to test in: the host's unified tree, or the hybrid layout's `unified` one.
    static var cgroup2Root: String? {
        guard getuid() == 0 else { return nil }
        for p in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] where LinuxSystem().fileSystemType(p) == CgroupLayout.cgroup2Magic {
            return p
        }
        return nil
    }

    /// The kernel enforces the program: a shell that moves itself into the cgroup can use the
    /// allowed nodes and mknod anything, but cannot open other devices.
    @Test(.enabled(if: cgroup2Root != nil, "needs root and a cgroup2 mount"))
    func kernelEnforcesTheFilter() throws {
        let dir = Self.cgroup2Root! + "/berth-devfilter-test-\(getpid())"
        let tmp = NSTemporaryDirectory() + "berth-devfilter-\(getpid())"
        try FileIO.mkdirAll(dir, mode: 0o755)
        try FileIO.mkdirAll(tmp, mode: 0o700)
        defer {
            FileIO.removeAll(tmp)
            rmdir(dir)
        }
        // Nodes outside the allow-list that this (root) process can open: they must be refused inside.
        let refused = ["/dev/kmsg", "/dev/fuse", "/dev/loop0"].filter { path in
            let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
            if fd >= 0 { close(fd) }
            return fd >= 0
        }
        #expect(refused.contains("/dev/kmsg"))
        let rules = Spec.dockerDefault().linux!.resources!.devices! + CgroupManager.runcAllowedDevices
        try LinuxSystem().attachDeviceFilter(try DeviceFilter.program(for: rules), cgroup: dir)
        // `true <file`, not `: <file`: a failed redirection of a special built-in ends the shell.
        let script = """
        echo $$ > \(dir)/cgroup.procs || exit 9
        try() { if { eval "$2"; } 2>/dev/null; then echo "$1 ok"; else echo "$1 denied"; fi; }
        try zero 'true < /dev/zero'
        try null-write 'true > /dev/null'
        try full 'true < /dev/full'
        for d in \(refused.joined(separator: " ")); do try "$d" "true < $d"; done
        try mknod 'mknod \(tmp)/kmsg c 1 11'
        try kmsg-node 'true < \(tmp)/kmsg'
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(text)")
        #expect(text.split(separator: "\n").map(String.init)
                == ["zero ok", "null-write ok", "full ok"] + refused.map { "\($0) denied" } + ["mknod ok", "kmsg-node denied"])
    }
}
