import APIClient
import APIModels
import Foundation
import OCI

/// `update`, `diff`, `commit`, `port` (`cp` and `export` have files of their own).
enum ContainerExtraCommands {
    static func path(_ id: String, _ suffix: String = "") -> String { ContainerManageCommands.path(id, suffix) }

    static func update(bin: String) -> Command {
        Command("update [OPTIONS] CONTAINER [CONTAINER...]", "Update configuration of one or more containers",
                aliasLine: "\(bin) container update, \(bin) update",
                flags: [
                    FlagSpec("blkio-weight", .int, usage: "Block IO (relative weight), between 10 and 1000, or 0 to disable", typeName: "uint16", defaultValue: "0"),
                    FlagSpec("cpu-period", .int, usage: "Limit CPU CFS (Completely Fair Scheduler) period"),
                    FlagSpec("cpu-quota", .int, usage: "Limit CPU CFS (Completely Fair Scheduler) quota"),
                    FlagSpec("cpu-rt-period", .int, usage: "Limit the CPU real-time period in microseconds"),
                    FlagSpec("cpu-rt-runtime", .int, usage: "Limit the CPU real-time runtime in microseconds"),
                    FlagSpec("cpu-shares", short: "c", .int, usage: "CPU shares (relative weight)"),
                    .string("cpus", nil, "Number of CPUs", type: "decimal"),
                    .string("cpuset-cpus", nil, "CPUs in which to allow execution (0-3, 0,1)"),
                    .string("cpuset-mems", nil, "MEMs in which to allow execution (0-3, 0,1)"),
                    .string("memory", "m", "Memory limit", type: "bytes"),
                    .string("memory-reservation", nil, "Memory soft limit", type: "bytes"),
                    .string("memory-swap", nil, "Swap limit equal to memory plus swap: -1 to enable unlimited swap", type: "bytes"),
                    FlagSpec("pids-limit", .int, usage: "Tune container pids limit (set -1 for unlimited)"),
                    .string("restart", nil, "Restart policy to apply when a container exits"),
                ],
                args: .min(1)) { inv in
            let f = inv.flags
            var body: [String: Any] = [:]
            func bytes(_ flag: String) throws -> Int64? {
                guard f.isSet(flag) else { return nil }
                let v = f.string(flag)
                if flag == "memory-swap" && v == "-1" { return -1 }
                guard let b = ContainerOptions.ramInBytes(v) else { throw inv.flagValueError(flag, v, "invalid size: '\(v)'") }
                return b
            }
            if let m = try bytes("memory") { body["Memory"] = m }
            if let m = try bytes("memory-reservation") { body["MemoryReservation"] = m }
            if let m = try bytes("memory-swap") { body["MemorySwap"] = m }
            if f.isSet("cpus") {
                do { body["NanoCpus"] = try ContainerOptions.nanoCPUs(f.string("cpus")) } catch let e as ContainerOptions.ValueError {
                    throw inv.flagValueError(e.flag, e.value, e.reason)
                }
            }
            if f.isSet("cpu-shares") { body["CpuShares"] = f.int("cpu-shares") }
            if f.isSet("cpu-period") { body["CpuPeriod"] = f.int("cpu-period") }
            if f.isSet("blkio-weight") { body["BlkioWeight"] = f.int("blkio-weight") }
            if f.isSet("cpu-rt-period") { body["CpuRealtimePeriod"] = f.int("cpu-rt-period") }
            if f.isSet("cpu-rt-runtime") { body["CpuRealtimeRuntime"] = f.int("cpu-rt-runtime") }
            if f.isSet("cpu-quota") { body["CpuQuota"] = f.int("cpu-quota") }
            if f.isSet("cpuset-cpus") { body["CpusetCpus"] = f.string("cpuset-cpus") }
            if f.isSet("cpuset-mems") { body["CpusetMems"] = f.string("cpuset-mems") }
            if f.isSet("pids-limit") { body["PidsLimit"] = f.int("pids-limit") }
            if f.isSet("restart") {
                let p: RestartPolicy?
                do { p = try ContainerOptions.parseRestart(f.string("restart")) } catch let e as ContainerOptions.ParseError { throw CLIError(e.message) }
                if let p { body["RestartPolicy"] = ["Name": p.Name ?? "", "MaximumRetryCount": p.MaximumRetryCount ?? 0] }
            }
            if body.isEmpty { throw CLIError("you must provide one or more flags when using this command") }
            let data = Array(try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]))
            try ContainerManageCommands.forEach(inv) { c, id in
                let (_, resp) = try c.send(.POST, path(id, "/update"), body: data)
                for w in (try? JSON.parse(resp))?["Warnings"]?.stringArray ?? [] { inv.err.writeLine(w) }
            }
        }
    }

    static func diff(bin: String) -> Command {
        Command("diff CONTAINER", "Inspect changes to files or directories on a container's filesystem",
                aliasLine: "\(bin) container diff, \(bin) diff", args: .exact(1)) { inv in
            for ch in try inv.client().containerChanges(inv.args[0]) {
                inv.out.writeLine((ch.Kind == 1 ? "A" : ch.Kind == 2 ? "D" : "C") + " " + ch.Path)
            }
        }
    }

    static func commit(bin: String) -> Command {
        Command("commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]", "Create a new image from a container's changes",
                aliasLine: "\(bin) container commit, \(bin) commit",
                flags: [
                    .string("author", "a", "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")"),
                    .array("change", "c", "Apply Dockerfile instruction to the created image", type: "list"),
                    .string("message", "m", "Commit message"),
                    .bool("pause", "p", "Pause container during commit", default: true),
                ],
                args: .range(1, 2)) { inv in
            let f = inv.flags
            var repo: String?, tag: String?
            if inv.args.count == 2 {
                let ref = try parseReference(inv.args[1])
                if ref.digest != nil { throw CLIError("refusing to create a tag with a digest reference") }
                repo = ref.name
                tag = ref.tag
            }
            let id = try inv.client().commitContainer(inv.args[0], repo: repo, tag: tag, comment: f.string("message"),
                                                      author: f.string("author"), changes: f.strings("change"), pause: f.bool("pause"))
            inv.out.writeLine(id)
        }
    }

    static func port(bin: String) -> Command {
        Command("port CONTAINER [PRIVATE_PORT[/PROTO]]", "List port mappings or a specific mapping for the container",
                aliasLine: "\(bin) container port, \(bin) port", args: .range(1, 2)) { inv in
            let (_, body) = try inv.client().send(.GET, path(inv.args[0], "/json"))
            let ports = try JSON.parse(body)["NetworkSettings"]?["Ports"]?.mapValue
            func hostPort(_ b: TemplateValue) -> String {
                let ip = b["HostIp"]?.stringValue ?? "", hp = b["HostPort"]?.stringValue ?? ""
                return ip.contains(":") ? "[\(ip)]:\(hp)" : "\(ip):\(hp)"
            }
            if inv.args.count == 2 {
                var spec = inv.args[1], proto = "tcp"
                if let i = spec.lastIndex(of: "/") { proto = String(spec[spec.index(after: i)...]); spec = String(spec[..<i]) }
                guard let n = Int(spec) else { throw CLIError("Error: invalid port (\(spec)): strconv.ParseUint: parsing \(GoFormat.quote(spec)): invalid syntax") }
                let key = "\(n)/\(proto)"
                let bindings = ports?[key]?.arrayValue ?? []
                if bindings.isEmpty { throw CLIError("Error: No public port '\(inv.args[1])' published for \(inv.args[0])") }
                for b in bindings { inv.out.writeLine(hostPort(b)) }
                return
            }
            var lines: [(Int, String, String)] = []
            for (key, v) in ports?.pairs ?? [] {
                let parts = key.split(separator: "/")
                let n = Int(parts.first ?? "") ?? 0, proto = parts.count > 1 ? String(parts[1]) : "tcp"
                for b in v.arrayValue { lines.append((n, proto, "\(key) -> \(hostPort(b))")) }
            }
            lines.sort { ($0.0, $0.1) < ($1.0, $1.1) }
            for l in lines { inv.out.writeLine(l.2) }
        }
    }
}
