import CBerthShim
import Foundation
import OCI

/// C strings and arrays that must outlive one `berth_spawn` call.
final class CArena {
    private var pointers: [UnsafeMutableRawPointer] = []

    func string(_ s: String?) -> UnsafePointer<CChar>? {
        guard let s else { return nil }
        let p = strdup(s)!
        pointers.append(UnsafeMutableRawPointer(p))
        return UnsafePointer(p)
    }

    func array<T>(_ items: [T]) -> UnsafeMutablePointer<T>? {
        guard !items.isEmpty else { return nil }
        let p = UnsafeMutablePointer<T>.allocate(capacity: items.count)
        p.initialize(from: items, count: items.count)
        pointers.append(UnsafeMutableRawPointer(p))
        return p
    }

    /// A NULL-terminated char* array.
    func stringArray(_ items: [String]) -> UnsafeMutablePointer<UnsafePointer<CChar>?> {
        let p = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: items.count + 1)
        for (i, s) in items.enumerated() { p[i] = string(s) }
        p[items.count] = nil
        pointers.append(UnsafeMutableRawPointer(p))
        return p
    }

    deinit { for p in pointers { free(p) } }
}

/// What the spawner needs besides the plan.
struct SpawnRequest {
    var plan: ContainerPlan
    var isExec = false
    var cgroup: CgroupManager?
    var execFifoFD: Int32 = -1
    var consoleSocketFD: Int32 = -1
    var preserveFDs: Int32 = 0
    var seccomp: SeccompCompiler.Program?
    var useInit = false
    var lastCap: Int32 = 40
    /// The process's stdin, stdout, stderr (-1: /dev/null); nil: inherit the caller's.
    var stdio: [Int32]?
    /// Called while the child waits before pivot_root (createRuntime/createContainer hooks).
    var onHooks: ((Int32) throws -> Void)?
}

/// A started container process: its pid, and the sync socket (for `run`, to see exec errors).
struct Spawned {
    var pid: Int32
    var syncFD: Int32
}

/// Drives the C child through the sync protocol (cgroup join, id maps, hooks, ready or error).
enum Spawner {
    static func spawn(_ r: SpawnRequest) throws -> Spawned {
        var sv: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &sv) == 0 else {
            throw BerthError(.internalError, "socketpair: \(FileIO.errorString(errno))")
        }
        // Keep internal fds above the preserved range (3 ..< 3+preserveFDs).
        let minFD = 3 + r.preserveFDs
        func lift(_ fd: Int32) -> Int32 {
            guard fd >= 0, fd < minFD else { return fd }
            let n = fcntl(fd, F_DUPFD_CLOEXEC, minFD)
            close(fd)
            return n
        }
        let parentEnd = lift(sv[0])
        let childEnd = lift(sv[1])
        var closeAfter: [Int32] = [childEnd]
        defer { for fd in closeAfter { close(fd) } }

        let arena = CArena()
        var joins: [berth_nsjoin] = []
        for j in r.plan.joins {
            let fd = open(j.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                close(parentEnd)
                throw BerthError(.invalidArgument, "open namespace \(j.path): \(FileIO.errorString(errno))")
            }
            let lifted = lift(fd)
            closeAfter.append(lifted)
            joins.append(berth_nsjoin(fd: lifted, nstype: j.kind.cloneFlag))
        }
        var ops: [berth_op] = []
        for op in r.plan.ops {
            ops.append(berth_op(kind: op.kind.rawValue, a: arena.string(op.a), b: arena.string(op.b), c: arena.string(op.c),
                                d: arena.string(op.d), e: arena.string(op.e), flags: op.flags.rawValue,
                                n1: op.n1, n2: op.n2, n3: op.n3, n4: op.n4))
        }
        let p = r.plan.process
        var cfg = berth_config()
        cfg.sync_fd = childEnd
        cfg.joins = arena.array(joins)
        cfg.njoins = Int32(joins.count)
        cfg.unshare_flags = r.plan.unshareFlags
        cfg.is_exec = r.isExec ? 1 : 0
        var lifted: [Int32] = []
        if let stdio = r.stdio, stdio.count == 3 {
            // Duplicate above 2 (and the preserved range) so dup'ing them onto 0..2 cannot clash.
            for fd in stdio {
                if fd < 0 { lifted.append(-1); continue }
                let n = fcntl(fd, F_DUPFD_CLOEXEC, max(minFD, 3))
                lifted.append(n)
                closeAfter.append(n)
            }
            cfg.has_stdio = 1
            cfg.stdio_fds = (lifted[0], lifted[1], lifted[2])
        }
        cfg.rootfs = r.isExec ? nil : arena.string(r.plan.rootfs)
        cfg.ops = UnsafePointer(arena.array(ops))
        cfg.nops = Int32(ops.count)
        cfg.console_socket = r.consoleSocketFD
        cfg.want_terminal = p.terminal ? 1 : 0
        cfg.rows = p.rows
        cfg.cols = p.cols
        cfg.oom_score_adj_set = p.oomScoreAdj == nil ? 0 : 1
        cfg.oom_score_adj = Int32(p.oomScoreAdj ?? 0)
        cfg.argv = UnsafePointer(arena.stringArray(p.args))
        cfg.envp = UnsafePointer(arena.stringArray(p.env))
        cfg.cwd = arena.string(p.cwd)
        cfg.uid = p.uid
        cfg.gid = p.gid
        cfg.groups = UnsafePointer(arena.array(p.groups))
        cfg.ngroups = Int32(p.groups.count)
        cfg.set_groups = 1
        cfg.umask = p.umask
        let rl = p.rlimits.map { berth_rlimit(resource: $0.resource, soft: $0.soft, hard: $0.hard) }
        cfg.rlimits = UnsafePointer(arena.array(rl))
        cfg.nrlimits = Int32(rl.count)
        cfg.no_new_privs = p.noNewPrivileges ? 1 : 0
        cfg.caps_set = p.capsSet ? 1 : 0
        cfg.cap_bounding = p.bounding
        cfg.cap_effective = p.effective
        cfg.cap_permitted = p.permitted
        cfg.cap_inheritable = p.inheritable
        cfg.cap_ambient = p.ambient
        cfg.cap_last = r.lastCap
        cfg.exec_fifo_fd = r.execFifoFD
        cfg.preserve_fds = r.preserveFDs
        cfg.`init` = r.useInit ? 1 : 0
        var keep: [Int32] = []
        if r.preserveFDs > 0 { keep = Array(3..<(3 + r.preserveFDs)) }
        keep += lifted.filter { $0 >= 0 }
        cfg.keep_fds = UnsafePointer(arena.array(keep))
        cfg.nkeep = Int32(keep.count)

