import APIClient
import APIModels
import Foundation
import OCI

/// Container lifecycle commands: start, stop, kill, restart, rm, wait, pause, unpause, rename, top, logs, prune.
enum ContainerManageCommands {
    static func path(_ id: String, _ suffix: String = "") -> String {
        "/containers/" + APIClient.pathEscape(id) + suffix
    }

    /// Runs `action` per container, printing each name on success and joining errors (docker's pattern).
    static func forEach(_ inv: Invocation, printName: Bool = true, _ action: (APIClient, String) throws -> Void) throws {
        let client = try inv.client()
        var errors: [String] = []
        for name in inv.args {
            do {
                try action(client, name)
                if printName { inv.out.writeLine(name) }
            } catch let e as BerthError {
                errors.append(e.message)
            } catch let e as CLIError {
                errors.append(e.message)
            }
        }
        if !errors.isEmpty { throw CLIError(errors.joined(separator: "\n")) }
    }

    static func stop(bin: String) -> Command {
        Command("stop [OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers",
                aliasLine: "\(bin) container stop, \(bin) stop",
                flags: [
                    .string("signal", "s", "Signal to send to the container"),
                    FlagSpec("timeout", short: "t", .int, usage: "Seconds to wait before killing the container"),
                    FlagSpec("time", .int, usage: "Seconds to wait before killing the container (deprecated: use --timeout)", hidden: true),
                ],
                args: .min(1)) { inv in
            try forEach(inv) { c, id in try c.send(.POST, path(id, "/stop"), query: stopQuery(inv)) }
        }
    }

    static func stopQuery(_ inv: Invocation) -> [(String, String)] {
        var q: [(String, String)] = []
        if inv.flags.isSet("signal") { q.append(("signal", inv.flags.string("signal"))) }
        if inv.flags.isSet("timeout") { q.append(("t", String(inv.flags.int("timeout")))) } else if inv.flags.isSet("time") {
            q.append(("t", String(inv.flags.int("time"))))
        }
        return q
    }

    static func restart(bin: String) -> Command {
        Command("restart [OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers",
                aliasLine: "\(bin) container restart, \(bin) restart",
                flags: [
                    .string("signal", "s", "Signal to send to the container"),
                    FlagSpec("timeout", short: "t", .int, usage: "Seconds to wait before killing the container"),
                    FlagSpec("time", .int, usage: "Seconds to wait before killing the container (deprecated: use --timeout)", hidden: true),
                ],
                args: .min(1)) { inv in
            try forEach(inv) { c, id in try c.send(.POST, path(id, "/restart"), query: stopQuery(inv)) }
        }
    }

    static func kill(bin: String) -> Command {
        Command("kill [OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers",
                aliasLine: "\(bin) container kill, \(bin) kill",
                flags: [.string("signal", "s", "Signal to send to the container")],
                args: .min(1)) { inv in
            let sig = inv.flags.string("signal")
            try forEach(inv) { c, id in try c.send(.POST, path(id, "/kill"), query: sig.isEmpty ? [] : [("signal", sig)]) }
        }
    }

    static func remove(bin: String, use: String) -> Command {
        Command(use, "Remove one or more containers",
                aliasLine: "\(bin) container rm, \(bin) container remove, \(bin) rm",
                flags: [
                    .bool("force", "f", "Force the removal of a running container (uses SIGKILL)"),
                    .bool("link", "l", "Remove the specified link"),
                    .bool("volumes", "v", "Remove anonymous volumes associated with the container"),
                ],
                args: .min(1)) { inv in
            let f = inv.flags
            var q: [(String, String)] = []
            if f.bool("volumes") { q.append(("v", "1")) }
            if f.bool("link") { q.append(("link", "1")) }
            if f.bool("force") { q.append(("force", "1")) }
            let client = try inv.client()
            var errors: [String] = []
            for name in inv.args {
                let n = name.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
                if n.isEmpty {
                    errors.append("Container name cannot be empty")
                    continue
                }
                do {
                    try client.send(.DELETE, path(n), query: q)
                    inv.out.writeLine(name)
                } catch let e as BerthError {
                    if f.bool("force") && e.code == .notFound {
                        inv.err.writeLine(e.message)
                        continue
                    }
                    errors.append(e.message)
                }
            }
            if !errors.isEmpty { throw CLIError(errors.joined(separator: "\n")) }
        }
    }

    static func wait(bin: String) -> Command {
        Command("wait CONTAINER [CONTAINER...]", "Block until one or more containers stop, then print their exit codes",
                aliasLine: "\(bin) container wait, \(bin) wait", args: .min(1)) { inv in
            try forEach(inv, printName: false) { c, id in
                let r = try c.waitContainer(id, condition: "").result()
                inv.out.writeLine(String(r.StatusCode))
            }
        }
    }

