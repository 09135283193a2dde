/// `Spec` read with `FastJSONReader` (see there for why): the same fields and rules as the
/// synthesized `Decodable` conformance (required members must be present and non-null, unknown
/// keys are ignored, null means absent for optionals). Anything else throws, and `Spec.decode`
/// falls back to `JSONDecoder`. `SpecFastDecodeTests` checks both agree.
extension Spec {
    /// Decodes with the fast reader only (nil when it cannot; `decode(_:)` is what callers want).
    public static func fastDecode(_ bytes: [UInt8]) -> Spec? {
        try? FastJSONReader.parse(bytes) { try Spec(reading: &$0) }
    }

    init(reading r: inout FastJSONReader) throws {
        var version: String?
        var s = Spec()
        try r.object { r, key in
            switch key {
            case "ociVersion": version = try r.string()
            case "process": s.process = try r.null() ? nil : try Process(reading: &r)
            case "root": s.root = try r.null() ? nil : try Root(reading: &r)
            case "hostname": s.hostname = try r.optString()
            case "domainname": s.domainname = try r.optString()
            case "mounts": s.mounts = try r.optArray { try Mount(reading: &$0) }
            case "hooks": s.hooks = try r.null() ? nil : try Hooks(reading: &r)
            case "annotations": s.annotations = try r.optStringMap()
            case "linux": s.linux = try r.null() ? nil : try Linux(reading: &r)
            default: try r.skip()
            }
        }
        guard let version else { throw FastJSONReader.Unsupported() }
        s.ociVersion = version
        self = s
    }
}

extension Spec.Process {
    init(reading r: inout FastJSONReader) throws {
        var user: Spec.User?
        var cwd: String?
        var p = Spec.Process()
        try r.object { r, key in
            switch key {
            case "terminal": p.terminal = try r.optBool()
            case "consoleSize":
                if try r.null() { p.consoleSize = nil; return }
                var h: UInt?, w: UInt?
                try r.object { r, key in
                    switch key {
                    case "height": h = try r.integer()
                    case "width": w = try r.integer()
                    default: try r.skip()
                    }
                }
                guard let h, let w else { throw FastJSONReader.Unsupported() }
                p.consoleSize = Spec.Box(height: h, width: w)
            case "user": user = try Spec.User(reading: &r)
            case "args": p.args = try r.optStringArray()
            case "commandLine": p.commandLine = try r.optString()
            case "env": p.env = try r.optStringArray()
            case "cwd": cwd = try r.string()
            case "capabilities": p.capabilities = try r.null() ? nil : try Spec.Capabilities(reading: &r)
            case "rlimits": p.rlimits = try r.optArray { try Spec.Rlimit(reading: &$0) }
            case "noNewPrivileges": p.noNewPrivileges = try r.optBool()
            case "apparmorProfile": p.apparmorProfile = try r.optString()
            case "oomScoreAdj": p.oomScoreAdj = try r.optInteger()
            case "selinuxLabel": p.selinuxLabel = try r.optString()
            default: try r.skip()
            }
        }
        guard let user, let cwd else { throw FastJSONReader.Unsupported() }
        p.user = user
        p.cwd = cwd
        self = p
    }
}

extension Spec.User {
    init(reading r: inout FastJSONReader) throws {
        var uid: UInt32?, gid: UInt32?
        var u = Spec.User()
        try r.object { r, key in
            switch key {
            case "uid": uid = try r.integer()
            case "gid": gid = try r.integer()
            case "umask": u.umask = try r.optInteger()
            case "additionalGids": u.additionalGids = try r.optArray { try $0.integer(UInt32.self) }
            case "username": u.username = try r.optString()
            default: try r.skip()
            }
        }
        guard let uid, let gid else { throw FastJSONReader.Unsupported() }
        u.uid = uid
        u.gid = gid
        self = u
    }
}

