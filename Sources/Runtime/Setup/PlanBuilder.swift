import OCI

/// Turns a validated OCI spec into a `ContainerPlan` (runc's rootfs preparation order). Pure apart
/// from `stat` of bind-mount sources through `probe`, so it is unit-tested without root.
public struct PlanBuilder {
    /// Answers "is this host path a directory?" (nil: does not exist).
    public var probe: (String) -> Bool?
    /// The host's cgroup layout and the container's cgroup path (for /sys/fs/cgroup inside).
    public var cgroup: CgroupManager?
    /// Highest capability number of the kernel.
    public var lastCap: Int = 40
    /// Whether /proc/kcore exists on the host (runc then adds /dev/core).
    public var hasKcore = true

    public init(probe: @escaping (String) -> Bool? = FileIO.isDirectory, cgroup: CgroupManager? = nil, lastCap: Int = 40) {
        self.probe = probe
        self.cgroup = cgroup
        self.lastCap = lastCap
    }

    /// Options that are not part of the spec.
    public struct Options: Sendable {
        /// Mount the rootfs from this (e.g. an overlay) inside the container's mount namespace, so
        /// nothing is left on the host when the container goes.
        public var rootfsMount: Spec.Mount?
        /// chroot instead of pivot_root (`--no-pivot`, for ramfs roots).
        public var noPivot = false
        public init(rootfsMount: Spec.Mount? = nil, noPivot: Bool = false) {
            self.rootfsMount = rootfsMount
            self.noPivot = noPivot
        }
    }

