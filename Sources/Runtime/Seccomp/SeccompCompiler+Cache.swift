import CSeccomp
import OCI

/// The on-disk cache of compiled programs (`<root>/seccomp-cache`).
///
/// An entry is found by a cheap hash of the profile's canonical form and *verified* against that
/// whole canonical form, which the entry stores in front of the program: a hash collision (even
/// a crafted one) can only cost a recompile, never hand out another profile's program. That is
/// why no cryptographic hash is needed here (swift-crypto's SHA256 cost ~0.2 ms of first-use
/// set-up on every container start).
extension SeccompCompiler {
    static let cacheMagic = Array("berth-seccomp-2\n".utf8)

    /// The profile in a canonical byte form (plus libseccomp's version and the compile options),
    /// equal for profiles that compile to the same program.
    public static func canonicalKey(_ s: Spec.Seccomp) -> [UInt8] {
        var b: [UInt8] = []
        b.reserveCapacity(8192)
        func put(_ str: String) { b.append(contentsOf: str.utf8); b.append(0) }
        func put(_ n: UInt64) { put(String(n)) }
        if let v = seccomp_version() { put("\(v.pointee.major).\(v.pointee.minor).\(v.pointee.micro)") }
        put("bintree")  // programs of 8+ rules are compiled as a binary tree (see compile)
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
        return b
    }

    /// The cache entry name of a profile: FNV-1a (64 bit) of its canonical form, in hex.
    public static func cacheKey(_ s: Spec.Seccomp) -> String { cacheKey(canonical: canonicalKey(s)) }

    static func cacheKey(canonical: [UInt8]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in canonical { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The cache entry's bytes: magic, key length (UInt32 LE), the canonical key, the program.
    static func cacheEntry(canonical: [UInt8], program: [UInt8]) -> [UInt8] {
        var out = cacheMagic
        let n = UInt32(canonical.count)
        out += [UInt8(n & 0xff), UInt8(n >> 8 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 24)]
        out += canonical
        out += program
        return out
    }

    /// The program stored in `entry` if the entry is for exactly `canonical`.
    static func program(fromEntry entry: [UInt8], canonical: [UInt8]) -> [UInt8]? {
        let m = cacheMagic.count
        guard entry.count > m + 4, entry[0..<m].elementsEqual(cacheMagic) else { return nil }
        let n = Int(entry[m]) | Int(entry[m + 1]) << 8 | Int(entry[m + 2]) << 16 | Int(entry[m + 3]) << 24
        let start = m + 4 + n
        guard n == canonical.count, entry.count > start, entry[(m + 4)..<start].elementsEqual(canonical) else { return nil }
        let program = Array(entry[start...])
        return program.count % 8 == 0 ? program : nil
    }

    /// The compiled program for `profile`, from the cache when present.
    public func program(for profile: Spec.Seccomp) throws -> Program {
        var flags: UInt32 = 0
        for f in profile.flags ?? [] {
            guard let v = Self.filterFlag(f) else { throw BerthError(.invalidArgument, "seccomp flag \(f) is not supported") }
            flags |= v
        }
        let canonical = Self.canonicalKey(profile)
        let path = cacheDirectory.map { "\($0)/\(Self.cacheKey(canonical: canonical)).bpf" }
        if let path, let entry = FileIO.readBytes(path), let bytes = Self.program(fromEntry: entry, canonical: canonical) {
            return Program(bytes: bytes, flags: flags)
        }
        let bytes = try Self.compile(profile)
        if let path, let dir = cacheDirectory {
            try? FileIO.mkdirAll(dir, mode: 0o700)
            try? FileIO.writeAtomically(path, bytes: Self.cacheEntry(canonical: canonical, program: bytes))
        }
        return Program(bytes: bytes, flags: flags)
    }
}
