import Foundation

/// The functions a template may call: Go's builtins plus Docker's (`json`, `split`, `join`, `title`,
/// `lower`, `upper`, `pad`, `truncate`).
public struct TemplateFunctions: Sendable {
    public typealias Function = @Sendable ([TemplateValue]) throws -> TemplateValue
    var table: [String: Function]

    public init(_ table: [String: Function]) { self.table = table }

    func has(_ name: String) -> Bool { name == "and" || name == "or" || table[name] != nil }

    /// A copy with `name` added or replaced.
    public func adding(_ name: String, _ fn: @escaping Function) -> TemplateFunctions {
        var c = self
        c.table[name] = fn
        return c
    }

    /// Go builtins + Docker's `basicFunctions`.
    public static let standard = TemplateFunctions(builtins.merging(docker) { $1 })

    /// Go builtins + Docker's `HeaderFunctions` (which leave header strings intact).
    public static let header = TemplateFunctions(builtins.merging(headerVariants) { $1 })

    typealias E = GoTemplate.FunctionError
    typealias A = GoTemplate.ArgumentError

    static func want(_ name: String, _ args: [TemplateValue], _ n: Int) throws {
        if args.count != n { throw A("wrong number of args for \(name): want \(n) got \(args.count)") }
    }

    /// A string argument, with Go's reflection errors for other types.
    static func str(_ v: TemplateValue) throws -> String {
        switch v {
        case .string(let s): return s
        case .invalid, .null: throw A("invalid value; expected string")
        default: throw A("wrong type for value; expected string; got \(v.fmtTypeName)")
        }
    }

    static func int(_ v: TemplateValue) throws -> Int {
        switch v {
        case .int(let i): return Int(i)
        case .float(let f) where f == f.rounded(): return Int(f)
        case .invalid, .null: throw A("invalid value; expected int")
        default: throw A("wrong type for value; expected int; got \(v.fmtTypeName)")
        }
    }

    static func stringList(_ v: TemplateValue) throws -> [String] {
        switch v {
        case .array(let a): return a.map { if case .string(let s) = $0 { return s } else { return $0.goString } }
        case .invalid, .null, .typedNil: return []
        default: throw A("wrong type for value; expected []string; got \(v.fmtTypeName)")
        }
    }

    // MARK: Go builtins

