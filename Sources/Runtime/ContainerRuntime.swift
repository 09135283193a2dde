import CBerthShim
import Foundation
import OCI

/// Options of `create`/`run` that are not in the spec (runc's command-line flags).
public struct CreateOptions: Sendable {
    /// Path of a unix socket that receives the pty master (SCM_RIGHTS) when `process.terminal` is set.
    public var consoleSocket: String?
    /// An already connected console socket (in-process callers); takes precedence over the path.
    public var consoleSocketFD: Int32?
    /// Write the container's init pid here.
    public var pidFile: String?
    public var noPivot = false
    /// Pass fds 3 ..< 3+preserveFDs to the container process.
    public var preserveFDs: Int32 = 0
    /// Mount the rootfs from this (an overlay, say) inside the container's mount namespace.
    public var rootfsMount: Spec.Mount?
    /// Run berth's tini-like init as PID 1 (`docker run --init`).
    public var useInit = false
    /// The spec, when the caller has it in memory (else `<bundle>/config.json` is read).
    public var spec: Spec?
    /// stdin, stdout, stderr of the container process (-1: /dev/null); nil: the caller's own.
    public var stdio: [Int32]?
    /// The bytes `spec` was decoded from (kept as the container's config copy).
    public var specBytes: [UInt8]?

    public init(consoleSocket: String? = nil, pidFile: String? = nil, noPivot: Bool = false, preserveFDs: Int32 = 0,
                rootfsMount: Spec.Mount? = nil, useInit: Bool = false, spec: Spec? = nil) {
        self.consoleSocket = consoleSocket
        self.pidFile = pidFile
        self.noPivot = noPivot
        self.preserveFDs = preserveFDs
        self.rootfsMount = rootfsMount
        self.useInit = useInit
        self.spec = spec
    }
}

/// berth's OCI runtime, synchronous core: what `berth-runtime` runs and `BerthRuntime` wraps.
///
/// State lives under `root` (one directory per container) like runc's `--root`, so containers
/// created by one process can be started, inspected and deleted by another.
public final class ContainerRuntime: @unchecked Sendable {
    public let root: String
    public let system: any SystemInterface
    let store: StateStore

    public init(root: String = "/run/berth-runtime", system: any SystemInterface = LinuxSystem()) {
        self.root = root
        self.system = system
        self.store = StateStore(root: root)
    }

    var seccompCompiler: SeccompCompiler { SeccompCompiler(cacheDirectory: root + "/seccomp-cache") }

    static func lastCap() -> Int {
        Int((FileIO.readString("/proc/sys/kernel/cap_last_cap") ?? "40").trimmedWhitespace) ?? 40
    }

    /// Creates the container: namespaces, mounts, cgroup; the process waits for `start`.
    @discardableResult
    public func create(id: String, bundle: String, options: CreateOptions = CreateOptions()) throws -> ContainerState {
        let (state, spawned) = try createContainer(id: id, bundle: bundle, options: options, execFifo: true)
        close(spawned.syncFD)
        return state
    }

    /// Creates and starts in one go (no exec FIFO); returns the state and the sync socket, which
    /// reports an exec failure or reaches EOF once the process runs. Poststart hooks have run.
    public func createAndStart(id: String, bundle: String, options: CreateOptions = CreateOptions()) throws -> (ContainerState, Int32) {
        var options = options
        if options.spec == nil {
            let (spec, bytes) = try readSpec(bundle: bundle, options: options)
            options.spec = spec
            options.specBytes = bytes
        }
        if let hooks = options.spec?.hooks?.startContainer, !hooks.isEmpty {
            // startContainer hooks run between create and start: take the two-step path.
            var state = try create(id: id, bundle: bundle, options: options)
            do {
                try start(id: id)
            } catch {
                try? delete(id: id, force: true)
                throw error
            }
            state.status = .running
            return (state, -1)
        }
        let (state, spawned) = try createContainer(id: id, bundle: bundle, options: options, execFifo: false)
        do {
            try Self.awaitExec(syncFD: spawned.syncFD)
        } catch {
            close(spawned.syncFD)
            Spawner.reap(spawned.pid)
            try? delete(id: id, force: true)
            throw error
        }
        close(spawned.syncFD)
        Trace.mark("exec confirmed")
        // options.spec is always set above: no need to re-read the config copy for its hooks.
        if let poststart = options.spec?.hooks?.poststart {
            try? HookRunner.run(poststart, kind: "poststart", state: state.json)
        }
        var s = state
        s.status = .running
        return (s, -1)
    }

