import APIClient
import APIModels
import Foundation
import OCI

/// `berth exec`, `berth attach`, and the registration of all container commands.
enum ContainerCommands {
    static func register(on root: Command) {
        let bin = root.name
        root.add(ContainerRunCommand.run(bin: bin, category: .common),
                 ContainerExecCommand.exec(bin: bin, category: .common),
                 ContainerListCommand.make(bin: bin, use: "ps [OPTIONS]", category: .common),
                 ContainerRunCommand.create(bin: bin),
                 ContainerManageCommands.start(bin: bin),
                 ContainerManageCommands.stop(bin: bin),
                 ContainerManageCommands.restart(bin: bin),
                 ContainerManageCommands.kill(bin: bin),
                 ContainerManageCommands.remove(bin: bin, use: "rm [OPTIONS] CONTAINER [CONTAINER...]"),
                 ContainerManageCommands.wait(bin: bin),
                 ContainerManageCommands.logs(bin: bin),
                 ContainerManageCommands.pause(bin: bin, unpause: false),
                 ContainerManageCommands.pause(bin: bin, unpause: true),
                 ContainerManageCommands.rename(bin: bin),
                 ContainerManageCommands.top(bin: bin),
                 ContainerExecCommand.attach(bin: bin),
                 ContainerExtraCommands.update(bin: bin),
                 ContainerExtraCommands.diff(bin: bin),
                 ContainerExportCommand.export(bin: bin),
                 ContainerExtraCommands.commit(bin: bin),
                 ContainerCopyCommand.cp(bin: bin),
                 ContainerExtraCommands.port(bin: bin),
                 ContainerStatsCommand.make(bin: bin))

        let container = Command("container", "Manage containers", category: .management)
        let ls = ContainerListCommand.make(bin: bin, use: "ls [OPTIONS]", category: .other)
        ls.aliases = ["list", "ps"]
        let rm = ContainerManageCommands.remove(bin: bin, use: "rm [OPTIONS] CONTAINER [CONTAINER...]")
        rm.aliases = ["remove"]
        container.add(ContainerExecCommand.attach(bin: bin),
                      ContainerExtraCommands.commit(bin: bin),
                      ContainerCopyCommand.cp(bin: bin),
                      ContainerRunCommand.create(bin: bin),
                      ContainerExtraCommands.diff(bin: bin),
                      ContainerExecCommand.exec(bin: bin, category: .other),
                      ContainerExportCommand.export(bin: bin),
                      ContainerManageCommands.inspect(bin: bin),
                      ContainerManageCommands.kill(bin: bin),
                      ContainerManageCommands.logs(bin: bin),
                      ls,
                      ContainerManageCommands.pause(bin: bin, unpause: false),
                      ContainerExtraCommands.port(bin: bin),
                      ContainerManageCommands.prune(),
                      ContainerManageCommands.rename(bin: bin),
                      ContainerManageCommands.restart(bin: bin),
                      rm,
                      ContainerRunCommand.run(bin: bin, category: .other),
                      ContainerManageCommands.start(bin: bin),
                      ContainerStatsCommand.make(bin: bin),
                      ContainerManageCommands.stop(bin: bin),
                      ContainerManageCommands.top(bin: bin),
                      ContainerManageCommands.pause(bin: bin, unpause: true),
                      ContainerExtraCommands.update(bin: bin),
                      ContainerManageCommands.wait(bin: bin))
        root.add(container)

        let node = Command("node", "Manage Swarm nodes", category: .management, hidden: true)
        let nodeLs = Command("ls [OPTIONS]", "List nodes in the swarm", aliases: ["list"],
                             flags: [.array("filter", "f", "Filter output based on conditions provided", type: "filter"),
                                     .string("format", nil, ImageCommands.formatHelp),
                                     .bool("quiet", "q", "Only display IDs")],
                             args: .none) { inv in
            try inv.client().send(.GET, "/nodes")
        }
        node.add(nodeLs)
        root.add(node)
    }
}

enum ContainerExecCommand {
    static func exec(bin: String, category: Command.Category) -> Command {
        Command("exec [OPTIONS] CONTAINER COMMAND [ARG...]", "Execute a command in a running container",
                aliasLine: "\(bin) container exec, \(bin) exec",
                flags: [
                    .bool("detach", "d", "Detached mode: run command in the background"),
                    .string("detach-keys", nil, "Override the key sequence for detaching a container"),
                    .array("env", "e", "Set environment variables", type: "list"),
                    .array("env-file", nil, "Read in a file of environment variables", type: "list"),
                    .bool("interactive", "i", "Keep STDIN open even if not attached"),
                    .bool("privileged", nil, "Give extended privileges to the command"),
                    .bool("tty", "t", "Allocate a pseudo-TTY"),
                    .string("user", "u", "Username or UID (format: \"<name|uid>[:<group|gid>]\")"),
                    .string("workdir", "w", "Working directory inside the container"),
                ],
                args: .min(2), interspersed: false, category: category, run: run)
    }