    static let builtins: [String: Function] = [
        "not": { a in try want("not", a, 1); return .bool(!a[0].isTruthy) },
        "len": { a in
            try want("len", a, 1)
            switch a[0] {
            case .string(let s): return .int(Int64(s.utf8.count))
            case .array(let x): return .int(Int64(x.count))
            case .map(let m): return .int(Int64(m.count))
            case .typedNil(let k) where k != .pointer: return .int(0)
            case .invalid, .null, .typedNil: throw E("len of nil pointer")
            default: throw E("len of type \(a[0].fmtTypeName)")
            }
        },
        "index": { a in
            guard !a.isEmpty else { throw A("wrong number of args for index: want at least 1 got 0") }
            var item = a[0]
            for idx in a.dropFirst() {
                switch item {
                case .array(let arr):
                    let i = try indexInt(idx)
                    guard i >= 0 && i < arr.count else { throw E("index out of range: \(i)") }
                    item = arr[i]
                case .string(let s):
                    let i = try indexInt(idx)
                    let u = Array(s.utf8)
                    guard i >= 0 && i < u.count else { throw E("index out of range: \(i)") }
                    item = .int(Int64(u[i]))
                case .map(let m):
                    guard case .string(let k) = idx else { throw E("value has type \(idx.fmtTypeName); should be string") }
                    if let v = m[k] { item = v } else {
                        // Zero value of the element type: "" for string maps (Labels), nil otherwise.
                        let allStrings = m.pairs.allSatisfy { if case .string = $0.1 { return true } else { return false } }
                        item = allStrings ? .string("") : .null
                    }
                case .null, .typedNil:
                    item = .string("")
                case .invalid:
                    throw E("index of untyped nil")
                default:
                    throw E("can't index item of type \(item.fmtTypeName)")
                }
            }
            return item
        },
        "slice": { a in
            guard !a.isEmpty else { throw A("wrong number of args for slice: want at least 1 got 0") }
            guard a.count <= 4 else { throw E("too many slice indexes: \(a.count - 1)") }
            let idx = try a.dropFirst().map { try indexInt($0) }
            switch a[0] {
            case .string(let s):
                let u = Array(s.utf8)
                let lo = idx.count > 0 ? idx[0] : 0, hi = idx.count > 1 ? idx[1] : u.count
                guard idx.count < 3 else { throw E("cannot 3-index slice a string") }
                guard lo >= 0, hi <= u.count, lo <= hi else { throw E("index out of range: \(hi)") }
                return .string(String(decoding: u[lo..<hi], as: UTF8.self))
            case .array(let arr):
                let lo = idx.count > 0 ? idx[0] : 0, hi = idx.count > 1 ? idx[1] : arr.count
                guard lo >= 0, hi <= arr.count, lo <= hi else { throw E("index out of range: \(hi)") }
                return .array(Array(arr[lo..<hi]))
            default:
                throw E("can't slice item of type \(a[0].fmtTypeName)")
            }
        },
        "print": { a in .string(sprint(a)) },
        "println": { a in .string(a.map(\.goStringNested).joined(separator: " ") + "\n") },
        "printf": { a in
            guard !a.isEmpty else { throw A("wrong number of args for printf: want at least 1 got 0") }
            return .string(GoFormat.sprintf(try str(a[0]), Array(a.dropFirst())))
        },
        "eq": { a in
            guard a.count >= 2 else { throw E("missing argument for comparison") }
            for b in a.dropFirst() where try equal(a[0], b) { return .bool(true) }
            return .bool(false)
        },
        "ne": { a in try want("ne", a, 2); return .bool(try !equal(a[0], a[1])) },
        "lt": { a in try want("lt", a, 2); return .bool(try less(a[0], a[1])) },
        "le": { a in try want("le", a, 2); return .bool(try less(a[0], a[1]) || equal(a[0], a[1])) },
        "gt": { a in try want("gt", a, 2); return .bool(try !less(a[0], a[1]) && !equal(a[0], a[1])) },
        "ge": { a in try want("ge", a, 2); return .bool(try !less(a[0], a[1])) },
        "html": { a in .string(htmlEscape(sprint(a))) },
        "js": { a in .string(jsEscape(sprint(a))) },
        "urlquery": { a in .string(queryEscape(sprint(a))) },
        "call": { _ in throw E("call is not supported") },
    ]

    static func indexInt(_ v: TemplateValue) throws -> Int {
        switch v {
        case .int(let i): return Int(i)
        case .float(let f) where f == f.rounded(): return Int(f)
        case .invalid, .null: throw E("cannot index slice/array with nil")
        default: throw E("cannot index slice/array with type \(v.fmtTypeName)")
        }
    }

    /// Go's `fmt.Sprint`: spaces between operands when neither is a string.
    static func sprint(_ a: [TemplateValue]) -> String {
        var out = ""
        for (i, v) in a.enumerated() {
            if i > 0 {
                var prevIsString = false, isString = false
                if case .string = a[i - 1] { prevIsString = true }
                if case .string = v { isString = true }
                if !prevIsString && !isString { out += " " }
            }
            out += v.goStringNested
        }
        return out
    }

    enum Kind { case bool, int, float, string, nilKind, other }
    static func kind(_ v: TemplateValue) -> Kind {
        switch v {
        case .bool: return .bool
        case .int: return .int
        case .float: return .float
        case .string: return .string
        case .invalid, .null, .typedNil: return .nilKind
        default: return .other
        }
    }

