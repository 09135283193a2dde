#if canImport(Glibc)
import Glibc
#endif
import APIModels
import Foundation
import OCI
import Runtime

/// One line on the monitor's sync output (docs/monitor.md).
struct MonitorSyncMessage: Decodable, Sendable {
    var attach: String?
    var pid: Int32?
    var monitorPid: Int32?
    var error: String?
}

/// The monitor's `DIR/exit`.
struct MonitorExitFile: Decodable, Sendable {
    var pid: Int32
    var exitCode: Int32
    var signal: Int32
    var exitedAt: String
    var oomKilled: Bool
}

extension ContainerService {
    // MARK: - Binaries

    /// `berth-monitor`: `$BERTH_MONITOR`, else next to berthd.
    var monitorPath: String {
        if let p = ContainerSystem.env("BERTH_MONITOR") { return p }
        return ContainerSystem.executableDirectory() + "/berth-monitor"
    }

    /// The runtime binary and its global args for a runtime name.
    func runtimeInvocation(_ name: String) -> (path: String, args: [String]) {
        if name == DaemonConfig.stockRuntimeName || runtimes[name] == nil {
            if let p = ContainerSystem.env("BERTH_RUNTIME") { return (p, []) }
            return (ContainerSystem.executableDirectory() + "/berth-runtime", [])
        }
        let rt = runtimes[name]!
        return (rt.path, rt.runtimeArgs ?? [])
    }

    func runtimeRoot(_ name: String) -> String { "\(execRoot)/runtime-\(name)" }

    /// Whether the runtime may hold state for this container (runc-style runtimes keep it in
    /// `ROOT/ID`): saves spawning `RUNTIME delete` when there is nothing to delete.
    func hasRuntimeState(_ r: ContainerRecord) -> Bool {
        var st = Glibc.stat()
        return lstat(runtimeRoot(r.RuntimeName) + "/" + r.ID, &st) == 0 || errno != ENOENT
    }

    /// Whether the container runs on berth's own runtime, whose state berthd can handle in-process.
    func usesStockRuntime(_ r: ContainerRecord) -> Bool {
        r.RuntimeName == DaemonConfig.stockRuntimeName || runtimes[r.RuntimeName] == nil
    }

    /// Starts deleting the runtime's state of a container (`RUNTIME delete --force`); nil when the
    /// runtime holds none. berth's own runtime is deleted in-process: its state is a directory and
    /// cgroups, and a spawned `berth-runtime delete` cost ≈ 4 ms on the `run --rm` critical path.
    func startRuntimeDelete(_ r: ContainerRecord) -> RuntimeDeletion? {
        guard hasRuntimeState(r) else { return nil }
        if usesStockRuntime(r) {
            let root = runtimeRoot(r.RuntimeName), id = r.ID
            return .inProcess(Task.detached {
                await ContainerSystem.blocking {
                    // A container whose state vanished meanwhile is as good as deleted.
                    try? ContainerRuntime(root: root).delete(id: id, force: true)
                }
            })
        }
        return ContainerSystem.Spawned(runtimeArgv(r, ["delete", "--force", r.ID])).map { .process($0) }
    }

    func runtimeCommand(_ r: ContainerRecord, _ args: [String]) async -> ContainerSystem.Output {
        await ContainerSystem.run(runtimeArgv(r, args))
    }

    /// `RUNTIME [runtime args] --root ROOT ARGS…` (for `ContainerSystem.Spawned`: started at once, awaited later).
    func runtimeArgv(_ r: ContainerRecord, _ args: [String]) -> [String] {
        let inv = runtimeInvocation(r.RuntimeName)
        return [inv.path] + inv.args + ["--root", runtimeRoot(r.RuntimeName)] + args
    }

    // MARK: - Start

