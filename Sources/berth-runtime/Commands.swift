import ArgumentParser
import CBerthShim
import Foundation
import OCI
import Runtime

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a container (its process waits for `start`).")
    @Option(name: [.short, .long], help: "Path to the bundle (default: current directory).") var bundle: String?
    @Option(name: .customLong("console-socket")) var consoleSocket: String?
    @Option(name: .customLong("pid-file")) var pidFile: String?
    @Flag(name: .customLong("no-pivot")) var noPivot = false
    @Flag(name: .customLong("no-new-keyring")) var noNewKeyring = false
    @Option(name: .customLong("preserve-fds")) var preserveFDs: Int32 = 0
    @Flag(help: "Run berth's init as PID 1 (signal forwarding, zombie reaping).") var `init` = false
    @Argument var id: String

    func run() throws {
        try Self.execute(id: id, bundle: bundle, consoleSocket: consoleSocket, pidFile: pidFile, noPivot: noPivot,
                         preserveFDs: preserveFDs, useInit: `init`)
    }

    static func execute(id: String, bundle: String?, consoleSocket: String?, pidFile: String?, noPivot: Bool,
                        preserveFDs: Int32, useInit: Bool) throws {
        let opts = CreateOptions(consoleSocket: consoleSocket, pidFile: pidFile, noPivot: noPivot, preserveFDs: preserveFDs,
                                 useInit: useInit)
        try Globals.current.runtime.create(id: id, bundle: bundle ?? FileManager.default.currentDirectoryPath, options: opts)
    }
}

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start a created container.")
    @Argument var id: String
    func run() throws { try Globals.current.runtime.start(id: id) }
}

struct StateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "state", abstract: "Output the state of a container (JSON).")
    @Argument var id: String
    func run() throws { try Self.execute(id: id) }
    static func execute(id: String) throws {
        let s = try Globals.current.runtime.state(id: id)
        print(stateJSON(s.json))
    }
}

