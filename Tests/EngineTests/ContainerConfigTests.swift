import APIModels
import Foundation
import OCI
import Testing
@testable import Engine

struct ContainerConfigTests {
    static func img(entrypoint: [String]? = nil, cmd: [String]? = nil, env: [String]? = nil) -> OCI.ContainerConfig {
        var c = OCI.ContainerConfig()
        c.Entrypoint = entrypoint
        c.Cmd = cmd
        c.Env = env
        return c
    }

    static func user(entrypoint: [String]? = nil, cmd: [String]? = nil) -> ContainerAPIConfig {
        var c = ContainerAPIConfig()
        c.Entrypoint = entrypoint.map(StrSlice.init)
        c.Cmd = cmd.map(StrSlice.init)
        return c
    }

    // (image entrypoint, image cmd, user entrypoint, user cmd) -> path + args (moby's merge + getEntrypointAndArgs)
    @Test(arguments: [
        (nil, ["sh"], nil, nil, ["sh"]),
        (nil, ["sh"], nil, ["echo", "hi"], ["echo", "hi"]),
        (["/ep"], ["default"], nil, nil, ["/ep", "default"]),
        (["/ep"], ["default"], nil, ["x"], ["/ep", "x"]),
        (["/ep"], ["default"], ["/other"], nil, ["/other"]),
        (["/ep"], ["default"], ["/other"], ["a"], ["/other", "a"]),
        (["/ep"], ["default"], [""], nil, ["default"]),
    ] as [([String]?, [String]?, [String]?, [String]?, [String])])
    func entrypointAndCmd(ie: [String]?, ic: [String]?, ue: [String]?, uc: [String]?, expected: [String]) {
        let merged = ContainerConfigRules.merge(user: Self.user(entrypoint: ue, cmd: uc), image: Self.img(entrypoint: ie, cmd: ic))
        let pa = ContainerConfigRules.pathAndArgs(merged)
        #expect(pa.map { [$0.0] + $0.1 } == expected)
    }

    @Test func noCommand() {
        let merged = ContainerConfigRules.merge(user: Self.user(), image: Self.img())
        #expect(ContainerConfigRules.pathAndArgs(merged) == nil)
    }

