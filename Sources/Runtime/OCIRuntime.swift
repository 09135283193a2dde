import CBerthShim
import Foundation
import OCI

/// An OCI runtime as the daemon drives it: berth's own, in process (`BerthRuntime`), or any
/// runc-compatible binary (`ExternalRuntime`, for `--runtime runc`).
public protocol OCIRuntime: Sendable {
    /// Short name ("berth", "runc").
    var name: String { get }
    /// Creates the container from the bundle; its process waits for `start`.
    func create(id: String, bundle: String, options: CreateOptions) async throws -> ContainerState
    /// Lets the created container's process exec.
    func start(id: String) async throws
    func state(id: String) async throws -> ContainerState
    func kill(id: String, signal: Int32, all: Bool) async throws
    /// Removes the container (with `force`, kills it first).
    func delete(id: String, force: Bool) async throws
    /// Starts another process in the container; returns its host pid.
    func exec(id: String, process: Spec.Process, options: ExecOptions) async throws -> Int32
    func pause(id: String) async throws
    func resume(id: String) async throws
    func stats(id: String) async throws -> CgroupStats
    func processes(id: String) async throws -> [Int32]
    /// Waits for a process started by this runtime (a container's init or an exec) to exit and
    /// returns its exit code (128+N for signal N).
    func wait(pid: Int32) async throws -> Int32
}

/// berth's runtime, in process. Container processes are children of the calling process, which
/// reaps them (`wait(pid:)`): no per-container supervisor process.
public final class BerthRuntime: OCIRuntime {
    public let name = "berth"
    public let core: ContainerRuntime

    public init(root: String = "/run/berth-runtime") {
        core = ContainerRuntime(root: root)
    }

    public func create(id: String, bundle: String, options: CreateOptions) async throws -> ContainerState {
        try core.create(id: id, bundle: bundle, options: options)
    }
    public func start(id: String) async throws { try core.start(id: id) }
    public func state(id: String) async throws -> ContainerState { try core.state(id: id) }
    public func kill(id: String, signal: Int32, all: Bool) async throws { try core.kill(id: id, signal: signal, all: all) }
    public func delete(id: String, force: Bool) async throws { try core.delete(id: id, force: force) }
    public func exec(id: String, process: Spec.Process, options: ExecOptions) async throws -> Int32 {
        try core.exec(id: id, process: process, options: options)
    }
    public func pause(id: String) async throws { try core.pause(id: id) }
    public func resume(id: String) async throws { try core.resume(id: id) }
    public func stats(id: String) async throws -> CgroupStats { try core.stats(id: id) }
    public func processes(id: String) async throws -> [Int32] { try core.processes(id: id) }
    public func wait(pid: Int32) async throws -> Int32 { try await ProcessReaper.shared.wait(pid: pid) }

    /// `docker run` in one call: create + start; returns the state (with the init pid).
    public func run(id: String, bundle: String, options: CreateOptions) async throws -> ContainerState {
        try core.createAndStart(id: id, bundle: bundle, options: options).0
    }
}

/// Waits for processes: children with waitpid on a small dedicated thread each; processes that
/// are not our children (created by an external runtime without us as subreaper) through a pidfd,
/// where the exit code is not known (reported as 255).
public final class ProcessReaper: @unchecked Sendable {
    public static let shared = ProcessReaper()

    public func wait(pid: Int32) async throws -> Int32 {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Int32, any Error>) in
            let t = Thread {
                var status: Int32 = 0
                while true {
                    let r = waitpid(pid, &status, 0)
                    if r == pid { cont.resume(returning: berth_exit_code(status)); return }
                    if r < 0 && errno == EINTR { continue }
                    if r < 0 && errno == ECHILD {
                        // Not our child: wait for it to go away.
                        let fd = berth_pidfd_open(pid)
                        if fd < 0 { cont.resume(returning: 255); return }
                        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                        while poll(&p, 1, -1) < 0 && errno == EINTR {}
                        close(fd)
                        cont.resume(returning: 255)
                        return
                    }
                    cont.resume(throwing: BerthError(.internalError, "waitpid \(pid): \(FileIO.errorString(errno))"))
                    return
                }
            }
            t.stackSize = 64 * 1024
            t.start()
        }
    }
}

/// A runc-compatible runtime binary driven through its command line (`runc`, `crun`, `berth-runtime`).
public final class ExternalRuntime: OCIRuntime {
    public let path: String
    public let root: String?
    public var name: String { String(path.split(separator: "/").last ?? "runc") }

    /// - Parameter subreaper: make this process the child subreaper, so the container processes
    ///   that `runc create` leaves behind become our children and `wait(pid:)` gets their status.
    public init(path: String, root: String? = nil, subreaper: Bool = true) {
        self.path = path
        self.root = root
        if subreaper { _ = berth_set_subreaper(1) }
    }