    static func pause(bin: String, unpause: Bool) -> Command {
        let name = unpause ? "unpause" : "pause"
        return Command("\(name) CONTAINER [CONTAINER...]",
                       unpause ? "Unpause all processes within one or more containers" : "Pause all processes within one or more containers",
                       aliasLine: "\(bin) container \(name), \(bin) \(name)", args: .min(1)) { inv in
            try forEach(inv) { c, id in try c.send(.POST, path(id, "/" + name)) }
        }
    }

    static func rename(bin: String) -> Command {
        Command("rename CONTAINER NEW_NAME", "Rename a container", aliasLine: "\(bin) container rename, \(bin) rename",
                args: .exact(2)) { inv in
            let old = inv.args[0].trimmingCharacters(in: .whitespaces)
            let new = inv.args[1].trimmingCharacters(in: .whitespaces)
            if old.isEmpty || new.isEmpty { throw CLIError("Error: Neither old nor new names may be empty") }
            do {
                try inv.client().send(.POST, path(old, "/rename"), query: [("name", new)])
            } catch let e as BerthError {
                throw CLIError(e.message + "\nError: failed to rename container named \(old)")
            }
        }
    }

    static func top(bin: String) -> Command {
        Command("top CONTAINER [ps OPTIONS]", "Display the running processes of a container",
                aliasLine: "\(bin) container top, \(bin) top", args: .min(1), interspersed: false) { inv in
            let args = inv.args.dropFirst()
            let q: [(String, String)] = args.isEmpty ? [] : [("ps_args", args.joined(separator: " "))]
            let (_, body) = try inv.client().send(.GET, path(inv.args[0], "/top"), query: q)
            let v = try JSON.parse(body)
            var tw = TabWriter(minwidth: 20, tabwidth: 1, padding: 3)
            tw.write((v["Titles"]?.stringArray ?? []).joined(separator: "\t") + "\n")
            for p in v["Processes"]?.arrayValue ?? [] {
                tw.write(p.stringArray.joined(separator: "\t") + "\n")
            }
            tw.flush()
            inv.out.write(tw.output)
        }
    }

    static func logs(bin: String) -> Command {
        Command("logs [OPTIONS] CONTAINER", "Fetch the logs of a container", aliasLine: "\(bin) container logs, \(bin) logs",
                flags: [
                    .bool("details", nil, "Show extra details provided to logs"),
                    .bool("follow", "f", "Follow log output"),
                    .string("since", nil, "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)"),
                    .string("tail", "n", "Number of lines to show from the end of the logs", default: "all"),
                    .bool("timestamps", "t", "Show timestamps"),
                    .string("until", nil, "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)"),
                ],
                args: .exact(1)) { inv in
            let f = inv.flags
            let client = try inv.client()
            let (_, ib) = try client.send(.GET, path(inv.args[0], "/json"))
            let tty = try JSON.parse(ib)["Config"]?["Tty"]?.boolValue ?? false
            var q: [(String, String)] = [("stdout", "1"), ("stderr", "1")]
            if f.bool("follow") { q.append(("follow", "1")) }
            if f.bool("timestamps") { q.append(("timestamps", "1")) }
            if f.bool("details") { q.append(("details", "1")) }
            if !f.string("since").isEmpty { q.append(("since", try timestampArg(f.string("since")))) }
            if !f.string("until").isEmpty { q.append(("until", try timestampArg(f.string("until")))) }
            q.append(("tail", f.string("tail")))
            let demux = DemuxBox()
            let ctx = inv.ctx
            try client.streamBytes(.GET, path(inv.args[0], "/logs"), query: q) { bytes in
                if tty {
                    ctx.out.write(bytes)
                    ctx.out.flush()
                    return
                }
                for (s, payload) in demux.feed(bytes) {
                    if s == .stderr { ctx.err.write(payload) } else { ctx.out.write(payload); ctx.out.flush() }
                }
            }
        }
    }

    /// `--since`/`--until`: RFC 3339 timestamps, unix seconds, or durations relative to now (`42m`).
    static func timestampArg(_ s: String) throws -> String {
        if Double(s) != nil { return s }
        if let d = parseGoDuration(s) {
            let t = Date().timeIntervalSince1970 - d
            return String(format: "%.9f", t)
        }
        let fmt = ISO8601DateFormatter()
        fmt.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = fmt.date(from: s) { return String(format: "%.9f", d.timeIntervalSince1970) }
        fmt.formatOptions = [.withInternetDateTime]
        if let d = fmt.date(from: s) { return String(Int64(d.timeIntervalSince1970)) }
        return s
    }

