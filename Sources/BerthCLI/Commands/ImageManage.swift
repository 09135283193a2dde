import APIClient
import Foundation
import OCI

/// `rmi`, `tag`, `history`, `image prune`.
extension ImageCommands {
    // MARK: rmi / image rm

    static func removeCommand(use: String, bin: String) -> Command {
        Command(use, "Remove one or more images", aliasLine: "\(bin) image rm, \(bin) image remove, \(bin) rmi",
                flags: [
                    .bool("force", "f", "Force removal of the image"),
                    .bool("no-prune", nil, "Do not delete untagged parents"),
                    FlagSpec("platform", .slice, usage: "Remove only the given platform variant. Formatted as \"os[/arch[/variant]]\" (e.g., \"linux/amd64\")"),
                ],
                args: .min(1), run: runRemove)
    }

    static func runRemove(_ inv: Invocation) throws {
        let client = try inv.client()
        let force = inv.flags.bool("force")
        var query: [(String, String)] = []
        if force { query.append(("force", "1")) }
        if inv.flags.bool("no-prune") { query.append(("noprune", "1")) }
        for p in inv.flags.strings("platform") {
            query.append(("platforms", try platformJSON(p)))
        }
        var errors: [String] = []
        var fatal = false
        for name in inv.args {
            do {
                let (_, body) = try client.send(.DELETE, "/images/" + APIClient.pathEscape(name), query: query)
                for item in try JSON.parse(body).arrayValue {
                    if let d = item["Deleted"]?.stringValue, !d.isEmpty {
                        inv.out.writeLine("Deleted: " + d)
                    } else {
                        inv.out.writeLine("Untagged: " + (item["Untagged"]?.stringValue ?? ""))
                    }
                }
            } catch let e as BerthError {
                if e.code != .notFound { fatal = true }
                errors.append(e.message)
            }
        }
        guard !errors.isEmpty else { return }
        let msg = errors.joined(separator: "\n")
        if !force || fatal { throw CLIError(msg) }
        inv.err.writeLine(msg)
    }

