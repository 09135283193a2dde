import APIModels
import Foundation
import OCI

/// `docker commit --change`: the Dockerfile instructions moby's `BuildFromConfig` accepts, applied to a
/// container config in order (Docker's messages on bad input, all `400`s). Pure (unit-tested).
public enum CommitChanges {
    /// moby's `validCommitCommands`.
    public static let validCommands: Set<String> = [
        "cmd", "entrypoint", "healthcheck", "env", "expose", "label", "onbuild", "stopsignal", "user", "volume", "workdir",
    ]

    /// Applies `changes` (each one or more Dockerfile lines) to `config`.
    public static func apply(_ changes: [String], to config: ContainerAPIConfig) throws -> ContainerAPIConfig {
        guard !changes.isEmpty else { return config }
        let lines = logicalLines(changes.joined(separator: "\n"))
        for (keyword, _) in lines where !validCommands.contains(keyword.lowercased()) {
            throw BerthError(.invalidArgument, "\(keyword.lowercased()) is not a valid change command")
        }
        var state = State(config: config)
        for (keyword, rest) in lines { try state.dispatch(keyword.uppercased(), rest) }
        return state.config
    }

    /// Dockerfile lines (continuations joined, comments and blank lines dropped) as (keyword, arguments).
    static func logicalLines(_ text: String) -> [(String, String)] {
        var out: [(String, String)] = []
        var pending = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if pending.isEmpty && (trimmed.isEmpty || trimmed.hasPrefix("#")) { continue }
            if line.hasSuffix("\\") {
                pending += line.dropLast()
                continue
            }
            pending += line
            if let l = split(pending) { out.append(l) }
            pending = ""
        }
        if let l = split(pending) { out.append(l) }
        return out
    }

    private static func split(_ line: String) -> (String, String)? {
        let t = line.trimmingCharacters(in: .whitespaces)
        guard !t.isEmpty else { return nil }
        guard let sp = t.firstIndex(where: { $0 == " " || $0 == "\t" }) else { return (t, "") }
        return (String(t[..<sp]), t[sp...].trimmingCharacters(in: .whitespaces))
    }

    struct State {
        var config: ContainerAPIConfig
        /// A CMD in this set of changes (an ENTRYPOINT then keeps it; otherwise it clears Cmd).
        var cmdSet = false

        var env: [String] { config.Env ?? [] }

        mutating func dispatch(_ keyword: String, _ rest: String) throws {
            switch keyword {
            case "CMD":
                config.Cmd = StrSlice(CommitChanges.commandForm(rest))
                cmdSet = true
            case "ENTRYPOINT":
                config.Entrypoint = StrSlice(CommitChanges.commandForm(rest))
                if !cmdSet { config.Cmd = nil }
            case "ENV":
                let pairs = try CommitChanges.nameValues(rest, keyword: keyword, env: env)
                var e = env
                for (k, v) in pairs {
                    if let i = e.firstIndex(where: { $0.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0] == Substring(k) }) {
                        e[i] = k + "=" + v
                    } else {
                        e.append(k + "=" + v)
                    }
                }
                config.Env = e
            case "LABEL":
                var labels = config.Labels ?? [:]
                for (k, v) in try CommitChanges.nameValues(rest, keyword: keyword, env: env) { labels[k] = v }
                config.Labels = labels
            case "EXPOSE":
                let words = try ShellWords.split(rest).map { try ShellWords.process($0, env: env) }
                guard !words.isEmpty else { throw BerthError(.invalidArgument, "EXPOSE requires at least one argument") }
                var ports = config.ExposedPorts ?? [:]
                for w in words { for p in try CommitChanges.ports(w) { ports[p] = .object([:]) } }
                config.ExposedPorts = ports
            case "USER":
                let u = try ShellWords.process(rest, env: env)
                guard !u.isEmpty else { throw BerthError(.invalidArgument, "USER requires exactly one argument") }
                config.User = u
            case "WORKDIR":
                let w = try ShellWords.process(rest, env: env)
                guard !w.isEmpty else { throw BerthError(.invalidArgument, "WORKDIR requires exactly one argument") }
                let base = (config.WorkingDir ?? "").isEmpty ? "/" : config.WorkingDir!
                config.WorkingDir = CommitChanges.cleanPath(w.hasPrefix("/") ? w : base + "/" + w)
            case "VOLUME":
                let list = try CommitChanges.jsonArray(rest) ?? ShellWords.split(rest).map { try ShellWords.process($0, env: env) }
                guard !list.isEmpty else { throw BerthError(.invalidArgument, "VOLUME requires at least one argument") }
                var vols = config.Volumes ?? [:]
                for v in list {
                    let t = v.trimmingCharacters(in: .whitespaces)
                    guard !t.isEmpty else { throw BerthError(.invalidArgument, "VOLUME specified can not be an empty string") }
                    vols[t] = .object([:])
                }
                config.Volumes = vols
            case "STOPSIGNAL":
                let s = try ShellWords.process(rest, env: env)
                guard !s.isEmpty else { throw BerthError(.invalidArgument, "STOPSIGNAL requires exactly one argument") }
                guard CommitChanges.isSignal(s) else { throw BerthError(.invalidArgument, "Invalid signal: \(s)") }
                config.StopSignal = s
            case "ONBUILD":
                let trigger = CommitChanges.split(rest)?.0.uppercased() ?? ""
                switch trigger {
                case "": throw BerthError(.invalidArgument, "ONBUILD requires at least one argument")
                case "ONBUILD": throw BerthError(.invalidArgument, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
                case "FROM", "MAINTAINER": throw BerthError(.invalidArgument, "\(trigger) isn't allowed as an ONBUILD trigger")
                default: config.OnBuild = (config.OnBuild ?? []) + [rest]
                }
            case "HEALTHCHECK":
                config.Healthcheck = try CommitChanges.healthcheck(rest)
            default:
                throw BerthError(.invalidArgument, "\(keyword.lowercased()) is not a valid change command")
            }
        }
    }

    // MARK: - Argument forms

    /// Exec form (a JSON array of strings) or shell form (`/bin/sh -c "…"`).
    static func commandForm(_ rest: String) -> [String] {
        if let list = try? jsonArray(rest) { return list }
        return ["/bin/sh", "-c", rest]
    }

    /// A JSON array of strings, or nil when `rest` is not one.
    static func jsonArray(_ rest: String) throws -> [String]? {
        let t = rest.trimmingCharacters(in: .whitespaces)
        guard t.hasPrefix("["), let list = try? JSONDecoder().decode([String].self, from: Data(t.utf8)) else { return nil }
        return list
    }

    /// `ENV`/`LABEL` arguments: `name=value …` (quotes and `$VAR` processed) or the legacy `name value`.
    static func nameValues(_ rest: String, keyword: String, env: [String]) throws -> [(String, String)] {
        let words = try ShellWords.split(rest)
        guard let first = words.first else { throw BerthError(.invalidArgument, "\(keyword) requires at least one argument") }
        if !first.contains("=") {
            guard let (name, value) = split(rest), !value.isEmpty else {
                throw BerthError(.invalidArgument, "\(keyword) must have two arguments")
            }
            return [(try ShellWords.process(name, env: env), try ShellWords.process(value, env: env))]
        }
        return try words.map { w in
            guard let eq = w.firstIndex(of: "=") else {
                throw BerthError(.invalidArgument, "Syntax error - can't find = in \"\(w)\". Must be of the form: name=value")
            }
            let name = try ShellWords.process(String(w[..<eq]), env: env)
            guard !name.isEmpty else { throw BerthError(.invalidArgument, "\(keyword) names can not be blank") }
            return (name, try ShellWords.process(String(w[w.index(after: eq)...]), env: env))
        }
    }

    /// `80`, `80/udp`, `8000-8002/tcp` → `["80/tcp"]`, … (nat.ParsePortSpecs for container ports).
    static func ports(_ spec: String) throws -> [String] {
        var s = Substring(spec)
        var proto = "tcp"
        if let slash = s.lastIndex(of: "/") {
            proto = s[s.index(after: slash)...].lowercased()
            s = s[..<slash]
        }
        if let colon = s.lastIndex(of: ":") { s = s[s.index(after: colon)...] } // ip:host:container → container
        let bounds = s.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let lo = Int(bounds[0]), lo >= 0, lo <= 65535 else { throw BerthError(.invalidArgument, "Invalid containerPort: \(s)") }
        let hi = bounds.count == 2 ? Int(bounds[1]) : lo
        guard let hi, hi >= lo, hi <= 65535 else { throw BerthError(.invalidArgument, "Invalid containerPort: \(s)") }
        guard ["tcp", "udp", "sctp"].contains(proto) else { throw BerthError(.invalidArgument, "Invalid proto: \(proto)") }
        return (lo...hi).map { "\($0)/\(proto)" }
    }

    /// Go's `path.Clean` for absolute paths.
    static func cleanPath(_ p: String) -> String {
        var parts: [Substring] = []
        for c in p.split(separator: "/") where c != "." {
            if c == ".." { _ = parts.popLast() } else { parts.append(c) }
        }
        return "/" + parts.joined(separator: "/")
    }

    static func isSignal(_ s: String) -> Bool {
        if let n = Int(s) { return n > 0 && n < 65 }
        var name = s.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        if name.hasPrefix("RTMIN") || name.hasPrefix("RTMAX") { return true }
        return ["ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE",
                "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU",
                "UNUSED", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ"].contains(name)
    }
}
