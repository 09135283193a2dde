import APIClient
import APIModels
import Foundation
import OCI

#if canImport(Glibc)
import Glibc
#endif

/// Hands the waiter registered on a helper thread to `run` (written before the group is left).
private final class WaiterBox: @unchecked Sendable {
    var waiter: ContainerWaiter?
}

/// `berth run` / `berth create` (docker's `runContainer` / `createContainer`).
enum ContainerRunCommand {
    static func run(bin: String, use: String = "run [OPTIONS] IMAGE [COMMAND] [ARG...]", category: Command.Category) -> Command {
        Command(use, "Create and run a new container from an image",
                aliasLine: "\(bin) container run, \(bin) run",
                flags: ContainerOptions.flags + [
                    .bool("detach", "d", "Run container in background and print container ID"),
                    .string("detach-keys", nil, "Override the key sequence for detaching a container"),
                    .bool("sig-proxy", nil, "Proxy received signals to the process", default: true),
                ],
                args: .min(1), interspersed: false, category: category, run: runRun)
    }

    static func create(bin: String, use: String = "create [OPTIONS] IMAGE [COMMAND] [ARG...]") -> Command {
        Command(use, "Create a new container", aliasLine: "\(bin) container create, \(bin) create",
                flags: ContainerOptions.flags.map { f in
                    guard f.long == "pull" else { return f }
                    var p = f
                    // sic: docker's create help has "|missing".
                    p.usage = "Pull image before creating (\"always\", \"|missing\", \"never\")"
                    return p
                }, args: .min(1), interspersed: false, run: runCreate)
    }

    /// `docker: msg` plus the help hint (status 125), docker's `reportError(…, withHelp: true)`.
    static func reportError(_ inv: Invocation, _ message: String, withHelp: Bool = true, status: Int32 = 125) -> CLIError {
        var s = "\(inv.command.binName): " + message
        if withHelp { s += "\n\nRun '\(inv.command.commandPath) --help' for more information" }
        return CLIError(s, status: status)
    }

    /// Parses flags into a create request, turning errors into docker's messages.
    static func parseOptions(_ inv: Invocation) throws -> ContainerOptions.Parsed {
        do {
            let size = terminalSize(1)
            return try ContainerOptions.parse(inv.flags, args: inv.args, env: inv.ctx.env, stdoutIsTerminal: inv.out.isTerminal,
                                              consoleSize: size)
        } catch let e as ContainerOptions.ValueError {
            throw inv.flagValueError(e.flag, e.value, e.reason)
        } catch let e as ContainerOptions.ParseError {
            throw reportError(inv, e.message)
        }
    }

    /// `docker create` flow: create, pulling on "No such image" (or first, with `--pull always`).
    static func createContainer(_ inv: Invocation, _ p: ContainerOptions.Parsed) throws -> ContainerCreateResponse {
        let client = try inv.client()
        let image = p.config.Image ?? ""
        let body = try ContainerOptions.encodeBody(p)
        func pullImage() throws {
            var ref = try parseReference(image)
            if ref.tag == nil && ref.digest == nil { ref = ref.withDefaultTag() }
            try PullCommand.pull(inv.ctx, ref: ref, all: false, platform: p.platform ?? "", quiet: p.quiet, out: inv.err)
        }
        do {
            if p.pull == "always" { try pullImage() }
            return try client.createContainer(body: body, name: p.name, platform: p.platform)
        } catch let e as BerthError where e.code == .notFound && e.message.contains("No such image") && p.pull == "missing" {
            var ref = try parseReference(image)
            if ref.tag == nil && ref.digest == nil { ref = ref.withDefaultTag() }
            inv.err.writeLine("Unable to find image '\(ref.familiarString)' locally")
            try pullImage()
            return try client.createContainer(body: body, name: p.name, platform: p.platform)
        }
    }

    static func printWarnings(_ inv: Invocation, _ r: ContainerCreateResponse) {
        for w in r.Warnings { inv.err.writeLine("WARNING: " + w) }
    }

    static func writeCIDFile(_ inv: Invocation, _ p: ContainerOptions.Parsed, _ id: String) throws {
        guard let path = p.cidfile, !path.isEmpty else { return }
        if FileManager.default.fileExists(atPath: path) {
            throw CLIError("container ID file found, make sure the other container isn't running or delete \(path)")
        }
        _ = FileManager.default.createFile(atPath: path, contents: Data(id.utf8))
    }

    static func runCreate(_ inv: Invocation) throws {
        let p = try parseOptions(inv)
        let r: ContainerCreateResponse
        do {
            r = try createContainer(inv, p)
        } catch let e as BerthError {
            throw reportError(inv, e.message)
        } catch let e as CLIError where e.status != 125 {
            throw reportError(inv, e.message)
        }
        printWarnings(inv, r)
        try writeCIDFile(inv, p, r.Id)
        inv.out.writeLine(r.Id)
    }

