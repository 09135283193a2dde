import APIClient
import Foundation
import OCI

/// `berth images` / `berth image …`: list, inspect, rm, tag, history, prune, pull.
enum ImageCommands {
    static let formatHelp = "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates"
    static let inspectFormatHelp = "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates"

    static func register(on root: Command) {
        let bin = root.name
        // Top-level forms.
        root.add(listCommand(use: "images [OPTIONS] [REPOSITORY[:TAG]]", bin: bin, category: .common))
        root.add(PullCommand.make(bin: bin, category: .common))
        root.add(removeCommand(use: "rmi [OPTIONS] IMAGE [IMAGE...]", bin: bin))
        root.add(tagCommand(bin: bin))
        root.add(historyCommand(use: "history [OPTIONS] IMAGE", bin: bin))
        root.add(InspectCommands.generic(bin: bin))

        let image = Command("image", "Manage images", category: .management)
        let ls = listCommand(use: "ls [OPTIONS] [REPOSITORY[:TAG]]", bin: bin, category: .other)
        ls.aliases = ["list"]
        let rm = removeCommand(use: "rm [OPTIONS] IMAGE [IMAGE...]", bin: bin)
        rm.aliases = ["rmi", "remove"]
        image.add(historyCommand(use: "history [OPTIONS] IMAGE", bin: bin), InspectCommands.image(bin: bin), ls,
                  pruneCommand(), PullCommand.make(bin: bin, category: .other), rm, tagCommand(bin: bin))
        root.add(image)
    }

    // MARK: images / image ls

    static func listCommand(use: String, bin: String, category: Command.Category) -> Command {
        Command(use, "List images", aliasLine: "\(bin) image ls, \(bin) image list, \(bin) images",
                flags: [
                    .bool("all", "a", "Show all images (default hides intermediate images)"),
                    .bool("digests", nil, "Show digests"),
                    .array("filter", "f", "Filter output based on conditions provided", type: "filter"),
                    .string("format", nil, formatHelp),
                    .bool("no-trunc", nil, "Don't truncate output"),
                    .bool("quiet", "q", "Only show image IDs"),
                    .bool("tree", nil, "List multi-platform images as a tree (EXPERIMENTAL)"),
                ],
                args: .max(1), category: category, run: runList)
    }

    static let imageHeaders: [String: String] = [
        "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "CreatedSince": "CREATED",
        "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS", "VirtualSize": "SIZE",
        "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
    ]

    static let defaultTableFormat = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
    static let defaultTableFormatWithDigest = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"

    /// Docker's `NewImageFormat`.
    static func imageFormat(_ source: String, quiet: Bool, digest: Bool) -> String {
        switch source {
        case "table":
            if quiet { return "{{.ID}}" }
            return digest ? defaultTableFormatWithDigest : defaultTableFormat
        case "raw":
            if quiet { return "image_id: {{.ID}}" }
            if digest {
                return "repository: {{ .Repository }}\ntag: {{.Tag}}\ndigest: {{.Digest}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n"
            }
            return "repository: {{ .Repository }}\ntag: {{.Tag}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n"
        default:
            var f = source
            if f.hasPrefix("table") && digest && !f.contains("{{.Digest}}") { f += "\t{{.Digest}}" }
            return f
        }
    }

    /// The fields of `GET /images/json` the CLI uses.
    struct Summary {
        var id: String
        var repoTags: [String]
        var repoDigests: [String]
        var created: Int64
        var size: Int64
        var sharedSize: Int64
        var containers: Int64

        init(_ v: TemplateValue) {
            id = v["Id"]?.stringValue ?? ""
            repoTags = v["RepoTags"]?.stringArray ?? []
            repoDigests = v["RepoDigests"]?.stringArray ?? []
            created = v["Created"]?.int64Value ?? 0
            size = v["Size"]?.int64Value ?? 0
            sharedSize = v["SharedSize"]?.int64Value ?? -1
            containers = v["Containers"]?.int64Value ?? -1
        }

        var isDangling: Bool {
            if repoTags.isEmpty && repoDigests.isEmpty { return true }
            return repoTags == ["<none>:<none>"] && repoDigests == ["<none>@<none>"]
        }
    }

