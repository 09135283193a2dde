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
        #expect(first == [0x55, 2, 3, 0, 2, 0, 0, 0])  // if r2 != CHAR goto +3
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
        let rules = Spec.dockerDefault().linux!.resources!.devices! + CgroupManager.runcAllowedDevices
        try LinuxSystem().attachDeviceFilter(try DeviceFilter.program(for: rules), cgroup: dir)
        let script = """
        echo $$ > \(dir)/cgroup.procs || exit 9
        try() { if { eval "$2"; } 2>/dev/null; then echo "$1 ok"; else echo "$1 denied"; fi; }
        try zero ': < /dev/zero'
        try null-write ': > /dev/null'
        try full ': < /dev/full'
        try kmsg ': < /dev/kmsg'
        try mem ': < /dev/mem'
        try mknod 'mknod \(tmp)/kmsg c 1 11'
        try kmsg-node ': < \(tmp)/kmsg'
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
        #expect(text.split(separator: "\n") == ["zero ok", "null-write ok", "full ok", "kmsg denied", "mem denied",
                                                  "mknod ok", "kmsg-node denied"])
    }
}
