#if canImport(Glibc)
import Glibc
#endif
import APIModels
import Foundation
import Logging
import OCI
import Runtime

/// Containers: create, start, stop, kill, remove, wait, inspect, list, logs, attach. State lives in
/// `<data-root>/containers/<id>/`; the rootfs is an overlay in `<data-root>/overlay2/<id>/`; the
/// runtime bundle and the monitor's exec dir are under the exec root. Each started container has a
/// `berth-monitor` (docs/monitor.md), so containers survive berthd restarts.
public actor ContainerService {
    let dataRoot: String
    let execRoot: String
    let images: ImageService
    let events: EventService
    let logger: Logger
    let defaultRuntime: String
    let runtimes: [String: RuntimeConfig]
    var containers: [String: ContainerRecord] = [:]
    var names: [String: String] = [:]  // "/name" -> id
    /// `wait` callers: (condition, continuation) per container.
    var waiters: [String: [(WaitCondition, CheckedContinuation<ContainerWaitResponse, Never>)]] = [:]
    /// Attach callers waiting for the container to start: they get a connected attach socket fd.
    var pendingAttach: [String: [AsyncStream<Int32>.Continuation]] = [:]
    /// Fallback exit pollers, by container id (normally `exitWatcher` has a pidfd on the monitor).
    var watchers: [String: Task<Void, Never>] = [:]
    /// pidfd watches of the monitors (containers by id, execs by `exec:<id>`).
    let exitWatcher = ExitWatcher()
    /// `waitExit` callers (stop, rm -f), woken on exit: (token, continuation) per container.
    var exitWaits: [String: [(UInt64, CheckedContinuation<Void, Never>)]] = [:]
    var nextExitWaitToken: UInt64 = 0
    /// Starts in progress (a second start waits for nothing: it's a 304 after it).
    var starting: Set<String> = []
    /// Exec instances (not persisted, as in dockerd).
    var execs: [String: ExecRecord] = [:]
    /// Healthcheck monitors of running containers (`ContainerService+Health.swift`).
    var healthMonitors: [String: HealthMonitorHandle] = [:]
    var healthSerial: UInt64 = 0

    public enum WaitCondition: String, Sendable { case notRunning = "not-running", nextExit = "next-exit", removed }

    public init(dataRoot: String, execRoot: String, images: ImageService, events: EventService,
                defaultRuntime: String = DaemonConfig.stockRuntimeName, runtimes: [String: RuntimeConfig] = [:],
                logger: Logger) {
        self.dataRoot = dataRoot
        self.execRoot = execRoot
        self.images = images
        self.events = events
        self.logger = logger
        self.defaultRuntime = defaultRuntime
        self.runtimes = runtimes
    }

    // MARK: - Paths

    func containerDir(_ id: String) -> String { "\(dataRoot)/containers/\(id)" }
    func layerDir(_ id: String) -> String { "\(dataRoot)/overlay2/\(id)" }
    func mergedDir(_ id: String) -> String { layerDir(id) + "/merged" }
    func bundleDir(_ id: String) -> String { "\(execRoot)/containers/\(id)" }
    /// Short: the monitor's `DIR/console.sock` must fit in a sockaddr_un.
    func monitorDir(_ id: String) -> String { "\(execRoot)/m/\(id.prefix(16))" }
    func logPath(_ id: String) -> String { containerDir(id) + "/\(id)-json.log" }
    /// The container's network namespace while it runs (made and removed by its monitor).
    func netnsPath(_ id: String) -> String { "\(execRoot)/netns/\(id)" }

    // MARK: - Lookup

    /// Docker's `GetContainer`: full ID, name (with or without `/`), then a unique ID prefix.
    public func resolve(_ ref: String) throws -> ContainerRecord {
        if let c = containers[ref] { return c }
        let name = ref.hasPrefix("/") ? ref : "/" + ref
        if let id = names[name], let c = containers[id] { return c }
        if !ref.isEmpty {
            let matches = containers.keys.filter { $0.hasPrefix(ref) }
            if matches.count == 1 { return containers[matches[0]]! }
            if matches.count > 1 {
                throw BerthError(.invalidArgument, "Multiple IDs found with provided prefix: \(ref)")
            }
        }
        throw BerthError(.notFound, "No such container: \(ref)")
    }

    /// For the image service: containers using an image.
    public func users(of image: Digest) -> [ImageUser] {
        containers.values.filter { $0.Image == image.description }.map { ImageUser(containerID: $0.ID, running: $0.State.Running) }
    }

    public func counts() -> (total: Int, running: Int, paused: Int, stopped: Int) {
        let all = containers.values
        let running = all.filter { $0.State.Running && !$0.State.Paused }.count
        let paused = all.filter { $0.State.Paused }.count
        return (all.count, running, paused, all.count - running - paused)
    }

    // MARK: - Create

    /// `POST /containers/create`.
    public func create(name rawName: String?, body: ContainerCreateBody, platform: Platform? = nil) async throws -> ContainerCreateResponse {
        var name: String
        if let n = rawName, !n.isEmpty {
            guard ContainerNames.isValid(n) else {
                throw BerthError(.invalidArgument, "Invalid container name (\(n)), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
            }
            name = n.hasPrefix("/") ? n : "/" + n
            if let other = names[name] {
                throw BerthError(.conflict, "Conflict. The container name \"\(name)\" is already in use by container \"\(other)\". You have to remove (or rename) that container to be able to reuse that name.")
            }
        } else {
            name = "/" + ContainerNames.random()
            var retry = 0
            while names[name] != nil { retry += 1; name = "/" + ContainerNames.random(retry: retry) }
        }
        guard let imageName = body.config.Image, !imageName.isEmpty else {
            throw BerthError(.invalidArgument, "No image specified")
        }
        var host = body.hostConfig ?? ContainerHostConfig()
        let runtimeNames = Set(runtimes.keys).union([DaemonConfig.stockRuntimeName])
        try ContainerConfigRules.validate(host, config: body.config, cpus: ProcessInfo.processInfo.activeProcessorCount,
                                          runtimes: runtimeNames)
        let image = try await images.imageForContainer(imageName, platform: platform)
        Trace.mark("create: image resolved")
        let config = ContainerConfigRules.merge(user: body.config, image: image.config.config)
        guard let (path, args) = ContainerConfigRules.pathAndArgs(config) else {
            throw BerthError(.invalidArgument, "No command specified")
        }
        let id = ContainerNames.newID()
        var cfg = config
        cfg.Image = imageName
        if (cfg.Hostname ?? "").isEmpty {
            if host.NetworkMode == "host" {
                var buf = [CChar](repeating: 0, count: 256)
                gethostname(&buf, 255)
                cfg.Hostname = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            } else {
                cfg.Hostname = String(id.prefix(12))
            }
        }
        if cfg.Domainname == nil { cfg.Domainname = "" }
        if cfg.AttachStdin == nil { cfg.AttachStdin = false }
        if cfg.AttachStdout == nil { cfg.AttachStdout = false }
        if cfg.AttachStderr == nil { cfg.AttachStderr = false }
        if cfg.Tty == nil { cfg.Tty = false }
        if cfg.OpenStdin == nil { cfg.OpenStdin = false }
        if cfg.StdinOnce == nil { cfg.StdinOnce = false }
        if (host.NetworkMode ?? "").isEmpty { host.NetworkMode = "default" }
        ContainerService.fillDefaults(&host)
        if host.RestartPolicy == nil { host.RestartPolicy = RestartPolicy(Name: "no", MaximumRetryCount: 0) }
        if host.LogConfig == nil || (host.LogConfig?.Type ?? "").isEmpty {
            host.LogConfig = LogConfig(Type: "json-file", Config: host.LogConfig?.Config ?? [:])
        }
        let runtimeName = (host.Runtime ?? "").isEmpty ? defaultRuntime : host.Runtime!
        host.Runtime = runtimeName
        let record = ContainerRecord(
            ID: id, Name: name, Created: ContainerSystem.nowStamp(), Path: path, Args: args, Config: cfg,
            HostConfig: host, Image: image.id.description, State: ContainerState(), RestartCount: 0,
            RuntimeName: runtimeName, LowerDirs: image.lowerDirs, MonitorPid: nil, HasBeenStartedBefore: false)
        // Reserve the name while we touch the disk (another create must not take it).
        names[name] = id
        do {
            // Not fsynced: `restore` retains again for every container it loads.
            try await images.retainImage(image.id, owner: "container-\(id)", durable: false)
            Trace.mark("create: image retained")
            try makeContainerFiles(record)
            Trace.mark("create: files written")
        } catch {
            names.removeValue(forKey: name)
            try? CFS.removeTree(containerDir(id))
            try? CFS.removeTree(layerDir(id))
            try? await images.releaseImage(owner: "container-\(id)")
            throw error
        }
        containers[id] = record
        await publish("create", record)
        return ContainerCreateResponse(Id: id, Warnings: [])
    }

    /// The zero values dockerd shows in inspect (`{{.HostConfig.Memory}}` is `0`, not `<no value>`).
    static func fillDefaults(_ h: inout ContainerHostConfig) {
        func zero<T>(_ v: inout T?, _ d: T) { if v == nil { v = d } }
        // dockerd's daemon defaults replace the CLI's empty values for these.
        if h.ShmSize == 0 { h.ShmSize = nil }
        if h.IpcMode == "" { h.IpcMode = nil }
        if h.CgroupnsMode == "" { h.CgroupnsMode = nil }
        // dockerd's adaptContainerSettings: swap defaults to twice the memory (inspect and `update` see it).
        if let m = h.Memory, m > 0, (h.MemorySwap ?? 0) == 0 { h.MemorySwap = m * 2 }
        zero(&h.Memory, 0); zero(&h.MemoryReservation, 0); zero(&h.MemorySwap, 0); zero(&h.NanoCpus, 0)
        zero(&h.CpuShares, 0); zero(&h.CpuPeriod, 0); zero(&h.CpuQuota, 0); zero(&h.CpuRealtimePeriod, 0)
        zero(&h.CpuRealtimeRuntime, 0); zero(&h.CpusetCpus, ""); zero(&h.CpusetMems, ""); zero(&h.BlkioWeight, 0)
        zero(&h.Privileged, false); zero(&h.ReadonlyRootfs, false); zero(&h.AutoRemove, false)
        zero(&h.PublishAllPorts, false); zero(&h.OomScoreAdj, 0); zero(&h.ShmSize, 67_108_864)
        zero(&h.IpcMode, "private"); zero(&h.PidMode, ""); zero(&h.UTSMode, ""); zero(&h.UsernsMode, "")
        zero(&h.Cgroup, ""); zero(&h.CgroupParent, ""); zero(&h.VolumeDriver, ""); zero(&h.Isolation, "")
        zero(&h.ContainerIDFile, ""); zero(&h.ConsoleSize, [0, 0]); zero(&h.Dns, []); zero(&h.DnsOptions, [])
        zero(&h.DnsSearch, []); zero(&h.CgroupnsMode, FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") ? "private" : "host")
    }

    /// The container's directory and files, the overlay's upper/work dirs.
    func makeContainerFiles(_ r: ContainerRecord) throws {
        let dir = containerDir(r.ID)
        try CFS.mkdirAll(dir, mode: 0o710)
        try CFS.mkdirAll(layerDir(r.ID) + "/diff", mode: 0o755)
        try CFS.mkdirAll(layerDir(r.ID) + "/work", mode: 0o700)
        try CFS.mkdirAll(mergedDir(r.ID), mode: 0o755)
        let hostname = r.Config.Hostname ?? String(r.ID.prefix(12))
        try CFS.write(dir + "/hostname", hostname + "\n")
        var hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
        if r.HostConfig.NetworkMode == "host", let host = try? String(contentsOfFile: "/etc/hosts", encoding: .utf8) {
            hosts = host
        }
        for h in r.HostConfig.ExtraHosts ?? [] {
            let parts = h.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { hosts += "\(parts[1])\t\(parts[0])\n" }
        }
        try CFS.write(dir + "/hosts", hosts)
        var resolv = (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? ""
        if resolv.isEmpty || (!(r.HostConfig.NetworkMode == "host") && resolv.contains("nameserver 127.")) && r.HostConfig.NetworkMode != "none" {
            // Docker drops loopback nameservers for bridged containers; none/host keep the host's file.
            let kept = resolv.split(separator: "\n").filter { !$0.hasPrefix("nameserver 127.") }.joined(separator: "\n")
            resolv = kept.contains("nameserver") ? kept + "\n" : kept + "\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        }
        if let dns = r.HostConfig.Dns, !dns.isEmpty {
            resolv = dns.map { "nameserver \($0)\n" }.joined()
            if let s = r.HostConfig.DnsSearch, !s.isEmpty { resolv += "search " + s.joined(separator: " ") + "\n" }
            if let o = r.HostConfig.DnsOptions, !o.isEmpty { resolv += "options " + o.joined(separator: " ") + "\n" }
        }
        try CFS.write(dir + "/resolv.conf", resolv)
        try save(r)
    }

    /// Writes `config.v2.json`, and `hostconfig.json` unless told it did not change (it is only
    /// for tools that read dockerd's layout; berthd itself reads config.v2.json).
    func save(_ r: ContainerRecord, hostConfig: Bool = true) throws {
        // On the create and start paths: the faster encoder (same JSON values as JSONEncoder).
        let enc = FastJSONEncoder()
        let dir = containerDir(r.ID)
        try CFS.writeAtomically(dir + "/config.v2.json", try enc.encode(r))
        if hostConfig { try CFS.writeAtomically(dir + "/hostconfig.json", try enc.encode(r.HostConfig)) }
    }

    func update(_ r: ContainerRecord) {
        // State changes (start, exit, health) leave the host config alone: one file, not two.
        let hostChanged = containers[r.ID].map { $0.HostConfig != r.HostConfig } ?? true
        containers[r.ID] = r
        do { try save(r, hostConfig: hostChanged) } catch { logger.error("saving container \(r.ID): \(error)") }
    }

    func publish(_ action: String, _ r: ContainerRecord, extra: [String: String] = [:]) async {
        var attrs = r.Config.Labels ?? [:]
        attrs["image"] = r.Config.Image ?? r.Image
        attrs["name"] = String(r.Name.dropFirst())
        for (k, v) in extra { attrs[k] = v }
        await events.publish(type: "container", action: action, id: r.ID, attributes: attrs)
    }

    // MARK: - Remove

    /// `DELETE /containers/{id}`.
    public func remove(_ ref: String, force: Bool, volumes: Bool) async throws {
        var r = try resolve(ref)
        if starting.contains(r.ID) {
            guard force else {
                throw BerthError(.conflict, "cannot remove container \"\(r.Name)\": container is running: stop the container before removing or force remove")
            }
            for _ in 0..<600 where starting.contains(r.ID) { try? await Task.sleep(nanoseconds: 50_000_000) }
            r = try resolve(r.ID)
        }
        if r.State.Running {
            guard force else {
                throw BerthError(.conflict, "cannot remove container \"\(r.Name)\": container is running: stop the container before removing or force remove")
            }
            try await kill(r.ID, signal: "KILL", manual: true)
            _ = await waitExit(r.ID, timeoutSeconds: 10)
            r = try resolve(r.ID)
        }
        await destroy(r)
    }

    /// Removes the container everywhere. `deleting`: a `RUNTIME delete` already under way (the
    /// exit path starts it first thing); otherwise one is started here when the runtime has state.
    func destroy(_ r: ContainerRecord, deleting: RuntimeDeletion? = nil) async {
        guard containers[r.ID] != nil else {
            await deleting?.finish()  // reap it: someone else removed the container meanwhile
            return
        }
        containers.removeValue(forKey: r.ID)
        if names[r.Name] == r.ID { names.removeValue(forKey: r.Name) }
        unwatch(r.ID)
        // The runtime's delete runs while the files are removed.
        let deleting = deleting ?? startRuntimeDelete(r)
        Trace.mark("destroy \(r.ID.prefix(12))")
        ContainerSystem.unmount(mergedDir(r.ID))
        ContainerSystem.removeNetns(netnsPath(r.ID))
        Trace.mark("unmounted")
        images.store.discard([layerDir(r.ID), containerDir(r.ID)])
        try? CFS.removeTree(monitorDir(r.ID))
        Trace.mark("files removed")
        await deleting?.finish()
        try? CFS.removeTree(bundleDir(r.ID))
        Trace.mark("runtime state deleted")
        try? await images.releaseImage(owner: "container-\(r.ID)", image: try? Digest(parsing: r.Image))
        Trace.mark("image lease released")
        for c in pendingAttach.removeValue(forKey: r.ID) ?? [] { c.yield(-1); c.finish() }
        await publish("destroy", r)
        for (_, c) in waiters.removeValue(forKey: r.ID) ?? [] {
            c.resume(returning: ContainerWaitResponse(StatusCode: r.State.ExitCode))
        }
        resumeExitWaits(r.ID)
    }

    // MARK: - Wait

    /// `POST /containers/{id}/wait`. Resolve first (404 before the 200 head), then `waitResult`.
    public func waitResult(_ id: String, condition: WaitCondition) async -> ContainerWaitResponse {
        guard let r = containers[id] else { return ContainerWaitResponse(StatusCode: 0) }
        if condition == .notRunning, !r.State.Running, !starting.contains(id) {
            return ContainerWaitResponse(StatusCode: r.State.ExitCode)
        }
        return await withCheckedContinuation { c in waiters[id, default: []].append((condition, c)) }
    }

    func notifyExit(_ r: ContainerRecord) {
        guard var list = waiters[r.ID] else { return }
        list.removeAll { entry in
            if entry.0 == .removed { return false }
            entry.1.resume(returning: ContainerWaitResponse(StatusCode: r.State.ExitCode,
                                                            error: r.State.Error.isEmpty ? nil : r.State.Error))
            return true
        }
        waiters[r.ID] = list
    }
}

/// File helpers for container directories.
enum CFS {
    static func mkdirAll(_ path: String, mode: Int = 0o755) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: mode])
    }

    static func write(_ path: String, _ text: String) throws {
        try writeAtomically(path, Array(text.utf8))
    }

    /// `path.tmp` + rename: readers see the old or the new file, never a partial one. No fsync (it
    /// cost ~0.5 ms a file on every create/start/exit): after a crash a state file may be an older
    /// version, and `restore` re-derives the state from the monitor's exit file and pid anyway.
    static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw BerthError(.internalError, "cannot write \(tmp): \(String(cString: strerror(errno)))")
        }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, bytes.count - off) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                let e = errno
                close(fd)
                unlink(tmp)
                throw BerthError(.internalError, "cannot write \(tmp): \(String(cString: strerror(e)))")
            }
            off += n
        }
        close(fd)
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw BerthError(.internalError, "cannot rename \(tmp): \(String(cString: strerror(e)))")
        }
    }

    static func removeTree(_ path: String) throws {
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
    }
}
