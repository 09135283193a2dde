import APIModels
import Foundation
import OCI

/// The Dockerfile word rules `--change` arguments go through: BuildKit's `parseWords` (split on blanks,
/// quotes kept) and its shell lexer's `ProcessWord` (quotes removed, `\` escapes, `$VAR`/`${VAR}`
/// and `${VAR:-x}`/`${VAR:+x}`/`${VAR-x}`/`${VAR+x}` expanded from the config's environment).
enum ShellWords {
    /// Splits on blanks outside quotes; quotes and escapes stay in the words.
    static func split(_ text: String) throws -> [String] {
        var words: [String] = []
        var word = ""
        var quote: Character?
        var inWord = false
        var blankOK = false
        var it = Array(text)[...]
        while let ch = it.popFirst() {
            if let q = quote {
                if ch == "\\" && q != "'" {
                    guard let next = it.popFirst() else { quote = nil; continue }
                    word.append(ch)
                    word.append(next)
                    continue
                }
                word.append(ch)
                if ch == q { quote = nil }
                continue
            }
            if ch.isWhitespace {
                if inWord && (blankOK || !word.isEmpty) { words.append(word) }
                inWord = false
                word = ""
                blankOK = false
                continue
            }
            inWord = true
            if ch == "'" || ch == "\"" {
                quote = ch
                blankOK = true
            }
            if ch == "\\" {
                guard let next = it.popFirst() else { continue }
                word.append(ch)
                word.append(next)
                continue
            }
            word.append(ch)
        }
        if inWord && (blankOK || !word.isEmpty) { words.append(word) }
        return words
    }

    /// Processes one word: quotes removed, escapes resolved, variables expanded.
    static func process(_ word: String, env: [String]) throws -> String {
        var vars: [String: String] = [:]
        for kv in env {
            let parts = kv.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            vars[String(parts[0])] = parts.count == 2 ? String(parts[1]) : ""
        }
        var it = Array(word)[...]
        return try lex(&it, vars: vars, until: nil)
    }

    private static func lex(_ it: inout ArraySlice<Character>, vars: [String: String], until stop: Character?) throws -> String {
        var out = ""
        while let ch = it.first {
            if let stop, ch == stop { return out }
            it.removeFirst()
            switch ch {
            case "'":
                guard let end = it.firstIndex(of: "'") else {
                    throw BerthError(.invalidArgument, "unexpected end of statement while looking for matching single-quote")
                }
                out += String(it[..<end])
                it = it[(end + 1)...]
            case "\"":
                var closed = false
                while let c = it.popFirst() {
                    if c == "\"" { closed = true; break }
                    if c == "\\", let n = it.first {
                        it.removeFirst()
                        if n == "\"" || n == "$" || n == "\\" { out.append(n) } else { out.append(c); out.append(n) }
                    } else if c == "$" {
                        out += try variable(&it, vars: vars)
                    } else {
                        out.append(c)
                    }
                }
                guard closed else {
                    throw BerthError(.invalidArgument, "unexpected end of statement while looking for matching double-quote")
                }
            case "\\":
                if let n = it.popFirst() { out.append(n) }
            case "$":
                out += try variable(&it, vars: vars)
            default:
                out.append(ch)
            }
        }
        return out
    }

    private static func isNameChar(_ c: Character) -> Bool { c == "_" || (c.isASCII && (c.isLetter || c.isNumber)) }

    /// After a `$`: `NAME`, `{NAME}`, `{NAME:-word}`…; a `$` followed by anything else is literal.
    private static func variable(_ it: inout ArraySlice<Character>, vars: [String: String]) throws -> String {
        guard let first = it.first else { return "$" }
        if first != "{" {
            var name = ""
            while let c = it.first, isNameChar(c) {
                name.append(c)
                it.removeFirst()
            }
            return name.isEmpty ? "$" : vars[name] ?? ""
        }
        it.removeFirst()
        var name = ""
        while let c = it.first, isNameChar(c) {
            name.append(c)
            it.removeFirst()
        }
        guard let c = it.popFirst() else { throw BerthError(.invalidArgument, "missing '}'") }
        if c == "}" { return vars[name] ?? "" }
        var op = String(c)
        if c == ":", let n = it.popFirst() { op.append(n) }
        let word = try lex(&it, vars: vars, until: "}")
        guard it.popFirst() == "}" else { throw BerthError(.invalidArgument, "missing '}'") }
        let value = vars[name]
        switch op {
        case ":-": return (value ?? "").isEmpty ? word : value!
        case "-": return value ?? word
        case ":+": return (value ?? "").isEmpty ? "" : word
        case "+": return value == nil ? "" : word
        default: throw BerthError(.invalidArgument, "unsupported modifier (\(op)) in substitution")
        }
    }
}

