import CBerthShim
import CSeccomp
import Foundation
import OCI

/// Compiles an OCI seccomp section to a BPF program with libseccomp, caching the result on disk
/// by a hash of the profile so a given profile (Docker's default, typically) is compiled once.
public struct SeccompCompiler: Sendable {
    /// Where compiled programs are kept (nil: no cache).
    public var cacheDirectory: String?

    public init(cacheDirectory: String?) { self.cacheDirectory = cacheDirectory }

    /// A compiled filter: `sock_filter` entries (8 bytes each) and the flags to load it with.
    public struct Program: Sendable, Equatable {
        public var bytes: [UInt8]
        public var flags: UInt32
        public var count: Int { bytes.count / 8 }
    }

    static let actions: [String: UInt32] = [
        "SCMP_ACT_KILL": 0, "SCMP_ACT_KILL_THREAD": 0, "SCMP_ACT_KILL_PROCESS": 0x8000_0000,
        "SCMP_ACT_TRAP": 0x0003_0000, "SCMP_ACT_ERRNO": 0x0005_0000, "SCMP_ACT_TRACE": 0x7ff0_0000,
        "SCMP_ACT_LOG": 0x7ffc_0000, "SCMP_ACT_ALLOW": 0x7fff_0000,
    ]

    static let operators: [String: UInt32] = [
        "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4, "SCMP_CMP_GE": 5,
        "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
    ]

    static let filterFlags: [String: UInt32] = [
        "SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2, "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
    ]

    /// The libseccomp action value of an OCI action name with its errno.
    public static func action(_ name: String, errno: UInt32?) throws -> UInt32 {
        if name == "SCMP_ACT_NOTIFY" {
            throw BerthError(.unsupported, "seccomp action SCMP_ACT_NOTIFY is not supported")
        }
        guard let base = actions[name] else {
            throw BerthError(.invalidArgument, "invalid seccomp action \(name)")
        }
        switch name {
        case "SCMP_ACT_ERRNO": return base | ((errno ?? 1) & 0xffff)   // EPERM by default, like runc
        case "SCMP_ACT_TRACE": return base | ((errno ?? 1) & 0xffff)
        default: return base
        }
    }

    /// Validates a profile without compiling it (actions, operators, flags, argument indexes).
    public static func validate(_ s: Spec.Seccomp) throws {
        _ = try action(s.defaultAction, errno: s.defaultErrnoRet)
        for f in s.flags ?? [] where filterFlags[f] == nil {
            throw BerthError(.invalidArgument, "seccomp flag \(f) is not supported")
        }
        for call in s.syscalls ?? [] {
            _ = try action(call.action, errno: call.errnoRet)
            for arg in call.args ?? [] {
                guard operators[arg.op] != nil else { throw BerthError(.invalidArgument, "invalid seccomp operator \(arg.op)") }
                guard arg.index < 6 else { throw BerthError(.invalidArgument, "seccomp argument index \(arg.index) out of range") }
            }
        }
    }

    /// A stable key for the profile: sha256 over a canonical serialization (plus libseccomp's version).
    public static func cacheKey(_ s: Spec.Seccomp) -> String {
        var b: [UInt8] = []
        b.reserveCapacity(8192)
        func put(_ str: String) { b.append(contentsOf: str.utf8); b.append(0) }
        func put(_ n: UInt64) { put(String(n)) }
        let v = seccomp_version()
        if let v { put("\(v.pointee.major).\(v.pointee.minor).\(v.pointee.micro)") }
        put(s.defaultAction); put(UInt64(s.defaultErrnoRet ?? 1_000_000))
        for a in s.architectures ?? [] { put(a) }
        put("|")
        for f in s.flags ?? [] { put(f) }
        put("|")
        for c in s.syscalls ?? [] {
            put("{")
            for n in c.names { put(n) }
            put(c.action); put(UInt64(c.errnoRet ?? 1_000_000))
            for a in c.args ?? [] {
                put(UInt64(a.index)); put(a.value); put(a.valueTwo ?? 0); put(a.op)
            }
        }
        return Digest.sha256(b).encoded
    }