/// runc's `state` output: its field order, two-space indent.
func stateJSON(_ s: ContainerStateJSON) -> String {
    func q(_ v: String) -> String {
        let data = (try? JSONEncoder().encode(v)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\\/", with: "/")
    }
    var lines = [
        "  \"ociVersion\": \(q(s.ociVersion))", "  \"id\": \(q(s.id))", "  \"pid\": \(s.pid)", "  \"status\": \(q(s.status))",
        "  \"bundle\": \(q(s.bundle))", "  \"rootfs\": \(q(s.rootfs))", "  \"created\": \(q(s.created))", "  \"owner\": \(q(s.owner))",
    ]
    if let a = s.annotations, !a.isEmpty {
        lines.append("  \"annotations\": {\n" + a.keys.sorted().map { "    \(q($0)): \(q(a[$0]!))" }.joined(separator: ",\n") + "\n  }")
    }
    return "{\n" + lines.joined(separator: ",\n") + "\n}"
}

func prettyJSON<T: Encodable>(_ v: T) throws -> String {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
    return String(decoding: try enc.encode(v), as: UTF8.self)
}

struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send a signal (default SIGTERM) to a container's init.")
    @Flag(name: [.short, .long], help: "Send to all processes of the container.") var all = false
    @Argument var id: String
    @Argument var signal: String = "SIGTERM"
    func run() throws {
        try Globals.current.runtime.kill(id: id, signal: try ContainerRuntime.parseSignal(signal), all: all)
    }
}

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a container and everything it holds.")
    @Flag(name: [.short, .long], help: "Kill it first if it is still running.") var force = false
    @Argument var id: String
    func run() throws { try Self.execute(id: id, force: force) }
    static func execute(id: String, force: Bool) throws {
        do {
            try Globals.current.runtime.delete(id: id, force: force)
        } catch let e as BerthError where e.code == .notFound && force {
            return
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create and start a container; wait for it unless --detach.")
    @Option(name: [.short, .long]) var bundle: String?
    @Option(name: .customLong("console-socket")) var consoleSocket: String?
    @Option(name: .customLong("pid-file")) var pidFile: String?
    @Flag(name: [.short, .long]) var detach = false
    @Flag(name: .customLong("no-pivot")) var noPivot = false
    @Flag(name: .customLong("no-new-keyring")) var noNewKeyring = false
    @Flag(help: "Keep the container's state after it exits.") var keep = false
    @Option(name: .customLong("preserve-fds")) var preserveFDs: Int32 = 0
    @Flag(help: "Run berth's init as PID 1.") var `init` = false
    @Argument var id: String

    func run() throws {
        try Self.execute(id: id, bundle: bundle, consoleSocket: consoleSocket, pidFile: pidFile, detach: detach, noPivot: noPivot,
                         keep: keep, preserveFDs: preserveFDs, useInit: `init`)
    }

    static func execute(id: String, bundle: String?, consoleSocket: String?, pidFile: String?, detach: Bool, noPivot: Bool,
                        keep: Bool, preserveFDs: Int32, useInit: Bool) throws {
        Trace.mark("arguments parsed")
        let rt = Globals.current.runtime
        var opts = CreateOptions(consoleSocket: consoleSocket, pidFile: pidFile, noPivot: noPivot, preserveFDs: preserveFDs,
                                 useInit: useInit)
        let bundle = bundle ?? FileManager.default.currentDirectoryPath
        // A foreground terminal: receive the pty master on an internal socket and proxy it.
        var pair: [Int32] = [-1, -1]
        guard let bytes = FileIO.readBytes(bundle + "/config.json") else {
            throw BerthError(.invalidArgument, "JSON specification file config.json not found in \(bundle)")
        }
        let spec = try Spec.decode(bytes)
        opts.spec = spec
        opts.specBytes = bytes
        if !detach && consoleSocket == nil && spec.process?.terminal == true {
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
                throw BerthError(.internalError, "socketpair failed")
            }
            opts.consoleSocketFD = pair[1]
        }
        let (state, _) = try rt.createAndStart(id: id, bundle: bundle, options: opts)
        if pair[1] >= 0 { close(pair[1]) }
        if detach { return }
        if pair[0] >= 0 {
            let master = berth_recv_fd(pair[0])
            close(pair[0])
            if master >= 0 { berth_proxy_pty(master); close(master) }
        }
        let code = berth_wait_forward(state.pid)
        Trace.mark("container exited")
        if !keep { try? rt.delete(id: id, force: true) }
        Trace.mark("deleted")
        throw ExitWith(code: code)
    }
}

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a process in a running container.")
    @Option(name: [.short, .long], help: "Path to a process.json.") var process: String?
    @Flag(name: [.short, .long]) var tty = false
    @Option(name: [.short, .long], help: "Set an environment variable (repeatable).") var env: [String] = []
    @Option var cwd: String?
    @Option(name: [.short, .long], help: "uid[:gid]") var user: String?
    @Option(name: [.customShort("g"), .customLong("additional-gids")]) var additionalGids: [UInt32] = []
    @Option(name: [.short, .long], help: "Add a capability (repeatable).") var cap: [String] = []
    @Flag(name: .customLong("no-new-privs")) var noNewPrivs = false
    @Flag(name: [.short, .long]) var detach = false
    @Option(name: .customLong("pid-file")) var pidFile: String?
    @Option(name: .customLong("console-socket")) var consoleSocket: String?
    @Option(name: .customLong("preserve-fds")) var preserveFDs: Int32 = 0
    @Argument var id: String
    @Argument(parsing: .captureForPassthrough) var command: [String] = []

    func run() throws {
        let rt = Globals.current.runtime
        var proc: Spec.Process
        if let process {
            guard let bytes = FileManager.default.contents(atPath: process) else {
                throw BerthError(.invalidArgument, "open \(process): no such file or directory")
            }
            do {
                proc = try JSONDecoder().decode(Spec.Process.self, from: bytes)
            } catch {
                throw BerthError(.invalidArgument, "parsing process.json: \(error)")
            }
        } else {
            guard !command.isEmpty else { throw BerthError(.invalidArgument, "exec args cannot be empty") }
            let base = try rt.containerProcess(id: id)
            proc = base
            proc.args = command
            proc.terminal = tty
            proc.env = (base.env ?? []) + env
            if let cwd { proc.cwd = cwd }
            if let user {
                let parts = user.split(separator: ":")
                guard let uid = parts.first.flatMap({ UInt32($0) }) else { throw BerthError(.invalidArgument, "invalid user \(user)") }
                proc.user.uid = uid
                proc.user.gid = parts.count > 1 ? (UInt32(parts[1]) ?? 0) : 0
            }
            if !additionalGids.isEmpty { proc.user.additionalGids = additionalGids }
            if !cap.isEmpty, var caps = proc.capabilities {
                for c in cap {
                    caps.bounding = (caps.bounding ?? []) + [c]
                    caps.effective = (caps.effective ?? []) + [c]
                    caps.permitted = (caps.permitted ?? []) + [c]
                }
                proc.capabilities = caps
            }
            if noNewPrivs { proc.noNewPrivileges = true }
        }
        var opts = ExecOptions(consoleSocket: consoleSocket, pidFile: pidFile, preserveFDs: preserveFDs)
        var pair: [Int32] = [-1, -1]
        if proc.terminal == true && consoleSocket == nil {
            guard !detach else { throw BerthError(.invalidArgument, "cannot allocate tty if runc will detach without setting console socket") }
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
                throw BerthError(.internalError, "socketpair failed")
            }
            opts.consoleSocketFD = pair[1]
        }
        let pid = try rt.exec(id: id, process: proc, options: opts)
        if pair[1] >= 0 { close(pair[1]) }
        if detach { return }
        if pair[0] >= 0 {
            let master = berth_recv_fd(pair[0])
            close(pair[0])
            if master >= 0 { berth_proxy_pty(master); close(master) }
        }
        throw ExitWith(code: berth_wait_forward(pid))
    }
}