    @Test func envMerge() {
        #expect(ContainerConfigRules.mergeEnv(image: ["PATH=/bin", "A=1", "B=2"], user: ["A=x", "C=3", "B"])
            == ["PATH=/bin", "A=x", "C=3"])
    }

    @Test(arguments: [("a", false), ("ab", true), ("/web_1", true), ("-x1", false), ("a b", false), ("x.y-z", true)])
    func names(name: String, valid: Bool) {
        #expect(ContainerNames.isValid(name) == valid)
    }

    @Test func randomNameAndID() {
        let n = ContainerNames.random()
        #expect(n.contains("_"))
        #expect(ContainerNames.isValid(n))
        let id = ContainerNames.newID()
        #expect(id.count == 64 && id.allSatisfy(\.isHexDigit))
    }

    @Test func memoryMinimum() {
        var h = ContainerHostConfig()
        h.Memory = 1024 * 1024
        #expect(throws: BerthError.self) {
            try ContainerConfigRules.validate(h, config: ContainerAPIConfig(), cpus: 2, runtimes: ["runc"])
        }
        h.Memory = 64 * 1024 * 1024
        #expect(throws: Never.self) {
            try ContainerConfigRules.validate(h, config: ContainerAPIConfig(), cpus: 2, runtimes: ["runc"])
        }
    }

    @Test func badValues() {
        var h = ContainerHostConfig()
        h.CapAdd = ["NOPE"]
        #expect(throws: BerthError.self) { try ContainerConfigRules.validate(h, config: .init(), cpus: 2, runtimes: ["runc"]) }
        h = ContainerHostConfig()
        h.Runtime = "nope"
        #expect(throws: BerthError.self) { try ContainerConfigRules.validate(h, config: .init(), cpus: 2, runtimes: ["runc"]) }
        h = ContainerHostConfig()
        h.NanoCpus = 5_000_000_000
        #expect(throws: BerthError.self) { try ContainerConfigRules.validate(h, config: .init(), cpus: 2, runtimes: ["runc"]) }
        h = ContainerHostConfig()
        h.SecurityOpt = ["bogus"]
        #expect(throws: BerthError.self) { try ContainerConfigRules.validate(h, config: .init(), cpus: 2, runtimes: ["runc"]) }
    }

    @Test func capabilities() {
        let caps = ContainerConfigRules.capabilities(privileged: false, add: ["NET_ADMIN"], drop: ["chown"])
        #expect(caps.contains("CAP_NET_ADMIN"))
        #expect(!caps.contains("CAP_CHOWN"))
        #expect(ContainerConfigRules.capabilities(privileged: false, add: nil, drop: ["ALL"]).isEmpty)
    }

    static let passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\nbob:x:1000:1000::/home/bob:/bin/sh\n"
    static let group = "root:x:0:\nusers:x:100:bob\nbob:x:1000:\nwheel:x:10:bob\n"

    @Test(arguments: [
        ("", 0, 0, [] as [UInt32]), ("bob", 1000, 1000, [100, 10]), ("1000", 1000, 1000, [100, 10]),
        ("bob:users", 1000, 100, []), ("4242", 4242, 0, []), ("4242:77", 4242, 77, []), ("nobody", 65534, 65534, []),
    ] as [(String, UInt32, UInt32, [UInt32])])
    func users(spec: String, uid: UInt32, gid: UInt32, extra: [UInt32]) throws {
        let u = try ContainerSpecBuilder.resolveUser(spec, passwd: Self.passwd, group: Self.group)
        #expect(u.uid == uid && u.gid == gid)
        #expect((u.additionalGids ?? []) == extra)
    }

    @Test func unknownUser() {
        #expect(throws: BerthError.self) { try ContainerSpecBuilder.resolveUser("alice", passwd: Self.passwd, group: Self.group) }
    }

    @Test func specFlags() throws {
        var c = ContainerAPIConfig()
        c.Cmd = ["sleep", "1"]
        c.Env = ["A=1"]
        var h = ContainerHostConfig()
        h.Memory = 64 << 20
        h.NanoCpus = 500_000_000
        h.PidsLimit = 10
        h.ReadonlyRootfs = true
        h.NetworkMode = "host"
        h.SecurityOpt = ["no-new-privileges"]
        h.Ulimits = [Ulimit(Name: "nofile", Soft: 100, Hard: 200)]
        let spec = try ContainerSpecBuilder.build(
            id: String(repeating: "a", count: 64), config: c, host: h,
            paths: .init(rootfs: "/r", hostname: "/c/hostname", hosts: "/c/hosts", resolvConf: "/c/resolv.conf"),
            user: Spec.User(), cgroupV2: false)
        #expect(spec.process?.args == ["sleep", "1"])
        #expect(spec.process?.env?.contains("A=1") == true)
        #expect(spec.process?.env?.contains("HOSTNAME=aaaaaaaaaaaa") == true)
        #expect(spec.linux?.resources?.memory?.limit == 64 << 20)
        #expect(spec.linux?.resources?.cpu?.quota == 50_000)
        #expect(spec.linux?.resources?.pids?.limit == 10)
        #expect(spec.root?.readonly == true)
        #expect(spec.process?.noNewPrivileges == true)
        #expect(spec.linux?.namespaces?.contains { $0.type == "network" } == false)
        #expect(spec.process?.rlimits?.first?.type == "RLIMIT_NOFILE")
        #expect(spec.mounts?.contains { $0.destination == "/etc/hosts" && $0.source == "/c/hosts" } == true)
    }

    @Test func logFrames() {
        let e = ContainerLogs.parse(Array(#"{"log":"hi\n","stream":"stderr","time":"2026-11-29T00:00:00.123456789Z"}"#.utf8))
        #expect(e?.stream == "stderr")
        #expect(e?.log == Array("hi\n".utf8))
        #expect(e?.frame(timestamps: false, multiplexed: true) == [2, 0, 0, 0, 0, 0, 0, 3] + Array("hi\n".utf8))
    }

    @Test func createBodyDecodesStringCmd() throws {
        let json = #"{"Image":"busybox","Cmd":"echo hi","Entrypoint":null,"HostConfig":{"Memory":0,"NetworkMode":"none"}}"#
        let body = try JSONDecoder().decode(ContainerCreateBody.self, from: Data(json.utf8))
        #expect(body.config.Cmd?.values == ["echo hi"])
        #expect(body.hostConfig?.NetworkMode == "none")
    }
}

struct ContainerMountTests {
    @Test func binds() throws {
        var h = ContainerHostConfig()
        h.Binds = ["/h:/c:ro", "/a:/b"]
        let m = try ContainerMount.parse(h)
        #expect(m.map(\.destination) == ["/c", "/b"])
        #expect(m[0].readOnly && !m[1].readOnly)
        #expect(m[0].spec.options == ["rbind", "rprivate", "ro"])
    }

    @Test(arguments: ["named:/x", "/h:rel", "/h:/c:bogus", "/h"])
    func badBinds(bind: String) {
        var h = ContainerHostConfig()
        h.Binds = [bind]
        #expect(throws: BerthError.self) { try ContainerMount.parse(h) }
    }

    @Test func duplicate() {
        var h = ContainerHostConfig()
        h.Binds = ["/a:/c", "/b:/c"]
        #expect(throws: BerthError.self) { try ContainerMount.parse(h) }
    }
}
