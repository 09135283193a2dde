import Foundation
import OCI
import Testing
@testable import Runtime

/// The hand-written readers of `config.json` and `state.json` must agree with `JSONDecoder`: same
/// value when they accept, and decline (so `JSONDecoder` decides) whatever they are unsure of.
@Suite struct FastDecodeTests {
    /// A spec using every member the runtime knows, with escapes, nulls, unknown keys and odd spacing.
    static let fullSpec = #"""
    { "ociVersion": "1.2.0", "unknownTop": {"a": [1, 2.5e3, -0.5, true, null, "x"]},
      "process": {"terminal": false, "consoleSize": {"height": 24, "width": 80},
        "user": {"uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [5, 6], "username": "u"},
        "args": ["sh", "-c", "echo \"hi\"\tthere \\ \/ \u00e9\ud83d\ude00 ünï"], "commandLine": null,
        "env": ["A=1", "PATH=/bin"], "cwd": "/work",
        "capabilities": {"bounding": ["CAP_KILL"], "effective": [], "inheritable": null, "permitted": ["CAP_KILL"], "ambient": ["CAP_KILL"]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 18446744073709551615, "soft": 1024}],
        "noNewPrivileges": true, "apparmorProfile": "docker-default", "oomScoreAdj": -500, "selinuxLabel": "l"},
      "root": {"path": "rootfs", "readonly": true}, "hostname": "h", "domainname": "d",
      "mounts": [{"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid"]},
                 {"destination": "/data", "source": "/host", "options": ["rbind"],
                  "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}], "gidMappings": []}],
      "hooks": {"prestart": [{"path": "/bin/true", "args": ["true"], "env": ["X=1"], "timeout": 5}], "poststop": null,
                "createRuntime": [], "createContainer": [{"path": "/x"}], "startContainer": [], "poststart": []},
      "annotations": {"k": "v", "e": ""},
      "linux": {"uidMappings": [{"containerID": 0, "hostID": 1, "size": 2}], "gidMappings": null,
        "sysctl": {"net.ipv4.ip_forward": "1"},
        "resources": {"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}],
          "memory": {"limit": 536870912, "reservation": 1, "swap": -1, "kernel": 2, "kernelTCP": 3, "swappiness": 60,
                     "disableOOMKiller": false, "useHierarchy": true},
          "cpu": {"shares": 512, "quota": -1, "burst": 0, "period": 100000, "realtimeRuntime": 5, "realtimePeriod": 6,
                  "cpus": "0-1", "mems": "0", "idle": 0},
          "pids": {"limit": 100}, "unified": {"memory.high": "max"},
          "blockIO": {"weight": 500, "leafWeight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 10}],
                      "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}], "throttleWriteBpsDevice": [],
                      "throttleReadIOPSDevice": null, "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 7}]}},
        "cgroupsPath": "/berth/x", "namespaces": [{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}],
        "devices": [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0}],
        "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64"],
                    "flags": ["SECCOMP_FILTER_FLAG_LOG"], "listenerPath": "", "listenerMetadata": "",
                    "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                                 {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1,
                                  "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}], "comment": "x"}]},
        "rootfsPropagation": "rprivate", "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"], "mountLabel": "m"}
    }
    """#

    static func viaJSONDecoder(_ text: String) throws -> Spec {
        try JSONDecoder().decode(Spec.self, from: Data(text.utf8))
    }

    @Test func fullSpecMatchesJSONDecoder() throws {
        let fast = try #require(Spec.fastDecode(Array(Self.fullSpec.utf8)))
        #expect(fast == (try Self.viaJSONDecoder(Self.fullSpec)))
        #expect(fast.process?.args?.last == "echo \"hi\"\tthere \\ / \u{e9}\u{1F600} ünï")
        #expect(fast.process?.rlimits?.first?.hard == UInt64.max)
    }

    @Test func dockerDefaultAndRuncSpecsMatchJSONDecoder() throws {
        for spec in [Spec.dockerDefault(args: ["true"]), try Self.viaJSONDecoder(SpecTests.runcSpec)] {
            for pretty in [false, true] {
                let bytes = [UInt8](try spec.encoded(pretty: pretty))
                let fast = try #require(Spec.fastDecode(bytes))
                #expect(fast == spec)
                #expect(fast == (try JSONDecoder().decode(Spec.self, from: Data(bytes))))
            }
        }
    }

    /// Inputs the fast reader declines; `Spec.decode` then answers exactly as `JSONDecoder` does.
    @Test(arguments: [
        "{",                                                                   // truncated
        #"{"ociVersion":"1"} x"#,                                              // trailing garbage
        #"{"process":{"cwd":"/","user":{"uid":0,"gid":0}}}"#,                  // missing ociVersion
        #"{"ociVersion":"1","process":{"cwd":"/","user":{"uid":"x","gid":0}}}"#,  // wrong type
        #"{"ociVersion":"1","process":{"cwd":"/","user":{"uid":-1,"gid":0}}}"#,   // out of range
        #"{"ociVersion":"1","process":{"cwd":"/","user":{"uid":1.0,"gid":0}}}"#,  // fraction
        #"{"ociVersion":"1","process":{"cwd":"/","user":{"uid":1e2,"gid":0}}}"#,  // exponent
        #"{"ociVersion":"1","process":{"cwd":"/","user":{"uid":01,"gid":0}}}"#,   // leading zero
        #"{"ociVersion":"1","process":{"cwd":null,"user":{"uid":0,"gid":0}}}"#,   // null required member
        #"{"ociVersion":"1","hostname":"a\u0001"}"#,                           // fine escape: accepted
        "{\"ociVersion\":\"1\",\"hostname\":\"a\u{01}\"}",                       // raw control character
        #"{"ociVersion":"1","hostname":"\ud800"}"#,                            // lone surrogate
        #"{"ociVersion":"1","hostname":"\x"}"#,                                // bad escape
        #"{"ociVersion":"1",}"#,                                               // trailing comma
        #"{"ociVersion":"1","linux":{"resources":{"pids":{}}}}"#,              // pids.limit missing
        #"{"ociVersion":"1","linux":{"seccomp":{"defaultAction":"A","syscalls":[{"action":"B"}]}}}"#,
        #"[]"#,
        #"{"ociVersion":"1","hostname":"first","hostname":"second"}"#,           // repeated key: JSONDecoder keeps the first
        #"{"ociVersion":"1","annotations":{"k":"1","k":"2"}}"#,
    ])
    func declinedInputsFallBackToJSONDecoder(json: String) {
        let fast = Spec.fastDecode(Array(json.utf8))
        let reference = try? Self.viaJSONDecoder(json)
        if let fast {
            #expect(fast == reference)  // accepted: must be what JSONDecoder gives
        }
        let viaDecode = try? Spec.decode(Array(json.utf8))
        #expect(viaDecode == reference)
    }

    @Test func invalidUTF8IsDeclined() {
        var bytes = Array(#"{"ociVersion":"1","hostname":"ab"}"#.utf8)
        bytes[bytes.count - 3] = 0xff
        #expect(Spec.fastDecode(bytes) == nil)
    }

    @Test func storedStateRoundTripsAndReadsJSONEncoderOutput() throws {
        var s = StoredState(id: "c1", pid: 42, pidStartTime: 123_456, bundle: "/b \"q\"", rootfs: "/b/rootfs",
                            created: "2024-01-01T00:00:00.000000000Z", owner: "", annotations: ["a": "1", "z\n": "é"],
                            cgroupPath: "/berth/c1", namespaces: ["pid", "mount"], useInit: true)
        s.cgroupHierarchies = [["/sys/fs/cgroup/cpu", "cpu"], ["/sys/fs/cgroup/systemd", "name=systemd"]]
        s.poststop = [Spec.Hook(path: "/bin/true", args: ["true"], env: nil, timeout: 3)]
        let bytes = s.jsonBytes()
        let viaDecoder = try JSONDecoder().decode(StoredState.self, from: Data(bytes))
        let fast = try #require(StoredState.fastDecode(bytes))
        let fromEncoder = try #require(StoredState.fastDecode([UInt8](try JSONEncoder().encode(s))))
        for d in [viaDecoder, fast, fromEncoder] {
            #expect(d.id == s.id && d.pid == s.pid && d.pidStartTime == s.pidStartTime && d.bundle == s.bundle)
            #expect(d.annotations == s.annotations && d.namespaces == s.namespaces && d.useInit == true)
            #expect(d.cgroupHierarchies == s.cgroupHierarchies && d.cgroupUnifiedRoot == nil && d.poststop == s.poststop)
        }
    }

    @Test func writerEscapesLikeJSON() throws {
        var w = FastJSONWriter()
        w.beginObject()
        w.key("s"); w.string("q\"b\\n\nt\tc\u{01}é")
        w.key("a"); w.beginArray(); w.integer(-5); w.bool(false); w.beginObject(); w.endObject(); w.endArray()
        w.key("m"); w.stringMap(["b": "2", "a": "1"])
        w.endObject()
        let obj = try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any]
        #expect(obj?["s"] as? String == "q\"b\\n\nt\tc\u{01}é")
        #expect((obj?["a"] as? [Any])?.count == 3)
        #expect(String(decoding: w.bytes, as: UTF8.self).hasSuffix(#""m":{"a":"1","b":"2"}}"#))
    }
}
