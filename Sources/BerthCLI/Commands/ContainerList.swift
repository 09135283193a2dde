import APIClient
import Foundation
import OCI

/// `berth ps` / `berth container ls`.
enum ContainerListCommand {
    static func make(bin: String, use: String, category: Command.Category) -> Command {
        Command(use, "List containers", aliasLine: "\(bin) container ls, \(bin) container list, \(bin) container ps, \(bin) ps",
                flags: [
                    .bool("all", "a", "Show all containers (default shows just running)"),
                    .array("filter", "f", "Filter output based on conditions provided", type: "filter"),
                    .string("format", nil, "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates"),
                    FlagSpec("last", short: "n", .int, usage: "Show n last created containers (includes all states)", defaultValue: "-1"),
                    .bool("latest", "l", "Show the latest created container (includes all states)"),
                    .bool("no-trunc", nil, "Don't truncate output"),
                    .bool("quiet", "q", "Only display container IDs"),
                    .bool("size", "s", "Display total file sizes"),
                ],
                args: .none, category: category, run: run)
    }

    static let defaultFormat = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

    /// Docker's `NewContainerFormat`.
    static func containerFormat(_ source: String, quiet: Bool, size: Bool) -> String {
        switch source {
        case "table":
            if quiet { return "{{.ID}}" }
            return defaultFormat + (size ? "\t{{.Size}}" : "")
        case "raw":
            if quiet { return "container_id: {{.ID}}" }
            var f = "container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\ncreated_at: {{.CreatedAt}}\nstate: {{- pad .State 1 0}}\nstatus: {{- pad .Status 1 0}}\nnames: {{.Names}}\nlabels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n"
            if size { f += "size: {{.Size}}\n" }
            return f
        default:
            return source
        }
    }

    /// The list query from flags (docker's `buildContainerListOptions`).
    static func query(all: Bool, last: Int, latest: Bool, size: Bool, filters: [String: [String]]) -> [(String, String)] {
        var q: [(String, String)] = []
        var all = all, limit = last
        if latest { limit = 1 }
        if limit != -1 { all = true }
        if all { q.append(("all", "1")) }
        if limit > 0 { q.append(("limit", String(limit))) }
        if size { q.append(("size", "1")) }
        if !filters.isEmpty { q.append(("filters", APIClient.encodeFilters(filters))) }
        return q
    }

    static func run(_ inv: Invocation) throws {
        let f = inv.flags
        let quiet = f.bool("quiet")
        var format = f.string("format")
        if format.isEmpty {
            if !quiet, let cf = try? inv.ctx.configFile(), let pf = cf.psFormat, !pf.isEmpty { format = pf } else { format = "table" }
        }
        // Sizes are fetched when asked for or when the template uses them.
        var size = f.bool("size")
        if !size && format != "table" && format != "raw" && format.contains(".Size") { size = true }
        if quiet && !f.isSet("size") { size = false }
        let filters = try inv.filters()
        let q = query(all: f.bool("all"), last: f.int("last"), latest: f.bool("latest"), size: size, filters: filters)
        let client = try inv.client()
        let (_, body) = try client.send(.GET, "/containers/json", query: q)
        let containers = try JSON.parse(body).arrayValue
        let fmt = containerFormat(format, quiet: quiet, size: size)
        let now = HumanUnits.now()
        let trunc = !f.bool("no-trunc")
        let rows = containers.map { ContainerContext.row($0, trunc: trunc, now: now) }
        inv.out.write(try ListFormatter(format: fmt, headers: ContainerContext.headers).render(rows))
    }
}
