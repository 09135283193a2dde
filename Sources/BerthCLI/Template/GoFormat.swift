#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import OCI

/// The parts of Go's `fmt` and `strconv` the CLI needs to print exactly what the docker CLI prints.
public enum GoFormat {
    // MARK: Floats

    /// Shortest round-trip decimal digits of `d` (no sign) and the decimal point position:
    /// value = 0.d1d2d3… × 10^dp.
    static func shortestDigits(_ d: Double) -> (digits: [UInt8], dp: Int) {
        let s = Array(String(abs(d)).utf8)  // Swift prints the shortest round-trip form
        var mantissa: [UInt8] = []
        var exp = 0
        var i = 0
        var pointPos: Int?
        while i < s.count, s[i] != UInt8(ascii: "e") {
            if s[i] == UInt8(ascii: ".") { pointPos = mantissa.count } else { mantissa.append(s[i]) }
            i += 1
        }
        if i < s.count {
            exp = Int(String(decoding: s[(i + 1)...], as: UTF8.self)) ?? 0
        }
        var dp = (pointPos ?? mantissa.count) + exp
        // Strip leading zeros.
        while mantissa.count > 1, mantissa.first == UInt8(ascii: "0") {
            mantissa.removeFirst()
            dp -= 1
        }
        while mantissa.count > 1, mantissa.last == UInt8(ascii: "0") { mantissa.removeLast() }
        if mantissa == [UInt8(ascii: "0")] { dp = 1 }
        return (mantissa, dp)
    }

    static func fmtE(_ digits: [UInt8], dp: Int, neg: Bool) -> String {
        var out = neg ? "-" : ""
        out.unicodeScalars.append(Unicode.Scalar(digits[0]))
        if digits.count > 1 {
            out += "."
            out += String(decoding: digits[1...], as: UTF8.self)
        }
        let exp = digits == [UInt8(ascii: "0")] ? 0 : dp - 1
        out += exp < 0 ? "e-" : "e+"
        let e = abs(exp)
        if e < 10 { out += "0" }
        out += String(e)
        return out
    }

    static func fmtF(_ digits: [UInt8], dp: Int, neg: Bool) -> String {
        var out = neg ? "-" : ""
        if dp <= 0 {
            out += "0."
            out += String(repeating: "0", count: -dp)
            out += String(decoding: digits, as: UTF8.self)
        } else if dp >= digits.count {
            out += String(decoding: digits, as: UTF8.self)
            out += String(repeating: "0", count: dp - digits.count)
        } else {
            out += String(decoding: digits[..<dp], as: UTF8.self)
            out += "."
            out += String(decoding: digits[dp...], as: UTF8.self)
        }
        return out
    }

    /// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`).
    public static func formatFloatV(_ f: Double) -> String {
        if f.isNaN { return "NaN" }
        if f.isInfinite { return f < 0 ? "-Inf" : "+Inf" }
        let (digits, dp) = shortestDigits(f)
        let neg = f.sign == .minus && f != 0
        // strconv 'g' with the shortest precision decides between %e and %f with precision 6.
        let exp = dp - 1
        if exp < -4 || exp >= 6 { return fmtE(digits, dp: dp, neg: neg) }
        return fmtF(digits, dp: dp, neg: neg)
    }

    /// Go's `encoding/json` float formatting.
    public static func formatFloatJSON(_ f: Double) -> String {
        if f.isNaN || f.isInfinite { return "null" }
        let a = abs(f)
        let (digits, dp) = shortestDigits(f)
        let neg = f.sign == .minus && f != 0
        if a != 0 && (a < 1e-6 || a >= 1e21) {
            var s = fmtE(digits, dp: dp, neg: neg)
            // e-09 → e-9, e+21 stays
            if let r = s.range(of: "e-0") { s.replaceSubrange(r, with: "e-") }
            if let r = s.range(of: "e+0") { s.replaceSubrange(r, with: "e+") }
            return s
        }
        return fmtF(digits, dp: dp, neg: neg)
    }