    /// Reads the sync socket until EOF (exec succeeded) or an error message (exec failed).
    static func awaitExec(syncFD: Int32) throws {
        var msg = berth_msg()
        while true {
            let n = berth_recv(syncFD, &msg)
            if n <= 0 { return }
            if msg.type == Int32(BERTH_MSG_ERROR.rawValue) {
                let text = withUnsafeBytes(of: &msg.text) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                throw Spawner.startError(text, errno: msg.err)
            }
        }
    }

    func readSpec(bundle: String, options: CreateOptions) throws -> (Spec, [UInt8]?) {
        if let spec = options.spec { return (spec, options.specBytes) }
        let path = bundle + "/config.json"
        guard let bytes = FileIO.readBytes(path) else {
            throw BerthError(.invalidArgument, "JSON specification file config.json not found in \(bundle)")
        }
        return (try Spec.decode(bytes), bytes)
    }

    func loadSpec(id: String) throws -> Spec {
        guard let bytes = FileIO.readBytes(store.configCopy(id)) else {
            throw BerthError(.notFound, "config of container \(id) not found")
        }
        return try Spec.decode(bytes)
    }

    func createContainer(id: String, bundle rawBundle: String, options: CreateOptions, execFifo: Bool) throws -> (ContainerState, Spawned) {
        try StateStore.validate(id: id)
        let bundle = PlanBuilder.absolute(rawBundle.hasPrefix("/") ? rawBundle : FileManager.default.currentDirectoryPath + "/" + rawBundle, relativeTo: "/")
        let (spec, rawConfig) = try readSpec(bundle: bundle, options: options)
        Trace.mark("spec decoded")
        let dir = store.dir(id)
        try FileIO.mkdirAll(root, mode: 0o711)
        guard mkdir(dir, 0o711) == 0 else {
            if errno == EEXIST { throw BerthError(.conflict, "container with id exists: \(id)") }
            throw BerthError(.internalError, "mkdir \(dir): \(FileIO.errorString(errno))")
        }
        var cgroup: CgroupManager?
        var cgroupCreated = false
        var pid: Int32 = 0
        var fds: [Int32] = []
        do {
            let layout = try CgroupLayout.detect(system)
            Trace.mark("cgroup layout")
            let cg = CgroupManager(sys: system, layout: layout, path: try CgroupManager.normalize(cgroupsPath: spec.linux?.cgroupsPath, id: id))
            cgroup = cg
            let lastCap = Self.lastCap()
            var builder = PlanBuilder(cgroup: cg, lastCap: lastCap)
            builder.hasKcore = access("/proc/kcore", F_OK) == 0
            let plan = try builder.build(spec: spec, bundle: bundle,
                                         options: PlanBuilder.Options(rootfsMount: options.rootfsMount, noPivot: options.noPivot))
            let program = try plan.seccomp.map { try seccompCompiler.program(for: $0) }
            Trace.mark("plan + seccomp program")
            // Keep a copy of the config for exec, hooks and delete.
            if let rawConfig {
                try FileIO.writeAtomically(store.configCopy(id), bytes: rawConfig)
            } else {
                try FileIO.writeAtomically(store.configCopy(id), bytes: [UInt8](try spec.encoded()))
            }
            var fifoFD: Int32 = -1
            if execFifo {
                guard mkfifo(store.fifo(id), 0o622) == 0 else {
                    throw BerthError(.internalError, "mkfifo: \(FileIO.errorString(errno))")
                }
                fifoFD = open(store.fifo(id), 0o10000000 /* O_PATH */ | O_CLOEXEC)
                guard fifoFD >= 0 else { throw BerthError(.internalError, "open exec fifo: \(FileIO.errorString(errno))") }
                fds.append(fifoFD)
            }
            var consoleFD: Int32 = options.consoleSocketFD ?? -1
            if plan.process.terminal && consoleFD < 0 {
                guard let path = options.consoleSocket else {
                    throw BerthError(.invalidArgument, "cannot allocate tty if runc will detach without setting console socket")
                }
                consoleFD = try Self.connectUnix(path)
                fds.append(consoleFD)
            } else if !plan.process.terminal && (options.consoleSocket != nil) {
                throw BerthError(.invalidArgument, "cannot use console socket if runc will not detach or allocate tty")
            }
            try cg.create()
            cgroupCreated = true
            try cg.apply(spec.linux?.resources)
            Trace.mark("cgroup created")
            let created = StateStore.rfc3339Now()
            let rootfs = plan.rootfs
            var request = SpawnRequest(plan: plan, cgroup: cg)
            request.execFifoFD = fifoFD
            request.consoleSocketFD = consoleFD
            request.preserveFDs = options.preserveFDs
            request.seccomp = program
            request.useInit = options.useInit
            request.stdio = options.stdio
            request.lastCap = Int32(lastCap)
            request.onHooks = { childPid in
                let st = ContainerStateJSON(id: id, pid: childPid, status: ContainerStatus.creating.rawValue, bundle: bundle,
                                            rootfs: rootfs, created: created, annotations: spec.annotations)
                try HookRunner.run(spec.hooks?.prestart, kind: "prestart", state: st)
                try HookRunner.run(spec.hooks?.createRuntime, kind: "createRuntime", state: st)
                try HookRunner.run(spec.hooks?.createContainer, kind: "createContainer", state: st)
            }
            let spawned = try Spawner.spawn(request)
            Trace.mark("spawned, init ready")
            pid = spawned.pid
            for fd in fds { close(fd) }
            fds = []
            var stored = StoredState(id: id, pid: pid, pidStartTime: StateStore.procStat(pid)?.start ?? 0, bundle: bundle,
                                     rootfs: rootfs, created: created, owner: "", annotations: spec.annotations,
                                     cgroupPath: cg.path, namespaces: plan.namespaces.map(\.rawValue), useInit: options.useInit)
            stored.record(layout)
            stored.poststop = spec.hooks?.poststop
            try store.save(stored)
            Trace.mark("state saved")
            if let pidFile = options.pidFile {
                try FileIO.writeAtomically(pidFile, bytes: Array(String(pid).utf8), mode: 0o644)
            }
            let state = ContainerState(id: id, pid: pid, status: execFifo ? .created : .running, bundle: bundle, rootfs: rootfs,
                                       created: created, owner: "", annotations: spec.annotations)
            return (state, spawned)
        } catch {
            for fd in fds { close(fd) }
            if pid > 0 { Glibc.kill(pid, SIGKILL); Spawner.reap(pid) }
            if cgroupCreated, let cgroup {
                for p in cgroup.processes() { Glibc.kill(p, SIGKILL) }
                try? cgroup.destroy()
            }
            FileIO.removeAll(dir)
            throw error
        }
    }

