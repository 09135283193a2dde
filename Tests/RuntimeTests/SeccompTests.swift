import Foundation
import OCI
import Testing
@testable import Runtime

@Suite struct SeccompConversionTests {
    static let profile = #"""
    {"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,
     "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"]},
                {"architecture":"SCMP_ARCH_AARCH64","subArchitectures":["SCMP_ARCH_ARM"]}],
     "syscalls":[
      {"names":["read","write"],"action":"SCMP_ACT_ALLOW"},
      {"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_PTRACE"]}},
      {"names":["arch_prctl"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd64","x32"]}},
      {"names":["sync_file_range2"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["ppc64le"]}},
      {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"op":"SCMP_CMP_MASKED_EQ"}],
       "excludes":{"caps":["CAP_SYS_ADMIN"],"arches":["s390","s390x"]}},
      {"names":["clone3"],"action":"SCMP_ACT_ERRNO","errnoRet":38,"excludes":{"caps":["CAP_SYS_ADMIN"]}},
      {"names":["new_thing"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"99.0"}},
      {"names":["old_thing"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4.8"}}
     ]}
    """#

    struct Case: Sendable, CustomTestStringConvertible {
        var caps: [String]
        var arch: String
        var expected: [String]
        var testDescription: String { "\(arch) \(caps)" }
    }

    @Test(arguments: [
        Case(caps: Capabilities.dockerDefault, arch: "amd64", expected: ["read", "arch_prctl", "clone", "clone3", "old_thing"]),
        Case(caps: Capabilities.dockerDefault + ["CAP_SYS_PTRACE"], arch: "amd64",
             expected: ["read", "ptrace", "arch_prctl", "clone", "clone3", "old_thing"]),
        Case(caps: ["CAP_SYS_ADMIN"], arch: "amd64", expected: ["read", "arch_prctl", "old_thing"]),
        Case(caps: [], arch: "arm64", expected: ["read", "clone", "clone3", "old_thing"]),
    ])
    func conditions(c: Case) throws {
        let p = try DockerSeccompProfile.parse(Data(Self.profile.utf8))
        let oci = try p.toOCI(capabilities: c.caps, arch: c.arch, kernel: "6.1.0")
        #expect(oci.syscalls?.map { $0.names[0] } == c.expected)
        #expect(oci.defaultErrnoRet == 1)
    }

    @Test(arguments: [("amd64", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]), ("arm64", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])])
    func architectures(arch: String, expected: [String]) throws {
        let p = try DockerSeccompProfile.parse(Data(Self.profile.utf8))
        #expect(try p.toOCI(capabilities: [], arch: arch, kernel: "6.1").architectures == expected)
    }

    @Test func keepsArgsAndErrno() throws {
        let oci = try DockerSeccompProfile.parse(Data(Self.profile.utf8)).toOCI(capabilities: [], arch: "amd64", kernel: "6.1")
        let clone = try #require(oci.syscalls?.first { $0.names == ["clone"] })
        #expect(clone.args == [Spec.SyscallArg(index: 0, value: 2114060288, op: "SCMP_CMP_MASKED_EQ")])
        #expect(oci.syscalls?.first { $0.names == ["clone3"] }?.errnoRet == 38)
    }

    @Test func dockerDefaultProfileConverts() throws {
        let oci = try DockerSeccompProfile.default.toOCI(capabilities: Capabilities.dockerDefault, arch: "amd64", kernel: "6.1.0")
        let names = Set(oci.syscalls!.flatMap(\.names))
        #expect(names.contains("execve"))
        #expect(!names.contains("mount"))      // needs CAP_SYS_ADMIN
        #expect(!names.contains("kcmp"))       // needs CAP_SYS_PTRACE
        #expect(names.contains("ptrace"))      // allowed from kernel 4.8 on
        #expect(names.contains("chroot"))      // CAP_SYS_CHROOT is a default capability
        #expect(oci.architectures == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    }

    @Test func theNameFieldIsRejected() throws {
        let p = try DockerSeccompProfile.parse(Data(#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"read","action":"SCMP_ACT_ALLOW"}]}"#.utf8))
        #expect(throws: BerthError.self) { try p.toOCI(capabilities: []) }
    }
}

@Suite struct SeccompCompilerTests {
    @Test(arguments: [
        ("SCMP_ACT_ALLOW", nil, UInt32(0x7fff_0000)), ("SCMP_ACT_ERRNO", nil, 0x0005_0001), ("SCMP_ACT_ERRNO", 38, 0x0005_0026),
        ("SCMP_ACT_KILL", nil, 0), ("SCMP_ACT_KILL_PROCESS", nil, 0x8000_0000), ("SCMP_ACT_LOG", nil, 0x7ffc_0000),
        ("SCMP_ACT_TRAP", nil, 0x0003_0000),
    ] as [(String, UInt32?, UInt32)])
    func actions(name: String, errno: UInt32?, value: UInt32) throws {
        #expect(try SeccompCompiler.action(name, errno: errno) == value)
    }

    @Test(arguments: ["SCMP_ACT_BOGUS", "SCMP_ACT_NOTIFY"])
    func badActions(name: String) {
        #expect(throws: BerthError.self) { try SeccompCompiler.action(name, errno: nil) }
    }

    @Test func compilesTheDefaultProfile() throws {
        let oci = try DockerSeccompProfile.default.toOCI(capabilities: Capabilities.dockerDefault)
        let bpf = try SeccompCompiler.compile(oci)
        #expect(bpf.count % 8 == 0 && bpf.count > 800)
    }

    @Test func cachesByProfile() throws {
        let dir = NSTemporaryDirectory() + "berth-seccomp-test-\(getpid())"
        defer { FileIO.removeAll(dir) }
        let compiler = SeccompCompiler(cacheDirectory: dir)
        let oci = try DockerSeccompProfile.default.toOCI(capabilities: Capabilities.dockerDefault)
        let first = try compiler.program(for: oci)
        let key = SeccompCompiler.cacheKey(oci)
        let entry = try #require(FileIO.readBytes(dir + "/\(key).bpf"))
        #expect(SeccompCompiler.program(fromEntry: entry, canonical: SeccompCompiler.canonicalKey(oci)) == first.bytes)
        #expect(try compiler.program(for: oci) == first)
        var other = oci
        other.defaultErrnoRet = 38
        #expect(SeccompCompiler.cacheKey(other) != key)
    }

    /// An entry stored under a profile's name but made for another profile (a hash collision, or a
    /// planted file) is not used: the program is compiled afresh and the entry replaced.
    @Test func cacheEntriesAreVerifiedAgainstTheProfile() throws {
        let dir = NSTemporaryDirectory() + "berth-seccomp-verify-\(getpid())"
        defer { FileIO.removeAll(dir) }
        try FileIO.mkdirAll(dir, mode: 0o700)
        let oci = try DockerSeccompProfile.default.toOCI(capabilities: Capabilities.dockerDefault)
        var other = oci
        other.defaultAction = "SCMP_ACT_ALLOW"
        let bogus: [UInt8] = [6, 0, 0, 0, 0, 0, 0xff, 0x7f]  // "allow everything"
        let path = dir + "/\(SeccompCompiler.cacheKey(oci)).bpf"
        try FileIO.writeAtomically(path, bytes: SeccompCompiler.cacheEntry(canonical: SeccompCompiler.canonicalKey(other), program: bogus))
        let program = try SeccompCompiler(cacheDirectory: dir).program(for: oci)
        #expect(program.bytes == (try SeccompCompiler.compile(oci)))
        #expect(program.bytes != bogus)
        #expect(SeccompCompiler.program(fromEntry: FileIO.readBytes(path) ?? [], canonical: SeccompCompiler.canonicalKey(oci)) == program.bytes)
        // Truncated and foreign files are ignored too.
        #expect(SeccompCompiler.program(fromEntry: Array("berth-seccomp-2\n".utf8) + [1, 0], canonical: [1]) == nil)
        #expect(SeccompCompiler.program(fromEntry: bogus, canonical: SeccompCompiler.canonicalKey(oci)) == nil)
    }

    @Test func badOperatorIsRejected() {
        let s = Spec.Seccomp(defaultAction: "SCMP_ACT_ALLOW", syscalls: [
            Spec.Syscall(names: ["read"], action: "SCMP_ACT_ERRNO", args: [Spec.SyscallArg(index: 0, value: 1, op: "SCMP_CMP_BOGUS")]),
        ])
        #expect(throws: BerthError.self) { try SeccompCompiler.validate(s) }
    }
}
