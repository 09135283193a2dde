import Foundation
import Testing
@testable import OCI

struct FastJSONEncoderTests {
    /// One value under test, type-erased so values of different types share an argument table.
    struct Case: Sendable, CustomTestStringConvertible {
        var testDescription: String
        /// FastJSONEncoder's bytes and JSONEncoder's for the same options.
        var compare: @Sendable (_ sorted: Bool, _ escapeSlashes: Bool) throws -> (fast: [UInt8], reference: [UInt8])
        /// JSONDecoder reads FastJSONEncoder's unsorted output, re-encoded with JSONEncoder (sorted),
        /// next to JSONEncoder's sorted encoding of the original.
        var roundTrip: @Sendable () throws -> (decoded: [UInt8], reference: [UInt8])

        static func of<T: Codable & Sendable>(_ name: String, _ value: T) -> Case {
            Case(testDescription: name, compare: { sorted, escape in
                (try FastJSONEncoder(sortedKeys: sorted, escapeSlashes: escape).encode(value),
                 try reference(value, sorted: sorted, escapeSlashes: escape))
            }, roundTrip: {
                let ours = try FastJSONEncoder().encode(value)
                let decoded = try JSONDecoder().decode(T.self, from: Data(ours))
                return (try reference(decoded), try reference(value))
            })
        }
    }

    static func reference<T: Encodable>(_ value: T, sorted: Bool = true, escapeSlashes: Bool = false) throws -> [UInt8] {
        let encoder = JSONEncoder()
        var format: JSONEncoder.OutputFormatting = sorted ? [.sortedKeys] : []
        if !escapeSlashes { format.insert(.withoutEscapingSlashes) }
        encoder.outputFormatting = format
        return [UInt8](try encoder.encode(value))
    }

    static let controls = String(String.UnicodeScalarView((0..<0x20).map { Unicode.Scalar(UInt8($0)) }))

    struct Ints: Codable, Equatable, Sendable {
        var i64 = [Int64.min, Int64.max, 0, -1]
        var u64 = [UInt64.min, UInt64.max]
        var i8 = [Int8.min, Int8.max]
        var u8: UInt8 = .max, i16: Int16 = .min, u16: UInt16 = .max, i32: Int32 = .min, u32: UInt32 = .max
        var int = Int.min, uint = UInt.max
    }

    struct Floats: Codable, Equatable, Sendable {
        var single: Float = 0.1
        var singles: [Float] = [1.5, 1e-7, 3.4e38, 16777216]
        var double = 1e20
        var optional: Double? = -0.0
    }

    struct Optionals: Codable, Equatable, Sendable {
        var some: Int? = 1
        var none: Int? = nil
        var nested: [Int??] = [1, nil, .some(nil)]
        var deep: [String: String?]? = ["a": nil, "b": "x"]
    }

    enum Shape: Codable, Equatable, Sendable {
        case circle(radius: Double)
        case pair(Int, String)
        case named(label: String, [Shape])
        case empty
    }

    struct Special: Codable, Equatable, Sendable {
        var data = Data([0, 1, 2, 0xFB, 0xFF, 0xFE])
        var empty = Data()
        var url = URL(string: "https://example.com/a/b?c=d&e=%20f#frag")!
        var file = URL(fileURLWithPath: "/var/lib/berth/x y")
        var date = Date(timeIntervalSinceReferenceDate: 123456.789)
        var dates = [Date(timeIntervalSince1970: 0), Date(timeIntervalSinceReferenceDate: 0)]
        var decimal = Decimal(string: "12.345")!
    }

    /// A class hierarchy written through `superEncoder()`, keyed and unkeyed.
    class Base: Codable, Equatable, @unchecked Sendable {
        let name: String
        init(name: String) { self.name = name }
        static func == (a: Base, b: Base) -> Bool { a.name == b.name }
    }