    /// `POST /containers/{id}/start`: mount the rootfs, write the bundle, launch the monitor, hand the
    /// attach socket to waiting `attach` clients, then `RUNTIME start`.
    public func start(_ ref: String) async throws {
        var r = try resolve(ref)
        let id = r.ID
        if r.State.Running || starting.contains(id) {
            throw BerthError(.notModified, "container already started")
        }
        starting.insert(id)
        defer { starting.remove(id) }
        do {
            try await launch(&r)
        } catch {
            ContainerSystem.unmount(mergedDir(id))
            ContainerSystem.removeNetns(netnsPath(id))
            if var cur = containers[id] {
                cur.State.Error = (error as? BerthError)?.message ?? "\(error)"
                if cur.State.ExitCode == 0 { cur.State.ExitCode = r.State.ExitCode == 0 ? 128 : r.State.ExitCode }
                if cur.State.Status == "created" && cur.HasBeenStartedBefore { cur.State.Status = "exited" }
                update(cur)
                notifyExit(cur)
                if cur.HostConfig.AutoRemove == true { await destroy(cur) }
            }
            throw error
        }
    }

    private func launch(_ r: inout ContainerRecord) async throws {
        let id = r.ID
        Trace.mark("launch \(id.prefix(12))")
        let merged = mergedDir(id)
        let dir = containerDir(id)
        let mdir = monitorDir(id)
        try? CFS.removeTree(mdir)
        try CFS.mkdirAll(execRoot + "/m", mode: 0o700)
        // A leftover runtime state from an earlier run (e.g. monitor lost) would make create fail.
        await startRuntimeDelete(r)?.finish()
        // A new network namespace is made (with loopback up) and pinned by the monitor before the
        // runtime runs, as Docker's sandbox: the bundle joins it, and the runtime creates and
        // starts in one `run -d` (no create / lo up / start round; runc brings lo up itself,
        // berth-runtime does not).
        let wantsNetns = ContainerSpecBuilder.wantsOwnNetworkNamespace(r.HostConfig)
        let netns: String? = wantsNetns ? netnsPath(id) : nil
        if netns != nil { try CFS.mkdirAll(execRoot + "/netns", mode: 0o700) }
        let bundle = bundleDir(id)

        // The monitor starts first, gated (`--start-gate`): its own set-up (exec, files, network
        // namespace) overlaps the rootfs mount and the bundle written here; `g` lets it run the
        // runtime. Closing the channel instead makes it clean up and exit.
        let pending = pendingAttach.removeValue(forKey: id) ?? []
        let command = try monitorArgv(r, bundle: bundle, netns: netns, attachWait: !pending.isEmpty)
        let spawned = ContainerSystem.LineProcess(command)
        Trace.mark("monitor spawned")
        guard let process = spawned else {
            for c in pending { c.yield(-1); c.finish() }
            throw startError("exec \(command[0]): cannot spawn", &r)
        }
        // Its sync lines are read from now on: the attach clients connect while the bundle is made.
        let clients = pending.count
        let sync = Task.detached { await Self.readMonitorSync(process, clients: clients) }
        do {
            try CFS.mkdirAll(layerDir(id) + "/diff")
            try CFS.mkdirAll(layerDir(id) + "/work", mode: 0o700)
            try CFS.mkdirAll(merged)
            Trace.mark("dirs made")
            // An auto-removed container's upper dir is deleted after this one run: a volatile overlay
            // (no sync of the host's file system when it is unmounted at exit).
            try ContainerSystem.mountOverlay(lower: r.LowerDirs, upper: layerDir(id) + "/diff", work: layerDir(id) + "/work",
                                             target: merged, volatile: r.HostConfig.AutoRemove == true)
            for m in try ContainerMount.parse(r.HostConfig) where m.createSource && !FileManager.default.fileExists(atPath: m.source) {
                try CFS.mkdirAll(m.source)
            }
            Trace.mark("rootfs mounted")
            let passwd = try? String(contentsOfFile: merged + "/etc/passwd", encoding: .utf8)
            let group = try? String(contentsOfFile: merged + "/etc/group", encoding: .utf8)
            let user = try ContainerSpecBuilder.resolveUser(r.Config.User ?? "", passwd: passwd, group: group,
                                                            groupAdd: r.HostConfig.GroupAdd ?? [])
            if let wd = r.Config.WorkingDir, !wd.isEmpty, wd != "/" {
                let path = merged + wd
                if !FileManager.default.fileExists(atPath: path) {
                    try? CFS.mkdirAll(path)
                    chown(path, user.uid, user.gid)
                }
            }
            let cgroupV2 = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers")
            var spec = try ContainerSpecBuilder.build(
                id: id, config: r.Config, host: r.HostConfig,
                paths: .init(rootfs: merged, hostname: dir + "/hostname", hosts: dir + "/hosts", resolvConf: dir + "/resolv.conf"),
                user: user, cgroupV2: cgroupV2, initPath: r.HostConfig.Init == true ? Self.findInit() : nil)
            if let netns, let i = spec.linux?.namespaces?.firstIndex(where: { $0.type == "network" && $0.path == nil }) {
                spec.linux?.namespaces?[i].path = netns
            }
            Trace.mark("spec built")
            try CFS.mkdirAll(bundle, mode: 0o700)
            // The bundle is on the start's critical path: the faster encoder (≈ 3× JSONEncoder, same values).
            try CFS.writeAtomically(bundle + "/config.json", try FastJSONEncoder().encode(spec))
        } catch {
            process.closeGate()
            let (fds, _, _) = await sync.value
            for fd in fds where fd >= 0 { close(fd) }
            for c in pending { c.yield(-1); c.finish() }
            throw error
        }
        Trace.mark("bundle written")
        process.openGate()
        let result = await sync.value
        Trace.mark("monitor reported")
        guard let msg = result.msg, let pid = msg.pid else {
            for fd in result.fds where fd >= 0 { close(fd) }
            for c in pending { c.yield(-1); c.finish() }
            let text = result.msg?.error ?? "berth-monitor exited with status \(result.status)"
            throw startError(text, &r)
        }
        for (i, c) in pending.enumerated() {
            c.yield(i < result.fds.count ? result.fds[i] : -1)
            c.finish()
        }
        r = containers[id] ?? r
        r.State.Running = true
        r.State.Status = "running"
        r.State.Pid = Int(pid)
        r.State.Error = ""
        r.State.ExitCode = 0
        r.State.OOMKilled = false
        r.State.StartedAt = ContainerSystem.nowStamp()
        r.State.FinishedAt = "0001-01-01T00:00:00Z"
        r.MonitorPid = msg.monitorPid
        r.HasBeenStartedBefore = true
        r.ManualStop = false
        update(r)
        // Attach clients that came while the monitor was starting.
        for c in pendingAttach.removeValue(forKey: id) ?? [] {
            c.yield(ContainerSystem.connectAttach(mdir + "/attach"))
            c.finish()
        }
        Trace.mark("state saved")
        await publish("start", r)
        await watch(id)
        startHealth(id, fresh: true)
        Trace.mark("started")
    }

