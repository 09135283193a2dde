import Foundation
import OCI
import Storage

/// The `filters` of image list and prune, read as moby's `filters.Args` does.
struct ImageFilters {
    let raw: [String: [String]]

    init(_ raw: [String: [String]], accepted: Set<String>) throws {
        for key in raw.keys where !accepted.contains(key) {
            throw BerthError(.invalidArgument, "invalid filter '\(key)'")
        }
        self.raw = raw
    }

    func contains(_ key: String) -> Bool { !(raw[key] ?? []).isEmpty }
    func values(_ key: String) -> [String] { raw[key] ?? [] }

    /// `ExactMatch`-style `dangling=true|false` for `images/json` (nil when absent).
    func danglingExact() throws -> Bool? {
        guard contains("dangling") else { return nil }
        let v = values("dangling")
        if v.contains("true") { return true }
        if v.contains("false") { return false }
        throw BerthError(.invalidArgument, "invalid filter 'dangling=[\(v.joined(separator: " "))]'")
    }

    /// `GetBoolOrDefault` (strconv.ParseBool values) for prune.
    func bool(_ key: String, default def: Bool) throws -> Bool {
        let v = values(key)
        guard let first = v.first else { return def }
        switch first {
        case "1", "t", "T", "TRUE", "true", "True": return true
        case "0", "f", "F", "FALSE", "false", "False": return false
        default: throw BerthError(.invalidArgument, "invalid filter '\(key)=[\(v.joined(separator: " "))]'")
        }
    }

    /// `MatchKVList(key, labels)`: every `k` or `k=v` given must be present (true when the key is absent).
    func matchKVList(_ key: String, _ labels: [String: String]) -> Bool {
        for f in values(key) {
            if let eq = f.firstIndex(of: "=") {
                let k = String(f[..<eq]), v = String(f[f.index(after: eq)...])
                guard labels[k] == v else { return false }
            } else if labels[f] == nil {
                return false
            }
        }
        return true
    }

    /// Prune's label rule: `label` must all match, and no `label!` may match.
    func matchLabels(_ labels: [String: String]) -> Bool {
        guard matchKVList("label", labels) else { return false }
        if contains("label!") {
            for f in values("label!") {
                let one = ImageFilters(unchecked: ["label!": [f]])
                if one.matchKVList("label!", labels) { return false }
            }
        }
        return true
    }

    private init(unchecked: [String: [String]]) { raw = unchecked }

    /// `until`: moby's `timetypes.GetTimestamp` relative to now; the latest of several values wins.
    func until(now: Date = Date()) throws -> RFC3339.Stamp? {
        var result: RFC3339.Stamp?
        for v in values("until") {
            guard let s = Timestamps.parse(v, now: now) else {
                throw BerthError(.invalidArgument, "failed to parse value \(v) of filter until")
            }
            result = s
        }
        return result
    }
}

/// moby `api/types/time.GetTimestamp`: Go durations (relative to now), Unix seconds with fraction,
/// or RFC 3339-style dates (local time assumed to be UTC when no zone is given).
enum Timestamps {
    static func parse(_ value: String, now: Date) -> RFC3339.Stamp? {
        if let d = goDuration(value) {
            let t = now.timeIntervalSince1970 - d
            let secs = Int64(t.rounded(.down))
            return RFC3339.Stamp(seconds: secs, nanos: Int32((t - Double(secs)) * 1e9), offsetSeconds: 0)
        }
        if let dot = value.firstIndex(of: "."), let s = Int64(value[..<dot]), value[value.index(after: dot)...].allSatisfy(\.isNumber) {
            var frac = String(value[value.index(after: dot)...].prefix(9))
            while frac.count < 9 { frac += "0" }
            return RFC3339.Stamp(seconds: s, nanos: Int32(frac) ?? 0, offsetSeconds: 0)
        }
        if let s = Int64(value) { return RFC3339.Stamp(seconds: s, nanos: 0, offsetSeconds: 0) }
        if let s = RFC3339.parseStamp(value) { return s }
        // Partial dates: 2006-01-02, 2006-01-02T15:04, 2006-01-02T15:04:05 (no zone: UTC).
        let candidates = [value + "T00:00:00Z", value + ":00Z", value + "Z"]
        for c in candidates { if let s = RFC3339.parseStamp(c) { return s } }
        return nil
    }

