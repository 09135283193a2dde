import APIModels
import Foundation
import OCI

/// Bind and tmpfs mounts from `HostConfig.Binds` (`-v /host:/ctr[:ro]`) and `HostConfig.Mounts`
/// (`--mount type=bind|tmpfs,…`). Named volumes need a volume service berth does not have yet.
public struct ContainerMount: Sendable, Equatable {
    public var type: String        // bind | tmpfs
    public var source: String
    public var destination: String
    public var readOnly: Bool
    public var mode: String
    /// `-v` creates a missing host directory; `--mount` refuses it.
    public var createSource: Bool
    public var tmpfsOptions: [String] = []

    /// The entry of inspect's `Mounts`.
    public var inspect: JSONValue {
        .object(["Type": .string(type), "Source": .string(type == "tmpfs" ? "" : source), "Destination": .string(destination),
                 "Mode": .string(mode), "RW": .bool(!readOnly), "Propagation": .string(type == "bind" ? "rprivate" : "")])
    }

    public static func parse(_ h: ContainerHostConfig) throws -> [ContainerMount] {
        var out: [ContainerMount] = []
        for b in h.Binds ?? [] {
            let parts = b.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 2, parts.count <= 3, !parts[1].isEmpty else {
                throw BerthError(.invalidArgument, "invalid volume specification: '\(b)'")
            }
            guard parts[0].hasPrefix("/") else {
                throw BerthError(.invalidArgument, "named volumes are not supported by berth yet: '\(b)' (use an absolute host path)")
            }
            guard parts[1].hasPrefix("/") else {
                throw BerthError(.invalidArgument, "invalid volume specification: '\(b)': invalid mount config for type \"bind\": invalid mount path: '\(parts[1])' mount path must be absolute")
            }
            let mode = parts.count == 3 ? parts[2] : ""
            let opts = mode.split(separator: ",").map(String.init)
            for o in opts where !["ro", "rw", "z", "Z", "shared", "rshared", "slave", "rslave", "private", "rprivate", "nocopy"].contains(o) {
                throw BerthError(.invalidArgument, "invalid mode: \(mode)")
            }
            out.append(ContainerMount(type: "bind", source: parts[0], destination: parts[1], readOnly: opts.contains("ro"),
                                      mode: mode, createSource: true))
        }
        if case .array(let items)? = h.Mounts {
            for item in items {
                guard case .object(let m) = item else { continue }
                func str(_ k: String) -> String? { if case .string(let s)? = m[k] { return s }; return nil }
                let type = str("Type") ?? ""
                let target = str("Target") ?? ""
                guard target.hasPrefix("/") else {
                    throw BerthError(.invalidArgument, "invalid mount config for type \"\(type)\": invalid mount path: '\(target)' mount path must be absolute")
                }
                var ro = false
                if case .bool(let b)? = m["ReadOnly"] { ro = b }
                switch type {
                case "bind":
                    let src = str("Source") ?? ""
                    guard src.hasPrefix("/") else {
                        throw BerthError(.invalidArgument, "invalid mount config for type \"bind\": invalid mount path: '\(src)' mount path must be absolute")
                    }
                    guard FileManager.default.fileExists(atPath: src) else {
                        throw BerthError(.invalidArgument, "invalid mount config for type \"bind\": bind source path does not exist: \(src)")
                    }
                    out.append(ContainerMount(type: "bind", source: src, destination: target, readOnly: ro, mode: "", createSource: false))
                case "tmpfs":
                    var opts: [String] = []
                    if case .object(let t)? = m["TmpfsOptions"] {
                        if case .number(let n)? = t["SizeBytes"], n > 0 { opts.append("size=\(Int64(n))") }
                        if case .number(let n)? = t["Mode"], n > 0 { opts.append("mode=" + String(Int(n), radix: 8)) }
                    }
                    var mount = ContainerMount(type: "tmpfs", source: "", destination: target, readOnly: ro, mode: "", createSource: false)
                    mount.tmpfsOptions = opts
                    out.append(mount)
                case "volume":
                    throw BerthError(.invalidArgument, "named volumes are not supported by berth yet")
                default:
                    throw BerthError(.invalidArgument, "mount type unknown: \"\(type)\"")
                }
            }
        }
        var seen = Set<String>()
        for m in out {
            if !seen.insert(m.destination).inserted { throw BerthError(.invalidArgument, "Duplicate mount point: \(m.destination)") }
        }
        return out
    }

    /// The OCI mount.
    public var spec: Spec.Mount {
        if type == "tmpfs" {
            return Spec.Mount(destination: destination, type: "tmpfs", source: "tmpfs",
                              options: ["nosuid", "nodev", "noexec"] + tmpfsOptions + (readOnly ? ["ro"] : []))
        }
        return Spec.Mount(destination: destination, type: "bind", source: source,
                          options: ["rbind", "rprivate"] + (readOnly ? ["ro"] : []))
    }
}
