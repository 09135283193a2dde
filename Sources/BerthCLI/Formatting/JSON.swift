/// JSON reading and writing the way Go's `encoding/json` does it, for `--format` and `inspect`.
///
/// Objects keep their key order (`TemplateMap`), so `{{json .Config}}` prints the daemon's order.
public enum JSON {
    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses one JSON document (surrounding whitespace allowed).
    public static func parse(_ bytes: some Collection<UInt8>) throws -> TemplateValue {
        let a = Array(bytes)
        return try a.withUnsafeBufferPointer { buf in
            var p = Parser(buf: buf)
            p.skipWS()
            let v = try p.value(depth: 0)
            p.skipWS()
            if p.i != buf.count { throw ParseError(description: "invalid character after top-level value") }
            return v
        }
    }

    public static func parse(_ string: String) throws -> TemplateValue { try parse(Array(string.utf8)) }

    struct Parser {
        let buf: UnsafeBufferPointer<UInt8>
        var i = 0

        mutating func skipWS() {
            while i < buf.count, buf[i] == 0x20 || buf[i] == 0x0A || buf[i] == 0x0D || buf[i] == 0x09 { i += 1 }
        }

        func err(_ m: String) -> ParseError { ParseError(description: m) }

        mutating func value(depth: Int) throws -> TemplateValue {
            guard depth < 10_000 else { throw err("exceeded max depth") }
            guard i < buf.count else { throw err("unexpected end of JSON input") }
            switch buf[i] {
            case UInt8(ascii: "{"):
                i += 1
                var m = TemplateMap()
                skipWS()
                if i < buf.count, buf[i] == UInt8(ascii: "}") { i += 1; return .map(m) }
                while true {
                    skipWS()
                    guard i < buf.count, buf[i] == UInt8(ascii: "\"") else { throw err("expected object key") }
                    let k = try string()
                    skipWS()
                    guard i < buf.count, buf[i] == UInt8(ascii: ":") else { throw err("expected ':'") }
                    i += 1
                    skipWS()
                    m[k] = try value(depth: depth + 1)
                    skipWS()
                    guard i < buf.count else { throw err("unexpected end of JSON input") }
                    if buf[i] == UInt8(ascii: ",") { i += 1; continue }
                    if buf[i] == UInt8(ascii: "}") { i += 1; return .map(m) }
                    throw err("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                i += 1
                var a: [TemplateValue] = []
                skipWS()
                if i < buf.count, buf[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                while true {
                    skipWS()
                    a.append(try value(depth: depth + 1))
                    skipWS()
                    guard i < buf.count else { throw err("unexpected end of JSON input") }
                    if buf[i] == UInt8(ascii: ",") { i += 1; continue }
                    if buf[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                    throw err("expected ',' or ']'")
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"):
                try literal("true"); return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false"); return .bool(false)
            case UInt8(ascii: "n"):
                try literal("null"); return .null
            default:
                return try number()
            }
        }

        mutating func literal(_ s: StaticString) throws {
            let n = s.utf8CodeUnitCount
            guard i + n <= buf.count else { throw err("unexpected end of JSON input") }
            let p = s.utf8Start
            for j in 0..<n where buf[i + j] != p[j] { throw err("invalid literal") }
            i += n
        }

        mutating func number() throws -> TemplateValue {
            let start = i
            var isFloat = false
            if i < buf.count, buf[i] == UInt8(ascii: "-") { i += 1 }
            while i < buf.count {
                let c = buf[i]
                if c >= 0x30 && c <= 0x39 { i += 1; continue }
                if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                    isFloat = true
                    i += 1
                    continue
                }
                break
            }
            guard i > start else { throw err("invalid character looking for beginning of value") }
            let text = String(decoding: UnsafeBufferPointer(rebasing: buf[start..<i]), as: UTF8.self)
            if !isFloat, let n = Int64(text) { return .int(n) }
            guard let d = Double(text) else { throw err("invalid number") }
            return .float(d)
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= buf.count else { throw err("invalid escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = buf[i]
                i += 1
                v <<= 4
                switch c {
                case 0x30...0x39: v |= UInt32(c - 0x30)
                case 0x61...0x66: v |= UInt32(c - 0x61 + 10)
                case 0x41...0x46: v |= UInt32(c - 0x41 + 10)
                default: throw err("invalid escape")
                }
            }
            return v
        }

        mutating func string() throws -> String {
            i += 1  // opening quote
            let start = i
            // Fast path: no escapes.
            while i < buf.count {
                let c = buf[i]
                if c == UInt8(ascii: "\"") {
                    let s = String(decoding: UnsafeBufferPointer(rebasing: buf[start..<i]), as: UTF8.self)
                    i += 1
                    return s
                }
                if c == UInt8(ascii: "\\") { break }
                i += 1
            }
            var bytes = Array(buf[start..<i])
            while i < buf.count {
                let c = buf[i]
                if c == UInt8(ascii: "\"") {
                    i += 1
                    return String(decoding: bytes, as: UTF8.self)
                }
                if c == UInt8(ascii: "\\") {
                    i += 1
                    guard i < buf.count else { break }
                    let e = buf[i]
                    i += 1
                    switch e {
                    case UInt8(ascii: "n"): bytes.append(0x0A)
                    case UInt8(ascii: "t"): bytes.append(0x09)
                    case UInt8(ascii: "r"): bytes.append(0x0D)
                    case UInt8(ascii: "b"): bytes.append(0x08)
                    case UInt8(ascii: "f"): bytes.append(0x0C)
                    case UInt8(ascii: "/"): bytes.append(0x2F)
                    case UInt8(ascii: "\\"): bytes.append(0x5C)
                    case UInt8(ascii: "\""): bytes.append(0x22)
                    case UInt8(ascii: "u"):
                        var cp = try hex4()
                        if cp >= 0xD800 && cp < 0xDC00, i + 6 <= buf.count, buf[i] == UInt8(ascii: "\\"), buf[i + 1] == UInt8(ascii: "u") {
                            let save = i
                            i += 2
                            let lo = try hex4()
                            if lo >= 0xDC00 && lo < 0xE000 {
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                i = save
                            }
                        }
                        let scalar = Unicode.Scalar(cp) ?? "\u{FFFD}"
                        bytes.append(contentsOf: Array(String(Character(scalar)).utf8))
                    default: throw err("invalid escape")
                    }
                    continue
                }
                bytes.append(c)
                i += 1
            }
            throw err("unexpected end of JSON input")
        }
    }

    // MARK: - Encoding (Go's json.Marshal: compact, HTML escaping optional)

    /// Go's `json.Marshal` of a template value. Maps keep their order; context objects marshal themselves.
    public static func encode(_ v: TemplateValue, escapeHTML: Bool) -> String {
        var out = ""
        encode(v, into: &out, escapeHTML: escapeHTML)
        return out
    }

    static func encode(_ v: TemplateValue, into out: inout String, escapeHTML: Bool) {
        switch v {
        case .invalid, .null, .typedNil: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .float(let f): out += GoFormat.formatFloatJSON(f)
        case .string(let s): appendQuoted(s, into: &out, escapeHTML: escapeHTML)
        case .array(let a):
            out += "["
            for (i, e) in a.enumerated() {
                if i > 0 { out += "," }
                encode(e, into: &out, escapeHTML: escapeHTML)
            }
            out += "]"
        case .map(let m):
            out += "{"
            var i = 0
            for (k, e) in m.pairs {
                // Nil fields of structs are `omitempty` in Docker's API types.
                if m.isStruct, case .typedNil = e { continue }
                if i > 0 { out += "," }
                i += 1
                appendQuoted(k, into: &out, escapeHTML: escapeHTML)
                out += ":"
                encode(e, into: &out, escapeHTML: escapeHTML)
            }
            out += "}"
        case .object(let o):
            encode(o.templateJSON(), into: &out, escapeHTML: escapeHTML || o.templateJSONEscapesHTML)
        }
    }

    static let hexDigits = Array("0123456789abcdef".utf8)

    /// Go's JSON string quoting.
    public static func appendQuoted(_ s: String, into out: inout String, escapeHTML: Bool) {
        out += "\""
        var needsEscape = false
        for b in s.utf8 where b < 0x20 || b == 0x22 || b == 0x5C || (escapeHTML && (b == 0x3C || b == 0x3E || b == 0x26)) || b == 0xE2 {
            needsEscape = true
            break
        }
        if !needsEscape {
            out += s
            out += "\""
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{2028}": out += "\\u2028"
            case "\u{2029}": out += "\\u2029"
            default:
                if scalar.value < 0x20 || (escapeHTML && (scalar == "<" || scalar == ">" || scalar == "&")) {
                    out += "\\u00"
                    out.unicodeScalars.append(Unicode.Scalar(hexDigits[Int(scalar.value >> 4)]))
                    out.unicodeScalars.append(Unicode.Scalar(hexDigits[Int(scalar.value & 0xF)]))
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    // MARK: - Indent (Go's json.Indent)

    /// Go's `json.Indent(dst, src, prefix "", indent)`: re-indents raw JSON without reordering anything.
    public static func indent(_ src: some Collection<UInt8>, indent: String = "    ") -> [UInt8] {
        var dst: [UInt8] = []
        dst.reserveCapacity(src.count * 2)
        let ind = Array(indent.utf8)
        var depth = 0
        var needIndent = false
        var inString = false
        var escaped = false
        func newline() {
            dst.append(0x0A)
            for _ in 0..<depth { dst.append(contentsOf: ind) }
        }
        for c in src {
            if inString {
                dst.append(c)
                if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 { inString = false }
                continue
            }
            if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { continue }
            if needIndent && c != UInt8(ascii: "}") && c != UInt8(ascii: "]") {
                needIndent = false
                depth += 1
                newline()
            }
            switch c {
            case UInt8(ascii: "\""):
                inString = true
                dst.append(c)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                needIndent = true
                dst.append(c)
            case UInt8(ascii: ","):
                dst.append(c)
                newline()
            case UInt8(ascii: ":"):
                dst.append(c)
                dst.append(0x20)
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if needIndent {
                    needIndent = false
                } else {
                    depth -= 1
                    newline()
                }
                dst.append(c)
            default:
                dst.append(c)
            }
        }
        return dst
    }
}