    @discardableResult
    func invoke(_ args: [String], stdio: [Int32]? = nil) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        var full: [String] = []
        if let root { full += ["--root", root] }
        let logPath = NSTemporaryDirectory() + "berth-\(name)-\(UUID().uuidString).log"
        full += ["--log", logPath, "--log-format", "json"]
        p.arguments = full + args
        let out = Pipe()
        p.standardOutput = out
        if let stdio, stdio.count == 3 {
            p.standardInput = stdio[0] >= 0 ? FileHandle(fileDescriptor: stdio[0], closeOnDealloc: false) : FileHandle.nullDevice
            p.standardError = stdio[2] >= 0 ? FileHandle(fileDescriptor: stdio[2], closeOnDealloc: false) : FileHandle.nullDevice
        } else {
            p.standardError = Pipe()
        }
        defer { unlink(logPath) }
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw BerthError(.internalError, "\(name) \(args.first ?? "") failed: \(Self.lastError(logPath) ?? "exit status \(p.terminationStatus)")")
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func lastError(_ logPath: String) -> String? {
        guard let text = FileIO.readString(logPath) else { return nil }
        for line in text.split(separator: "\n").reversed() {
            if let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
               obj["level"] as? String == "error", let msg = obj["msg"] as? String { return msg }
        }
        return nil
    }

    public func create(id: String, bundle: String, options: CreateOptions) async throws -> ContainerState {
        var args = ["create", "--bundle", bundle]
        if let c = options.consoleSocket { args += ["--console-socket", c] }
        if let p = options.pidFile { args += ["--pid-file", p] }
        if options.noPivot { args.append("--no-pivot") }
        if options.preserveFDs > 0 { args += ["--preserve-fds", String(options.preserveFDs)] }
        args.append(id)
        try invoke(args, stdio: options.stdio)
        return try await state(id: id)
    }
    public func start(id: String) async throws { try invoke(["start", id]) }
    public func state(id: String) async throws -> ContainerState {
        let out = try invoke(["state", id])
        let s = try JSONDecoder().decode(ContainerStateJSON.self, from: Data(out.utf8))
        return ContainerState(id: s.id, pid: s.pid, status: ContainerStatus(rawValue: s.status) ?? .stopped, bundle: s.bundle,
                              rootfs: s.rootfs, created: s.created, owner: s.owner, annotations: s.annotations)
    }
    public func kill(id: String, signal: Int32, all: Bool) async throws {
        try invoke(["kill"] + (all ? ["--all"] : []) + [id, String(signal)])
    }
    public func delete(id: String, force: Bool) async throws { try invoke(["delete"] + (force ? ["--force"] : []) + [id]) }
    public func exec(id: String, process: Spec.Process, options: ExecOptions) async throws -> Int32 {
        let file = NSTemporaryDirectory() + "berth-process-\(UUID().uuidString).json"
        let pidFile = options.pidFile ?? NSTemporaryDirectory() + "berth-exec-\(UUID().uuidString).pid"
        defer { unlink(file); if options.pidFile == nil { unlink(pidFile) } }
        try FileIO.writeAtomically(file, bytes: [UInt8](try JSONEncoder().encode(process)))
        var args = ["exec", "--detach", "--process", file, "--pid-file", pidFile]
        if let c = options.consoleSocket { args += ["--console-socket", c] }
        if options.preserveFDs > 0 { args += ["--preserve-fds", String(options.preserveFDs)] }
        try invoke(args + [id], stdio: options.stdio)
        guard let pid = FileIO.readString(pidFile).flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            throw BerthError(.internalError, "\(name) exec did not write a pid file")
        }
        return pid
    }
    public func pause(id: String) async throws { try invoke(["pause", id]) }
    public func resume(id: String) async throws { try invoke(["resume", id]) }
    public func stats(id: String) async throws -> CgroupStats {
        let out = try invoke(["events", "--stats", id])
        var s = CgroupStats()
        guard let obj = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any],
              let data = obj["data"] as? [String: Any] else { return s }
        func u(_ v: Any?) -> UInt64 { (v as? NSNumber)?.uint64Value ?? 0 }
        if let cpu = (data["cpu"] as? [String: Any])?["usage"] as? [String: Any] {
            s.cpuUsageNanos = u(cpu["total"]); s.cpuUserNanos = u(cpu["user"]); s.cpuSystemNanos = u(cpu["kernel"])
            s.perCPUNanos = (cpu["percpu"] as? [NSNumber])?.map(\.uint64Value) ?? []
        }
        if let mem = data["memory"] as? [String: Any] {
            let usage = mem["usage"] as? [String: Any]
            s.memoryUsage = u(usage?["usage"]); s.memoryMaxUsage = u(usage?["max"]); s.memoryLimit = u(usage?["limit"])
            s.memoryFailCount = u(usage?["failcnt"])
            s.memoryStat = ((mem["raw"] as? [String: Any]) ?? [:]).mapValues { u($0) }
        }
        if let pids = data["pids"] as? [String: Any] { s.pidsCurrent = u(pids["current"]); s.pidsLimit = u(pids["limit"]) }
        return s
    }
    public func processes(id: String) async throws -> [Int32] {
        let out = try invoke(["ps", "--format", "json", id])
        return (try JSONDecoder().decode([Int32]?.self, from: Data(out.utf8))) ?? []
    }
    public func wait(pid: Int32) async throws -> Int32 { try await ProcessReaper.shared.wait(pid: pid) }
}