    /// The compiled program for `profile`, from the cache when present.
    public func program(for profile: Spec.Seccomp) throws -> Program {
        var flags: UInt32 = 0
        for f in profile.flags ?? [] {
            guard let v = Self.filterFlags[f] else { throw BerthError(.invalidArgument, "seccomp flag \(f) is not supported") }
            flags |= v
        }
        let key = Self.cacheKey(profile)
        let path = cacheDirectory.map { "\($0)/\(key).bpf" }
        if let path, let bytes = FileIO.readBytes(path), !bytes.isEmpty, bytes.count % 8 == 0 {
            return Program(bytes: bytes, flags: flags)
        }
        let bytes = try Self.compile(profile)
        if let path, let dir = cacheDirectory {
            try? FileIO.mkdirAll(dir, mode: 0o700)
            try? FileIO.writeAtomically(path, bytes: bytes)
        }
        return Program(bytes: bytes, flags: flags)
    }

    /// Compiles with libseccomp (no cache).
    public static func compile(_ profile: Spec.Seccomp) throws -> [UInt8] {
        try validate(profile)
        let defaultAct = try action(profile.defaultAction, errno: profile.defaultErrnoRet)
        guard let ctx = seccomp_init(defaultAct) else {
            throw BerthError(.internalError, "seccomp_init failed")
        }
        defer { seccomp_release(ctx) }
        for arch in profile.architectures ?? [] {
            let name = arch.lowercased().replacingOccurrences(of: "scmp_arch_", with: "")
            let token = seccomp_arch_resolve_name(name)
            guard token != 0 else { throw BerthError(.invalidArgument, "unknown seccomp architecture \(arch)") }
            let r = seccomp_arch_add(ctx, token)
            if r != 0 && r != -EEXIST {
                throw BerthError(.internalError, "adding architecture \(arch) to seccomp filter: \(String(cString: strerror(-r)))")
            }
        }
        for call in profile.syscalls ?? [] {
            let act = try action(call.action, errno: call.errnoRet)
            if act == defaultAct { continue }  // libseccomp refuses rules equal to the default
            var conditions: [scmp_arg_cmp] = []
            var counts = [Int](repeating: 0, count: 6)
            for arg in call.args ?? [] {
                counts[Int(arg.index)] += 1
                conditions.append(scmp_arg_cmp(arg: UInt32(arg.index), op: scmp_compare(operators[arg.op]!),
                                               datum_a: arg.value, datum_b: arg.valueTwo ?? 0))
            }
            let separate = counts.contains { $0 > 1 }
            for name in call.names {
                let nr = seccomp_syscall_resolve_name(name)
                if nr == __NR_SCMP_ERROR { continue }  // unknown to this libseccomp: skipped, like runc
                var r: Int32
                if conditions.isEmpty {
                    r = seccomp_rule_add_array(ctx, act, nr, 0, nil)
                } else if separate {
                    r = 0
                    for var c in conditions {
                        r = seccomp_rule_add_array(ctx, act, nr, 1, &c)
                        if r != 0 { break }
                    }
                } else {
                    r = conditions.withUnsafeBufferPointer { seccomp_rule_add_array(ctx, act, nr, UInt32($0.count), $0.baseAddress) }
                }
                if r != 0 && r != -EACCES && r != -EEXIST {
                    throw BerthError(.invalidArgument, "adding seccomp rule for syscall \(name): \(String(cString: strerror(-r)))")
                }
            }
        }
        // Export through a memfd: libseccomp 2.5 only writes BPF to a file descriptor.
        let fd = berth_memfd("berth-seccomp")
        guard fd >= 0 else { throw BerthError(.internalError, "memfd_create: \(FileIO.errorString(-fd))") }
        defer { close(fd) }
        let r = seccomp_export_bpf(ctx, fd)
        guard r == 0 else { throw BerthError(.internalError, "seccomp_export_bpf: \(String(cString: strerror(-r)))") }
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { throw BerthError(.internalError, "empty seccomp program") }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Int(size), 0) }
        guard n == Int(size) else { throw BerthError(.internalError, "reading seccomp program failed") }
        return bytes
    }
}
