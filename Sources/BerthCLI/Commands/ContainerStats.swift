import APIClient
import Foundation
import OCI

/// `berth stats` (docker's `formatter.StatsEntry` computations over `GET /containers/{id}/stats`).
enum ContainerStatsCommand {
    static func make(bin: String) -> Command {
        Command("stats [OPTIONS] [CONTAINER...]", "Display a live stream of container(s) resource usage statistics",
                aliasLine: "\(bin) container stats, \(bin) stats",
                flags: [
                    .bool("all", "a", "Show all containers (default shows just running)"),
                    .string("format", nil, ImageCommands.formatHelp),
                    .bool("no-stream", nil, "Disable streaming stats and only pull the first result"),
                    .bool("no-trunc", nil, "Do not truncate output"),
                ],
                args: .any, run: run)
    }

    static let headers: [String: String] = [
        "ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
        "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    ]
    static let defaultFormat = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

    /// One computed row.
    struct Entry {
        var container = "", id = "", name = ""
        var cpu = 0.0, mem = 0.0, memLimit = 0.0, memPerc = 0.0
        var netRx = 0.0, netTx = 0.0, blkRead = 0.0, blkWrite = 0.0
        var pids: Int64 = 0
    }

    static func entry(_ s: TemplateValue, container: String) -> Entry {
        var e = Entry()
        e.container = container
        e.id = s["id"]?.stringValue ?? ""
        e.name = (s["name"]?.stringValue ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        let cpu = s["cpu_stats"], pre = s["precpu_stats"]
        let cpuDelta = Double(cpu?["cpu_usage"]?["total_usage"]?.int64Value ?? 0) - Double(pre?["cpu_usage"]?["total_usage"]?.int64Value ?? 0)
        let sysDelta = Double(cpu?["system_cpu_usage"]?.int64Value ?? 0) - Double(pre?["system_cpu_usage"]?.int64Value ?? 0)
        var online = Double(cpu?["online_cpus"]?.int64Value ?? 0)
        if online == 0 { online = Double(cpu?["cpu_usage"]?["percpu_usage"]?.arrayValue.count ?? 0) }
        if sysDelta > 0 && cpuDelta > 0 { e.cpu = cpuDelta / sysDelta * online * 100 }
        let ms = s["memory_stats"]
        var usage = Double(ms?["usage"]?.int64Value ?? 0)
        let stats = ms?["stats"]
        if let v = stats?["total_inactive_file"]?.int64Value, Double(v) < usage { usage -= Double(v) } else if let v = stats?["inactive_file"]?.int64Value, Double(v) < usage { usage -= Double(v) }
        e.mem = usage
        e.memLimit = Double(ms?["limit"]?.int64Value ?? 0)
        if e.memLimit != 0 { e.memPerc = usage / e.memLimit * 100 }
        for (_, n) in s["networks"]?.mapValue?.pairs ?? [] {
            e.netRx += Double(n["rx_bytes"]?.int64Value ?? 0)
            e.netTx += Double(n["tx_bytes"]?.int64Value ?? 0)
        }
        for b in s["blkio_stats"]?["io_service_bytes_recursive"]?.arrayValue ?? [] {
            let v = Double(b["value"]?.int64Value ?? 0)
            switch (b["op"]?.stringValue ?? "").lowercased() {
            case "read": e.blkRead += v
            case "write": e.blkWrite += v
            default: break
            }
        }
        e.pids = s["pids_stats"]?["current"]?.int64Value ?? 0
        return e
    }

    static func row(_ e: Entry, trunc: Bool) -> TemplateValue {
        .object(FieldsObject(typeName: "*formatter.statsContext",
                             names: ["BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage", "Name", "NetIO", "PIDs"]) { n in
            switch n {
            case "Container": return .string(e.container)
            case "ID": return .string(trunc ? truncateID(e.id) : e.id)
            case "Name": return .string(e.name.isEmpty ? "--" : e.name)
            case "CPUPerc": return .string(String(format: "%.2f%%", e.cpu))
            case "MemUsage": return .string(HumanUnits.bytesSize(e.mem) + " / " + HumanUnits.bytesSize(e.memLimit))
            case "MemPerc": return .string(String(format: "%.2f%%", e.memPerc))
            case "NetIO": return .string(HumanUnits.humanSize(e.netRx, precision: 3) + " / " + HumanUnits.humanSize(e.netTx, precision: 3))
            case "BlockIO": return .string(HumanUnits.humanSize(e.blkRead, precision: 3) + " / " + HumanUnits.humanSize(e.blkWrite, precision: 3))
            case "PIDs": return .string(String(e.pids))
            default: return nil
            }
        })
    }

    static func run(_ inv: Invocation) throws {
        let f = inv.flags
        let client = try inv.client()
        var names = inv.args
        if names.isEmpty {
            let (_, body) = try client.send(.GET, "/containers/json", query: f.bool("all") ? [("all", "1")] : [])
            names = try JSON.parse(body).arrayValue.compactMap { $0["Id"]?.stringValue }
        }
        var format = f.string("format")
        if format.isEmpty { format = (try? inv.ctx.configFile())?.string("statsFormat") ?? "" }
        if format.isEmpty || format == "table" { format = defaultFormat }
        let trunc = !f.bool("no-trunc")
        while true {
            // All containers at once: each answer takes a sampling interval.
            let results = ResultsBox(count: names.count)
            let names = names
            DispatchQueue.concurrentPerform(iterations: names.count) { i in
                do {
                    let (_, body) = try client.send(.GET, "/containers/" + APIClient.pathEscape(names[i]) + "/stats", query: [("stream", "0")])
                    results.set(i, .success(entry(try JSON.parse(body), container: names[i])))
                } catch {
                    results.set(i, .failure(error))
                }
            }
            var rows: [TemplateValue] = []
            var errors: [String] = []
            for r in results.items {
                switch r {
                case .success(let e)?: rows.append(row(e, trunc: trunc))
                case .failure(let e as BerthError)?: errors.append(e.message)
                case .failure(let e)?: errors.append("\(e)")
                case nil: break
                }
            }
            if !errors.isEmpty && !inv.args.isEmpty { throw CLIError(errors.joined(separator: "\n")) }
            let text = try ListFormatter(format: format, headers: headers).render(rows)
            if f.bool("no-stream") {
                inv.out.write(text)
                return
            }
            inv.out.write("\u{1b}[2J\u{1b}[H" + text)
            inv.out.flush()
            Thread.sleep(forTimeInterval: 1)
        }
    }
}

final class ResultsBox: @unchecked Sendable {
    let lock = NSLock()
    var items: [Result<ContainerStatsCommand.Entry, any Error>?]
    init(count: Int) { items = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<ContainerStatsCommand.Entry, any Error>) {
        lock.lock()
        items[i] = r
        lock.unlock()
    }
}
