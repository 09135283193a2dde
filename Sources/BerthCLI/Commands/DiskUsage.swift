import APIClient

/// `berth system df [-v] [--format]`.
enum DiskUsageCommand {
    static func make(bin: String) -> Command {
        Command("df [OPTIONS]", "Show \(bin) disk usage",
                flags: [
                    .string("format", nil, ImageCommands.formatHelp),
                    .bool("verbose", "v", "Show detailed information on space usage"),
                ],
                args: .none, run: run)
    }

    static let summaryHeaders = ["Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"]

    static func summaryRow(type: String, total: Int, active: Int, size: String, reclaimable: String) -> TemplateValue {
        .object(FieldsObject(typeName: "*formatter.diskUsageContext", names: ["Active", "Reclaimable", "Size", "TotalCount", "Type"]) { n in
            switch n {
            case "Type": return .string(type)
            case "TotalCount": return .string(String(total))
            case "Active": return .string(String(active))
            case "Size": return .string(size)
            case "Reclaimable": return .string(reclaimable)
            default: return nil
            }
        })
    }

    static func withPercent(_ reclaimable: Int64, of total: Int64) -> String {
        let r = HumanUnits.humanSize(reclaimable)
        return total > 0 ? "\(r) (\(reclaimable * 100 / total)%)" : r
    }

    static func isActive(_ c: TemplateValue) -> Bool {
        let s = c["State"]?.stringValue ?? ""
        return s.contains("running") || s.contains("paused") || s.contains("restarting")
    }

    static func run(_ inv: Invocation) throws {
        let (_, body) = try inv.client().send(.GET, "/system/df")
        let du = try JSON.parse(body)
        let images = du["Images"]?.arrayValue ?? []
        let containers = du["Containers"]?.arrayValue ?? []
        let volumes = du["Volumes"]?.arrayValue ?? []
        let cache = du["BuildCache"]?.arrayValue ?? []
        var format = inv.flags.string("format")
        let verbose = inv.flags.bool("verbose")
        if format.isEmpty { format = "table" }

        if verbose {
            try writeVerbose(inv, format: format, images: images, containers: containers, volumes: volumes, cache: cache)
            return
        }
        if format == "table" { format = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}" }

        // Images
        let layersSize = du["LayersSize"]?.int64Value ?? 0
        var used: Int64 = 0
        var activeImages = 0
        for i in images where (i["Containers"]?.int64Value ?? 0) != 0 {
            if (i["Containers"]?.int64Value ?? 0) > 0 { activeImages += 1 }
            let size = i["Size"]?.int64Value ?? -1, shared = i["SharedSize"]?.int64Value ?? -1
            if size != -1 && shared != -1 { used += size - shared }
        }
        let imgReclaim = max(layersSize - used, 0)
        // Containers
        var ctrSize: Int64 = 0, ctrReclaim: Int64 = 0
        for c in containers {
            let rw = c["SizeRw"]?.int64Value ?? 0
            ctrSize += rw
            if !isActive(c) { ctrReclaim += rw }
        }
        // Volumes
        var volSize: Int64 = 0, volReclaim: Int64 = 0, volActive = 0
        for v in volumes {
            let size = v["UsageData"]?["Size"]?.int64Value ?? -1
            let refs = v["UsageData"]?["RefCount"]?.int64Value ?? 0
            if refs > 0 { volActive += 1 }
            if size != -1 {
                volSize += size
                if refs == 0 { volReclaim += size }
            }
        }
        // Build cache
        var cacheSize: Int64 = 0, cacheInUse: Int64 = 0, cacheActive = 0
        for b in cache {
            let shared = b["Shared"]?.boolValue ?? false, inUse = b["InUse"]?.boolValue ?? false
            if inUse { cacheActive += 1 }
            if !shared {
                cacheSize += b["Size"]?.int64Value ?? 0
                if inUse { cacheInUse += b["Size"]?.int64Value ?? 0 }
            }
        }
        let rows = [
            summaryRow(type: "Images", total: images.count, active: activeImages, size: HumanUnits.humanSize(layersSize),
                       reclaimable: withPercent(imgReclaim, of: layersSize)),
            summaryRow(type: "Containers", total: containers.count, active: containers.filter(isActive).count,
                       size: HumanUnits.humanSize(ctrSize), reclaimable: withPercent(ctrReclaim, of: ctrSize)),
            summaryRow(type: "Local Volumes", total: volumes.count, active: volActive, size: HumanUnits.humanSize(volSize),
                       reclaimable: withPercent(volReclaim, of: volSize)),
            summaryRow(type: "Build Cache", total: cache.count, active: cacheActive, size: HumanUnits.humanSize(cacheSize),
                       reclaimable: HumanUnits.humanSize(cacheSize - cacheInUse)),
        ]
        inv.out.write(try ListFormatter(format: format, headers: summaryHeaders).render(rows))
    }