    public func build(spec: Spec, bundle: String, options: Options = Options()) throws -> ContainerPlan {
        guard let process = spec.process else {
            throw BerthError(.invalidArgument, "process property must not be empty")
        }
        guard let root = spec.root, !root.path.isEmpty else {
            throw BerthError(.invalidArgument, "root must be specified")
        }
        let rootfs = Self.absolute(root.path, relativeTo: bundle)
        if options.rootfsMount == nil {
            guard probe(rootfs) == true else {
                throw BerthError(.invalidArgument, "rootfs (\(rootfs)) does not exist")
            }
        }
        var plan = ContainerPlan(rootfs: rootfs, process: try processPlan(process))
        let linux = spec.linux ?? Spec.Linux()

        // Namespaces.
        var seen = Set<NamespaceKind>()
        for ns in linux.namespaces ?? [] {
            guard let kind = NamespaceKind(rawValue: ns.type) else {
                throw BerthError(.invalidArgument, "unknown namespace type \"\(ns.type)\"")
            }
            guard seen.insert(kind).inserted else {
                throw BerthError(.invalidArgument, "duplicate namespace type \"\(ns.type)\"")
            }
            if let path = ns.path, !path.isEmpty {
                guard probe(path) == false else {
                    throw BerthError(.invalidArgument, "namespace path \(path) for \(ns.type) is not a namespace file")
                }
                plan.joins.append((path, kind))
            } else {
                plan.unshareFlags |= kind.cloneFlag
            }
        }
        plan.namespaces = NamespaceKind.allCases.filter { seen.contains($0) }
        guard seen.contains(.mount) else {
            throw BerthError(.invalidArgument, "a mount namespace is required")
        }
        let userns = seen.contains(.user)
        if userns {
            plan.uidMappings = linux.uidMappings ?? []
            plan.gidMappings = linux.gidMappings ?? []
            if plan.unshareFlags & NamespaceKind.user.cloneFlag != 0 && (plan.uidMappings.isEmpty || plan.gidMappings.isEmpty) {
                throw BerthError(.invalidArgument, "user namespaces enabled, but no uid or gid mappings found")
            }
        } else if !(linux.uidMappings ?? []).isEmpty || !(linux.gidMappings ?? []).isEmpty {
            throw BerthError(.invalidArgument, "uid/gid mappings requires a user namespace")
        }
        if spec.hostname != nil && !(spec.hostname ?? "").isEmpty && !seen.contains(.uts) {
            throw BerthError(.invalidArgument, "unable to set hostname without a private UTS namespace")
        }
        if let h = spec.hooks {
            plan.hasCreateHooks = !(h.prestart ?? []).isEmpty || !(h.createRuntime ?? []).isEmpty || !(h.createContainer ?? []).isEmpty
        }
        plan.seccomp = linux.seccomp
        if let s = linux.seccomp { try SeccompCompiler.validate(s) }

        // Root propagation and the rootfs mount point.
        var ops: [SetupOp] = []
        let requested = try Self.propagation(linux.rootfsPropagation)
        let shared = requested.contains(.shared)
        ops.append(SetupOp(.propagate, b: "/", flags: shared ? [.slave, .rec] : (requested.isEmpty ? [.slave, .rec] : requested.union(.rec)), n1: 1))
        if let m = options.rootfsMount {
            let o = ParsedMountOptions(m.options ?? [])
            ops.append(SetupOp(.mount, a: m.source ?? m.type ?? "none", b: "/", c: m.type, d: o.dataString, flags: o.flags))
        }
        ops.append(SetupOp(.bindRootfs))

        // Spec mounts.
        var devIsTmpfs = false
        for m in spec.mounts ?? [] {
            guard m.destination.hasPrefix("/") else {
                throw BerthError(.invalidArgument, "mount destination \(m.destination) is not an absolute path")
            }
            let dest = Self.clean(m.destination)
            let o = ParsedMountOptions(m.options ?? [])
            let type = m.type ?? (o.isBind ? "bind" : "")
            if type == "cgroup" || type == "cgroup2" {
                ops += cgroupMounts(dest: dest, options: o, cgroupns: seen.contains(.cgroup) && plan.unshareFlags & NamespaceKind.cgroup.cloneFlag != 0)
                continue
            }
            if o.isBind || type == "bind" {
                guard let src = m.source, !src.isEmpty else {
                    throw BerthError(.invalidArgument, "bind mount to \(dest) has no source")
                }
                let source = Self.absolute(src, relativeTo: bundle)
                guard let isDir = probe(source) else {
                    throw BerthError(.invalidArgument, "error mounting \"\(source)\" to rootfs at \"\(dest)\": stat \(source): no such file or directory")
                }
                var flags = o.flags.union(.bind)
                if type == "bind" && !o.flags.contains(.bind) { flags.insert(.rec) }
                ops.append(SetupOp(.mount, a: source, b: dest, flags: flags, n2: isDir ? 0 : 1))
            } else {
                guard !type.isEmpty else {
                    throw BerthError(.invalidArgument, "mount to \(dest) has no type")
                }
                if dest == "/dev" && type == "tmpfs" { devIsTmpfs = true }
                let source = m.source ?? type
                switch type {
                case "sysfs":
                    ops.append(SetupOp(.mountOrBind, a: source, b: dest, c: type, d: o.dataString, e: "/sys", flags: o.flags))
                case "mqueue":
                    ops.append(SetupOp(.mountOrBind, a: source, b: dest, c: type, d: o.dataString, e: "/dev/mqueue", flags: o.flags))
                default:
                    ops.append(SetupOp(.mount, a: source, b: dest, c: type, d: o.dataString, flags: o.flags))
                }
            }
            for p in o.propagation { ops.append(SetupOp(.propagate, b: dest, flags: p)) }
        }

        // /dev: the standard nodes and links when /dev is a fresh tmpfs, plus the spec's devices.
        if devIsTmpfs {
            for d in Self.defaultDevices { ops.append(deviceOp(d)) }
            ops.append(SetupOp(.symlink, a: "/proc/self/fd", b: "/dev/fd"))
            ops.append(SetupOp(.symlink, a: "/proc/self/fd/0", b: "/dev/stdin"))
            ops.append(SetupOp(.symlink, a: "/proc/self/fd/1", b: "/dev/stdout"))
            ops.append(SetupOp(.symlink, a: "/proc/self/fd/2", b: "/dev/stderr"))
            if hasKcore { ops.append(SetupOp(.symlink, a: "/proc/kcore", b: "/dev/core")) }
            ops.append(SetupOp(.symlink, a: "pts/ptmx", b: "/dev/ptmx"))
        }
        for d in linux.devices ?? [] {
            guard d.path.hasPrefix("/dev/") else {
                throw BerthError(.invalidArgument, "device \(d.path) is not under /dev")
            }
            ops.append(try specDeviceOp(d))
        }
        if plan.hasCreateHooks { ops.append(SetupOp(.syncHooks)) }
        ops.append(SetupOp(.mkdir, b: plan.process.cwd, n1: 0o755))
        ops.append(SetupOp(.pivot, n1: options.noPivot ? 1 : 0))

        // After pivot_root: as runc's finalizeRootfs and standard init.
        if root.readonly == true { ops.append(SetupOp(.rootReadonly)) }
        if shared { ops.append(SetupOp(.propagate, b: "/", flags: requested.union(.rec), n1: 1)) }
        if let h = spec.hostname, !h.isEmpty { ops.append(SetupOp(.hostname, a: h)) }
        if let d = spec.domainname, !d.isEmpty { ops.append(SetupOp(.domainname, a: d)) }
        for key in (linux.sysctl ?? [:]).keys.sorted() {
            guard !key.isEmpty, !key.contains("/"), !key.contains("..") else {
                throw BerthError(.invalidArgument, "sysctl \(key) is not valid")
            }
            if key.hasPrefix("net.") && !seen.contains(.network) {
                throw BerthError(.invalidArgument, "sysctl \(key) is not allowed in the hosts network namespace")
            }
            ops.append(SetupOp(.write, a: linux.sysctl![key]!, b: "/proc/sys/" + key.replacingOccurrences(of: ".", with: "/"), n1: 1))
        }
        for p in linux.readonlyPaths ?? [] { ops.append(SetupOp(.readonly, b: p)) }
        for p in linux.maskedPaths ?? [] { ops.append(SetupOp(.mask, b: p)) }
        plan.ops = ops
        return plan
    }