    static func connectUnix(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BerthError(.internalError, "socket: \(FileIO.errorString(errno))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(fd)
            throw BerthError(.invalidArgument, "console socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else {
            let e = errno
            close(fd)
            throw BerthError(.invalidArgument, "connect to console socket \(path): \(FileIO.errorString(e))")
        }
        return fd
    }

    /// Starts a created container: opens the exec FIFO so its init execs the user process.
    public func start(id: String) throws {
        let st = try store.load(id)
        let status = currentStatus(st)
        switch status {
        case .created: break
        case .stopped: throw BerthError(.conflict, "cannot start a container that has stopped")
        default: throw BerthError(.conflict, "cannot start an already running container")
        }
        let spec = try? loadSpec(id: id)
        try HookRunner.run(spec?.hooks?.startContainer, kind: "startContainer",
                           state: ContainerStateJSON(id: id, pid: st.pid, status: "created", bundle: st.bundle, rootfs: st.rootfs, created: st.created))
        let fd = open(store.fifo(id), O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw BerthError(.conflict, "cannot start an already running container") }
        defer { close(fd) }
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1024)
        // Wait for the "0" (the init is released), then for EOF: the write end closes on exec.
        while true {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, 100)
            if r > 0 {
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 1024) }
                if n > 0 { data.append(contentsOf: buf[0..<n]); continue }
                if n == 0 && !data.isEmpty { break }
                if n < 0 && errno != EAGAIN && errno != EINTR { break }
            }
            if !StateStore.isAlive(pid: st.pid, startTime: st.pidStartTime) {
                // Drain what it wrote before dying.
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 1024) }
                if n > 0 { data.append(contentsOf: buf[0..<n]) }
                break
            }
            if r == 0 || (r > 0 && data.isEmpty) { usleep(r > 0 ? 1000 : 0) }
        }
        unlink(store.fifo(id))
        if data.isEmpty {
            throw BerthError(.internalError, "container init exited before start")
        }
        if data.count > 1 {
            throw BerthError(.invalidArgument, "unable to start container process: " + String(decoding: data.dropFirst(), as: UTF8.self))
        }
        try? HookRunner.run(spec?.hooks?.poststart, kind: "poststart",
                            state: ContainerStateJSON(id: id, pid: st.pid, status: "running", bundle: st.bundle, rootfs: st.rootfs, created: st.created))
    }
}