extension Spec.Capabilities {
    init(reading r: inout FastJSONReader) throws {
        var c = Spec.Capabilities()
        try r.object { r, key in
            switch key {
            case "bounding": c.bounding = try r.optStringArray()
            case "effective": c.effective = try r.optStringArray()
            case "inheritable": c.inheritable = try r.optStringArray()
            case "permitted": c.permitted = try r.optStringArray()
            case "ambient": c.ambient = try r.optStringArray()
            default: try r.skip()
            }
        }
        self = c
    }
}

extension Spec.Rlimit {
    init(reading r: inout FastJSONReader) throws {
        var type: String?, hard: UInt64?, soft: UInt64?
        try r.object { r, key in
            switch key {
            case "type": type = try r.string()
            case "hard": hard = try r.uint64()
            case "soft": soft = try r.uint64()
            default: try r.skip()
            }
        }
        guard let type, let hard, let soft else { throw FastJSONReader.Unsupported() }
        self.init(type: type, hard: hard, soft: soft)
    }
}

extension Spec.Root {
    init(reading r: inout FastJSONReader) throws {
        var path: String?, readonly: Bool?
        try r.object { r, key in
            switch key {
            case "path": path = try r.string()
            case "readonly": readonly = try r.optBool()
            default: try r.skip()
            }
        }
        guard let path else { throw FastJSONReader.Unsupported() }
        self.init(path: path, readonly: readonly)
    }
}

extension Spec.IDMapping {
    init(reading r: inout FastJSONReader) throws {
        var c: UInt32?, h: UInt32?, n: UInt32?
        try r.object { r, key in
            switch key {
            case "containerID": c = try r.integer()
            case "hostID": h = try r.integer()
            case "size": n = try r.integer()
            default: try r.skip()
            }
        }
        guard let c, let h, let n else { throw FastJSONReader.Unsupported() }
        self.init(containerID: c, hostID: h, size: n)
    }
}

extension Spec.Mount {
    init(reading r: inout FastJSONReader) throws {
        var destination: String?
        var m = Spec.Mount(destination: "")
        try r.object { r, key in
            switch key {
            case "destination": destination = try r.string()
            case "type": m.type = try r.optString()
            case "source": m.source = try r.optString()
            case "options": m.options = try r.optStringArray()
            case "uidMappings": m.uidMappings = try r.optArray { try Spec.IDMapping(reading: &$0) }
            case "gidMappings": m.gidMappings = try r.optArray { try Spec.IDMapping(reading: &$0) }
            default: try r.skip()
            }
        }
        guard let destination else { throw FastJSONReader.Unsupported() }
        m.destination = destination
        self = m
    }
}

extension Spec.Hooks {
    init(reading r: inout FastJSONReader) throws {
        var h = Spec.Hooks()
        try r.object { r, key in
            func list(_ r: inout FastJSONReader) throws -> [Spec.Hook]? { try r.optArray { try Spec.Hook(reading: &$0) } }
            switch key {
            case "prestart": h.prestart = try list(&r)
            case "createRuntime": h.createRuntime = try list(&r)
            case "createContainer": h.createContainer = try list(&r)
            case "startContainer": h.startContainer = try list(&r)
            case "poststart": h.poststart = try list(&r)
            case "poststop": h.poststop = try list(&r)
            default: try r.skip()
            }
        }
        self = h
    }
}

extension Spec.Hook {
    /// Reads one hook (also used for the runtime's saved poststop hooks).
    public init(reading r: inout FastJSONReader) throws {
        var path: String?
        var h = Spec.Hook(path: "")
        try r.object { r, key in
            switch key {
            case "path": path = try r.string()
            case "args": h.args = try r.optStringArray()
            case "env": h.env = try r.optStringArray()
            case "timeout": h.timeout = try r.optInteger()
            default: try r.skip()
            }
        }
        guard let path else { throw FastJSONReader.Unsupported() }
        h.path = path
        self = h
    }
}