    func processPlan(_ p: Spec.Process) throws -> ProcessPlan {
        guard let args = p.args, !args.isEmpty, !args[0].isEmpty else {
            throw BerthError(.invalidArgument, "args must not be empty")
        }
        guard p.cwd.hasPrefix("/") else {
            throw BerthError(.invalidArgument, "cwd property must be an absolute path")
        }
        var plan = ProcessPlan(args: args, env: p.env ?? [], cwd: p.cwd, uid: p.user.uid, gid: p.user.gid,
                               groups: p.user.additionalGids ?? [])
        plan.umask = p.user.umask.map { Int32($0) } ?? -1
        for r in p.rlimits ?? [] {
            guard let n = Rlimits.numbers[r.type] else {
                throw BerthError(.invalidArgument, "invalid rlimit type \(r.type)")
            }
            plan.rlimits.append((n, r.soft, r.hard))
        }
        plan.noNewPrivileges = p.noNewPrivileges ?? false
        if let c = p.capabilities {
            plan.capsSet = true
            plan.bounding = Capabilities.mask(c.bounding, lastCap: lastCap).mask
            plan.effective = Capabilities.mask(c.effective, lastCap: lastCap).mask
            plan.permitted = Capabilities.mask(c.permitted, lastCap: lastCap).mask
            plan.inheritable = Capabilities.mask(c.inheritable, lastCap: lastCap).mask
            plan.ambient = Capabilities.mask(c.ambient, lastCap: lastCap).mask
        }
        plan.terminal = p.terminal ?? false
        if let b = p.consoleSize {
            plan.rows = UInt16(clamping: b.height)
            plan.cols = UInt16(clamping: b.width)
        }
        plan.oomScoreAdj = p.oomScoreAdj
        return plan
    }

