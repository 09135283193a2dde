#if canImport(Glibc)
import Glibc
#endif
import APIModels
import Foundation
import OCI

/// An exec instance (`docker exec`).
struct ExecRecord: Sendable {
    var id: String
    var containerID: String
    var body: ExecCreateBody
    var started = false
    var running = false
    var exitCode: Int?
    var pid = 0
}

extension ContainerService {
    func execDir(_ id: String) -> String { "\(execRoot)/e/\(id.prefix(16))" }

    /// `POST /containers/{id}/exec`.
    public func execCreate(_ ref: String, body: ExecCreateBody) async throws -> String {
        let r = try resolve(ref)
        guard r.State.Running else { throw BerthError(.conflict, "container \(r.ID) is not running") }
        if r.State.Paused { throw BerthError(.conflict, "container \(r.ID) is paused, unpause the container before exec") }
        guard let cmd = body.Cmd, !cmd.isEmpty else { throw BerthError(.invalidArgument, "No exec command specified") }
        let id = ContainerNames.newID()
        execs[id] = ExecRecord(id: id, containerID: r.ID, body: body)
        await publish("exec_create: " + Self.execEventCommand(cmd), r, extra: ["execID": id])
        return id
    }

    func execRecord(_ id: String) throws -> ExecRecord {
        guard let e = execs[id] else { throw BerthError(.notFound, "No such exec instance: \(id)") }
        return e
    }

    /// `GET /exec/{id}/json`.
    public func execInspect(_ id: String) async throws -> ExecInspect {
        if let e = execs[id], e.running { await checkExecExit(id) }
        let e = try execRecord(id)
        let cmd = e.body.Cmd ?? []
        return ExecInspect(
            ContainerID: e.containerID, ExitCode: e.exitCode, ID: e.id, OpenStderr: e.body.AttachStderr == true,
            OpenStdin: e.body.AttachStdin == true, OpenStdout: e.body.AttachStdout == true,
            ProcessConfig: .init(arguments: Array(cmd.dropFirst()), entrypoint: cmd.first ?? "", privileged: e.body.Privileged == true,
                                 tty: e.body.Tty == true, user: e.body.User ?? ""),
            Running: e.running, Pid: e.pid)
    }

    /// Whether an exec has a TTY (for the stream's content type) — also checks it can start.
    public func execInfo(_ id: String) throws -> (tty: Bool, stdin: Bool, stdout: Bool, stderr: Bool) {
        let e = try execRecord(id)
        if e.started { throw BerthError(.conflict, "Error: Exec command \(id) is already running") }
        guard containers[e.containerID]?.State.Running == true else {
            throw BerthError(.conflict, "container \(e.containerID) is not running")
        }
        return (e.body.Tty == true, e.body.AttachStdin == true, e.body.AttachStdout == true, e.body.AttachStderr == true)
    }