    /// docker's `runStartContainerErr`: 127 for a missing command, 126 for one that cannot be run.
    static func startErrorStatus(_ message: String) -> Int32 {
        let m = message.hasPrefix("Error response from daemon: ") ? String(message.dropFirst(28)) : message
        if m.contains("executable file not found") || m.contains("no such file or directory") || m.contains("system cannot find the file specified") {
            return 127
        }
        if m.contains("permission denied") || m.contains("is a directory") { return 126 }
        return 125
    }

    static func runRun(_ inv: Invocation) throws {
        let f = inv.flags
        let detach = f.bool("detach")
        var p = try parseOptions(inv)
        if detach {
            if f.isSet("attach") { throw reportError(inv, "Conflicting options: -a and -d") }
            p.config.AttachStdin = false
            p.config.AttachStdout = false
            p.config.AttachStderr = false
            p.config.StdinOnce = false
        }
        let tty = p.config.Tty ?? false
        let attachStdin = p.config.AttachStdin ?? false
        if tty && attachStdin && !inv.ctx.stdin.isTerminal {
            throw CLIError("the input device is not a TTY")
        }
        var detachKeyBytes: [UInt8] = []
        let detachKeys = f.optionalString("detach-keys") ?? ((try? inv.ctx.configFile())?.detachKeys ?? "")
        if attachStdin && tty {
            detachKeyBytes = (try? DetachKeys.parse(detachKeys.isEmpty ? DetachKeys.defaultKeys : detachKeys))
                ?? (try! DetachKeys.parse(DetachKeys.defaultKeys))
        }

        let client = try inv.client()
        let created: ContainerCreateResponse
        do {
            created = try createContainer(inv, p)
        } catch let e as BerthError {
            throw reportError(inv, e.message)
        } catch let e as CLIError where e.status != 125 {
            throw reportError(inv, e.message)
        }
        printWarnings(inv, created)
        try writeCIDFile(inv, p, created.Id)
        let id = created.Id
        let autoRemove = p.host.AutoRemove ?? false

        if detach {
            do {
                try client.send(.POST, "/containers/\(id)/start")
            } catch let e as BerthError {
                throw reportError(inv, e.message, status: startErrorStatus(e.message))
            }
            inv.out.writeLine(id)
            return
        }

        // Attach and register the wait before starting so no output and no exit is missed. The two
        // requests are independent: the wait is registered on another thread meanwhile (one round
        // trip less before `start`).
        let waitCondition = autoRemove ? "removed" : "next-exit"
        let pendingWaiter = WaiterBox()
        let registered = DispatchGroup()
        registered.enter()
        DispatchQueue.global().async {
            pendingWaiter.waiter = client.waitContainer(id, condition: waitCondition)
            registered.leave()
        }
        let attachStdout = p.config.AttachStdout ?? false, attachStderr = p.config.AttachStderr ?? false
        var streamer: HijackedStreamer?
        if attachStdin || attachStdout || attachStderr {
            do {
                let conn = try client.attachContainer(id, stdin: attachStdin, stdout: attachStdout, stderr: attachStderr,
                                                      detachKeys: detachKeys.isEmpty ? nil : detachKeys)
                streamer = HijackedStreamer(conn: conn, ctx: inv.ctx, tty: tty, stdin: attachStdin,
                                            stdout: attachStdout, stderr: attachStderr, detachKeys: detachKeyBytes)
            } catch let e as BerthError {
                registered.wait()
                throw reportError(inv, e.message, withHelp: false)
            }
        }
        registered.wait()
        let waiter = pendingWaiter.waiter!

        do {
            try client.send(.POST, "/containers/\(id)/start")
        } catch let e as BerthError {
            streamer?.conn.close()
            if autoRemove { _ = try? waiter.result() }
            throw reportError(inv, e.message, status: startErrorStatus(e.message))
        }

        var sizeMonitor: TTYSizeMonitor?
        if tty && inv.out.isTerminal {
            sizeMonitor = TTYSizeMonitor(fd: 1) { h, w in client.resize("containers", id, height: h, width: w) }
        }
        var sigProxy: SignalProxy?
        if !tty && f.bool("sig-proxy") {
            sigProxy = SignalProxy { sig in
                _ = try? client.send(.POST, "/containers/\(id)/kill", query: [("signal", sig)])
            }
        }
        defer {
            sizeMonitor?.stop()
            sigProxy?.stop()
        }

        if let streamer {
            let outcome: HijackedStreamer.Outcome
            do {
                outcome = try streamer.run()
            } catch {
                inv.err.writeLine("Error: \(error)")
                throw CLIError("", status: 1)
            }
            if outcome == .detached {
                return
            }
        }
        let status: ContainerWaitResponse
        do {
            status = try waiter.result()
        } catch let e as BerthError {
            throw CLIError(e.message, status: 125)
        }
        if let m = status.Error?.Message, !m.isEmpty {
            throw CLIError(m, status: 125)
        }
        inv.out.flush()
        if status.StatusCode != 0 {
            throw CLIError("", status: Int32(truncatingIfNeeded: status.StatusCode))
        }
    }
}
