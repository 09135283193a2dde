import APIModels
import Foundation
import OCI
import Storage

/// The configs of a committed image, as moby's `CreateImageFromContainer` and `image.NewChildImage`
/// make them. Pure (unit-tested).
enum CommitConfig {
    /// moby's `merge(userConf, imageConf)`: `base` (the container's config) fills what `user` (the body's
    /// config, or the container's after `--change`) leaves empty.
    static func merge(_ user: ContainerAPIConfig, _ base: ContainerAPIConfig) -> ContainerAPIConfig {
        var c = user
        if (c.User ?? "").isEmpty { c.User = base.User }
        if (c.ExposedPorts ?? [:]).isEmpty {
            c.ExposedPorts = base.ExposedPorts
        } else if let b = base.ExposedPorts {
            for (k, v) in b where c.ExposedPorts?[k] == nil { c.ExposedPorts?[k] = v }
        }
        if (c.Env ?? []).isEmpty {
            c.Env = base.Env
        } else {
            func key(_ kv: String) -> Substring { kv.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0] }
            let keys = Set(c.Env!.map(key))
            c.Env! += (base.Env ?? []).filter { !keys.contains(key($0)) }
        }
        var labels = c.Labels ?? [:]
        for (k, v) in base.Labels ?? [:] where labels[k] == nil { labels[k] = v }
        c.Labels = labels
        if (c.Entrypoint?.values ?? []).isEmpty {
            if (c.Cmd?.values ?? []).isEmpty {
                c.Cmd = base.Cmd
                c.ArgsEscaped = base.ArgsEscaped
            }
            if c.Entrypoint == nil { c.Entrypoint = base.Entrypoint }
        }
        if case .object(let b)? = base.Healthcheck {
            if case .object(var h)? = c.Healthcheck {
                for key in ["Test", "Interval", "Timeout", "StartPeriod", "Retries"] where Self.isZero(h[key]) {
                    h[key] = b[key]
                }
                c.Healthcheck = .object(h.filter { !Self.isZero($0.value) })
            } else {
                c.Healthcheck = base.Healthcheck
            }
        }
        if (c.WorkingDir ?? "").isEmpty { c.WorkingDir = base.WorkingDir }
        if (c.Volumes ?? [:]).isEmpty {
            c.Volumes = base.Volumes
        } else {
            for (k, v) in base.Volumes ?? [:] { c.Volumes?[k] = v }
        }
        if (c.StopSignal ?? "").isEmpty { c.StopSignal = base.StopSignal }
        return c
    }

    private static func isZero(_ v: JSONValue?) -> Bool {
        switch v {
        case nil, .null?: return true
        case .number(let n)?: return n == 0
        case .array(let a)?: return a.isEmpty
        default: return false
        }
    }

    /// A container config as Docker's `container.Config` marshals it (fields without `omitempty`
    /// always present).
    static func dockerJSON(_ c: ContainerAPIConfig) throws -> JSONValue {
        guard case .object(var o) = try JSONValue(encoding: c) else { return .null }
        let defaults: [(String, JSONValue)] = [
            ("Hostname", .string("")), ("Domainname", .string("")), ("User", .string("")),
            ("AttachStdin", .bool(false)), ("AttachStdout", .bool(false)), ("AttachStderr", .bool(false)),
            ("Tty", .bool(false)), ("OpenStdin", .bool(false)), ("StdinOnce", .bool(false)), ("Env", .null),
            ("Cmd", .null), ("Image", .string("")), ("Volumes", .null), ("WorkingDir", .string("")),
            ("Entrypoint", .null), ("OnBuild", .null), ("Labels", .null),
        ]
        for (k, v) in defaults where o[k] == nil { o[k] = v }
        return .object(o)
    }

    /// What the new image records about its origin.
    struct Origin {
        var containerID: String
        var containerConfig: ContainerAPIConfig
        var author: String
        var comment: String
        /// The container's command line (history `created_by`).
        var createdBy: String
        var created: String
    }

    /// moby's `NewChildImage`: the parent's platform, history and diffIDs; the new config; one history
    /// entry (`empty_layer` when `diffID` is nil); `diffID` appended to the rootfs.
    static func imageConfig(parent: [UInt8], config: ContainerAPIConfig, origin: Origin, diffID: Digest?) throws -> [UInt8] {
        guard case .object(let p) = try JSONDecoder().decode(JSONValue.self, from: Data(parent)) else {
            throw BerthError(.dataCorrupted, "invalid image configuration: not an object")
        }
        var o: [String: JSONValue] = [:]
        o["architecture"] = p["architecture"] ?? .string(Platform.host.architecture)
        o["os"] = p["os"] ?? .string("linux")
        for key in ["variant", "os.version", "os.features"] { o[key] = p[key] }
        o["config"] = try dockerJSON(config)
        o["container"] = .string(origin.containerID)
        o["container_config"] = try dockerJSON(origin.containerConfig)
        o["created"] = .string(origin.created)
        o["docker_version"] = .string(BerthBuild.version)
        if !origin.author.isEmpty { o["author"] = .string(origin.author) }
        var entry: [String: JSONValue] = ["created": .string(origin.created)]
        if !origin.author.isEmpty { entry["author"] = .string(origin.author) }
        if !origin.createdBy.isEmpty { entry["created_by"] = .string(origin.createdBy) }
        if !origin.comment.isEmpty { entry["comment"] = .string(origin.comment) }
        if diffID == nil { entry["empty_layer"] = .bool(true) }
        var history: [JSONValue] = []
        if case .array(let h)? = p["history"] { history = h }
        o["history"] = .array(history + [.object(entry)])
        var diffIDs: [JSONValue] = []
        if case .object(let rootfs)? = p["rootfs"], case .array(let ids)? = rootfs["diff_ids"] { diffIDs = ids }
        if let diffID { diffIDs.append(.string(diffID.description)) }
        o["rootfs"] = .object(["type": .string("layers"), "diff_ids": .array(diffIDs)])
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try enc.encode(JSONValue.object(o)))
    }
}
