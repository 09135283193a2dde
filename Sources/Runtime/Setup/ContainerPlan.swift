import OCI

/// One step of the container's setup, executed by the C child (see `berth_op` in berth_shim.h).
public struct SetupOp: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Int32, Sendable {
        case mount = 1, remount, propagate, mkdir, mknod, symlink, pivot, mask, readonly, write, hostname,
             domainname, syncHooks, rootReadonly, mountOrBind, bindRootfs
    }
    public var kind: Kind
    public var a: String?
    public var b: String?
    public var c: String?
    public var d: String?
    public var e: String?
    public var flags: MountFlags = []
    public var n1 = 0, n2 = 0, n3 = 0, n4 = 0

    public init(_ kind: Kind, a: String? = nil, b: String? = nil, c: String? = nil, d: String? = nil, e: String? = nil,
                flags: MountFlags = [], n1: Int = 0, n2: Int = 0, n3: Int = 0, n4: Int = 0) {
        self.kind = kind
        self.a = a
        self.b = b
        self.c = c
        self.d = d
        self.e = e
        self.flags = flags
        self.n1 = n1
        self.n2 = n2
        self.n3 = n3
        self.n4 = n4
    }

    public var description: String {
        var parts = ["\(kind)"]
        for (k, v) in [("a", a), ("b", b), ("c", c), ("d", d), ("e", e)] { if let v { parts.append("\(k)=\(v)") } }
        if flags.rawValue != 0 { parts.append("flags=0x\(String(flags.rawValue, radix: 16))") }
        return parts.joined(separator: " ")
    }
}

/// Linux namespace kinds and their clone flags.
public enum NamespaceKind: String, CaseIterable, Sendable {
    case pid, network, mount, ipc, uts, user, cgroup, time

    public var cloneFlag: Int32 {
        switch self {
        case .pid: return 0x2000_0000
        case .network: return 0x4000_0000
        case .mount: return 0x0002_0000
        case .ipc: return 0x0800_0000
        case .uts: return 0x0400_0000
        case .user: return 0x1000_0000
        case .cgroup: return 0x0200_0000
        case .time: return 0x80
        }
    }

    /// The file name under /proc/<pid>/ns/.
    public var procName: String {
        switch self {
        case .pid: return "pid"
        case .network: return "net"
        case .mount: return "mnt"
        case .ipc: return "ipc"
        case .uts: return "uts"
        case .user: return "user"
        case .cgroup: return "cgroup"
        case .time: return "time"
        }
    }
}

/// The process to exec, in the form the C child needs.
public struct ProcessPlan: Equatable, Sendable {
    public var args: [String]
    public var env: [String]
    public var cwd: String
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]
    public var umask: Int32 = -1
    public var rlimits: [(resource: Int32, soft: UInt64, hard: UInt64)] = []
    public var noNewPrivileges = false
    public var capsSet = false
    public var bounding: UInt64 = 0, effective: UInt64 = 0, permitted: UInt64 = 0, inheritable: UInt64 = 0, ambient: UInt64 = 0
    public var terminal = false
    public var rows: UInt16 = 0, cols: UInt16 = 0
    public var oomScoreAdj: Int?

    public static func == (l: ProcessPlan, r: ProcessPlan) -> Bool {
        l.args == r.args && l.env == r.env && l.cwd == r.cwd && l.uid == r.uid && l.gid == r.gid && l.groups == r.groups
            && l.umask == r.umask && l.rlimits.map { "\($0)" } == r.rlimits.map { "\($0)" }
            && l.noNewPrivileges == r.noNewPrivileges && l.capsSet == r.capsSet && l.bounding == r.bounding
            && l.effective == r.effective && l.permitted == r.permitted && l.inheritable == r.inheritable
            && l.ambient == r.ambient && l.terminal == r.terminal && l.oomScoreAdj == r.oomScoreAdj
    }
}

/// Everything needed to start a container, computed from the spec before any process exists.
public struct ContainerPlan: Sendable {
    public var rootfs: String
    /// CLONE_NEW* flags of namespaces to create.
    public var unshareFlags: Int32 = 0
    /// Namespaces to join: path and kind.
    public var joins: [(path: String, kind: NamespaceKind)] = []
    public var ops: [SetupOp] = []
    public var process: ProcessPlan
    public var uidMappings: [Spec.IDMapping] = []
    public var gidMappings: [Spec.IDMapping] = []
    public var seccomp: Spec.Seccomp?
    public var hasCreateHooks = false
    /// Kinds of all namespaces the container has (created or joined), for `exec` to join later.
    public var namespaces: [NamespaceKind] = []
}

/// rlimit names and numbers.
public enum Rlimits {
    public static let numbers: [String: Int32] = [
        "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4, "RLIMIT_RSS": 5,
        "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10,
        "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
    ]
}