    static func run(_ inv: Invocation) throws {
        let f = inv.flags
        let id = inv.args[0]
        let detach = f.bool("detach"), tty = f.bool("tty"), interactive = f.bool("interactive")
        var body = ExecCreateBody()
        body.Cmd = Array(inv.args.dropFirst())
        body.Tty = tty
        body.Privileged = f.bool("privileged")
        if !f.string("user").isEmpty { body.User = f.string("user") }
        if !f.string("workdir").isEmpty { body.WorkingDir = f.string("workdir") }
        var envs: [String] = []
        do {
            for file in f.strings("env-file") { envs += try ContainerOptions.parseEnvFile(file, env: inv.ctx.env) }
            for e in f.strings("env") { envs.append(try ContainerOptions.expandEnv(e, env: inv.ctx.env)) }
        } catch let e as ContainerOptions.ValueError {
            throw inv.flagValueError(e.flag, e.value, e.reason)
        } catch let e as ContainerOptions.ParseError {
            throw CLIError(e.message)
        }
        if !envs.isEmpty { body.Env = envs }
        let keys = f.optionalString("detach-keys") ?? ((try? inv.ctx.configFile())?.detachKeys ?? "")
        if !keys.isEmpty { body.DetachKeys = keys }
        if !detach {
            body.AttachStdin = interactive
            body.AttachStdout = true
            body.AttachStderr = true
        }
        if tty && interactive && !detach && !inv.ctx.stdin.isTerminal {
            throw CLIError("the input device is not a TTY")
        }
        if tty, inv.out.isTerminal, let (h, w) = terminalSize(1) { body.ConsoleSize = [h, w] }
        let client = try inv.client()
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let created: IDResponse
        do {
            let (_, data) = try client.send(.POST, "/containers/" + APIClient.pathEscape(id) + "/exec", body: Array(try enc.encode(body)))
            created = try client.decode(IDResponse.self, data)
        } catch let e as BerthError {
            throw CLIError(e.message)
        }
        let execID = created.Id
        var start = ExecStartBody()
        start.Detach = detach
        start.Tty = tty
        start.ConsoleSize = body.ConsoleSize
        let startBody = Array(try enc.encode(start))
        if detach {
            try client.send(.POST, "/exec/\(execID)/start", body: startBody)
            return
        }
        let conn = try client.hijack(.POST, "/exec/\(execID)/start", body: startBody)
        let keyBytes = (try? DetachKeys.parse(keys.isEmpty ? DetachKeys.defaultKeys : keys)) ?? []
        let streamer = HijackedStreamer(conn: conn, ctx: inv.ctx, tty: tty, stdin: interactive, detachKeys: tty ? keyBytes : [])
        var mon: TTYSizeMonitor?
        if tty && inv.out.isTerminal { mon = TTYSizeMonitor(fd: 1) { h, w in client.resize("exec", execID, height: h, width: w) } }
        defer { mon?.stop() }
        if try streamer.run() == .detached { return }
        let (_, data) = try client.send(.GET, "/exec/\(execID)/json")
        let info = try JSON.parse(data)
        let code = info["ExitCode"]?.int64Value ?? 0
        if code != 0 { throw CLIError("", status: Int32(truncatingIfNeeded: code)) }
    }

    static func attach(bin: String) -> Command {
        Command("attach [OPTIONS] CONTAINER", "Attach local standard input, output, and error streams to a running container",
                aliasLine: "\(bin) container attach, \(bin) attach",
                flags: [
                    .string("detach-keys", nil, "Override the key sequence for detaching a container"),
                    .bool("no-stdin", nil, "Do not attach STDIN"),
                    .bool("sig-proxy", nil, "Proxy all received signals to the process", default: true),
                ],
                args: .exact(1)) { inv in
            let id = inv.args[0]
            let client = try inv.client()
            let (_, ib) = try client.send(.GET, "/containers/" + APIClient.pathEscape(id) + "/json")
            let info = try JSON.parse(ib)
            if info["State"]?["Running"]?.boolValue != true { throw CLIError("You cannot attach to a stopped container, start it first") }
            if info["State"]?["Paused"]?.boolValue == true { throw CLIError("You cannot attach to a paused container, unpause it first") }
            let tty = info["Config"]?["Tty"]?.boolValue ?? false
            let stdin = !inv.flags.bool("no-stdin") && (info["Config"]?["OpenStdin"]?.boolValue ?? false)
            if tty && stdin && !inv.ctx.stdin.isTerminal { throw CLIError("the input device is not a TTY") }
            let keys = inv.flags.optionalString("detach-keys") ?? ((try? inv.ctx.configFile())?.detachKeys ?? "")
            let keyBytes = (try? DetachKeys.parse(keys.isEmpty ? DetachKeys.defaultKeys : keys)) ?? []
            let conn = try client.attachContainer(id, stdin: stdin, stdout: true, stderr: true, detachKeys: keys.isEmpty ? nil : keys)
            let waiter = client.waitContainer(id, condition: "")
            var mon: TTYSizeMonitor?
            if tty && inv.out.isTerminal { mon = TTYSizeMonitor(fd: 1) { h, w in client.resize("containers", id, height: h, width: w) } }
            var proxy: SignalProxy?
            if !tty && inv.flags.bool("sig-proxy") {
                proxy = SignalProxy { sig in _ = try? client.send(.POST, "/containers/" + APIClient.pathEscape(id) + "/kill", query: [("signal", sig)]) }
            }
            defer {
                mon?.stop()
                proxy?.stop()
            }
            let streamer = HijackedStreamer(conn: conn, ctx: inv.ctx, tty: tty, stdin: stdin, detachKeys: tty ? keyBytes : [])
            if try streamer.run() == .detached { return }
            let r = try waiter.result()
            if r.StatusCode != 0 { throw CLIError("", status: Int32(truncatingIfNeeded: r.StatusCode)) }
        }
    }
}