    /// C `snprintf` for one float conversion such as `%.3g` (matches Go for explicit precisions).
    public static func cFormat(_ spec: String, _ value: Double) -> String {
        var buf = [CChar](repeating: 0, count: 512)
        let n = withVaList([value]) { vsnprintf(&buf, buf.count, spec, $0) }
        guard n >= 0 else { return "" }
        return String(decoding: buf.prefix(Int(min(n, 511))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Quoting

    /// Go's `strconv.Quote` (kept here for the many formatting call sites; implemented in OCI).
    public static func quote(_ s: String) -> String { GoQuote.quote(s) }

    static func hex2(_ v: UInt32) -> String { pad(String(v, radix: 16), 2) }
    static func pad(_ s: String, _ n: Int) -> String { String(repeating: "0", count: max(0, n - s.count)) + s }

    // MARK: Sprintf

    struct Spec {
        var minus = false, plus = false, sharp = false, space = false, zero = false
        var width: Int?
        var precision: Int?
    }

    /// Go's `fmt.Sprintf` over template values (the verbs people use in `--format`).
    public static func sprintf(_ format: String, _ args: [TemplateValue]) -> String {
        let f = Array(format.unicodeScalars)
        var out = ""
        var argi = 0
        var i = 0
        while i < f.count {
            let c = f[i]
            if c != "%" {
                out.unicodeScalars.append(c)
                i += 1
                continue
            }
            i += 1
            guard i < f.count else { out += "%!(NOVERB)"; break }
            var spec = Spec()
            flags: while i < f.count {
                switch f[i] {
                case "-": spec.minus = true; spec.zero = false
                case "+": spec.plus = true
                case "#": spec.sharp = true
                case " ": spec.space = true
                case "0": spec.zero = !spec.minus
                default: break flags
                }
                i += 1
            }
            if i < f.count, f[i] == "*" {
                i += 1
                if argi < args.count, case .int(let w) = args[argi] {
                    spec.width = Int(w)
                    if w < 0 { spec.minus = true; spec.width = Int(-w) }
                } else {
                    out += "%!(BADWIDTH)"
                }
                argi += 1
            } else {
                var w = 0, any = false
                while i < f.count, let d = f[i].properties.numericType != nil ? Int(String(f[i])) : nil { w = w * 10 + d; any = true; i += 1 }
                if any { spec.width = w }
            }
            if i < f.count, f[i] == "." {
                i += 1
                if i < f.count, f[i] == "*" {
                    i += 1
                    if argi < args.count, case .int(let p) = args[argi] { spec.precision = Int(max(0, p)) } else { out += "%!(BADPREC)" }
                    argi += 1
                } else {
                    var p = 0
                    while i < f.count, let d = f[i].properties.numericType != nil ? Int(String(f[i])) : nil { p = p * 10 + d; i += 1 }
                    spec.precision = p
                }
            }
            guard i < f.count else { out += "%!(NOVERB)"; break }
            let verb = f[i]
            i += 1
            if verb == "%" { out += "%"; continue }
            guard argi < args.count else {
                out += "%!" + String(verb) + "(MISSING)"
                continue
            }
            let arg = args[argi]
            argi += 1
            out += formatOne(verb, arg, spec)
        }
        if argi < args.count {
            out += "%!(EXTRA "
            out += args[argi...].map { "\($0.fmtTypeName)=\($0.goString)" }.joined(separator: ", ")
            out += ")"
        }
        return out
    }

    static func padded(_ s: String, _ spec: Spec, numeric: Bool = false) -> String {
        guard let w = spec.width else { return s }
        let n = s.count
        if n >= w { return s }
        let fill = w - n
        if spec.minus { return s + String(repeating: " ", count: fill) }
        if spec.zero && numeric {
            if s.hasPrefix("-") || s.hasPrefix("+") {
                return String(s.first!) + String(repeating: "0", count: fill) + s.dropFirst()
            }
            return String(repeating: "0", count: fill) + s
        }
        return String(repeating: " ", count: fill) + s
    }

    static func badVerb(_ verb: Unicode.Scalar, _ v: TemplateValue) -> String {
        switch v {
        case .invalid, .null: return "%!" + String(verb) + "(<nil>)"
        default: return "%!" + String(verb) + "(" + v.fmtTypeName + "=" + v.goString + ")"
        }
    }

    static func formatInt(_ i: Int64, _ verb: Unicode.Scalar, _ spec: Spec) -> String? {
        var s: String
        switch verb {
        case "d", "v": s = String(i.magnitude)
        case "x": s = String(i.magnitude, radix: 16); if spec.sharp { s = "0x" + s }
        case "X": s = String(i.magnitude, radix: 16).uppercased(); if spec.sharp { s = "0X" + s }
        case "o": s = String(i.magnitude, radix: 8); if spec.sharp { s = "0" + s }
        case "b": s = String(i.magnitude, radix: 2)
        case "c": return padded(Unicode.Scalar(UInt32(truncatingIfNeeded: i)).map { String(Character($0)) } ?? "\u{FFFD}", spec)
        case "q": return padded("'" + (Unicode.Scalar(UInt32(truncatingIfNeeded: i)).map { String(Character($0)) } ?? "\u{FFFD}") + "'", spec)
        case "e", "E", "f", "F", "g", "G": return formatFloat(Double(i), verb, spec)
        default: return nil
        }
        if let p = spec.precision, s.count < p { s = String(repeating: "0", count: p - s.count) + s }
        if i < 0 { s = "-" + s } else if spec.plus { s = "+" + s } else if spec.space { s = " " + s }
        return padded(s, spec, numeric: spec.precision == nil)
    }

    static func formatFloat(_ d: Double, _ verb: Unicode.Scalar, _ spec: Spec) -> String? {
        var s: String
        switch verb {
        case "v", "g", "G":
            if let p = spec.precision {
                s = cFormat("%." + String(p) + (verb == "G" ? "G" : "g"), d)
            } else {
                s = formatFloatV(d)
                if verb == "G" { s = s.uppercased() }
            }
        case "e", "E", "f", "F":
            let p = spec.precision ?? 6
            s = cFormat("%." + String(p) + String(verb == "F" ? "f" : verb), d)
        default: return nil
        }
        if spec.plus && !s.hasPrefix("-") { s = "+" + s } else if spec.space && !s.hasPrefix("-") { s = " " + s }
        return padded(s, spec, numeric: true)
    }

    static func formatOne(_ verb: Unicode.Scalar, _ v: TemplateValue, _ spec: Spec) -> String {
        switch v {
        case .string(let s):
            switch verb {
            case "s", "v":
                var t = s
                if let p = spec.precision, t.count > p { t = String(t.prefix(p)) }
                return padded(t, spec)
            case "q": return padded(quote(s), spec)
            case "x", "X":
                var h = s.utf8.map { hex2(UInt32($0)) }.joined()
                if verb == "X" { h = h.uppercased() }
                return padded(h, spec)
            default: return badVerb(verb, v)
            }
        case .int(let i):
            return formatInt(i, verb, spec) ?? badVerb(verb, v)
        case .float(let d):
            return formatFloat(d, verb, spec) ?? badVerb(verb, v)
        case .bool(let b):
            if verb == "t" || verb == "v" { return padded(b ? "true" : "false", spec) }
            return badVerb(verb, v)
        case .invalid, .null:
            if verb == "v" || verb == "s" { return padded(verb == "v" ? "<nil>" : "%!s(<nil>)", spec) }
            return badVerb(verb, v)
        case .typedNil:
            return padded(v.goString, spec)
        case .array(let a):
            if verb == "q" {
                return "[" + a.map { formatOne(verb, $0, Spec()) }.joined(separator: " ") + "]"
            }
            return "[" + a.map { formatOne(verb, $0, spec) }.joined(separator: " ") + "]"
        case .map, .object:
            return padded(v.goString, spec)
        }
    }
}

extension TemplateValue {
    /// The Go type name `fmt` shows in `%!d(string=x)`.
    var fmtTypeName: String {
        switch self {
        case .string: return "string"
        case .int: return "int64"
        case .float: return "float64"
        case .bool: return "bool"
        case .array: return "[]interface {}"
        case .map: return "map[string]interface {}"
        case .object(let o): return o.templateTypeName
        case .invalid, .null, .typedNil: return "<nil>"
        }
    }
}
