import CBerthShim
import Foundation
import OCI

/// Options of `exec` that are not in the process spec.
public struct ExecOptions: Sendable {
    public var consoleSocket: String?
    public var consoleSocketFD: Int32?
    public var pidFile: String?
    public var preserveFDs: Int32 = 0
    /// stdin, stdout, stderr of the process (-1: /dev/null); nil: the caller's own.
    public var stdio: [Int32]?
    public init(consoleSocket: String? = nil, pidFile: String? = nil, preserveFDs: Int32 = 0) {
        self.consoleSocket = consoleSocket
        self.pidFile = pidFile
        self.preserveFDs = preserveFDs
    }
}

extension ContainerRuntime {
    func cgroup(for st: StoredState) -> CgroupManager? {
        guard let layout = st.cgroupLayout ?? (try? CgroupLayout.detect(system)) else { return nil }
        return CgroupManager(sys: system, layout: layout, path: st.cgroupPath)
    }

    func currentStatus(_ st: StoredState) -> ContainerStatus {
        guard StateStore.isAlive(pid: st.pid, startTime: st.pidStartTime) else { return .stopped }
        if access(store.fifo(st.id), F_OK) == 0 { return .created }
        if let cg = cgroup(for: st), cg.isFrozen() { return .paused }
        return .running
    }

    /// The container's state (runc `state`).
    public func state(id: String) throws -> ContainerState {
        let st = try store.load(id)
        let status = currentStatus(st)
        return ContainerState(id: id, pid: status == .stopped ? 0 : st.pid, status: status, bundle: st.bundle, rootfs: st.rootfs,
                              created: st.created, owner: st.owner, annotations: st.annotations)
    }

    /// All containers under the root.
    public func list() -> [ContainerState] {
        store.ids().compactMap { try? state(id: $0) }
    }

    /// Parses a signal given as a number, "KILL" or "SIGKILL".
    public static func parseSignal(_ s: String) throws -> Int32 {
        if let n = Int32(s), n > 0, n < 65 { return n }
        var name = s.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        let table: [String: Int32] = [
            "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
            "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17,
            "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25,
            "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
        ]
        if let n = table[name] { return n }
        if name.hasPrefix("RTMIN") {
            let off = Int32(name.dropFirst(5).replacingOccurrences(of: "+", with: "")) ?? 0
            return 34 + off
        }
        throw BerthError(.invalidArgument, "unknown signal \"\(s)\"")
    }

    /// Sends `signal` to the container's init, or to all its processes with `all`.
    public func kill(id: String, signal: Int32, all: Bool = false) throws {
        let st = try store.load(id)
        let status = currentStatus(st)
        if status == .stopped && !all { throw BerthError(.conflict, "container not running") }
        if all, let cg = cgroup(for: st) {
            let frozen = status == .paused
            for p in cg.processes() { Glibc.kill(p, signal) }
            // A frozen process only gets the signal once thawed.
            if frozen && (signal == SIGKILL || signal == SIGTERM) { try? cg.setFrozen(false) }
            return
        }
        guard Glibc.kill(st.pid, signal) == 0 else {
            throw BerthError(.internalError, "kill \(st.pid): \(FileIO.errorString(errno))")
        }
    }

    /// Deletes a stopped container (or any, with `force`): kills what is left, runs poststop
    /// hooks, removes the cgroup and the state.
    public func delete(id: String, force: Bool = false) throws {
        let st: StoredState
        do {
            st = try store.load(id)
        } catch let e as BerthError where e.code == .dataCorrupted || (e.code == .notFound && force && access(store.dir(id), F_OK) == 0) {
            // Left half-made by a creator that was killed: remove what can be found.
            if let spec = try? loadSpec(id: id), let layout = try? CgroupLayout.detect(system),
               let path = try? CgroupManager.normalize(cgroupsPath: spec.linux?.cgroupsPath, id: id) {
                let cg = CgroupManager(sys: system, layout: layout, path: path)
                for p in cg.processes() { Glibc.kill(p, SIGKILL) }
                try? cg.destroy()
            }
            FileIO.removeAll(store.dir(id))
            return
        }
        let status = currentStatus(st)
        switch status {
        case .stopped, .created: break
        default:
            if !force { throw BerthError(.conflict, "cannot delete container \(id) that is not stopped: \(status.rawValue)") }
        }
        let cg = cgroup(for: st)
        if status != .stopped {
            Glibc.kill(st.pid, SIGKILL)
            if let cg {
                for p in cg.processes() { Glibc.kill(p, SIGKILL) }
                if status == .paused { try? cg.setFrozen(false) }
            }
            waitGone(pid: st.pid, startTime: st.pidStartTime)
        }
        if let cg {
            // Stragglers (processes that left the init's pid namespace are not killed by its end).
            for _ in 0..<100 {
                let procs = cg.processes()
                if procs.isEmpty { break }
                for p in procs { Glibc.kill(p, SIGKILL) }
                usleep(2000)
            }
            try? cg.destroy()
        }
        let hookState = ContainerStateJSON(id: id, pid: st.pid, status: "stopped", bundle: st.bundle, rootfs: st.rootfs,
                                           created: st.created, annotations: st.annotations)
        FileIO.removeAll(store.dir(id))
        try HookRunner.run(st.poststop, kind: "poststop", state: hookState)
    }

