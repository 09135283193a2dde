#if canImport(Glibc)
import Glibc
#endif

/// An OS/architecture pair with optional variant, as in `linux/arm64/v8`.
public struct Platform: Codable, Hashable, Sendable, CustomStringConvertible {
    public var architecture: String
    public var os: String
    public var variant: String?
    public var osVersion: String?
    public var osFeatures: [String]?

    enum CodingKeys: String, CodingKey {
        case architecture, os, variant
        case osVersion = "os.version"
        case osFeatures = "os.features"
    }

    public init(os: String, architecture: String, variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
    }

    /// Parses `os[/arch[/variant]]` (also a bare architecture, as containerd does), normalizing aliases.
    public init(parsing string: String) throws {
        let parts = string.lowercased().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !parts.isEmpty, parts.count <= 3, !parts.contains(where: \.isEmpty) else {
            throw BerthError(.invalidArgument, "\"\(string)\": unknown operating system or architecture: invalid argument")
        }
        let knownOS: Set<String> = ["linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "aix", "android", "ios", "js", "plan9", "dragonfly", "wasip1"]
        if parts.count == 1 {
            if knownOS.contains(parts[0]) {
                self = Platform.host
                self.os = parts[0]
                return
            }
            let (arch, variant) = Platform.normalizeArch(parts[0], nil)
            guard Platform.knownArchitectures.contains(arch) else {
                throw BerthError(.invalidArgument, "\"\(string)\": unknown operating system or architecture: invalid argument")
            }
            self.init(os: "linux", architecture: arch, variant: variant)
            return
        }
        guard knownOS.contains(parts[0]) else {
            throw BerthError(.invalidArgument, "\"\(string)\": unknown operating system or architecture: invalid argument")
        }
        let (arch, variant) = Platform.normalizeArch(parts[1], parts.count == 3 ? parts[2] : nil)
        self.init(os: parts[0], architecture: arch, variant: variant)
    }

    static let knownArchitectures: Set<String> = ["386", "amd64", "arm", "arm64", "ppc64", "ppc64le", "mips", "mipsle", "mips64", "mips64le", "riscv64", "s390x", "loong64", "wasm"]

    /// containerd's `normalizeArch`: aliases to Go names, default variants dropped or filled.
    static func normalizeArch(_ arch: String, _ variant: String?) -> (String, String?) {
        switch arch {
        case "i386": return ("386", nil)
        case "x86_64", "x86-64", "amd64":
            if variant == "v1" { return ("amd64", nil) }
            return ("amd64", variant)
        case "aarch64", "arm64":
            if variant == nil || variant == "8" || variant == "v8" { return ("arm64", nil) }
            return ("arm64", variant)
        case "armhf": return ("arm", "v7")
        case "armel": return ("arm", "v6")
        case "arm":
            switch variant {
            case nil, "7": return ("arm", "v7")
            case "5", "6", "8": return ("arm", "v" + variant!)
            default: return ("arm", variant)
            }
        default: return (arch, variant)
        }
    }

    public var description: String {
        var s = "\(os)/\(architecture)"
        if let variant { s += "/\(variant)" }
        return s
    }

    /// The platform this process runs on.
    public static let host: Platform = {
        #if arch(x86_64)
        return Platform(os: "linux", architecture: "amd64")
        #elseif arch(arm64)
        return Platform(os: "linux", architecture: "arm64")
        #elseif arch(arm)
        return Platform(os: "linux", architecture: "arm", variant: "v7")
        #else
        var u = utsname()
        uname(&u)
        let machine = withUnsafeBytes(of: &u.machine) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let (arch, variant) = normalizeArch(machine, nil)
        return Platform(os: "linux", architecture: arch, variant: variant)
        #endif
    }()

    /// Whether an index entry's platform satisfies this requested platform (variant compared after normalization).
    public func matches(_ candidate: Platform) -> Bool {
        guard os == candidate.os else { return false }
        let (a1, v1) = Platform.normalizeArch(architecture, variant)
        let (a2, v2) = Platform.normalizeArch(candidate.architecture, candidate.variant)
        guard a1 == a2 else { return false }
        if v1 == nil { return true }
        return v1 == v2
    }
}
