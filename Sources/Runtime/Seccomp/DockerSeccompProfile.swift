import Foundation
import OCI

/// A seccomp profile in Docker's format (`docker run --security-opt seccomp=profile.json`):
/// OCI-like syscall rules plus `includes`/`excludes` conditions on capabilities, architectures and
/// kernel versions, and an `archMap` of native architectures to their sub-architectures.
public struct DockerSeccompProfile: Codable, Sendable, Equatable {
    public var defaultAction: String
    public var defaultErrnoRet: UInt32?
    public var architectures: [String]?
    public var archMap: [ArchMap]?
    public var flags: [String]?
    public var listenerPath: String?
    public var syscalls: [Syscall]?

    public struct ArchMap: Codable, Sendable, Equatable {
        public var architecture: String
        public var subArchitectures: [String]?
    }

    public struct Filter: Codable, Sendable, Equatable {
        public var caps: [String]?
        public var arches: [String]?
        public var minKernel: String?
    }

    public struct Syscall: Codable, Sendable, Equatable {
        public var name: String?
        public var names: [String]?
        public var action: String
        public var errnoRet: UInt32?
        public var args: [Spec.SyscallArg]?
        public var includes: Filter?
        public var excludes: Filter?
        public var comment: String?
    }

    /// Docker's default profile.
    public static let `default`: DockerSeccompProfile = {
        // The embedded JSON is part of berth; it always decodes.
        try! JSONDecoder().decode(DockerSeccompProfile.self, from: Data(defaultJSON.utf8))
    }()

    /// Parses a profile in Docker's format.
    public static func parse(_ data: Data) throws -> DockerSeccompProfile {
        do {
            return try JSONDecoder().decode(DockerSeccompProfile.self, from: data)
        } catch {
            throw BerthError(.invalidArgument, "decoding seccomp profile failed: \(error)")
        }
    }

    /// Go's GOARCH name of the machine berth runs on (what Docker matches `arches` against).
    public static var nativeArch: String {
        #if arch(x86_64)
        return "amd64"
        #elseif arch(arm64)
        return "arm64"
        #elseif arch(s390x)
        return "s390x"
        #elseif arch(powerpc64le)
        return "ppc64le"
        #elseif arch(riscv64)
        return "riscv64"
        #else
        return "unknown"
        #endif
    }

    static let seccompArchOfGo: [String: String] = [
        "amd64": "SCMP_ARCH_X86_64", "386": "SCMP_ARCH_X86", "arm64": "SCMP_ARCH_AARCH64", "arm": "SCMP_ARCH_ARM",
        "s390x": "SCMP_ARCH_S390X", "ppc64le": "SCMP_ARCH_PPC64LE", "riscv64": "SCMP_ARCH_RISCV64",
        "loong64": "SCMP_ARCH_LOONGARCH64", "mips64": "SCMP_ARCH_MIPS64", "mips64le": "SCMP_ARCH_MIPSEL64",
    ]

    /// Converts to the OCI `linux.seccomp` section the way Docker does for a container whose
    /// bounding capabilities are `capabilities`, on `arch` (Go name) and kernel `kernel` ("6.1.0").
    public func toOCI(capabilities: [String], arch: String = DockerSeccompProfile.nativeArch,
                      kernel: String? = DockerSeccompProfile.kernelRelease()) throws -> Spec.Seccomp {
        var out = Spec.Seccomp(defaultAction: defaultAction, defaultErrnoRet: defaultErrnoRet)
        out.flags = flags
        out.listenerPath = listenerPath
        var arches: [String] = []
        if let archMap, !archMap.isEmpty {
            if let native = Self.seccompArchOfGo[arch] {
                for a in archMap where a.architecture == native {
                    arches.append(a.architecture)
                    arches.append(contentsOf: a.subArchitectures ?? [])
                }
            }
        } else if let architectures {
            arches = architectures
        }
        out.architectures = arches.isEmpty ? nil : arches
        let caps = Set(capabilities.map { $0.uppercased() })
        let kernelVersion = kernel.map(Self.version)
        var rules: [Spec.Syscall] = []
        for call in syscalls ?? [] {
            if call.name != nil && call.names == nil {
                throw BerthError(.invalidArgument, "the 'name' field is no longer supported")
            }
            if let ex = call.excludes {
                if let a = ex.arches, a.contains(arch) { continue }
                if let c = ex.caps, c.contains(where: { caps.contains($0.uppercased()) }) { continue }
                if let mk = ex.minKernel, let kv = kernelVersion, Self.compare(kv, Self.version(mk)) >= 0 { continue }
            }
            if let inc = call.includes {
                if let a = inc.arches, !a.isEmpty, !a.contains(arch) { continue }
                if let c = inc.caps, !c.allSatisfy({ caps.contains($0.uppercased()) }) { continue }
                if let mk = inc.minKernel, let kv = kernelVersion, Self.compare(kv, Self.version(mk)) < 0 { continue }
            }
            rules.append(Spec.Syscall(names: call.names ?? [], action: call.action, errnoRet: call.errnoRet, args: call.args))
        }
        out.syscalls = rules
        return out
    }

    /// The running kernel's release (`uname -r`).
    public static func kernelRelease() -> String? {
        var u = utsname()
        guard uname(&u) == 0 else { return nil }
        return withUnsafeBytes(of: &u.release) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    static func version(_ s: String) -> [Int] {
        var parts: [Int] = []
        for piece in s.split(separator: ".").prefix(3) {
            parts.append(Int(piece.prefix(while: { $0.isNumber })) ?? 0)
        }
        while parts.count < 3 { parts.append(0) }
        return parts
    }

    static func compare(_ a: [Int], _ b: [Int]) -> Int {
        for (x, y) in zip(a, b) where x != y { return x < y ? -1 : 1 }
        return 0
    }
}