extension CommitChanges {
    /// `HEALTHCHECK [--interval=… --timeout=… --start-period=… --start-interval=… --retries=…] CMD …` or `NONE`.
    static func healthcheck(_ rest: String) throws -> JSONValue {
        var words = try ShellWords.split(rest)
        var flags: [String: String] = [:]
        var remainder = rest.trimmingCharacters(in: .whitespaces)
        while let w = words.first, w.hasPrefix("--") {
            let body = w.dropFirst(2)
            guard let eq = body.firstIndex(of: "=") else { throw BerthError(.invalidArgument, "Missing a value on flag: \(w)") }
            let name = String(body[..<eq])
            guard ["interval", "timeout", "start-period", "start-interval", "retries"].contains(name) else {
                throw BerthError(.invalidArgument, "Unknown flag: \(name)")
            }
            flags[name] = try ShellWords.process(String(body[body.index(after: eq)...]), env: [])
            words.removeFirst()
            remainder = remainder.dropFirst(w.count).trimmingCharacters(in: .whitespaces)
        }
        guard let typeWord = words.first else { throw BerthError(.invalidArgument, "HEALTHCHECK requires at least one argument") }
        let type = typeWord.uppercased()
        let args = remainder.dropFirst(typeWord.count).trimmingCharacters(in: .whitespaces)
        if type == "NONE" {
            guard args.isEmpty, flags.isEmpty else { throw BerthError(.invalidArgument, "HEALTHCHECK NONE takes no arguments") }
            return .object(["Test": .array([.string("NONE")])])
        }
        guard type == "CMD" else { throw BerthError(.invalidArgument, "Unknown type \"\(type)\" in HEALTHCHECK (try CMD)") }
        var test: [String]
        if let list = try jsonArray(args) { test = ["CMD"] + list } else { test = ["CMD-SHELL", args] }
        guard test.count > 1, !(test.count == 2 && test[1].isEmpty) else {
            throw BerthError(.invalidArgument, "Missing command after HEALTHCHECK CMD")
        }
        var out: [String: JSONValue] = ["Test": .array(test.map(JSONValue.string))]
        for (flag, key) in [("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"), ("start-interval", "StartInterval")] {
            guard let v = flags[flag], !v.isEmpty else { continue }
            guard let ns = goDuration(v) else { throw BerthError(.invalidArgument, "time: invalid duration \"\(v)\"") }
            if ns == 0 { continue }
            guard ns >= 1_000_000 else { throw BerthError(.invalidArgument, "Interval \"\(flag)\" cannot be less than 1ms") }
            out[key] = .number(Double(ns))
        }
        if let r = flags["retries"], !r.isEmpty {
            guard let n = Int32(r) else { throw BerthError(.invalidArgument, "strconv.ParseInt: parsing \"\(r)\": invalid syntax") }
            guard n >= 0 else { throw BerthError(.invalidArgument, "--retries cannot be negative (\(n))") }
            if n > 0 { out["Retries"] = .number(Double(n)) }
        }
        return .object(out)
    }

    /// Go's `time.ParseDuration` in nanoseconds (`1h30m`, `1.5s`, `300ms`); nil when invalid.
    static func goDuration(_ s: String) -> Int64? {
        if s == "0" { return 0 }
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 6e10), ("h", 3.6e12)]
        var rest = Substring(s)
        var negative = false
        if rest.first == "-" || rest.first == "+" { negative = rest.first == "-"; rest = rest.dropFirst() }
        guard !rest.isEmpty else { return nil }
        var total = 0.0
        while !rest.isEmpty {
            let num = rest.prefix { $0.isNumber || $0 == "." }
            guard !num.isEmpty, let v = Double(num) else { return nil }
            rest = rest.dropFirst(num.count)
            let unitText = rest.prefix { !($0.isNumber || $0 == ".") }
            guard let unit = units.first(where: { $0.0 == unitText }) else { return nil }
            rest = rest.dropFirst(unitText.count)
            total += v * unit.1
        }
        return Int64(negative ? -total : total)
    }
}