    /// One row: docker's `imageContext`.
    static func imageRow(_ img: Summary, repo: String, tag: String, digest: String, trunc: Bool, now: Double) -> TemplateValue {
        .object(FieldsObject(typeName: "*formatter.imageContext",
                             names: ["Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository", "SharedSize", "Size", "Tag", "UniqueSize", "VirtualSize"]) { name in
            switch name {
            case "ID": return .string(trunc ? truncateID(img.id) : img.id)
            case "Repository": return .string(repo)
            case "Tag": return .string(tag)
            case "Digest": return .string(digest)
            case "CreatedSince": return .string(HumanUnits.since(unix: img.created, now: now))
            case "CreatedAt": return .string(HumanUnits.goTimeString(unix: img.created))
            case "Size": return .string(HumanUnits.humanSize(img.size, precision: 3))
            case "VirtualSize": return .string(HumanUnits.humanSize(img.size))
            case "SharedSize": return .string(img.sharedSize == -1 ? "N/A" : HumanUnits.humanSize(img.sharedSize))
            case "UniqueSize":
                return .string(img.size == -1 || img.sharedSize == -1 ? "N/A" : HumanUnits.humanSize(img.size - img.sharedSize))
            case "Containers": return .string(img.containers == -1 ? "N/A" : String(img.containers))
            default: return nil
            }
        })
    }

    /// Docker's `imageFormat` / `imageFormatTaggedAndDigest`: one row per repository:tag (and digest).
    static func rows(_ images: [Summary], trunc: Bool, showDigests: Bool, needDigest: Bool, now: Double) -> [TemplateValue] {
        var rows: [TemplateValue] = []
        for img in images {
            if img.isDangling {
                rows.append(imageRow(img, repo: "<none>", tag: "<none>", digest: "<none>", trunc: trunc, now: now))
                continue
            }
            var repoOrder: [String] = []
            var repoTags: [String: [String]] = [:]
            var digestOrder: [String] = []
            var repoDigests: [String: [String]] = [:]
            for s in img.repoTags {
                guard let ref = try? Reference.parse(s), let tag = ref.tag else { continue }
                let name = ref.familiarName
                if repoTags[name] == nil { repoOrder.append(name) }
                repoTags[name, default: []].append(tag)
            }
            for s in img.repoDigests {
                guard let ref = try? Reference.parse(s), let d = ref.digest else { continue }
                let name = ref.familiarName
                if repoDigests[name] == nil { digestOrder.append(name) }
                repoDigests[name, default: []].append(d.description)
            }
            for repo in repoOrder {
                var digests = repoDigests.removeValue(forKey: repo) ?? []
                if !needDigest { digests = [] }
                for tag in repoTags[repo]! {
                    if digests.isEmpty {
                        rows.append(imageRow(img, repo: repo, tag: tag, digest: "<none>", trunc: trunc, now: now))
                    } else {
                        for d in digests { rows.append(imageRow(img, repo: repo, tag: tag, digest: d, trunc: trunc, now: now)) }
                    }
                }
            }
            for repo in digestOrder {
                guard let digests = repoDigests[repo] else { continue }
                if showDigests {
                    for d in digests { rows.append(imageRow(img, repo: repo, tag: "<none>", digest: d, trunc: trunc, now: now)) }
                } else {
                    rows.append(imageRow(img, repo: repo, tag: "<none>", digest: "", trunc: trunc, now: now))
                }
            }
        }
        return rows
    }

    static func runList(_ inv: Invocation) throws {
        let f = inv.flags
        let quiet = f.bool("quiet"), digests = f.bool("digests")
        if f.bool("tree") {
            throw CLIError("--tree is not supported by berth yet")
        }
        var filters = try inv.filters()
        if let ref = inv.args.first { filters["reference", default: []].append(ref) }
        var query: [(String, String)] = []
        if f.bool("all") { query.append(("all", "1")) }
        if !filters.isEmpty { query.append(("filters", APIClient.encodeFilters(filters))) }
        let client = try inv.client()
        let (_, body) = try client.send(.GET, "/images/json", query: query)
        let images = try JSON.parse(body).arrayValue.map(Summary.init)

        var format = f.string("format")
        if format.isEmpty {
            if let cf = try? inv.ctx.configFile(), let fmt = cf.imagesFormat, !quiet { format = fmt } else { format = "table" }
        }
        let fmt = imageFormat(format, quiet: quiet, digest: digests)
        let needDigest = digests || fmt.contains("{{.Digest}}")
        let rows = rows(images, trunc: !f.bool("no-trunc"), showDigests: digests, needDigest: needDigest, now: HumanUnits.now())
        inv.out.write(try ListFormatter(format: fmt, headers: imageHeaders).render(rows))
    }
}