    func waitGone(pid: Int32, startTime: UInt64) {
        for i in 0..<2000 {
            if !StateStore.isAlive(pid: pid, startTime: startTime) { return }
            // Reap it if it is our child (in-process use).
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { return }
            usleep(i < 100 ? 500 : 5000)
        }
    }

    /// Freezes every process of the container.
    public func pause(id: String) throws {
        let st = try store.load(id)
        let status = currentStatus(st)
        guard status == .running || status == .created else { throw BerthError(.conflict, "container not running") }
        guard let cg = cgroup(for: st) else { throw BerthError(.unsupported, "cgroups are not available") }
        try cg.setFrozen(true)
    }

    /// Thaws a paused container.
    public func resume(id: String) throws {
        let st = try store.load(id)
        guard currentStatus(st) == .paused else { throw BerthError(.conflict, "container not paused") }
        guard let cg = cgroup(for: st) else { throw BerthError(.unsupported, "cgroups are not available") }
        try cg.setFrozen(false)
    }

    /// cgroup figures of the container (for `docker stats`).
    public func stats(id: String) throws -> CgroupStats {
        let st = try store.load(id)
        guard let cg = cgroup(for: st) else { throw BerthError(.unsupported, "cgroups are not available") }
        return cg.stats()
    }

    /// Host pids of the container's processes.
    public func processes(id: String) throws -> [Int32] {
        let st = try store.load(id)
        return cgroup(for: st)?.processes() ?? []
    }

    /// Starts `process` inside the running container `id`; returns its host pid. The process is
    /// a child of the caller. Defaults not given in `process` come from the container's spec.
    public func exec(id: String, process: Spec.Process, options: ExecOptions = ExecOptions()) throws -> Int32 {
        let st = try store.load(id)
        let status = currentStatus(st)
        guard status == .running || status == .created else {
            throw BerthError(.conflict, status == .paused ? "cannot exec in a paused container" : "cannot exec in a stopped container")
        }
        let spec = try loadSpec(id: id)
        var proc = process
        if proc.capabilities == nil { proc.capabilities = spec.process?.capabilities }
        if proc.noNewPrivileges == nil { proc.noNewPrivileges = spec.process?.noNewPrivileges }
        var plan = ContainerPlan(rootfs: st.rootfs, process: try PlanBuilder(lastCap: Self.lastCap()).processPlan(proc))
        for name in st.namespaces {
            guard let kind = NamespaceKind(rawValue: name) else { continue }
            plan.joins.append(("/proc/\(st.pid)/ns/\(kind.procName)", kind))
        }
        plan.namespaces = st.namespaces.compactMap(NamespaceKind.init(rawValue:))
        let program = try spec.linux?.seccomp.map { try seccompCompiler.program(for: $0) }
        var request = SpawnRequest(plan: plan, isExec: true, cgroup: cgroup(for: st))
        request.seccomp = program
        request.preserveFDs = options.preserveFDs
        request.stdio = options.stdio
        request.lastCap = Int32(Self.lastCap())
        var consoleFD: Int32 = options.consoleSocketFD ?? -1
        var ownConsole = false
        if plan.process.terminal && consoleFD < 0 {
            guard let path = options.consoleSocket else {
                throw BerthError(.invalidArgument, "cannot allocate tty if runc will detach without setting console socket")
            }
            consoleFD = try Self.connectUnix(path)
            ownConsole = true
        }
        defer { if ownConsole { close(consoleFD) } }
        request.consoleSocketFD = consoleFD
        let spawned = try Spawner.spawn(request)
        defer { close(spawned.syncFD) }
        do {
            try Self.awaitExec(syncFD: spawned.syncFD)
        } catch {
            Spawner.reap(spawned.pid)
            throw error
        }
        if let pidFile = options.pidFile {
            try FileIO.writeAtomically(pidFile, bytes: Array(String(spawned.pid).utf8), mode: 0o644)
        }
        return spawned.pid
    }
}

extension ContainerRuntime {
    /// The container's own process spec (the base `exec` builds on: env, user, cwd, capabilities).
    public func containerProcess(id: String) throws -> Spec.Process {
        _ = try store.load(id)
        guard let p = try loadSpec(id: id).process else { throw BerthError(.notFound, "container \(id) has no process") }
        return p
    }
}

extension ContainerRuntime {
    /// The exit code Docker reports when starting the container process failed with `error`
    /// (as moby's translation of runtime errors): 127 when the command was not found, 126 when it
    /// could not be executed, nil for other failures.
    public static func dockerExitCode(forStartError error: any Error) -> Int32? {
        let text = "\(error)"
        var code: Int32?
        if text.contains("executable file not found") || text.contains("no such file or directory") {
            code = 127
        }
        if text.contains("permission denied") || text.contains("is a directory") {
            code = 126
        }
        return code
    }
}