    /// The monitor's command line for a start (`--start --start-gate`, see `launch`).
    func monitorArgv(_ r: ContainerRecord, bundle: String, netns: String?, attachWait: Bool) throws -> [String] {
        let id = r.ID
        let inv = runtimeInvocation(r.RuntimeName)
        var argv = [monitorPath, "--id", id, "--runtime", inv.path, "--runtime-root", runtimeRoot(r.RuntimeName)]
        for a in inv.args { argv += ["--runtime-arg", a] }
        argv += ["--exec-dir", monitorDir(id), "--bundle", bundle, "--sync-fd", "1", "--start-gate"]
        let logType = r.HostConfig.LogConfig?.Type ?? "json-file"
        if logType == "none" {
            argv += ["--log-driver", "none"]
        } else {
            argv += ["--log-path", logPath(id)]
            if let s = r.HostConfig.LogConfig?.Config?["max-size"], !s.isEmpty { argv += ["--log-max-size", s] }
            if let s = r.HostConfig.LogConfig?.Config?["max-file"], !s.isEmpty { argv += ["--log-max-file", s] }
            let tag = ContainerLogAttrs.TagInfo(id: id, name: String(r.Name.dropFirst()), imageName: r.Config.Image ?? "",
                                                imageID: r.Image)
            if let a = try ContainerLogAttrs.json(opts: r.HostConfig.LogConfig?.Config ?? [:], labels: r.Config.Labels ?? [:],
                                                  env: r.Config.Env ?? [], tag: tag) {
                argv += ["--log-attrs", a]
            }
        }
        if r.Config.Tty == true { argv.append("--terminal") }
        if r.Config.OpenStdin == true { argv.append("--stdin") }
        // As in Docker, an attach client's stdin EOF closes the container's stdin only without a TTY;
        // with a TTY the terminal stays open (a detached `-it` container keeps running).
        if r.Config.StdinOnce == true && r.Config.Tty != true { argv.append("--stdin-once") }
        // The monitor runs `RUNTIME run --detach` itself (`--start`); with attach clients waiting
        // (`docker run` attaches before it starts) it waits for our connections first
        // (`--attach-wait`), so the monitor has accepted them before the process writes anything.
        argv.append("--start")
        if attachWait { argv.append("--attach-wait") }
        if let netns { argv += ["--netns", netns] }
        return argv
    }

