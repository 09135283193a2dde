import CBerthShim
import Glibc
import OCI

/// The device allow-list on cgroup v2: an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) attached to
/// the container's cgroup, as runc's devicefilter builds it.
///
/// The spec's rules (then runc's always-allowed devices) are first run through an emulation of the
/// cgroup v1 devices controller, so v2 enforces exactly what v1 would: "a" rules reset the default
/// and drop the exceptions, rules matching the default remove exceptions, the others add them.
/// The program then checks the exceptions last-first (the last matching one decides) and falls
/// back to the default.
public enum DeviceFilter {
    /// One exception of the emulated v1 list. `major`/`minor` -1 mean any.
    public struct Exception: Equatable, Sendable {
        public var type: Character  // "c" or "b"
        public var major: Int64
        public var minor: Int64
        /// BPF_DEVCG_ACC_* bits: mknod 1, read 2, write 4.
        public var access: UInt32
    }

    /// The v1 devices controller's state after the rules: default allow or deny, and exceptions.
    public static func emulate(_ rules: [Spec.DeviceCgroup]) throws -> (defaultAllow: Bool, exceptions: [Exception]) {
        // A new v1 cgroup starts as its parent's, "a *:* rwm" (allow all).
        var defaultAllow = true
        var exceptions: [Exception] = []
        for rule in rules {
            _ = try CgroupManager.deviceRule(rule)  // validates type and access
            let type = Character(rule.type ?? "a")
            if type == "a" {
                defaultAllow = rule.allow
                exceptions = []
                continue
            }
            var access: UInt32 = 0
            for c in rule.access ?? "rwm" {
                access |= c == "m" ? 1 : c == "r" ? 2 : 4
            }
            let e = Exception(type: type, major: max(rule.major ?? -1, -1), minor: max(rule.minor ?? -1, -1), access: access)
            let same = exceptions.firstIndex { $0.type == e.type && $0.major == e.major && $0.minor == e.minor }
            if rule.allow == defaultAllow {
                // Back to the default for these accesses: subtract from the exact exception.
                if let i = same {
                    exceptions[i].access &= ~access
                    if exceptions[i].access == 0 { exceptions.remove(at: i) }
                }
            } else if let i = same {
                exceptions[i].access |= access
            } else {
                exceptions.append(e)
            }
        }
        return (defaultAllow, exceptions)
    }

    /// The eBPF program (8-byte `bpf_insn`s) for `rules`.
    public static func program(for rules: [Spec.DeviceCgroup]) throws -> [UInt8] {
        let (defaultAllow, exceptions) = try emulate(rules)
        var insns: [[UInt8]] = []
        func insn(_ code: UInt8, dst: UInt8 = 0, src: UInt8 = 0, off: Int16 = 0, imm: Int32 = 0) -> [UInt8] {
            let o = UInt16(bitPattern: off), i = UInt32(bitPattern: imm)
            return [code, dst | src << 4, UInt8(o & 0xff), UInt8(o >> 8),
                    UInt8(i & 0xff), UInt8(i >> 8 & 0xff), UInt8(i >> 16 & 0xff), UInt8(i >> 24)]
        }
        let ldxw: UInt8 = 0x61, and32: UInt8 = 0x54, rsh32: UInt8 = 0x74, mov32Reg: UInt8 = 0xbc
        let mov32Imm: UInt8 = 0xb4, jneImm: UInt8 = 0x55, jneReg: UInt8 = 0x5d, exit: UInt8 = 0x95
        // struct bpf_cgroup_dev_ctx { u32 access_type (type | access << 16); u32 major; u32 minor; }
        insns.append(insn(ldxw, dst: 2, src: 1, off: 0))   // r2 = type
        insns.append(insn(and32, dst: 2, imm: 0xffff))
        insns.append(insn(ldxw, dst: 3, src: 1, off: 0))   // r3 = access
        insns.append(insn(rsh32, dst: 3, imm: 16))
        insns.append(insn(ldxw, dst: 4, src: 1, off: 4))   // r4 = major
        insns.append(insn(ldxw, dst: 5, src: 1, off: 8))   // r5 = minor
        for e in exceptions.reversed() {
            // Each check jumps to the next block (placeholder offset, fixed below).
            var block: [(code: UInt8, dst: UInt8, src: UInt8, imm: Int32, jumps: Bool)] = []
            block.append((jneImm, 2, 0, e.type == "c" ? 2 : 1, true))
            if e.access != 7 {
                // The requested access must be within the rule's: (r3 & access) == r3.
                block.append((mov32Reg, 1, 3, 0, false))
                block.append((and32, 1, 0, Int32(e.access), false))
                block.append((jneReg, 1, 3, 0, true))
            }
            if e.major >= 0 { block.append((jneImm, 4, 0, Int32(truncatingIfNeeded: e.major), true)) }
            if e.minor >= 0 { block.append((jneImm, 5, 0, Int32(truncatingIfNeeded: e.minor), true)) }
            block.append((mov32Imm, 0, 0, defaultAllow ? 0 : 1, false))
            block.append((exit, 0, 0, 0, false))
            for (k, b) in block.enumerated() {
                let toNext = Int16(block.count - k - 1)
                insns.append(insn(b.code, dst: b.dst, src: b.src, off: b.jumps ? toNext : 0, imm: b.imm))
            }
        }
        insns.append(insn(mov32Imm, dst: 0, imm: defaultAllow ? 1 : 0))
        insns.append(insn(exit))
        return insns.flatMap { $0 }
    }

    /// Loads `program` and attaches it to the cgroup v2 directory `dir`.
    public static func attach(_ program: [UInt8], cgroup dir: String) throws {
        var log = [CChar](repeating: 0, count: 4096)
        let fd = program.withUnsafeBytes { p in
            log.withUnsafeMutableBufferPointer { berth_bpf_load_device_filter(p.baseAddress, Int32(program.count / 8), $0.baseAddress, 4096) }
        }
        guard fd >= 0 else {
            let text = log.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw BerthError(.internalError, "loading the cgroup device filter (BPF_PROG_LOAD): \(FileIO.errorString(-fd))"
                             + (text.isEmpty ? "" : ": \(text)"))
        }
        defer { close(fd) }
        let r = berth_bpf_attach_device_filter(dir, fd)
        guard r == 0 else {
            throw BerthError(.internalError, "attaching the cgroup device filter to \(dir): \(FileIO.errorString(-r))")
        }
    }
}
