import APIModels
import Foundation
import OCI

/// The json-file driver's `attrs` (moby `logger.Info.ExtraAttributes` plus `tag`): values of the
/// labels and env vars named by the `labels`, `labels-regex`, `env`, `env-regex` log opts, encoded
/// as Go's `json.Marshal` of a map (sorted keys, HTML-safe escapes). berth-monitor writes the object
/// verbatim into every entry (`--log-attrs`).
public enum ContainerLogAttrs {
    /// nil when no opt asks for attributes (or none matched: Docker omits empty `attrs`).
    public static func json(opts: [String: String], labels: [String: String], env: [String], tag: TagInfo?) throws -> String? {
        var extra: [String: String] = [:]
        if let l = opts["labels"], !l.isEmpty {
            for key in l.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                if let v = labels[key] { extra[key] = v }
            }
        }
        if let re = try regex(opts["labels-regex"], "labels-regex") {
            for (k, v) in labels where matches(re, k) { extra[k] = v }
        }
        var envMap: [String: String] = [:]
        for e in env {
            let kv = e.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if kv.count == 2 { envMap[String(kv[0])] = String(kv[1]) }
        }
        if !envMap.isEmpty {
            if let l = opts["env"], !l.isEmpty {
                for key in l.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
                    if let v = envMap[key] { extra[key] = v }
                }
            }
            if let re = try regex(opts["env-regex"], "env-regex") {
                for (k, v) in envMap where matches(re, k) { extra[k] = v }
            }
        }
        if let t = opts["tag"], !t.isEmpty, let tag { extra["tag"] = tag.render(t) }
        guard !extra.isEmpty else { return nil }
        let body = extra.keys.sorted().map { goQuote($0) + ":" + goQuote(extra[$0]!) }.joined(separator: ",")
        return "{" + body + "}"
    }

    /// What `tag` templates may use (the common placeholders of moby's `loggerutils.ParseLogTag`).
    public struct TagInfo: Sendable {
        public var id: String, name: String, imageName: String, imageID: String
        public init(id: String, name: String, imageName: String, imageID: String) {
            self.id = id
            self.name = name
            self.imageName = imageName
            self.imageID = imageID
        }

        func render(_ template: String) -> String {
            let hex = imageID.hasPrefix("sha256:") ? String(imageID.dropFirst(7)) : imageID
            var s = template
            for (k, v) in [("{{.ID}}", String(id.prefix(12))), ("{{.FullID}}", id), ("{{.Name}}", name),
                           ("{{.ImageName}}", imageName), ("{{.ImageID}}", String(hex.prefix(12))),
                           ("{{.ImageFullID}}", imageID), ("{{.DaemonName}}", "docker")] {
                s = s.replacingOccurrences(of: k, with: v)
            }
            return s
        }
    }

    static func regex(_ pattern: String?, _ opt: String) throws -> NSRegularExpression? {
        guard let pattern, !pattern.isEmpty else { return nil }
        do { return try NSRegularExpression(pattern: pattern) } catch {
            throw BerthError(.invalidArgument, "error parsing regexp for log opt \(opt): \(pattern)")
        }
    }

    static func matches(_ re: NSRegularExpression, _ s: String) -> Bool {
        re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }

    /// Go's `encoding/json` string quoting (HTML-safe).
    static func goQuote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<", ">", "&", "\u{2028}", "\u{2029}":
                out += String(format: "\\u%04x", u.value)
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
