import OCI

/// `state.json` written and read by hand (`FastJSONWriter`/`FastJSONReader`): every lifecycle command
/// reads it, and `JSONEncoder`/`JSONDecoder` cost ~0.5 ms of first-use set-up per process. The
/// format is the `Codable` one (same keys, nil members left out), so either side can read the other.
extension StoredState {
    func jsonBytes() -> [UInt8] {
        var w = FastJSONWriter()
        w.beginObject()
        w.key("id"); w.string(id)
        w.key("pid"); w.integer(pid)
        w.key("pidStartTime"); w.integer(pidStartTime)
        w.key("bundle"); w.string(bundle)
        w.key("rootfs"); w.string(rootfs)
        w.key("created"); w.string(created)
        w.key("owner"); w.string(owner)
        if let annotations { w.key("annotations"); w.stringMap(annotations) }
        w.key("cgroupPath"); w.string(cgroupPath)
        w.key("namespaces"); w.stringArray(namespaces)
        if let useInit { w.key("useInit"); w.bool(useInit) }
        if let cgroupUnifiedRoot { w.key("cgroupUnifiedRoot"); w.string(cgroupUnifiedRoot) }
        if let cgroupHierarchies {
            w.key("cgroupHierarchies")
            w.beginArray()
            for h in cgroupHierarchies { w.stringArray(h) }
            w.endArray()
        }
        if let poststop {
            w.key("poststop")
            w.beginArray()
            for h in poststop {
                w.beginObject()
                w.key("path"); w.string(h.path)
                if let a = h.args { w.key("args"); w.stringArray(a) }
                if let e = h.env { w.key("env"); w.stringArray(e) }
                if let t = h.timeout { w.key("timeout"); w.integer(t) }
                w.endObject()
            }
            w.endArray()
        }
        w.endObject()
        return w.bytes
    }

    /// Reads `state.json` with the fast reader; nil when it declines (the caller uses `JSONDecoder`).
    static func fastDecode(_ bytes: [UInt8]) -> StoredState? {
        try? FastJSONReader.parse(bytes) { r in
            var id: String?, pid: Int32?, start: UInt64?, bundle: String?, rootfs: String?, created: String?
            var owner: String?, cgroupPath: String?, namespaces: [String]?
            var annotations: [String: String]?, useInit: Bool?, unified: String?, hierarchies: [[String]]?
            var poststop: [Spec.Hook]?
            try r.object { r, key in
                switch key {
                case "id": id = try r.string()
                case "pid": pid = try r.integer()
                case "pidStartTime": start = try r.integer()
                case "bundle": bundle = try r.string()
                case "rootfs": rootfs = try r.string()
                case "created": created = try r.string()
                case "owner": owner = try r.string()
                case "annotations": annotations = try r.optStringMap()
                case "cgroupPath": cgroupPath = try r.string()
                case "namespaces": namespaces = try r.stringArray()
                case "useInit": useInit = try r.optBool()
                case "cgroupUnifiedRoot": unified = try r.optString()
                case "cgroupHierarchies": hierarchies = try r.optArray { try $0.stringArray() }
                case "poststop": poststop = try r.optArray { try Spec.Hook(reading: &$0) }
                default: try r.skip()
                }
            }
            guard let id, let pid, let start, let bundle, let rootfs, let created, let owner, let cgroupPath,
                  let namespaces else { throw FastJSONReader.Unsupported() }
            var s = StoredState(id: id, pid: pid, pidStartTime: start, bundle: bundle, rootfs: rootfs, created: created,
                                owner: owner, annotations: annotations, cgroupPath: cgroupPath, namespaces: namespaces,
                                useInit: useInit)
            s.cgroupUnifiedRoot = unified
            s.cgroupHierarchies = hierarchies
            s.poststop = poststop
            return s
        }
    }
}
