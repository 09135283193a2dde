import OCI

/// Docker's `formatter.ContainerContext` over a `GET /containers/json` item (for `ps` and `system df -v`).
enum ContainerContext {
    static let headers: [String: String] = [
        "ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
        "Labels": "LABELS", "Mounts": "MOUNTS", "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS",
        "Platform": "PLATFORM",
    ]

    static let fieldNames = ["Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes", "Mounts", "Names", "Networks",
                             "Platform", "Ports", "RunningFor", "Size", "State", "Status"]

    static func row(_ c: TemplateValue, trunc: Bool, now: Double) -> TemplateValue {
        .object(FieldsObject(typeName: "*formatter.ContainerContext", names: fieldNames) { name in
            switch name {
            case "ID":
                let id = c["Id"]?.stringValue ?? ""
                return .string(trunc ? truncateID(id) : id)
            case "Names":
                let names = (c["Names"]?.stringArray ?? []).map { $0.hasPrefix("/") ? String($0.dropFirst()) : $0 }
                if trunc { return .string(names.first { !$0.contains("/") } ?? "") }
                return .string(names.joined(separator: ","))
            case "Image": return .string(image(c, trunc: trunc))
            case "Command":
                var cmd = c["Command"]?.stringValue ?? ""
                if trunc { cmd = ImageCommands.ellipsis(cmd, 20) }
                return .string(GoFormat.quote(cmd))
            case "CreatedAt": return .string(HumanUnits.goTimeString(unix: c["Created"]?.int64Value ?? 0))
            case "RunningFor": return .string(HumanUnits.since(unix: c["Created"]?.int64Value ?? 0, now: now))
            case "Ports": return .string(displayablePorts(c["Ports"]?.arrayValue ?? []))
            case "State": return .string(c["State"]?.stringValue ?? "")
            case "Status": return .string(c["Status"]?.stringValue ?? "")
            case "Size":
                let rw = c["SizeRw"]?.int64Value ?? 0, rootfs = c["SizeRootFs"]?.int64Value ?? 0
                let srw = HumanUnits.humanSize(rw, precision: 3)
                return .string(rootfs > 0 ? "\(srw) (virtual \(HumanUnits.humanSize(rootfs, precision: 3)))" : srw)
            case "Labels":
                guard let m = c["Labels"]?.mapValue else { return .string("") }
                return .string(m.pairs.map { "\($0.0)=\($0.1.stringValue ?? "")" }.sorted().joined(separator: ","))
            case "Mounts":
                return .string((c["Mounts"]?.arrayValue ?? []).map { m in
                    var n = m["Name"]?.stringValue ?? ""
                    if n.isEmpty { n = m["Source"]?.stringValue ?? "" }
                    return trunc ? ImageCommands.ellipsis(n, 15) : n
                }.joined(separator: ","))
            case "LocalVolumes":
                return .string(String((c["Mounts"]?.arrayValue ?? []).filter { $0["Driver"]?.stringValue == "local" }.count))
            case "Networks":
                return .string((c["NetworkSettings"]?["Networks"]?.mapValue?.keys ?? []).joined(separator: ","))
            case "Platform":
                // `*Platform`: nil unless the daemon reports the image manifest's platform.
                guard let p = c["ImageManifestDescriptor"]?["platform"], p.mapValue != nil else { return .typedNil(.pointer) }
                return p
            default: return nil
            }
        })
    }

    static func image(_ c: TemplateValue, trunc: Bool) -> String {
        let image = c["Image"]?.stringValue ?? ""
        if image.isEmpty { return "<no image>" }
        if !trunc { return image }
        let imageID = c["ImageID"]?.stringValue ?? ""
        if truncateID(imageID) == truncateID(image) { return truncateID(image) }
        guard var ref = try? Reference.parse(image) else { return image }
        if ref.digest != nil { ref.digest = nil }
        return ref.familiarString
    }

    /// Docker's `DisplayablePorts`.
    static func displayablePorts(_ ports: [TemplateValue]) -> String {
        struct P { var ip: String; var priv: Int; var pub: Int; var type: String }
        var ps = ports.map { P(ip: $0["IP"]?.stringValue ?? "", priv: Int($0["PrivatePort"]?.int64Value ?? 0),
                               pub: Int($0["PublicPort"]?.int64Value ?? 0), type: $0["Type"]?.stringValue ?? "") }
        ps.sort { a, b in
            if a.priv != b.priv { return a.priv < b.priv }
            if a.ip != b.ip { return a.ip < b.ip }
            if a.pub != b.pub { return a.pub < b.pub }
            return a.type < b.type
        }
        var groups: [String: (Int, Int)] = [:]
        var order: [String] = []
        var result: [String] = []
        var hostMappings: [String] = []
        func joinHostPort(_ h: String, _ p: String) -> String { h.contains(":") ? "[\(h)]:\(p)" : "\(h):\(p)" }
        func form(_ key: String, _ first: Int, _ last: Int) -> String {
            let parts = key.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            var type = parts[0], ip = ""
            if parts.count > 1 { ip = parts[0]; type = parts[1] }
            var g = String(first)
            if first != last { g += "-\(last)" }
            if !ip.isEmpty { g = "\(joinHostPort(ip, g))->\(g)" }
            return g + "/" + type
        }
        for p in ps {
            var key = p.type
            if !p.ip.isEmpty {
                if p.pub != p.priv {
                    hostMappings.append("\(joinHostPort(p.ip, String(p.pub)))->\(p.priv)/\(p.type)")
                    continue
                }
                key = p.ip + "/" + p.type
            }
            guard let g = groups[key] else {
                groups[key] = (p.priv, p.priv)
                order.append(key)
                continue
            }
            if p.priv == g.1 + 1 {
                groups[key] = (g.0, p.priv)
                continue
            }
            result.append(form(key, g.0, g.1))
            groups[key] = (p.priv, p.priv)
        }
        for k in order { result.append(form(k, groups[k]!.0, groups[k]!.1)) }
        result.append(contentsOf: hostMappings)
        return result.joined(separator: ", ")
    }
}