    final class Derived: Base, @unchecked Sendable {
        let level: Int
        init(name: String, level: Int) { self.level = level; super.init(name: name) }
        enum Keys: String, CodingKey { case level, base }
        required init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            level = try c.decode(Int.self, forKey: .level)
            try super.init(from: c.superDecoder())
        }
        override func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(level, forKey: .level)
            try super.encode(to: c.superEncoder())
            try super.encode(to: c.superEncoder(forKey: .base))
        }
    }

    struct UnkeyedSuper: Codable, Equatable, Sendable {
        var base = Base(name: "u")
        init() {}
        init(from decoder: Decoder) throws {
            var c = try decoder.unkeyedContainer()
            _ = try c.decode(Int.self)
            base = try Base(from: c.superDecoder())
        }
        func encode(to encoder: Encoder) throws {
            var c = encoder.unkeyedContainer()
            try c.encode(7)
            try base.encode(to: c.superEncoder())
        }
    }

    /// Nested keyed and unkeyed containers, from keyed and unkeyed parents.
    struct Nested: Codable, Equatable, Sendable {
        enum Keys: String, CodingKey { case list, object, inner }
        init() {}
        init(from decoder: Decoder) throws {}
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            var list = c.nestedUnkeyedContainer(forKey: .list)
            try list.encode("a/b")
            var inner = list.nestedUnkeyedContainer()
            try inner.encode(1.25)
            try inner.encodeNil()
            var obj = list.nestedContainer(keyedBy: Keys.self)
            try obj.encode(true, forKey: .inner)
            var object = c.nestedContainer(keyedBy: Keys.self, forKey: .object)
            try object.encode([UInt8(1), 2], forKey: .list)
            try object.encode(Data([1]), forKey: .inner)
        }
    }

    static let cases: [Case] = [
        .of("controls", controls),
        .of("strings", ["\"quoted\"", "back\\slash", "a/b//c", "emoji 😀👩‍👩‍👧", "é e\u{301} \u{7F} \u{2028} \u{FEFF}", "", "plain"]),
        .of("string keys", ["e\u{301}x": 1, "é": 2, "f": 3, "B": 4, "a": 5, "aa": 6, "\u{E000}": 7, "😀": 8, "/": 9, controls: 10]),
        .of("ints", Ints()),
        .of("int keys", [2: "two", 10: "ten", -1: "minus", 0: "zero"]),
        .of("doubles", [0, -0.0, 1.5, 0.1, 1e-7, 1e20, 123456789.125, Double.pi, 3, 1e16, 1e15, 5e-324,
                        .greatestFiniteMagnitude, -1.5e300, 0.000123]),
        .of("floats", Floats()),
        .of("optionals", Optionals()),
        .of("arrays of arrays", [[[1, 2], []], [[3]], []]),
        .of("empty containers", [[String: Int](), [:]]),
        .of("special types", Special()),
        .of("enum", [Shape.circle(radius: 2.5), .pair(1, "x"), .named(label: "n", [.empty, .pair(-2, "")]), .empty]),
        .of("superEncoder", Derived(name: "d", level: 3)),
        .of("unkeyed superEncoder", UnkeyedSuper()),
        .of("nested containers", Nested()),
        .of("top-level string", "a/\"b\""),
        .of("top-level bool", true),
        .of("spec", spec),
    ]

    @Test(arguments: cases)
    func sortedBytesMatchJSONEncoder(_ c: Case) throws {
        let (fast, reference) = try c.compare(true, false)
        #expect(String(decoding: fast, as: UTF8.self) == String(decoding: reference, as: UTF8.self))
        #expect(fast == reference)
    }

    @Test(arguments: cases)
    func escapedSlashesMatchJSONEncoder(_ c: Case) throws {
        let (fast, reference) = try c.compare(true, true)
        #expect(fast == reference)
    }

    @Test(arguments: cases)
    func unsortedDecodesToTheSameValue(_ c: Case) throws {
        let (decoded, reference) = try c.roundTrip()
        #expect(decoded == reference)
    }

    @Test func specRoundTripsToAnEqualValue() throws {
        let bytes = try FastJSONEncoder().encode(Self.spec)
        #expect(try JSONDecoder().decode(Spec.self, from: Data(bytes)) == Self.spec)
        #expect(try Spec.decode(bytes) == Self.spec)
        #expect(try FastJSONEncoder(sortedKeys: true).encode(Self.spec) == [UInt8](try Self.spec.encoded()))
    }

    struct Ordered: Encodable {
        enum Keys: String, CodingKey { case z, a, m }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(1, forKey: .z)
            try c.encode(2, forKey: .a)
            try c.encode("x", forKey: .m)
            try c.encode(3, forKey: .z)   // again: last value, first place (JSONEncoder: last value)
        }
    }

    @Test func unsortedKeepsEncodingOrder() throws {
        #expect(try FastJSONEncoder().encode(Ordered()) == Array(#"{"z":3,"a":2,"m":"x"}"#.utf8))
        #expect(try FastJSONEncoder(sortedKeys: true).encode(Ordered()) == Self.reference(Ordered()))
    }

    @Test func largeObjectsKeepLastValueOfARepeatedKey() throws {
        let keys = (0..<40).map { "k\($0)" }
        struct Many: Encodable {
            var keys: [String]
            struct Key: CodingKey {
                var stringValue: String
                var intValue: Int? { nil }
                init(stringValue: String) { self.stringValue = stringValue }
                init?(intValue: Int) { nil }
            }
            func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: Key.self)
                for (i, k) in (keys + keys.reversed()).enumerated() { try c.encode(i, forKey: Key(stringValue: k)) }
            }
        }
        #expect(try FastJSONEncoder(sortedKeys: true).encode(Many(keys: keys)) == Self.reference(Many(keys: keys)))
    }

    struct Nothing: Codable { func encode(to encoder: Encoder) throws {} }

    @Test func valuesThatEncodeNothing() throws {
        #expect(throws: EncodingError.self) { try FastJSONEncoder().encode(Nothing()) }
        #expect(try FastJSONEncoder(sortedKeys: true).encode(["k": [Nothing()]]) == Self.reference(["k": [Nothing()]]))
    }

    struct NonFinite: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var encode: @Sendable (_ fast: Bool) throws -> Void
        static func of<T: Encodable & Sendable>(_ name: String, _ value: T) -> NonFinite {
            NonFinite(testDescription: name) { fast in
                if fast { _ = try FastJSONEncoder().encode(value) } else { _ = try JSONEncoder().encode(value) }
            }
        }
    }

    struct Keyed: Encodable, Sendable { var inner: [String: [Float]] }

    static let nonFinite: [NonFinite] = [
        .of("nan", Double.nan), .of("infinity", Double.infinity), .of("-infinity", -Double.infinity),
        .of("float nan", Float.nan), .of("in array", [1, Double.infinity]),
        .of("in optional", [Double?.some(.nan)]), .of("keyed", Keyed(inner: ["x": [0, -.infinity]])),
        .of("in spec-like dict", ["a": ["b": Double.nan]]),
    ]

    @Test(arguments: nonFinite)
    func nonFiniteNumbersThrowLikeJSONEncoder(_ c: NonFinite) throws {
        func path(_ fast: Bool) -> [String]? {
            do {
                try c.encode(fast)
            } catch EncodingError.invalidValue(_, let context) {
                return context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            } catch {}
            return nil
        }
        let ours = path(true)
        #expect(ours != nil)
        #expect(ours == path(false))
    }

    // MARK: - A realistic runtime spec (as berth writes for `docker run`)

    static let syscalls = """
        accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime \
        clock_getres clock_gettime clock_nanosleep close close_range connect copy_file_range creat dup dup2 dup3 \
        epoll_create epoll_create1 epoll_ctl epoll_pwait epoll_wait eventfd eventfd2 execve execveat exit \
        exit_group faccessat faccessat2 fadvise64 fallocate fanotify_mark fchdir fchmod fchmodat fchown fchownat \
        fcntl fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstatfs fsync ftruncate \
        futex getcwd getdents getdents64 getegid geteuid getgid getgroups getitimer getpeername getpgid getpgrp \
        getpid getppid getpriority getrandom getresgid getresuid getrlimit get_robust_list getrusage getsid \
        getsockname getsockopt gettid gettimeofday getuid getxattr inotify_add_watch inotify_init inotify_init1 \
        io_cancel ioctl io_destroy io_getevents ioprio_get ioprio_set io_setup io_submit kill lchown lgetxattr \
        link linkat listen listxattr llistxattr lremovexattr lseek lsetxattr lstat madvise memfd_create mincore \
        mkdir mkdirat mknod mknodat mlock mlockall mmap mprotect mremap msync munlock munmap nanosleep \
        newfstatat open openat openat2 pause pipe pipe2 poll ppoll prctl pread64 preadv prlimit64 pselect6 \
        pwrite64 pwritev read readahead readlink readlinkat readv recvfrom recvmmsg recvmsg rename renameat \
        renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo \
        rt_sigreturn rt_sigsuspend rt_sigtimedwait sched_getaffinity sched_getparam sched_yield select \
        sendfile sendmmsg sendmsg sendto setfsgid setfsuid setgid setgroups setitimer setpgid setpriority \
        setregid setresgid setresuid setreuid setrlimit setsid setsockopt setuid setxattr shutdown sigaltstack \
        socket socketpair splice stat statfs statx symlink symlinkat sync syncfs sysinfo tee tgkill time \
        timer_create timer_delete timerfd_create timerfd_gettime timerfd_settime times tkill truncate umask \
        uname unlink unlinkat utime utimensat utimes vfork wait4 waitid write writev
        """.split(separator: " ").map(String.init)

    static let spec: Spec = {
        let caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
        var process = Spec.Process(
            terminal: false, user: Spec.User(uid: 1000, gid: 1000, umask: 0o022, additionalGids: [10, 1000]),
            args: ["/bin/sh", "-c", "echo \"hello\" && sleep 1\tdone\n"],
            env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=c0ffee",
                  "TERM=xterm", "LANG=C.UTF-8", "GREETING=héllo wörld ✓"],
            cwd: "/srv/app", capabilities: Spec.Capabilities(bounding: caps, effective: caps, permitted: caps),
            rlimits: [Spec.Rlimit(type: "RLIMIT_NOFILE", hard: 1_048_576, soft: 1_048_576),
                      Spec.Rlimit(type: "RLIMIT_NPROC", hard: UInt64.max, soft: UInt64.max)],
            noNewPrivileges: true, oomScoreAdj: -500)
        process.apparmorProfile = "docker-default"
        process.consoleSize = Spec.Box(height: 24, width: 80)
        var mounts = [
            Spec.Mount(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            Spec.Mount(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            Spec.Mount(destination: "/dev/pts", type: "devpts", source: "devpts",
                       options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            Spec.Mount(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
            Spec.Mount(destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["ro", "nosuid", "noexec", "nodev"]),
            Spec.Mount(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
            Spec.Mount(destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]),
            Spec.Mount(destination: "/etc/resolv.conf", type: "bind", source: "/var/lib/berth/containers/c0ffee/resolv.conf", options: ["rbind", "rprivate"]),
            Spec.Mount(destination: "/etc/hosts", type: "bind", source: "/var/lib/berth/containers/c0ffee/hosts", options: ["rbind", "rprivate"]),
            Spec.Mount(destination: "/data", type: "bind", source: "/home/user/my data", options: ["rbind", "ro"]),
        ]
        mounts[9].uidMappings = [Spec.IDMapping(containerID: 0, hostID: 100_000, size: 65536)]
        var linux = Spec.Linux(
            namespaces: ["pid", "network", "ipc", "uts", "mount", "cgroup"].map { Spec.Namespace(type: $0) }
                + [Spec.Namespace(type: "user", path: "/proc/4242/ns/user")],
            resources: Spec.Resources(
                devices: [Spec.DeviceCgroup(allow: false, access: "rwm"),
                          Spec.DeviceCgroup(allow: true, type: "c", major: 1, minor: 3, access: "rwm"),
                          Spec.DeviceCgroup(allow: true, type: "c", major: 136, access: "rwm")],
                memory: Spec.Memory(limit: 536_870_912, reservation: 268_435_456, swap: -1, swappiness: 60, disableOOMKiller: false),
                cpu: Spec.CPU(shares: 1024, quota: 50_000, period: 100_000, cpus: "0-3", mems: "0"),
                pids: Spec.Pids(limit: 4096)),
            cgroupsPath: "/berth/c0ffee")
        linux.resources?.blockIO = Spec.BlockIO(weight: 500)
        linux.resources?.blockIO?.throttleReadBpsDevice = [Spec.ThrottleDevice(major: 8, minor: 0, rate: 10_485_760)]
        linux.resources?.unified = ["memory.high": "400000000", "io.weight": "default 100"]
        linux.sysctl = ["net.ipv4.ip_forward": "1", "net.core.somaxconn": "1024"]
        linux.devices = [
            Spec.Device(type: "c", path: "/dev/null", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0),
            Spec.Device(type: "c", path: "/dev/zero", major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0),
            Spec.Device(type: "c", path: "/dev/fuse", major: 10, minor: 229, fileMode: 0o600),
        ]
        var seccomp = Spec.Seccomp(defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1,
                                   architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        seccomp.syscalls = [
            Spec.Syscall(names: syscalls, action: "SCMP_ACT_ALLOW"),
            Spec.Syscall(names: ["personality"], action: "SCMP_ACT_ALLOW", args: [Spec.SyscallArg(index: 0, value: 0, op: "SCMP_CMP_EQ")]),
            Spec.Syscall(names: ["personality"], action: "SCMP_ACT_ALLOW", args: [Spec.SyscallArg(index: 0, value: 0xFFFF_FFFF, op: "SCMP_CMP_EQ")]),
            Spec.Syscall(names: ["clone"], action: "SCMP_ACT_ALLOW",
                         args: [Spec.SyscallArg(index: 0, value: 2_114_060_288, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ")]),
            Spec.Syscall(names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38),
        ]
        linux.seccomp = seccomp
        linux.rootfsPropagation = "rprivate"
        linux.maskedPaths = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                             "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                             "/sys/firmware", "/sys/devices/virtual/powercap"]
        linux.readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        var hooks = Spec.Hooks()
        hooks.createRuntime = [Spec.Hook(path: "/usr/libexec/berth/netns-hook", args: ["netns-hook", "c0ffee"], timeout: 10)]
        return Spec(process: process, root: Spec.Root(path: "/var/lib/berth/overlay/c0ffee/merged", readonly: false),
                    hostname: "c0ffee", mounts: mounts, hooks: hooks,
                    annotations: ["org.opencontainers.image.ref.name": "alpine:3.20", "berth.name": "/web_1"],
                    linux: linux)
    }()
}
