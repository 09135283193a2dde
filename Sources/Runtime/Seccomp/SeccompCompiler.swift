import CBerthShim
import CSeccomp
import Foundation
import OCI

/// Compiles an OCI seccomp section to a BPF program with libseccomp, caching the result on disk
/// (`SeccompCompiler+Cache.swift`) so a given profile (Docker's default, typically) is compiled once.
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

    // Name tables as switches, not Dictionary literals: a Dictionary's first use costs a runtime
    // Hashable conformance lookup, and this runs on every container start.
    static func actionBase(_ name: String) -> UInt32? {
        switch name {
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return 0
        case "SCMP_ACT_KILL_PROCESS": return 0x8000_0000
        case "SCMP_ACT_TRAP": return 0x0003_0000
        case "SCMP_ACT_ERRNO": return 0x0005_0000
        case "SCMP_ACT_TRACE": return 0x7ff0_0000
        case "SCMP_ACT_LOG": return 0x7ffc_0000
        case "SCMP_ACT_ALLOW": return 0x7fff_0000
        default: return nil
        }
    }

    static func compareOperator(_ name: String) -> UInt32? {
        switch name {
        case "SCMP_CMP_NE": return 1
        case "SCMP_CMP_LT": return 2
        case "SCMP_CMP_LE": return 3
        case "SCMP_CMP_EQ": return 4
        case "SCMP_CMP_GE": return 5
        case "SCMP_CMP_GT": return 6
        case "SCMP_CMP_MASKED_EQ": return 7
        default: return nil
        }
    }

    static func filterFlag(_ name: String) -> UInt32? {
        switch name {
        case "SECCOMP_FILTER_FLAG_TSYNC": return 1
        case "SECCOMP_FILTER_FLAG_LOG": return 2
        case "SECCOMP_FILTER_FLAG_SPEC_ALLOW": return 4
        default: return nil
        }
    }

    /// The libseccomp action value of an OCI action name with its errno.
    public static func action(_ name: String, errno: UInt32?) throws -> UInt32 {
        if name == "SCMP_ACT_NOTIFY" {
            throw BerthError(.unsupported, "seccomp action SCMP_ACT_NOTIFY is not supported")
        }
        guard let base = actionBase(name) else {
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
        for f in s.flags ?? [] where filterFlag(f) == nil {
            throw BerthError(.invalidArgument, "seccomp flag \(f) is not supported")
        }
        for call in s.syscalls ?? [] {
            _ = try action(call.action, errno: call.errnoRet)
            for arg in call.args ?? [] {
                guard compareOperator(arg.op) != nil else { throw BerthError(.invalidArgument, "invalid seccomp operator \(arg.op)") }
                guard arg.index < 6 else { throw BerthError(.invalidArgument, "seccomp argument index \(arg.index) out of range") }
            }
        }
    }

    /// Compiles with libseccomp (no cache).
    /// - Parameter binaryTree: false for libseccomp's default linear chain (tests compare the two).
    public static func compile(_ profile: Spec.Seccomp, binaryTree: Bool = true) throws -> [UInt8] {
        try validate(profile)
        let defaultAct = try action(profile.defaultAction, errno: profile.defaultErrnoRet)
        guard let ctx = seccomp_init(defaultAct) else {
            throw BerthError(.internalError, "seccomp_init failed")
        }
        defer { seccomp_release(ctx) }
        // A binary tree of syscall numbers instead of a linear chain (as runc does since 1.1.1, and
        // only for 8+ rules like it: libseccomp < 2.5.4 mishandles a tree without rules). Same
        // decisions, but the kernel's load-time action cache (seccomp_cache_prepare emulates the
        // filter for every syscall number and arch) and each filtered syscall walk ~10 compares
        // instead of hundreds: Docker's profile took ~1.4 ms to load as a chain.
        // Best effort: a libseccomp without the attribute keeps the chain.
        if binaryTree && (profile.syscalls ?? []).reduce(0, { $0 + $1.names.count }) >= 8 {
            _ = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)
        }
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
                conditions.append(scmp_arg_cmp(arg: UInt32(arg.index), op: scmp_compare(compareOperator(arg.op)!),
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
        // libseccomp reports a failed write(2) (e.g. EINTR from a signal in a busy multithreaded process) as
        // ECANCELED; the program is deterministic, so write it again from the start.
        var r = seccomp_export_bpf(ctx, fd)
        for _ in 0..<3 where r == -ECANCELED {
            _ = ftruncate(fd, 0)
            _ = lseek(fd, 0, SEEK_SET)
            r = seccomp_export_bpf(ctx, fd)
        }
        guard r == 0 else { throw BerthError(.internalError, "seccomp_export_bpf: \(String(cString: strerror(-r)))") }
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { throw BerthError(.internalError, "empty seccomp program") }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Int(size), 0) }
        guard n == Int(size) else { throw BerthError(.internalError, "reading seccomp program failed") }
        return bytes
    }
}
