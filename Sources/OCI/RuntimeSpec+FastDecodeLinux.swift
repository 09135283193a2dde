/// The `linux` section read with `FastJSONReader` (same rules as `RuntimeSpec+FastDecode.swift`).
extension Spec.Linux {
    init(reading r: inout FastJSONReader) throws {
        var l = Spec.Linux()
        try r.object { r, key in
            switch key {
            case "uidMappings": l.uidMappings = try r.optArray { try Spec.IDMapping(reading: &$0) }
            case "gidMappings": l.gidMappings = try r.optArray { try Spec.IDMapping(reading: &$0) }
            case "sysctl": l.sysctl = try r.optStringMap()
            case "resources": l.resources = try r.null() ? nil : try Spec.Resources(reading: &r)
            case "cgroupsPath": l.cgroupsPath = try r.optString()
            case "namespaces": l.namespaces = try r.optArray { try Spec.Namespace(reading: &$0) }
            case "devices": l.devices = try r.optArray { try Spec.Device(reading: &$0) }
            case "seccomp": l.seccomp = try r.null() ? nil : try Spec.Seccomp(reading: &r)
            case "rootfsPropagation": l.rootfsPropagation = try r.optString()
            case "maskedPaths": l.maskedPaths = try r.optStringArray()
            case "readonlyPaths": l.readonlyPaths = try r.optStringArray()
            case "mountLabel": l.mountLabel = try r.optString()
            default: try r.skip()
            }
        }
        self = l
    }
}

extension Spec.Namespace {
    init(reading r: inout FastJSONReader) throws {
        var type: String?, path: String?
        try r.object { r, key in
            switch key {
            case "type": type = try r.string()
            case "path": path = try r.optString()
            default: try r.skip()
            }
        }
        guard let type else { throw FastJSONReader.Unsupported() }
        self.init(type: type, path: path)
    }
}

extension Spec.Device {
    init(reading r: inout FastJSONReader) throws {
        var type: String?, path: String?
        var d = Spec.Device(type: "", path: "")
        try r.object { r, key in
            switch key {
            case "type": type = try r.string()
            case "path": path = try r.string()
            case "major": d.major = try r.optInteger()
            case "minor": d.minor = try r.optInteger()
            case "fileMode": d.fileMode = try r.optInteger()
            case "uid": d.uid = try r.optInteger()
            case "gid": d.gid = try r.optInteger()
            default: try r.skip()
            }
        }
        guard let type, let path else { throw FastJSONReader.Unsupported() }
        d.type = type
        d.path = path
        self = d
    }
}

extension Spec.Resources {
    init(reading r: inout FastJSONReader) throws {
        var res = Spec.Resources()
        try r.object { r, key in
            switch key {
            case "devices": res.devices = try r.optArray { try Spec.DeviceCgroup(reading: &$0) }
            case "memory": res.memory = try r.null() ? nil : try Spec.Memory(reading: &r)
            case "cpu": res.cpu = try r.null() ? nil : try Spec.CPU(reading: &r)
            case "pids":
                if try r.null() { res.pids = nil; return }
                var limit: Int64?
                try r.object { r, key in
                    if key == "limit" { limit = try r.int64() } else { try r.skip() }
                }
                guard let limit else { throw FastJSONReader.Unsupported() }
                res.pids = Spec.Pids(limit: limit)
            case "blockIO": res.blockIO = try r.null() ? nil : try Spec.BlockIO(reading: &r)
            case "unified": res.unified = try r.optStringMap()
            default: try r.skip()
            }
        }
        self = res
    }
}

extension Spec.DeviceCgroup {
    init(reading r: inout FastJSONReader) throws {
        var allow: Bool?
        var d = Spec.DeviceCgroup(allow: false)
        try r.object { r, key in
            switch key {
            case "allow": allow = try r.bool()
            case "type": d.type = try r.optString()
            case "major": d.major = try r.optInteger()
            case "minor": d.minor = try r.optInteger()
            case "access": d.access = try r.optString()
            default: try r.skip()
            }
        }
        guard let allow else { throw FastJSONReader.Unsupported() }
        d.allow = allow
        self = d
    }
}

extension Spec.Memory {
    init(reading r: inout FastJSONReader) throws {
        var m = Spec.Memory()
        try r.object { r, key in
            switch key {
            case "limit": m.limit = try r.optInteger()
            case "reservation": m.reservation = try r.optInteger()
            case "swap": m.swap = try r.optInteger()
            case "kernel": m.kernel = try r.optInteger()
            case "kernelTCP": m.kernelTCP = try r.optInteger()
            case "swappiness": m.swappiness = try r.optInteger()
            case "disableOOMKiller": m.disableOOMKiller = try r.optBool()
            case "useHierarchy": m.useHierarchy = try r.optBool()
            default: try r.skip()
            }
        }
        self = m
    }
}