struct Ps: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the processes of a container.")
    @Option(name: [.short, .long]) var format: String = "table"
    @Argument var id: String
    @Argument(parsing: .captureForPassthrough) var psArgs: [String] = []
    func run() throws {
        let pids = try Globals.current.runtime.processes(id: id)
        if format == "json" {
            print("[" + pids.map(String.init).joined(separator: ",") + "]")
            return
        }
        guard format == "table" else { throw BerthError(.invalidArgument, "invalid format option") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/ps")
        p.arguments = psArgs.isEmpty ? ["-ef"] : psArgs
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        guard let header = lines.first else { return }
        let cols = header.split(separator: " ")
        guard let pidCol = cols.firstIndex(of: "PID") else { throw BerthError(.internalError, "couldn't find PID field in ps output") }
        print(header)
        let set = Set(pids)
        for line in lines.dropFirst() {
            let f = line.split(separator: " ")
            if f.count > pidCol, let pid = Int32(f[pidCol]), set.contains(pid) { print(line) }
        }
    }
}

struct Pause: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Freeze all processes of a container.")
    @Argument var id: String
    func run() throws { try Globals.current.runtime.pause(id: id) }
}

struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Thaw a paused container.")
    @Argument var id: String
    func run() throws { try Globals.current.runtime.resume(id: id) }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List containers.")
    @Option(name: [.short, .long]) var format: String = "table"
    @Flag(name: [.short, .long]) var quiet = false
    func run() throws {
        let all = Globals.current.runtime.list()
        if quiet { all.forEach { print($0.id) }; return }
        if format == "json" { print(try prettyJSON(all.map(\.json))); return }
        print("ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
        for s in all { print("\(s.id)\t\(s.status == .stopped ? 0 : s.pid)\t\(s.status.rawValue)\t\(s.bundle)\t\(s.created)\t\(s.owner)") }
    }
}

struct SpecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "spec", abstract: "Write a Docker-default config.json into the bundle.")
    @Option(name: [.short, .long]) var bundle: String?
    func run() throws {
        let dir = bundle ?? FileManager.default.currentDirectoryPath
        let path = dir + "/config.json"
        guard !FileManager.default.fileExists(atPath: path) else { throw BerthError(.conflict, "File config.json exists. Remove it first") }
        let spec = Spec.dockerDefault(args: ["sh"], terminal: true)
        try spec.encoded(pretty: true).write(to: URL(fileURLWithPath: path))
    }
}

struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Display container stats (--stats: once, as JSON).")
    @Flag var stats = false
    @Argument var id: String
    func run() throws {
        let s = try Globals.current.runtime.stats(id: id)
        let data: [String: Any] = [
            "cpu": ["usage": ["total": s.cpuUsageNanos, "percpu": s.perCPUNanos, "kernel": s.cpuSystemNanos, "user": s.cpuUserNanos]],
            "memory": ["usage": ["usage": s.memoryUsage, "max": s.memoryMaxUsage, "limit": s.memoryLimit, "failcnt": s.memoryFailCount],
                       "raw": s.memoryStat],
            "pids": ["current": s.pidsCurrent, "limit": s.pidsLimit],
        ]
        let obj: [String: Any] = ["type": "stats", "id": id, "data": data]
        let json = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}

struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what this runtime supports (JSON).")
    func run() throws {
        let obj: [String: Any] = [
            "ociVersionMin": "1.0.0", "ociVersionMax": Spec.version,
            "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
            "mountOptions": ParsedMountOptionsList.all,
            "linux": ["namespaces": NamespaceKind.allCases.map(\.rawValue), "capabilities": Runtime.Capabilities.names,
                      "cgroup": ["v1": true, "v2": true, "systemd": false],
                      "seccomp": ["enabled": true]],
        ]
        let json = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .prettyPrinted])
        print(String(decoding: json, as: UTF8.self))
    }
}

enum ParsedMountOptionsList {
    static let all = ["async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "iversion", "lazytime",
                      "loud", "mand", "noatime", "nodev", "nodiratime", "noexec", "noiversion", "nolazytime", "nomand",
                      "norelatime", "nostrictatime", "nosuid", "nosymfollow", "private", "rbind", "relatime", "remount",
                      "ro", "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "silent", "slave",
                      "strictatime", "suid", "sync", "unbindable"]
}
