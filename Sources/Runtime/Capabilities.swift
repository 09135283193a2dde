/// Linux capability names (as in OCI specs, `CAP_` prefixed) and their numbers.
public enum Capabilities {
    /// All capabilities known to berth, by number (index = capability number).
    public static let names: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    /// The number of a capability given as `CAP_X`, `cap_x` or `X`; nil when unknown.
    public static func number(of name: String) -> Int? {
        var n = name.uppercased()
        if !n.hasPrefix("CAP_") { n = "CAP_" + n }
        return names.firstIndex(of: n)  // 41 names: a scan beats building a Dictionary per process
    }

    /// The name of capability number `n` (`CAP_...`), nil when unknown.
    public static func name(of n: Int) -> String? { n >= 0 && n < names.count ? names[n] : nil }

    /// A bit mask of the named capabilities. Unknown names are returned in `unknown` (runc ignores
    /// them with a warning, and so does berth); capabilities above `lastCap` are left out.
    public static func mask(_ list: [String]?, lastCap: Int = 40) -> (mask: UInt64, unknown: [String]) {
        var mask: UInt64 = 0
        var unknown: [String] = []
        for name in list ?? [] {
            guard let n = number(of: name) else { unknown.append(name); continue }
            if n <= lastCap && n < 64 { mask |= 1 << UInt64(n) }
        }
        return (mask, unknown)
    }

    /// Names of the capabilities set in `mask`, in number order.
    public static func names(in mask: UInt64) -> [String] {
        (0..<min(64, names.count)).filter { mask & (1 << UInt64($0)) != 0 }.map { names[$0] }
    }

    /// Docker's 14 default capabilities.
    public static let dockerDefault: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]
}