    /// The `/sys/fs/cgroup` mounts: per-hierarchy cgroup mounts (own cgroup namespace) or binds of
    /// the container's host cgroup directories.
    func cgroupMounts(dest: String, options o: ParsedMountOptions, cgroupns: Bool) -> [SetupOp] {
        guard let cg = cgroup else { return [] }
        var flags = o.flags
        flags.remove(.bind)
        switch cg.layout {
        case .unified(let root):
            let host = root + cg.path
            if cgroupns {
                return [SetupOp(.mountOrBind, a: "cgroup2", b: dest, c: "cgroup2", e: host, flags: flags)]
            }
            return [SetupOp(.mount, a: host, b: dest, flags: flags.union([.bind, .rec]))]
        case .v1(let hs):
            var ops = [SetupOp(.mount, a: "tmpfs", b: dest, c: "tmpfs", d: "mode=755",
                               flags: flags.subtracting(.rdonly))]
            for h in hs {
                let target = dest + "/" + h.name
                let host = h.mountPoint + cg.path
                if cgroupns {
                    ops.append(SetupOp(.mountOrBind, a: "cgroup", b: target, c: "cgroup", d: h.options, e: host, flags: flags))
                } else {
                    ops.append(SetupOp(.mount, a: host, b: target, flags: flags.union(.bind)))
                }
                // Co-mounted controllers ("cpu,cpuacct") get a link per controller, as in runc.
                if h.name.contains(",") {
                    for c in h.controllers where c != h.name {
                        ops.append(SetupOp(.symlink, a: h.name, b: dest + "/" + c))
                    }
                }
            }
            return ops
        }
    }

    static let defaultDevices: [Spec.Device] = [
        Spec.Device(type: "c", path: "/dev/null", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0),
        Spec.Device(type: "c", path: "/dev/zero", major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0),
        Spec.Device(type: "c", path: "/dev/full", major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0),
        Spec.Device(type: "c", path: "/dev/random", major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0),
        Spec.Device(type: "c", path: "/dev/urandom", major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0),
        Spec.Device(type: "c", path: "/dev/tty", major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0),
    ]

    func deviceOp(_ d: Spec.Device) -> SetupOp {
        (try? specDeviceOp(d)) ?? SetupOp(.mknod)
    }

    func specDeviceOp(_ d: Spec.Device) throws -> SetupOp {
        let typeBits: Int
        switch d.type {
        case "c", "u": typeBits = 0o020000
        case "b": typeBits = 0o060000
        case "p": typeBits = 0o010000
        default: throw BerthError(.invalidArgument, "device \(d.path) has invalid type \(d.type)")
        }
        let mode = Int(d.fileMode ?? 0o666) & 0o7777
        let dev = Self.makedev(UInt64(d.major ?? 0), UInt64(d.minor ?? 0))
        return SetupOp(.mknod, a: d.path, b: d.path, n1: typeBits | mode, n2: Int(bitPattern: UInt(dev)),
                       n3: Int(d.uid ?? 0), n4: Int(d.gid ?? 0))
    }

    /// glibc's makedev.
    public static func makedev(_ major: UInt64, _ minor: UInt64) -> UInt64 {
        ((major & 0xffff_f000) << 32) | ((major & 0xfff) << 8) | ((minor & 0xffff_ff00) << 12) | (minor & 0xff)
    }

    static func propagation(_ s: String?) throws -> MountFlags {
        guard let s, !s.isEmpty else { return [] }
        guard let f = ParsedMountOptions.propagation(s) else {
            throw BerthError(.invalidArgument, "rootfsPropagation \(s) is not valid")
        }
        return f
    }

    /// `path` made absolute against `base`.
    public static func absolute(_ path: String, relativeTo base: String) -> String {
        path.hasPrefix("/") ? clean(path) : clean(base + "/" + path)
    }

    /// Lexically cleaned absolute path ("/a/./b//c/" → "/a/b/c"; ".." is resolved lexically).
    public static func clean(_ path: String) -> String {
        // On UTF-8 bytes: `[Substring].joined` is unspecialized generic code whose first use cost
        // ~0.2 ms of runtime type lookups on every container start.
        var out: [UInt8] = []
        var starts: [Int] = []
        for comp in path.utf8.split(separator: UInt8(ascii: "/")) {
            if comp.count == 1 && comp.first == UInt8(ascii: ".") { continue }
            if comp.count == 2 && comp.allSatisfy({ $0 == UInt8(ascii: ".") }) {
                if let s = starts.popLast() { out.removeSubrange(s...) }
                continue
            }
            starts.append(out.count)
            out.append(UInt8(ascii: "/"))
            out.append(contentsOf: comp)
        }
        return out.isEmpty ? "/" : String(decoding: out, as: UTF8.self)
    }
}