    /// `--platform os/arch[/variant]` as the API's JSON OCI platform.
    static func platformJSON(_ s: String) throws -> String {
        let parts = s.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...3).contains(parts.count), !parts.contains(where: \.isEmpty) else {
            throw CLIError("invalid platform: \(s)")
        }
        var m = TemplateMap()
        m["architecture"] = .string(parts.count > 1 ? parts[1] : "")
        m["os"] = .string(parts[0])
        if parts.count > 2 { m["variant"] = .string(parts[2]) }
        return JSON.encode(.map(m), escapeHTML: true)
    }

    // MARK: tag

    static func tagCommand(bin: String) -> Command {
        Command("tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
                aliasLine: "\(bin) image tag, \(bin) tag", args: .exact(2), run: runTag)
    }

    static func runTag(_ inv: Invocation) throws {
        let source = inv.args[0], target = inv.args[1]
        if !Reference.isImageID(source) {
            do { _ = try Reference.parse(source) } catch let e as BerthError {
                throw CLIError("Error parsing reference: \"\(source)\" is not a valid repository/tag: \(e.message)")
            }
        }
        let ref: Reference
        do { ref = try Reference.parse(target) } catch let e as BerthError {
            throw CLIError("Error parsing reference: \"\(target)\" is not a valid repository/tag: \(e.message)")
        }
        if ref.digest != nil { throw CLIError("refusing to create a tag with a digest reference") }
        let tagged = ref.withDefaultTag()
        var query = [("repo", tagged.name)]
        if let t = tagged.tag { query.append(("tag", t)) }
        try inv.client().send(.POST, "/images/" + APIClient.pathEscape(source) + "/tag", query: query)
    }

    // MARK: history

    static func historyCommand(use: String, bin: String) -> Command {
        Command(use, "Show the history of an image", aliasLine: "\(bin) image history, \(bin) history",
                flags: [
                    .string("format", nil, formatHelp),
                    .bool("human", "H", "Print sizes and dates in human readable format", default: true),
                    .bool("no-trunc", nil, "Don't truncate output"),
                    .string("platform", nil, "Show history for the given platform. Formatted as \"os[/arch[/variant]]\" (e.g., \"linux/amd64\")"),
                    .bool("quiet", "q", "Only show image IDs"),
                ],
                args: .exact(1), run: runHistory)
    }

    static let historyHeaders = ["ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                                 "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"]

    static func runHistory(_ inv: Invocation) throws {
        let f = inv.flags
        var query: [(String, String)] = []
        if let p = f.optionalString("platform"), !p.isEmpty { query.append(("platform", try platformJSON(p))) }
        let (_, body) = try inv.client().send(.GET, "/images/" + APIClient.pathEscape(inv.args[0]) + "/history", query: query)
        let items = try JSON.parse(body).arrayValue
        let human = f.bool("human"), trunc = !f.bool("no-trunc")
        var format = f.string("format")
        if format.isEmpty { format = "table" }
        if format == "table" {
            if f.bool("quiet") {
                format = "{{.ID}}"
            } else if !human {
                format = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
            } else {
                format = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
            }
        }
        let now = HumanUnits.now()
        let rows: [TemplateValue] = items.map { h in
            let id = h["Id"]?.stringValue ?? ""
            let created = h["Created"]?.int64Value ?? 0
            let createdBy = h["CreatedBy"]?.stringValue ?? ""
            let size = h["Size"]?.int64Value ?? 0
            let comment = h["Comment"]?.stringValue ?? ""
            return .object(FieldsObject(typeName: "*image.historyContext",
                                        names: ["Comment", "CreatedAt", "CreatedBy", "CreatedSince", "ID", "Size"]) { name in
                switch name {
                case "ID": return .string(trunc ? truncateID(id) : id)
                case "CreatedAt": return .string(HumanUnits.rfc3339(unix: created))
                case "CreatedSince":
                    return .string(human ? HumanUnits.since(unix: created, now: now) : HumanUnits.rfc3339(unix: created))
                case "CreatedBy":
                    let s = createdBy.replacingOccurrences(of: "\t", with: " ")
                    return .string(trunc ? ellipsis(s, 45) : s)
                case "Size": return .string(human ? HumanUnits.humanSize(size, precision: 3) : String(size))
                case "Comment": return .string(comment)
                default: return nil
                }
            })
        }
        inv.out.write(try ListFormatter(format: format, headers: historyHeaders).render(rows))
    }

    /// Docker's `formatter.Ellipsis` (display-width aware).
    static func ellipsis(_ s: String, _ maxWidth: Int) -> String {
        if maxWidth <= 0 { return "" }
        let scalars = Array(s.unicodeScalars)
        if maxWidth == 1 { return scalars.first.map { String($0) } ?? "" }
        if s.utf8.count == scalars.count {
            if scalars.count <= maxWidth { return s }
            var out = String.UnicodeScalarView()
            out.append(contentsOf: scalars[..<(maxWidth - 1)])
            return String(out) + "…"
        }
        var display: [Int] = []
        var w = 0
        for sc in scalars {
            w += TabWriter.scalarWidth(sc)
            display.append(w)
        }
        if w <= maxWidth { return s }
        for i in 0..<(display.count - 1) where display[i] <= maxWidth - 1 && display[i + 1] > maxWidth - 1 {
            var out = String.UnicodeScalarView()
            out.append(contentsOf: scalars[...i])
            return String(out) + "…"
        }
        return s
    }

    // MARK: image prune

    static func pruneCommand() -> Command {
        Command("prune [OPTIONS]", "Remove unused images",
                flags: [
                    .bool("all", "a", "Remove all unused images, not just dangling ones"),
                    .array("filter", nil, "Provide filter values (e.g. \"until=<timestamp>\")", type: "filter"),
                    .bool("force", "f", "Do not prompt for confirmation"),
                ],
                args: .none, run: runPrune)
    }

    static func runPrune(_ inv: Invocation) throws {
        var filters = try inv.filters()
        let all = inv.flags.bool("all")
        filters["dangling", default: []].append(all ? "false" : "true")
        let warning = all
            ? "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
            : "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
        if !inv.flags.bool("force") {
            guard confirm(inv.ctx, warning) else { return }
        }
        let (_, body) = try inv.client().send(.POST, "/images/prune", query: [("filters", APIClient.encodeFilters(filters))])
        let report = try JSON.parse(body)
        let deleted = report["ImagesDeleted"]?.arrayValue ?? []
        if !deleted.isEmpty {
            var s = "Deleted Images:\n"
            for d in deleted {
                if let u = d["Untagged"]?.stringValue, !u.isEmpty { s += "untagged: \(u)\n" } else { s += "deleted: \(d["Deleted"]?.stringValue ?? "")\n" }
            }
            inv.out.writeLine(s)
        }
        inv.out.writeLine("Total reclaimed space: " + HumanUnits.humanSize(report["SpaceReclaimed"]?.int64Value ?? 0))
    }

    /// Docker's `PromptForConfirmation`: `message [y/N] ` on stdout, true only for `y`/`Y`.
    static func confirm(_ ctx: CLIContext, _ message: String) -> Bool {
        ctx.out.write(message + " [y/N] ")
        ctx.out.flush()
        guard let line = ctx.stdin.readLine() else { return false }
        return line.trimmingCharacters(in: .whitespaces).lowercased() == "y"
    }
}