    /// Go's `time.ParseDuration` (seconds), e.g. `10m`, `1h30m`, `1.5h`, `300ms`.
    static func goDuration(_ s: String) -> Double? {
        var u = Substring(s)
        var sign = 1.0
        if u.hasPrefix("-") { sign = -1; u = u.dropFirst() } else if u.hasPrefix("+") { u = u.dropFirst() }
        if u == "0" { return 0 }
        guard !u.isEmpty else { return nil }
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("μs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        var total = 0.0
        while !u.isEmpty {
            let num = u.prefix(while: { $0.isNumber || $0 == "." })
            guard !num.isEmpty, let v = Double(num) else { return nil }
            u = u.dropFirst(num.count)
            guard let (name, mult) = units.first(where: { u.hasPrefix($0.0) && !(($0.0 == "m") && u.hasPrefix("ms")) }) else { return nil }
            u = u.dropFirst(name.count)
            total += v * mult
        }
        return sign * total
    }
}

/// Go's `path.Match` (shell patterns; `*` and `?` never match `/`), as `reference.FamiliarMatch` uses.
enum PathMatch {
    static func match(_ pattern: String, _ name: String) throws -> Bool {
        try match(Array(pattern.unicodeScalars), Array(name.unicodeScalars))
    }

    private static func match(_ p: [Unicode.Scalar], _ n: [Unicode.Scalar]) throws -> Bool {
        var pi = 0, ni = 0
        var starP = -1, starN = 0
        while ni < n.count {
            if pi < p.count {
                switch p[pi] {
                case "*":
                    starP = pi
                    starN = ni
                    pi += 1
                    continue
                case "?":
                    if n[ni] != "/" {
                        pi += 1; ni += 1
                        continue
                    }
                case "[":
                    if let (ok, next) = try matchClass(p, pi, n[ni]), ok, n[ni] != "/" {
                        pi = next; ni += 1
                        continue
                    }
                case "\\":
                    guard pi + 1 < p.count else { throw BerthError(.invalidArgument, "syntax error in pattern") }
                    if p[pi + 1] == n[ni] {
                        pi += 2; ni += 1
                        continue
                    }
                default:
                    if p[pi] == n[ni] {
                        pi += 1; ni += 1
                        continue
                    }
                }
            }
            // Backtrack: let the last star eat one more character (never a '/').
            if starP >= 0 && n[starN] != "/" {
                starN += 1
                ni = starN
                pi = starP + 1
                continue
            }
            return false
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        if pi < p.count {
            // Validate the rest of the pattern as Go does (a bad class is an error).
            var i = pi
            while i < p.count {
                if p[i] == "[" { _ = try matchClass(p, i, "a") }
                i += 1
            }
            return false
        }
        return true
    }

    /// Matches `[...]` at `p[start]` against `c`; returns (matched, index after `]`).
    private static func matchClass(_ p: [Unicode.Scalar], _ start: Int, _ c: Unicode.Scalar) throws -> (Bool, Int)? {
        var i = start + 1
        var negated = false
        if i < p.count && p[i] == "^" { negated = true; i += 1 }
        var matched = false
        var first = true
        while true {
            guard i < p.count else { throw BerthError(.invalidArgument, "syntax error in pattern") }
            if p[i] == "]" && !first { i += 1; break }
            first = false
            var lo = p[i]
            if lo == "\\" { i += 1; guard i < p.count else { throw BerthError(.invalidArgument, "syntax error in pattern") }; lo = p[i] }
            i += 1
            var hi = lo
            if i + 1 < p.count && p[i] == "-" && p[i + 1] != "]" {
                i += 1
                hi = p[i]
                if hi == "\\" { i += 1; guard i < p.count else { throw BerthError(.invalidArgument, "syntax error in pattern") }; hi = p[i] }
                i += 1
            }
            if lo.value <= c.value && c.value <= hi.value { matched = true }
        }
        return (matched != negated, i)
    }

    /// `reference.FamiliarMatch`: the pattern against the familiar string, then the familiar name.
    static func familiarMatch(_ pattern: String, _ ref: Reference) throws -> Bool {
        if try match(pattern, ref.familiarString) { return true }
        return (try? match(pattern, ref.familiarName)) ?? false
    }
}