extension Spec.CPU {
    init(reading r: inout FastJSONReader) throws {
        var c = Spec.CPU()
        try r.object { r, key in
            switch key {
            case "shares": c.shares = try r.optInteger()
            case "quota": c.quota = try r.optInteger()
            case "burst": c.burst = try r.optInteger()
            case "period": c.period = try r.optInteger()
            case "realtimeRuntime": c.realtimeRuntime = try r.optInteger()
            case "realtimePeriod": c.realtimePeriod = try r.optInteger()
            case "cpus": c.cpus = try r.optString()
            case "mems": c.mems = try r.optString()
            case "idle": c.idle = try r.optInteger()
            default: try r.skip()
            }
        }
        self = c
    }
}

extension Spec.BlockIO {
    init(reading r: inout FastJSONReader) throws {
        var b = Spec.BlockIO()
        func throttle(_ r: inout FastJSONReader) throws -> [Spec.ThrottleDevice]? {
            try r.optArray { r in
                var major: Int64?, minor: Int64?, rate: UInt64?
                try r.object { r, key in
                    switch key {
                    case "major": major = try r.int64()
                    case "minor": minor = try r.int64()
                    case "rate": rate = try r.uint64()
                    default: try r.skip()
                    }
                }
                guard let major, let minor, let rate else { throw FastJSONReader.Unsupported() }
                return Spec.ThrottleDevice(major: major, minor: minor, rate: rate)
            }
        }
        try r.object { r, key in
            switch key {
            case "weight": b.weight = try r.optInteger()
            case "leafWeight": b.leafWeight = try r.optInteger()
            case "weightDevice":
                b.weightDevice = try r.optArray { r in
                    var major: Int64?, minor: Int64?, weight: UInt16?, leaf: UInt16?
                    try r.object { r, key in
                        switch key {
                        case "major": major = try r.int64()
                        case "minor": minor = try r.int64()
                        case "weight": weight = try r.optInteger()
                        case "leafWeight": leaf = try r.optInteger()
                        default: try r.skip()
                        }
                    }
                    guard let major, let minor else { throw FastJSONReader.Unsupported() }
                    return Spec.WeightDevice(major: major, minor: minor, weight: weight, leafWeight: leaf)
                }
            case "throttleReadBpsDevice": b.throttleReadBpsDevice = try throttle(&r)
            case "throttleWriteBpsDevice": b.throttleWriteBpsDevice = try throttle(&r)
            case "throttleReadIOPSDevice": b.throttleReadIOPSDevice = try throttle(&r)
            case "throttleWriteIOPSDevice": b.throttleWriteIOPSDevice = try throttle(&r)
            default: try r.skip()
            }
        }
        self = b
    }
}

extension Spec.Seccomp {
    init(reading r: inout FastJSONReader) throws {
        var action: String?
        var s = Spec.Seccomp(defaultAction: "")
        try r.object { r, key in
            switch key {
            case "defaultAction": action = try r.string()
            case "defaultErrnoRet": s.defaultErrnoRet = try r.optInteger()
            case "architectures": s.architectures = try r.optStringArray()
            case "flags": s.flags = try r.optStringArray()
            case "listenerPath": s.listenerPath = try r.optString()
            case "listenerMetadata": s.listenerMetadata = try r.optString()
            case "syscalls": s.syscalls = try r.optArray { try Spec.Syscall(reading: &$0) }
            default: try r.skip()
            }
        }
        guard let action else { throw FastJSONReader.Unsupported() }
        s.defaultAction = action
        self = s
    }
}

extension Spec.Syscall {
    init(reading r: inout FastJSONReader) throws {
        var names: [String]?, action: String?
        var s = Spec.Syscall(names: [], action: "")
        try r.object { r, key in
            switch key {
            case "names": names = try r.stringArray()
            case "action": action = try r.string()
            case "errnoRet": s.errnoRet = try r.optInteger()
            case "args":
                s.args = try r.optArray { r in
                    var index: UInt?, value: UInt64?, valueTwo: UInt64?, op: String?
                    try r.object { r, key in
                        switch key {
                        case "index": index = try r.integer()
                        case "value": value = try r.uint64()
                        case "valueTwo": valueTwo = try r.optInteger()
                        case "op": op = try r.string()
                        default: try r.skip()
                        }
                    }
                    guard let index, let value, let op else { throw FastJSONReader.Unsupported() }
                    return Spec.SyscallArg(index: index, value: value, valueTwo: valueTwo, op: op)
                }
            default: try r.skip()
            }
        }
        guard let names, let action else { throw FastJSONReader.Unsupported() }
        s.names = names
        s.action = action
        self = s
    }
}
