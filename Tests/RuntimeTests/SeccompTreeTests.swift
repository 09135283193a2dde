import OCI
import Testing
@testable import Runtime

/// The seccomp programs are compiled as a binary tree (faster to load and to run). This checks,
/// with a small classic-BPF interpreter, that the tree decides exactly like libseccomp's default
/// linear chain for Docker's profile: every syscall number of every listed arch, with argument
/// values around the profile's conditions.
@Suite struct SeccompTreeTests {
    /// Runs a seccomp cBPF program on one `seccomp_data`; returns the action, nil on a bad program.
    static func run(_ program: [UInt8], nr: UInt32, arch: UInt32, args: [UInt64]) -> UInt32? {
        var data = [UInt8](repeating: 0, count: 64)
        func put32(_ v: UInt32, at o: Int) { for i in 0..<4 { data[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) } }
        put32(nr, at: 0)
        put32(arch, at: 4)
        for (i, a) in args.prefix(6).enumerated() {
            put32(UInt32(truncatingIfNeeded: a), at: 16 + 8 * i)
            put32(UInt32(truncatingIfNeeded: a >> 32), at: 20 + 8 * i)
        }
        func load(_ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(data[o + $1]) << (8 * UInt32($1)) } }
        var a: UInt32 = 0, x: UInt32 = 0
        var mem = [UInt32](repeating: 0, count: 16)
        var pc = 0
        let n = program.count / 8
        var steps = 0
        while pc < n, steps < 100_000 {
            steps += 1
            let o = pc * 8
            let code = UInt16(program[o]) | UInt16(program[o + 1]) << 8
            let jt = Int(program[o + 2]), jf = Int(program[o + 3])
            let k = UInt32(program[o + 4]) | UInt32(program[o + 5]) << 8 | UInt32(program[o + 6]) << 16 | UInt32(program[o + 7]) << 24
            pc += 1
            switch code & 0x07 {
            case 0x00:  // LD
                switch code & 0xe0 {
                case 0x00: a = k
                case 0x20: guard k <= 60 else { return nil }; a = load(Int(k))
                case 0x60: a = mem[Int(k & 15)]
                default: return nil
                }
            case 0x01:  // LDX
                switch code & 0xe0 {
                case 0x00: x = k
                case 0x60: x = mem[Int(k & 15)]
                default: return nil
                }
            case 0x02: mem[Int(k & 15)] = a  // ST
            case 0x03: mem[Int(k & 15)] = x  // STX
            case 0x04:  // ALU
                let v = code & 0x08 != 0 ? x : k
                switch code & 0xf0 {
                case 0x00: a = a &+ v
                case 0x10: a = a &- v
                case 0x20: a = a &* v
                case 0x40: a |= v
                case 0x50: a &= v
                case 0x60: a = v < 32 ? a << v : 0
                case 0x70: a = v < 32 ? a >> v : 0
                case 0x80: a = 0 &- a
                case 0xa0: a ^= v
                default: return nil
                }
            case 0x05:  // JMP
                let v = code & 0x08 != 0 ? x : k
                let taken: Bool
                switch code & 0xf0 {
                case 0x00: pc += Int(k); continue
                case 0x10: taken = a == v
                case 0x20: taken = a > v
                case 0x30: taken = a >= v
                case 0x40: taken = a & v != 0
                default: return nil
                }
                pc += taken ? jt : jf
            case 0x06: return code & 0x18 == 0x10 ? a : k  // RET A or K
            case 0x07: if code & 0xf8 == 0 { x = a } else { a = x }  // TAX / TXA
            default: return nil
            }
        }
        return nil
    }

    static let x8664: UInt32 = 0xC000_003E, i386: UInt32 = 0x4000_0003, aarch64: UInt32 = 0xC000_00B7

    static func argumentSets() -> [[UInt64]] {
        var sets: [[UInt64]] = [[0, 0, 0, 0, 0, 0], [UInt64.max, UInt64.max, 0, 0, 0, 0], [0x1_0000_0000, 1, 2, 3, 4, 5]]
        for v: UInt64 in [0, 8, 0x20000, 0x20008, 0xffff_ffff, 0x1_0000_0008, 17, 0x1000_0011, 0x7E02_0000, 0x0002_0000] {
            sets.append([v, v, 0, 0, 0, 0])
        }
        for d: UInt64 in 36...44 { sets.append([d, 1, 0, 0, 0, 0]) }  // socket domains around AF_VSOCK (40)
        return sets
    }

    @Test func binaryTreeDecidesLikeTheChain() throws {
        let oci = try DockerSeccompProfile.default.toOCI(capabilities: Capabilities.dockerDefault)
        let chain = try SeccompCompiler.compile(oci, binaryTree: false)
        let tree = try SeccompCompiler.compile(oci, binaryTree: true)
        #expect(chain != tree, "the tree option had no effect")
        var checked = 0, allowed = 0
        let sets = Self.argumentSets()
        for (arch, base) in [(Self.x8664, UInt32(0)), (Self.x8664, UInt32(0x4000_0000)), (Self.i386, 0), (Self.aarch64, 0)] {
            for nr in UInt32(0)..<UInt32(600) {
                // Argument conditions only matter for the native arch's numbers; others get a few sets.
                for args in (arch == Self.x8664 && base == 0 ? sets : Array(sets.prefix(3))) {
                    let c = Self.run(chain, nr: base | nr, arch: arch, args: args)
                    let t = Self.run(tree, nr: base | nr, arch: arch, args: args)
                    #expect(c != nil && c == t, "nr \(nr) arch \(String(arch, radix: 16)) args \(args)")
                    if c == nil || c != t { return }
                    checked += 1
                    if c == 0x7fff_0000 { allowed += 1 }
                }
            }
        }
        // Sanity: the interpreter sees the profile allow things (and not everything).
        #expect(allowed > 1000 && allowed < checked)
        // read(2) on x86_64 is allowed, reboot(2) (169) is not.
        #expect(Self.run(tree, nr: 0, arch: Self.x8664, args: [0, 0, 0, 0, 0, 0]) == 0x7fff_0000)
        #expect(Self.run(tree, nr: 169, arch: Self.x8664, args: [0, 0, 0, 0, 0, 0]) == 0x0005_0001)
    }
}