    static func equal(_ x: TemplateValue, _ y: TemplateValue) throws -> Bool {
        let kx = kind(x), ky = kind(y)
        if kx == .nilKind || ky == .nilKind { return kx == ky }
        switch (x, y) {
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.float(let a), .float(let b)): return a == b
        case (.int(let a), .float(let b)), (.float(let b), .int(let a)): return Double(a) == b
        case (.string(let a), .string(let b)): return a == b
        default:
            if kx == .other || ky == .other {
                if kx == ky { throw E("non-comparable types \(x.goString): \(x.fmtTypeName), \(y.fmtTypeName): \(y.goString)") }
                throw E("incompatible types for comparison")
            }
            throw E("incompatible types for comparison")
        }
    }

    static func less(_ x: TemplateValue, _ y: TemplateValue) throws -> Bool {
        switch (x, y) {
        case (.int(let a), .int(let b)): return a < b
        case (.float(let a), .float(let b)): return a < b
        case (.int(let a), .float(let b)): return Double(a) < b
        case (.float(let a), .int(let b)): return a < Double(b)
        case (.string(let a), .string(let b)): return a.utf8.lexicographicallyPrecedes(b.utf8)
        default:
            if kind(x) != kind(y) && kind(x) != .other && kind(y) != .other { throw E("incompatible types for comparison") }
            throw E("invalid type for comparison")
        }
    }

    static func htmlEscape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "'": out += "&#39;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "\0": out += "\u{FFFD}"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func jsEscape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "'": out += "\\'"
            case "\"": out += "\\\""
            case "<": out += "\\u003C"
            case ">": out += "\\u003E"
            case "&": out += "\\u0026"
            case "=": out += "\\u003D"
            default:
                if c.value < 0x20 {
                    let h = String(c.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out
    }

    static func queryEscape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            case 0x20: out += "+"
            default: out += "%" + String(b, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out
    }

    // MARK: Docker's functions (docker/cli templates.basicFunctions)

    static let docker: [String: Function] = [
        "json": { a in
            try want("json", a, 1)
            return .string(JSON.encode(a[0], escapeHTML: false))
        },
        "split": { a in
            try want("split", a, 2)
            let s = try str(a[0]), sep = try str(a[1])
            return .strings(goSplit(s, sep))
        },
        "join": { a in
            try want("join", a, 2)
            return .string(try stringList(a[0]).joined(separator: try str(a[1])))
        },
        "title": { a in try want("title", a, 1); return .string(goTitle(try str(a[0]))) },
        "lower": { a in try want("lower", a, 1); return .string(try str(a[0]).lowercased()) },
        "upper": { a in try want("upper", a, 1); return .string(try str(a[0]).uppercased()) },
        "pad": { a in
            try want("pad", a, 3)
            let s = try str(a[0])
            if s.isEmpty { return .string(s) }
            return .string(String(repeating: " ", count: max(0, try int(a[1]))) + s + String(repeating: " ", count: max(0, try int(a[2]))))
        },
        "truncate": { a in
            try want("truncate", a, 2)
            let s = try str(a[0]), n = try int(a[1])
            let u = Array(s.utf8)
            if u.count < n { return .string(s) }
            return .string(String(decoding: u[..<max(0, n)], as: UTF8.self))
        },
    ]

    /// Docker's `HeaderFunctions`: the header stays as it is.
    static let headerVariants: [String: Function] = [
        "json": { a in try want("json", a, 1); return .string(headerString(a[0])) },
        "split": { a in try want("split", a, 2); return .string(headerString(a[0])) },
        "join": { a in try want("join", a, 2); return .string(headerString(a[0])) },
        "title": { a in try want("title", a, 1); return .string(headerString(a[0])) },
        "lower": { a in try want("lower", a, 1); return .string(headerString(a[0])) },
        "upper": { a in try want("upper", a, 1); return .string(headerString(a[0])) },
        "truncate": { a in try want("truncate", a, 2); return .string(headerString(a[0])) },
        "pad": docker["pad"]!,
    ]

    static func headerString(_ v: TemplateValue) -> String {
        if case .string(let s) = v { return s }
        return v.goString
    }

    /// Go's `strings.Split`.
    static func goSplit(_ s: String, _ sep: String) -> [String] {
        if sep.isEmpty { return s.map { String($0) } }
        return s.components(separatedBy: sep)
    }

    /// Go's deprecated `strings.Title`: upper-cases letters that begin words.
    static func goTitle(_ s: String) -> String {
        var out = ""
        var prevIsSep = true
        for c in s.unicodeScalars {
            if prevIsSep { out += String(c).uppercased() } else { out.unicodeScalars.append(c) }
            let p = c.properties
            if c.isASCII {
                prevIsSep = !(p.isAlphabetic || (c.value >= 0x30 && c.value <= 0x39) || c == "_")
            } else {
                prevIsSep = p.isWhitespace
            }
        }
        return out
    }
}

extension TemplateValue {
    /// `%v` of a value nested in an operand list (nil interface prints `<nil>`).
    var goStringNested: String {
        var s = ""
        appendGoString(to: &s, top: false)
        return s
    }
}

extension String {
    func leftPadded(_ n: Int, with c: Character = "0") -> String {
        count >= n ? self : String(repeating: c, count: n - count) + self
    }
}