    /// `POST /exec/{id}/start`: launches the monitor in exec mode. With `attach`, the monitor waits
    /// for our attach connection before it runs the process (no output lost); the fd is returned.
    public func execStart(_ id: String, attach: Bool, consoleSize: [Int]?) async throws -> Int32 {
        var e = try execRecord(id)
        if e.started { throw BerthError(.conflict, "Error: Exec command \(id) is already running") }
        guard let c = containers[e.containerID], c.State.Running else {
            throw BerthError(.conflict, "container \(e.containerID) is not running")
        }
        e.started = true
        execs[id] = e
        let bundleSpec = try? JSONDecoder().decode(Spec.self, from: Data(contentsOf: URL(fileURLWithPath: bundleDir(c.ID) + "/config.json")))
        var process = bundleSpec?.process ?? Spec.Process(args: [])
        process.args = e.body.Cmd
        process.terminal = e.body.Tty == true
        process.env = ContainerConfigRules.mergeEnv(image: process.env ?? [], user: e.body.Env ?? [])
        if let wd = e.body.WorkingDir, !wd.isEmpty { process.cwd = wd }
        if let u = e.body.User, !u.isEmpty {
            let merged = mergedDir(c.ID)
            process.user = try ContainerSpecBuilder.resolveUser(
                u, passwd: try? String(contentsOfFile: merged + "/etc/passwd", encoding: .utf8),
                group: try? String(contentsOfFile: merged + "/etc/group", encoding: .utf8))
        }
        if e.body.Privileged == true {
            let caps = ContainerConfigRules.capabilities(privileged: true, add: nil, drop: nil)
            process.capabilities = Spec.Capabilities(bounding: caps, effective: caps, permitted: caps)
        }
        if let cs = consoleSize ?? e.body.ConsoleSize, cs.count == 2, cs[0] > 0, cs[1] > 0, e.body.Tty == true {
            process.consoleSize = Spec.Box(height: UInt(cs[0]), width: UInt(cs[1]))
        } else {
            process.consoleSize = nil
        }
        let dir = execDir(id)
        try CFS.mkdirAll(execRoot + "/e", mode: 0o700)
        let file = dir + ".json"
        let enc = JSONEncoder()
        enc.outputFormatting = [.withoutEscapingSlashes]
        try CFS.writeAtomically(file, Array(try enc.encode(process)))
        let inv = runtimeInvocation(c.RuntimeName)
        var argv = [monitorPath, "--id", c.ID, "--runtime", inv.path, "--runtime-root", runtimeRoot(c.RuntimeName)]
        for a in inv.args { argv += ["--runtime-arg", a] }
        argv += ["--exec-dir", dir, "--exec", "--process", file, "--log-driver", "none"]
        if e.body.Tty == true { argv.append("--terminal") }
        if e.body.AttachStdin == true { argv += ["--stdin", "--stdin-once"] }
        if attach { argv.append("--attach-wait") }
        let command = argv
        let monitor = ContainerSystem.LineProcess(command)  // spawned now; only the reads are blocking
        let result: (fd: Int32, msg: MonitorSyncMessage?) = await ContainerSystem.blocking {
            guard let p = monitor else { return (-1, MonitorSyncMessage(error: "cannot run \(command[0])")) }
            var fd: Int32 = -1
            var final: MonitorSyncMessage?
            while let line = p.readLine() {
                guard let m = try? JSONDecoder().decode(MonitorSyncMessage.self, from: Data(line.utf8)) else { continue }
                if let a = m.attach { fd = ContainerSystem.connectAttach(a); continue }
                if m.pid != nil || m.error != nil { final = m; break }
            }
            _ = p.finish()
            return (fd, final)
        }
        try? FileManager.default.removeItem(atPath: file)
        guard let msg = result.msg, let pid = msg.pid else {
            if result.fd >= 0 { close(result.fd) }
            let text = result.msg?.error ?? "exec failed"
            execs[id]?.exitCode = text.contains("not found") || text.contains("no such file") ? 127 : 126
            execs[id]?.running = false
            throw BerthError(.internalError, "OCI runtime exec failed: \(text): unknown")
        }
        execs[id]?.running = true
        execs[id]?.pid = Int(pid)
        await publish("exec_start: " + Self.execEventCommand(e.body.Cmd ?? []), c, extra: ["execID": id])
        watchExec(id, monitorPid: msg.monitorPid)
        return result.fd
    }

    /// Reads the exec's exit file; true once it has exited (or is unknown).
    @discardableResult
    public func checkExecExit(_ id: String) async -> Bool {
        guard let e = execs[id], e.running else { return true }
        let path = execDir(id) + "/exit"
        guard let data = FileManager.default.contents(atPath: path),
              let ex = try? JSONDecoder().decode(MonitorExitFile.self, from: data) else {
            if containers[e.containerID]?.State.Running != true {
                execs[id]?.running = false
                execs[id]?.exitCode = execs[id]?.exitCode ?? 137
                return true
            }
            return false
        }
        execs[id]?.running = false
        execs[id]?.exitCode = Int(ex.exitCode)
        try? CFS.removeTree(execDir(id))
        if let c = containers[e.containerID] {
            await publish("exec_die", c, extra: ["execID": id, "exitCode": "\(ex.exitCode)"])
        }
        return true
    }

    /// `POST /exec/{id}/resize`.
    public func execResize(_ id: String, height: Int, width: Int) throws {
        let e = try execRecord(id)
        guard e.running else { throw BerthError(.conflict, "Exec \(id) is not running") }
        _ = ContainerSystem.writeControl(execDir(id) + "/ctl", "resize \(height) \(width)\n")
    }

    /// dockerd's event text: entrypoint, a space, then the arguments (so `true` reads "true ").
    static func execEventCommand(_ cmd: [String]) -> String {
        guard let first = cmd.first else { return " " }
        return first + " " + cmd.dropFirst().joined(separator: " ")
    }
}