    /// Go's `time.ParseDuration` for the common units.
    static func parseGoDuration(_ s: String) -> Double? {
        var total = 0.0
        var rest = Substring(s)
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let num = rest.prefix { $0.isNumber || $0 == "." }
            guard !num.isEmpty, let v = Double(num) else { return nil }
            rest = rest.dropFirst(num.count)
            let unit = rest.prefix { !$0.isNumber && $0 != "." }
            rest = rest.dropFirst(unit.count)
            switch unit {
            case "ns": total += v / 1e9
            case "us", "µs": total += v / 1e6
            case "ms": total += v / 1e3
            case "s": total += v
            case "m": total += v * 60
            case "h": total += v * 3600
            default: return nil
            }
        }
        return total
    }

    static func start(bin: String) -> Command {
        Command("start [OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers",
                aliasLine: "\(bin) container start, \(bin) start",
                flags: [
                    .bool("attach", "a", "Attach STDOUT/STDERR and forward signals"),
                    .string("checkpoint", nil, "Restore from this checkpoint"),
                    .string("checkpoint-dir", nil, "Use a custom checkpoint storage directory"),
                    .string("detach-keys", nil, "Override the key sequence for detaching a container"),
                    .bool("interactive", "i", "Attach container's STDIN"),
                ],
                args: .min(1)) { inv in
            let f = inv.flags
            if f.isSet("checkpoint") || f.isSet("checkpoint-dir") { throw CLIError("checkpoints are not supported by berth") }
            let client = try inv.client()
            if f.bool("attach") || f.bool("interactive") {
                guard inv.args.count == 1 else { throw CLIError("you cannot start and attach multiple containers at once") }
                let id = inv.args[0]
                let (_, ib) = try client.send(.GET, path(id, "/json"))
                let info = try JSON.parse(ib)
                let tty = info["Config"]?["Tty"]?.boolValue ?? false
                let openStdin = (info["Config"]?["OpenStdin"]?.boolValue ?? false) && f.bool("interactive")
                let keys = f.optionalString("detach-keys") ?? ((try? inv.ctx.configFile())?.detachKeys ?? "")
                let keyBytes = (try? DetachKeys.parse(keys.isEmpty ? DetachKeys.defaultKeys : keys)) ?? []
                let conn = try client.attachContainer(id, stdin: openStdin, stdout: true, stderr: true, detachKeys: keys.isEmpty ? nil : keys)
                let streamer = HijackedStreamer(conn: conn, ctx: inv.ctx, tty: tty, stdin: openStdin, detachKeys: tty ? keyBytes : [])
                let waiter = client.waitContainer(id, condition: "next-exit")
                try client.send(.POST, path(id, "/start"))
                var mon: TTYSizeMonitor?
                if tty && inv.out.isTerminal { mon = TTYSizeMonitor(fd: 1) { h, w in client.resize("containers", id, height: h, width: w) } }
                defer { mon?.stop() }
                if try streamer.run() == .detached { return }
                let r = try waiter.result()
                if r.StatusCode != 0 { throw CLIError("", status: Int32(truncatingIfNeeded: r.StatusCode)) }
                return
            }
            var failed: [String] = []
            for name in inv.args {
                do {
                    try client.send(.POST, path(name, "/start"))
                    inv.out.writeLine(name)
                } catch let e as BerthError {
                    inv.err.writeLine(e.message)
                    failed.append(name)
                }
            }
            if !failed.isEmpty { throw CLIError("Error: failed to start containers: " + failed.joined(separator: ", ")) }
        }
    }

    static func prune() -> Command {
        Command("prune [OPTIONS]", "Remove all stopped containers",
                flags: [
                    .array("filter", nil, "Provide filter values (e.g. \"until=<timestamp>\")", type: "filter"),
                    .bool("force", "f", "Do not prompt for confirmation"),
                ],
                args: .none) { inv in
            if !inv.flags.bool("force") {
                guard ImageCommands.confirm(inv.ctx, "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?") else { return }
            }
            let filters = try inv.filters()
            let (_, body) = try inv.client().send(.POST, "/containers/prune", query: filters.isEmpty ? [] : [("filters", APIClient.encodeFilters(filters))])
            let report = try JSON.parse(body)
            let deleted = report["ContainersDeleted"]?.stringArray ?? []
            if !deleted.isEmpty {
                inv.out.writeLine("Deleted Containers:")
                for d in deleted { inv.out.writeLine(d) }
                inv.out.writeLine()
            }
            inv.out.writeLine("Total reclaimed space: " + HumanUnits.humanSize(report["SpaceReclaimed"]?.int64Value ?? 0))
        }
    }

    static func inspect(bin: String) -> Command {
        Command("inspect [OPTIONS] CONTAINER [CONTAINER...]", "Display detailed information on one or more containers",
                flags: [
                    .string("format", "f", ImageCommands.inspectFormatHelp),
                    .bool("size", "s", "Display total file sizes"),
                ],
                args: .min(1)) { inv in
            let client = try inv.client()
            let q: [(String, String)] = inv.flags.bool("size") ? [("size", "1")] : []
            try InspectOutput.run(ctx: inv.ctx, refs: inv.args, format: inv.flags.string("format")) { ref in
                try client.send(.GET, path(ref, "/json"), query: q).1
            }
        }
    }
}

/// A demultiplexer usable from `@Sendable` stream callbacks.
final class DemuxBox: @unchecked Sendable {
    var d = StdcopyDemuxer()
    let lock = NSLock()
    func feed(_ b: [UInt8]) -> [(StdcopyDemuxer.Stream, [UInt8])] {
        lock.lock()
        defer { lock.unlock() }
        return d.feed(b)
    }
}