        let stage1: pid_t = try withExtendedLifetime(arena) {
            if let prog = r.seccomp {
                return try prog.bytes.withUnsafeBytes { raw -> pid_t in
                    cfg.seccomp_bpf = raw.baseAddress
                    cfg.seccomp_len = prog.count
                    cfg.seccomp_flags = prog.flags
                    return try start(&cfg)
                }
            }
            return try start(&cfg)
        }
        // Our copy of the child's end must go, so that EOF means "the child is gone".
        close(childEnd)
        closeAfter.removeFirst()
        do {
            let pid = try drive(r, stage1: stage1, fd: parentEnd)
            return Spawned(pid: pid, syncFD: parentEnd)
        } catch {
            close(parentEnd)
            throw error
        }
    }

    private static func start(_ cfg: inout berth_config) throws -> pid_t {
        let pid = berth_spawn(&cfg)
        guard pid > 0 else { throw BerthError(.internalError, "fork: \(FileIO.errorString(-pid))") }
        return pid
    }

    private static func drive(_ r: SpawnRequest, stage1: pid_t, fd: Int32) throws -> Int32 {
        var stage2: Int32 = 0
        var stage1Reaped = false
        func fail(_ error: BerthError) -> BerthError {
            kill(stage1, SIGKILL)
            if stage2 > 0 { kill(stage2, SIGKILL); _ = reap(stage2) }
            if !stage1Reaped { _ = reap(stage1) }
            return error
        }
        Trace.mark("stage1 forked")
        do {
            try r.cgroup?.join(pid: stage1)
            Trace.mark("cgroup joined")
        } catch {
            throw fail(BerthError.wrap(error, "joining cgroup"))
        }
        _ = berth_send(fd, Int32(BERTH_MSG_CONTINUE.rawValue), 0, 0, nil)
        var msg = berth_msg()
        while true {
            let n = berth_recv(fd, &msg)
            if n <= 0 {
                throw fail(BerthError(.internalError, "container init exited unexpectedly"))
            }
            switch Int(msg.type) {
            case Int(BERTH_MSG_MAPS.rawValue):
                do {
                    try writeMaps(pid: msg.pid, uid: r.plan.uidMappings, gid: r.plan.gidMappings)
                } catch {
                    throw fail(BerthError.wrap(error, "writing user namespace maps"))
                }
                _ = berth_send(fd, Int32(BERTH_MSG_CONTINUE.rawValue), 0, 0, nil)
            case Int(BERTH_MSG_PID.rawValue):
                stage2 = msg.pid
                Trace.mark("stage2 cloned")
                _ = reap(stage1)
                stage1Reaped = true
            case Int(BERTH_MSG_HOOKS.rawValue):
                do {
                    try r.onHooks?(stage2)
                } catch {
                    throw fail(BerthError.wrap(error))
                }
                _ = berth_send(fd, Int32(BERTH_MSG_CONTINUE.rawValue), 0, 0, nil)
            case Int(BERTH_MSG_READY.rawValue):
                return stage2
            case Int(BERTH_MSG_ERROR.rawValue):
                let text = withUnsafeBytes(of: &msg.text) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                throw fail(startError(text, errno: msg.err))
            default:
                throw fail(BerthError(.internalError, "unexpected message \(msg.type) from container init"))
            }
        }
    }

    /// The error for a child-reported failure: "unable to start container process: <what>: <errno>".
    static func startError(_ text: String, errno e: Int32) -> BerthError {
        let what = e != 0 ? "\(text): \(FileIO.errorString(e))" : text
        return BerthError(.invalidArgument, "unable to start container process: \(what)")
    }

    static func writeMaps(pid: Int32, uid: [Spec.IDMapping], gid: [Spec.IDMapping]) throws {
        func text(_ m: [Spec.IDMapping]) -> String { m.map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joined() }
        try FileIO.write("/proc/\(pid)/uid_map", text(uid))
        try FileIO.write("/proc/\(pid)/gid_map", text(gid))
    }

    /// waitpid, returning the Docker-style exit code.
    @discardableResult
    static func reap(_ pid: Int32) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        return berth_exit_code(status)
    }
}