    static func imageRows(_ images: [TemplateValue], trunc: Bool, now: Double) -> [TemplateValue] {
        images.map { i in
            let img = ImageCommands.Summary(i)
            var repo = "<none>", tag = "<none>"
            if let first = img.repoTags.first, !img.isDangling, let ref = try? parseReference(first), let t = ref.tag {
                repo = ref.familiarName
                tag = t
            }
            return ImageCommands.imageRow(img, repo: repo, tag: tag, digest: "", trunc: trunc, now: now)
        }
    }

    static func volumeRow(_ v: TemplateValue) -> TemplateValue {
        .object(FieldsObject(typeName: "*formatter.volumeContext", names: ["Driver", "Labels", "Links", "Mountpoint", "Name", "Scope", "Size"]) { n in
            switch n {
            case "Name": return .string(v["Name"]?.stringValue ?? "")
            case "Driver": return .string(v["Driver"]?.stringValue ?? "")
            case "Scope": return .string(v["Scope"]?.stringValue ?? "")
            case "Mountpoint": return .string(v["Mountpoint"]?.stringValue ?? "")
            case "Labels":
                guard let m = v["Labels"]?.mapValue else { return .string("") }
                return .string(m.pairs.map { "\($0.0)=\($0.1.stringValue ?? "")" }.joined(separator: ","))
            case "Links":
                guard let u = v["UsageData"], !u.isNull else { return .string("N/A") }
                return .string(String(u["RefCount"]?.int64Value ?? 0))
            case "Size":
                guard let u = v["UsageData"], !u.isNull else { return .string("N/A") }
                return .string(HumanUnits.humanSize(u["Size"]?.int64Value ?? 0))
            default: return nil
            }
        })
    }

    static func writeVerbose(_ inv: Invocation, format: String, images: [TemplateValue], containers: [TemplateValue],
                             volumes: [TemplateValue], cache: [TemplateValue]) throws {
        let now = HumanUnits.now()
        let table = format == "table"
        let trunc = format.hasPrefix("table")
        let imgs = imageRows(images, trunc: trunc, now: now)
        let ctrs = containers.map { ContainerContext.row($0, trunc: trunc, now: now) }
        let vols = volumes.map(volumeRow)
        if !table {
            let f = format == "json" ? "{{json .}}" : format.hasPrefix("table") ? String(format.dropFirst(5)) : format
            let tmpl: GoTemplate
            do { tmpl = try GoTemplate(f.goTrim(" ").replacingAll("\\t", with: "\t").replacingAll("\\n", with: "\n")) } catch let e as GoTemplate.Error {
                throw CLIError("template parsing error: \(e.description)")
            }
            let data = TemplateValue.object(GoStruct("formatter.diskUsageContext", [
                .init("Images", .array(imgs)), .init("Containers", .array(ctrs)),
                .init("Volumes", .array(vols)), .init("BuildCache", .array([])),
            ]))
            do { inv.out.write(try tmpl.execute(data)) } catch let e as GoTemplate.Error {
                throw CLIError("template parsing error: \(e.description)")
            }
            return
        }
        inv.out.write("Images space usage:\n\n")
        inv.out.write(try ListFormatter(format: "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
                                        headers: ImageCommands.imageHeaders).render(imgs))
        inv.out.write("\nContainers space usage:\n\n")
        inv.out.write(try ListFormatter(format: "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
                                        headers: ContainerContext.headers).render(ctrs))
        inv.out.write("\nLocal Volumes space usage:\n\n")
        inv.out.write(try ListFormatter(format: "table {{.Name}}\t{{.Links}}\t{{.Size}}",
                                        headers: ["Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT", "Labels": "LABELS"]).render(vols))
        var cacheTotal: Int64 = 0
        for b in cache where b["Shared"]?.boolValue != true { cacheTotal += b["Size"]?.int64Value ?? 0 }
        inv.out.write("\nBuild cache usage: \(HumanUnits.humanSize(cacheTotal))\n\n")
        inv.out.write(try ListFormatter(format: "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}",
                                        headers: ["ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE", "CreatedSince": "CREATED",
                                                  "LastUsedSince": "LAST USED", "UsageCount": "USAGE", "Shared": "SHARED"]).render([]))
    }
}