    /// Reads the monitor's sync lines (off the actor): connects `clients` attach connections when
    /// it names its attach socket, returns at `{"pid":…}` / `{"error":…}` after reaping the
    /// monitor's first process.
    static func readMonitorSync(_ p: ContainerSystem.LineProcess, clients: Int) async
        -> (fds: [Int32], msg: MonitorSyncMessage?, status: Int32) {
        await ContainerSystem.blocking {
            var fds: [Int32] = []
            var final: MonitorSyncMessage?
            while let line = p.readLine() {
                guard let m = try? JSONDecoder().decode(MonitorSyncMessage.self, from: Data(line.utf8)) else { continue }
                if let a = m.attach {
                    for _ in 0..<clients { fds.append(ContainerSystem.connectAttach(a)) }
                    continue
                }
                if m.pid != nil || m.error != nil { final = m; break }
            }
            return (fds, final, p.finish())
        }
    }

    static func which(_ name: String) -> String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for d in dirs.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(d)/\(name)") {
            return "\(d)/\(name)"
        }
        return nil
    }

    /// `docker-init` (tini) for `--init`: `$BERTH_INIT_PATH`, else `docker-init` / `tini-static` in PATH.
    static func findInit() -> String? {
        if let p = ProcessInfo.processInfo.environment["BERTH_INIT_PATH"], !p.isEmpty { return p }
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
        for name in ["docker-init", "tini-static"] {
            for d in dirs where FileManager.default.isExecutableFile(atPath: "\(d)/\(name)") { return "\(d)/\(name)" }
        }
        return nil
    }

    /// Docker's framing of a runtime failure, with its exit codes (127 not found, 126 not executable).
    func startError(_ text: String, _ r: inout ContainerRecord) -> BerthError {
        let full = text.hasPrefix("OCI runtime") ? text : "failed to create task for container: OCI runtime create failed: \(text): unknown"
        if text.contains("executable file not found") || text.contains("no such file or directory") {
            r.State.ExitCode = 127
            containers[r.ID]?.State.ExitCode = 127
            return BerthError(.invalidArgument, full)
        }
        if text.contains("permission denied") {
            r.State.ExitCode = 126
            containers[r.ID]?.State.ExitCode = 126
            return BerthError(.invalidArgument, full)
        }
        return BerthError(.internalError, full)
    }

    /// The `msg` of a logrus error line, or the last line.
    static func runtimeMessage(_ output: String) -> String? {
        let lines = output.split(separator: "\n").map(String.init)
        for line in lines.reversed() {
            if let r = line.range(of: "msg=\"") {
                let rest = line[r.upperBound...]
                if let end = rest.range(of: "\"", options: .backwards) { return String(rest[..<end.lowerBound]) }
            }
        }
        return lines.last
    }

    // MARK: - Exit

    /// If the container's process has exited (exit file present), records it; true when not running.
    @discardableResult
    func checkExit(_ id: String) async -> Bool {
        Trace.mark("check exit")
        guard let r = containers[id], r.State.Running else { return true }
        let exitPath = monitorDir(id) + "/exit"
        if let data = FileManager.default.contents(atPath: exitPath),
           let ex = try? JSONDecoder().decode(MonitorExitFile.self, from: data) {
            await handleExit(r, code: Int(ex.exitCode), oom: ex.oomKilled, at: ex.exitedAt, error: "")
            return true
        }
        if let mp = r.MonitorPid, !ContainerSystem.isMonitor(mp, execDir: monitorDir(id)),
           !FileManager.default.fileExists(atPath: exitPath) {
            // The monitor died without an exit file: the process is unmonitored; kill it.
            _ = await runtimeCommand(r, ["kill", id, "KILL"])
            await handleExit(r, code: 137, oom: false, at: ContainerSystem.nowStamp(), error: "container monitor lost")
            return true
        }
        return false
    }

    func handleExit(_ r0: ContainerRecord, code: Int, oom: Bool, at: String, error: String) async {
        Trace.mark("exit \(r0.ID.prefix(12))")
        guard var r = containers[r0.ID], r.State.Running else { return }
        unwatch(r.ID)
        // The runtime's delete is on the critical path of `run --rm`: it starts first, the
        // bookkeeping below runs meanwhile.
        let deleting = startRuntimeDelete(r)
        stopHealth(r.ID, state: &r.State)
        r.State.Running = false
        r.State.Paused = false
        r.State.Status = "exited"
        r.State.Pid = 0
        r.State.ExitCode = code
        r.State.OOMKilled = oom
        r.State.FinishedAt = at
        r.State.Error = error
        r.MonitorPid = nil
        // An auto-removed container is deleted right below: no need to write its state first (if
        // berthd stops in between, restore finds the exit file and removes it then).
        let autoRemove = r.HostConfig.AutoRemove == true
        ContainerSystem.removeNetns(netnsPath(r.ID))  // the monitor's job, unless it was lost
        if autoRemove {
            containers[r.ID] = r  // destroy (below) unmounts and waits for the delete
        } else {
            update(r)
            ContainerSystem.unmount(mergedDir(r.ID))
            await deleting?.finish()
        }
        if oom { await publish("oom", r) }
        await publish("die", r, extra: ["exitCode": "\(code)"])
        notifyExit(r)
        resumeExitWaits(r.ID)
        if autoRemove {
            await destroy(r, deleting: deleting)
            return
        }
        let policy = r.HostConfig.RestartPolicy?.Name ?? "no"
        let retries = r.HostConfig.RestartPolicy?.MaximumRetryCount ?? 0
        let restart = r.ManualStop != true && (policy == "always" || policy == "unless-stopped"
            || (policy == "on-failure" && code != 0 && (retries == 0 || r.RestartCount < retries)))
        if restart {
            r.RestartCount += 1
            update(r)
            let id = r.ID
            Task { [weak self] in
                try? await Task.sleep(nanoseconds: 100_000_000)
                try? await self?.start(id)
            }
        }
    }

    // MARK: - Kill / stop / restart

    /// `POST /containers/{id}/kill`.
    public func kill(_ ref: String, signal: String?, manual: Bool = false) async throws {
        let r = try resolve(ref)
        let sigName = (signal ?? "").isEmpty ? "KILL" : signal!
        guard let sig = Signals.parse(sigName) else {
            throw BerthError(.invalidArgument, "Invalid signal: \(sigName)")
        }
        guard r.State.Running else {
            throw BerthError(.conflict, "Cannot kill container: \(ref): Container \(r.ID) is not running")
        }
        if manual || sig == SIGKILL || sig == SIGTERM { containers[r.ID]?.ManualStop = true }
        let out = await runtimeCommand(r, ["kill", r.ID, "\(sig)"])
        if out.status != 0 {
            // Already gone: the exit file will tell.
            if await checkExit(r.ID) { return }
            let text = Self.runtimeMessage(out.stderr) ?? "kill failed"
            throw BerthError(.internalError, "Cannot kill container: \(ref): \(text)")
        }
        await publish("kill", r, extra: ["signal": "\(sig)"])
        // A frozen process only acts on the signal once thawed (stop/kill/rm -f of a paused container).
        if containers[r.ID]?.State.Paused == true, sig == SIGKILL || manual {
            _ = await runtimeCommand(r, ["resume", r.ID])
            if var cur = containers[r.ID] {
                cur.State.Paused = false
                if cur.State.Running { cur.State.Status = "running" }
                update(cur)
            }
        }
    }

    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after `timeout` seconds.
    public func stop(_ ref: String, timeout: Int?, signal: String?) async throws {
        let r = try resolve(ref)
        guard r.State.Running else { throw BerthError(.notModified, "container already stopped") }
        containers[r.ID]?.ManualStop = true
        let sig = (signal ?? "").isEmpty ? ((r.Config.StopSignal ?? "").isEmpty ? "TERM" : r.Config.StopSignal!) : signal!
        let t = timeout ?? r.Config.StopTimeout ?? 10
        do { try await kill(r.ID, signal: sig, manual: true) } catch {}
        var exited = t >= 0 ? await waitExit(r.ID, timeoutSeconds: Double(t)) : await waitExit(r.ID, timeoutSeconds: 1e9)
        if !exited {
            do { try await kill(r.ID, signal: "KILL", manual: true) } catch {}
            exited = await waitExit(r.ID, timeoutSeconds: 30)
        }
        if !exited {
            throw BerthError(.internalError, "cannot stop container: \(ref): tried to kill container, but did not receive an exit event")
        }
        if let cur = containers[r.ID] { await publish("stop", cur) }
    }

    /// `POST /containers/{id}/restart`.
    public func restart(_ ref: String, timeout: Int?, signal: String?) async throws {
        let r = try resolve(ref)
        if r.State.Running {
            try await stop(r.ID, timeout: timeout, signal: signal)
        }
        try await start(r.ID)
        if let cur = containers[r.ID] { await publish("restart", cur) }
    }

    // MARK: - Restore

    /// Loads every container at daemon start: live containers stay running (their monitors are
    /// re-watched), exited ones get their exit code from the exit file, stale mounts are removed.
    public func restore() async {
        let root = dataRoot + "/containers"
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for id in ids {
            let path = "\(root)/\(id)/config.v2.json"
            guard let data = FileManager.default.contents(atPath: path),
                  let r = try? JSONDecoder().decode(ContainerRecord.self, from: data) else {
                if !ids.isEmpty { logger.warning("skipping container directory \(id): no readable config.v2.json") }
                continue
            }
            containers[r.ID] = r
            names[r.Name] = r.ID
            // Leases are written without fsync at create: make sure each container's is there.
            if let image = try? Digest(parsing: r.Image) {
                try? await images.retainImage(image, owner: "container-\(r.ID)", durable: false)
            }
        }
        for r in containers.values {
            if r.State.Running {
                if await checkExit(r.ID) { continue }
                await watch(r.ID)
                startHealth(r.ID, fresh: false)
            } else {
                ContainerSystem.unmount(mergedDir(r.ID))
                ContainerSystem.removeNetns(netnsPath(r.ID))
            }
        }
        // Auto-removed containers that exited while berthd was down.
        for r in containers.values where !r.State.Running && r.HostConfig.AutoRemove == true && r.HasBeenStartedBefore {
            await destroy(r)
        }
    }

    // MARK: - Attach

    /// A connected attach socket for a running container; for a created one, the socket `start`
    /// connects (as `docker run` attaches before it starts). Call before answering the attach request
    /// (the client may send `start` as soon as it has the 101), then await the first element of the
    /// stream: a fd, or -1 when the container went away.
    public func prepareAttach(_ id: String) -> AsyncStream<Int32> {
        let (stream, cont) = AsyncStream<Int32>.makeStream()
        guard let r = containers[id] else {
            cont.yield(-1)
            cont.finish()
            return stream
        }
        if r.State.Running && !starting.contains(id) {
            cont.yield(ContainerSystem.connectAttach(monitorDir(id) + "/attach"))
            cont.finish()
        } else {
            pendingAttach[id, default: []].append(cont)
        }
        return stream
    }

    /// Writes a control line (`resize R C`) to the monitor.
    public func resize(_ ref: String, height: Int, width: Int) throws {
        let r = try resolve(ref)
        guard r.State.Running else {
            throw BerthError(.conflict, "Container \(r.ID) is not running")
        }
        _ = ContainerSystem.writeControl(monitorDir(r.ID) + "/ctl", "resize \(height) \(width)\n")
    }
}

/// A runtime `delete` under way (see ``ContainerService/startRuntimeDelete(_:)``).
enum RuntimeDeletion: Sendable {
    case process(ContainerSystem.Spawned)
    case inProcess(Task<Void, Never>)

    /// Waits until it is done (reaping the process); call exactly once.
    func finish() async {
        switch self {
        case .process(let p): _ = await p.finish()
        case .inProcess(let t): await t.value
        }
    }
}
