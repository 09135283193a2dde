/// A Go `text/template` implementation for `--format`, compatible with what the docker CLI accepts:
/// actions with trim markers, comments, `if`/`else if`/`range`/`with`/`break`/`continue`, variables,
/// pipelines, parenthesized pipelines with field chains, and the builtin and Docker functions
/// (see `GoTemplate+Functions.swift`). `define`/`template`/`block` are not supported.
///
/// Errors use Go's wording (`template: :1:2: executing "" at <.Foo>: can't evaluate field Foo in type …`).
public struct GoTemplate: Sendable {
    public struct Error: Swift.Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(_ d: String) { description = d }
    }

    let source: [UInt8]
    let root: [Node]
    let name: String

    /// Parses `text`. `functions` decides which identifiers are functions (for "function not defined").
    public init(_ text: String, name: String = "", functions: TemplateFunctions = .standard) throws {
        self.source = Array(text.utf8)
        self.name = name
        var lexer = Lexer(src: source, name: name)
        let items = try lexer.run()
        var parser = Parser(items: items, src: source, name: name, functions: functions)
        self.root = try parser.parseTop()
    }

    // MARK: AST

    indirect enum Node: Sendable {
        case text(String)
        case action(Pipeline)
        case ifNode(Pipeline, [Node], [Node]?)
        case rangeNode(Pipeline, [Node], [Node]?)
        case withNode(Pipeline, [Node], [Node]?)
        case breakNode(Int)
        case continueNode(Int)
    }

    struct Pipeline: Sendable {
        var pos: Int
        var decl: [String] = []
        var isAssign = false
        var cmds: [Command] = []
    }

    struct Command: Sendable {
        var pos: Int
        var args: [Arg]
    }

    indirect enum Arg: Sendable {
        case field(pos: Int, names: [String])
        case dot(pos: Int)
        case variable(pos: Int, name: String, names: [String])
        case chain(pos: Int, Arg, names: [String])
        case pipe(Pipeline)
        case identifier(pos: Int, String)
        case string(pos: Int, String)
        case number(pos: Int, TemplateValue, text: String)
        case bool(pos: Int, Bool)
        case nilValue(pos: Int)

        var pos: Int {
            switch self {
            case .field(let p, _), .dot(let p), .variable(let p, _, _), .chain(let p, _, _), .identifier(let p, _),
                 .string(let p, _), .number(let p, _, _), .bool(let p, _), .nilValue(let p):
                return p
            case .pipe(let pl): return pl.pos
            }
        }

        /// Go's `Node.String()`, used in `at <…>` error contexts.
        var text: String {
            switch self {
            case .field(_, let n): return n.map { "." + $0 }.joined()
            case .dot: return "."
            case .variable(_, let name, let n): return name + n.map { "." + $0 }.joined()
            case .chain(_, let a, let n):
                let inner: String
                if case .pipe = a { inner = a.text } else { inner = a.text }
                return inner + n.map { "." + $0 }.joined()
            case .pipe(let p): return "(" + p.text + ")"
            case .identifier(_, let s): return s
            case .string(_, let s): return GoFormat.quote(s)
            case .number(_, _, let t): return t
            case .bool(_, let b): return b ? "true" : "false"
            case .nilValue: return "nil"
            }
        }
    }

    // MARK: Lexer

    enum Tok: Equatable, Sendable {
        case text(String)
        case leftDelim       // {{
        case rightDelim      // }}
        case space
        case leftParen, rightParen, pipe, declare, assign, comma
        case field([String])          // .A.B
        case dot
        case variable(String, [String])  // $x.A
        case identifier(String)
        case keyword(String)
        case string(String)
        case number(String)
        case bool(Bool)
        case nilTok
        case eof
    }

    struct Item: Sendable {
        var tok: Tok
        var pos: Int
    }

    struct Lexer {
        let src: [UInt8]
        let name: String
        var i = 0
        var items: [Item] = []

        func line(_ pos: Int) -> Int { 1 + src[..<min(pos, src.count)].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } }

        func err(_ msg: String, _ pos: Int) -> GoTemplate.Error {
            GoTemplate.Error("template: \(name):\(line(pos)): \(msg)")
        }

        static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }
        static func isAlnum(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c >= 0x80
        }

        func hasPrefix(_ s: String, at p: Int) -> Bool {
            let u = Array(s.utf8)
            guard p + u.count <= src.count else { return false }
            for k in 0..<u.count where src[p + k] != u[k] { return false }
            return true
        }

        mutating func run() throws -> [Item] {
            var textStart = 0
            var trimNextText = false
            while true {
                // Find the next "{{".
                var j = i
                var found = -1
                while j + 1 < src.count {
                    if src[j] == UInt8(ascii: "{") && src[j + 1] == UInt8(ascii: "{") { found = j; break }
                    j += 1
                }
                let end = found < 0 ? src.count : found
                var textBytes = Array(src[textStart..<end])
                // Left trim marker "{{- " trims trailing white space of this text.
                let leftTrim = found >= 0 && found + 3 < src.count && src[found + 2] == UInt8(ascii: "-") && Lexer.isSpace(src[found + 3])
                if trimNextText { while let f = textBytes.first, Lexer.isSpace(f) { textBytes.removeFirst() } }
                if leftTrim { while let l = textBytes.last, Lexer.isSpace(l) { textBytes.removeLast() } }
                if !textBytes.isEmpty { items.append(Item(tok: .text(String(decoding: textBytes, as: UTF8.self)), pos: textStart)) }
                if found < 0 { break }
                i = found + 2
                if leftTrim { i += 2 }
                trimNextText = false
                // Comment?
                if hasPrefix("/*", at: i) {
                    guard let close = findSeq("*/", from: i + 2) else { throw err("unclosed comment", found) }
                    i = close + 2
                    var rightTrim = false
                    if hasPrefix(" -}}", at: i) { rightTrim = true; i += 4 } else if hasPrefix("}}", at: i) { i += 2 } else {
                        throw err("comment ends before closing delimiter", found)
                    }
                    trimNextText = rightTrim
                    textStart = i
                    continue
                }
                items.append(Item(tok: .leftDelim, pos: found))
                trimNextText = try lexInsideAction(start: found)
                textStart = i
            }
            items.append(Item(tok: .eof, pos: src.count))
            return items
        }

        func findSeq(_ s: String, from: Int) -> Int? {
            var p = from
            while p < src.count {
                if hasPrefix(s, at: p) { return p }
                p += 1
            }
            return nil
        }

        /// Lexes tokens until the closing delimiter; returns whether it had a right trim marker.
        mutating func lexInsideAction(start: Int) throws -> Bool {
            var parenDepth = 0
            while true {
                guard i < src.count else { throw err("unclosed action", start) }
                let c = src[i]
                // Right delimiter, possibly with trim marker.
                if Lexer.isSpace(c) {
                    var k = i
                    while k < src.count, Lexer.isSpace(src[k]) { k += 1 }
                    if hasPrefix("-}}", at: k) {
                        i = k + 3
                        items.append(Item(tok: .rightDelim, pos: k))
                        return true
                    }
                    if c == 0x0A || c == 0x0D {
                        // Go (1.16+) allows newlines inside actions.
                    }
                    items.append(Item(tok: .space, pos: i))
                    i = k
                    continue
                }
                if hasPrefix("}}", at: i) {
                    if parenDepth > 0 { throw err("unclosed left paren", i) }
                    items.append(Item(tok: .rightDelim, pos: i))
                    i += 2
                    return false
                }
                let p = i
                switch c {
                case UInt8(ascii: "("): parenDepth += 1; items.append(Item(tok: .leftParen, pos: p)); i += 1
                case UInt8(ascii: ")"):
                    parenDepth -= 1
                    if parenDepth < 0 { throw err("unexpected right paren", p) }
                    items.append(Item(tok: .rightParen, pos: p)); i += 1
                case UInt8(ascii: "|"): items.append(Item(tok: .pipe, pos: p)); i += 1
                case UInt8(ascii: ","): items.append(Item(tok: .comma, pos: p)); i += 1
                case UInt8(ascii: ":"):
                    guard i + 1 < src.count, src[i + 1] == UInt8(ascii: "=") else { throw err("expected :=", p) }
                    items.append(Item(tok: .declare, pos: p)); i += 2
                case UInt8(ascii: "="): items.append(Item(tok: .assign, pos: p)); i += 1
                case UInt8(ascii: "\""): items.append(Item(tok: .string(try lexQuote(start: start)), pos: p))
                case UInt8(ascii: "`"):
                    guard let close = src[(i + 1)...].firstIndex(of: UInt8(ascii: "`")) else { throw err("unterminated raw quoted string", p) }
                    items.append(Item(tok: .string(String(decoding: src[(i + 1)..<close], as: UTF8.self)), pos: p))
                    i = close + 1
                case UInt8(ascii: "'"):
                    items.append(Item(tok: .number(try lexChar()), pos: p))
                case UInt8(ascii: "."):
                    if i + 1 < src.count, src[i + 1] >= 0x30 && src[i + 1] <= 0x39 {
                        items.append(Item(tok: .number(lexNumber()), pos: p))
                    } else {
                        let names = lexFieldChain()
                        items.append(Item(tok: names.isEmpty ? .dot : .field(names), pos: p))
                    }
                case UInt8(ascii: "$"):
                    i += 1
                    var k = i
                    while k < src.count, Lexer.isAlnum(src[k]) { k += 1 }
                    let name = "$" + String(decoding: src[i..<k], as: UTF8.self)
                    i = k
                    let names = lexFieldChain()
                    items.append(Item(tok: .variable(name, names), pos: p))
                case UInt8(ascii: "+"), UInt8(ascii: "-"), 0x30...0x39:
                    items.append(Item(tok: .number(lexNumber()), pos: p))
                default:
                    if Lexer.isAlnum(c) {
                        var k = i
                        while k < src.count, Lexer.isAlnum(src[k]) { k += 1 }
                        let word = String(decoding: src[i..<k], as: UTF8.self)
                        i = k
                        switch word {
                        case "true": items.append(Item(tok: .bool(true), pos: p))
                        case "false": items.append(Item(tok: .bool(false), pos: p))
                        case "nil": items.append(Item(tok: .nilTok, pos: p))
                        case "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue":
                            items.append(Item(tok: .keyword(word), pos: p))
                        default: items.append(Item(tok: .identifier(word), pos: p))
                        }
                    } else {
                        let sc = String(decoding: src[i...], as: UTF8.self).unicodeScalars.first ?? "?"
                        let hex = String(sc.value, radix: 16, uppercase: true)
                        throw err("unrecognized character in action: U+\(String(repeating: "0", count: max(0, 4 - hex.count)))\(hex) '\(Character(sc))'", p)
                    }
                }
            }
        }

        /// `.A.B` (after the leading dot has been seen at `i`); returns [] for a lone dot.
        mutating func lexFieldChain() -> [String] {
            var names: [String] = []
            while i < src.count, src[i] == UInt8(ascii: ".") {
                var k = i + 1
                while k < src.count, Lexer.isAlnum(src[k]) { k += 1 }
                if k == i + 1 {
                    if names.isEmpty { i += 1 }  // lone dot
                    break
                }
                names.append(String(decoding: src[(i + 1)..<k], as: UTF8.self))
                i = k
            }
            return names
        }

        mutating func lexNumber() -> String {
            let s = i
            if src[i] == UInt8(ascii: "+") || src[i] == UInt8(ascii: "-") { i += 1 }
            while i < src.count {
                let c = src[i]
                if Lexer.isAlnum(c) || c == UInt8(ascii: ".") { i += 1; continue }
                if (c == UInt8(ascii: "+") || c == UInt8(ascii: "-")), i > s, src[i - 1] == UInt8(ascii: "e") || src[i - 1] == UInt8(ascii: "E") || src[i - 1] == UInt8(ascii: "p") { i += 1; continue }
                break
            }
            return String(decoding: src[s..<i], as: UTF8.self)
        }

        mutating func lexChar() throws -> String {
            let s = i
            i += 1
            var bytes: [UInt8] = []
            while i < src.count, src[i] != UInt8(ascii: "'") {
                if src[i] == UInt8(ascii: "\\"), i + 1 < src.count { bytes.append(src[i]); i += 1 }
                bytes.append(src[i])
                i += 1
            }
            guard i < src.count else { throw err("unterminated character constant", s) }
            i += 1
            let body = try unescape(bytes, pos: s)
            guard let sc = body.unicodeScalars.first else { throw err("empty character constant", s) }
            return String(sc.value)
        }

        mutating func lexQuote(start: Int) throws -> String {
            let s = i
            i += 1
            var bytes: [UInt8] = []
            while true {
                guard i < src.count, src[i] != 0x0A else { throw err("unterminated quoted string", s) }
                let c = src[i]
                if c == UInt8(ascii: "\"") { i += 1; break }
                if c == UInt8(ascii: "\\"), i + 1 < src.count {
                    bytes.append(c)
                    bytes.append(src[i + 1])
                    i += 2
                    continue
                }
                bytes.append(c)
                i += 1
            }
            return try unescape(bytes, pos: s)
        }

        /// Go string-literal escapes.
        func unescape(_ b: [UInt8], pos: Int) throws -> String {
            var out: [UInt8] = []
            var k = 0
            func hexVal(_ c: UInt8) -> UInt32? {
                switch c {
                case 0x30...0x39: return UInt32(c - 0x30)
                case 0x61...0x66: return UInt32(c - 0x61 + 10)
                case 0x41...0x46: return UInt32(c - 0x41 + 10)
                default: return nil
                }
            }
            while k < b.count {
                let c = b[k]
                guard c == UInt8(ascii: "\\"), k + 1 < b.count else { out.append(c); k += 1; continue }
                let e = b[k + 1]
                k += 2
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "a"): out.append(0x07)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "v"): out.append(0x0B)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "'"): out.append(0x27)
                case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                    let n = e == UInt8(ascii: "x") ? 2 : e == UInt8(ascii: "u") ? 4 : 8
                    var v: UInt32 = 0
                    for _ in 0..<n {
                        guard k < b.count, let h = hexVal(b[k]) else { throw err("invalid syntax", pos) }
                        v = v << 4 | h
                        k += 1
                    }
                    if e == UInt8(ascii: "x") { out.append(UInt8(v)) } else {
                        out.append(contentsOf: Array(String(Character(Unicode.Scalar(v) ?? "\u{FFFD}")).utf8))
                    }
                case 0x30...0x37:
                    var v = UInt32(e - 0x30)
                    for _ in 0..<2 {
                        guard k < b.count, b[k] >= 0x30 && b[k] <= 0x37 else { throw err("invalid syntax", pos) }
                        v = v * 8 + UInt32(b[k] - 0x30)
                        k += 1
                    }
                    out.append(UInt8(truncatingIfNeeded: v))
                default: throw err("invalid syntax", pos)
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}

extension GoTemplate.Pipeline {
    var text: String {
        var s = ""
        if !decl.isEmpty { s += decl.joined(separator: ", ") + (isAssign ? " = " : " := ") }
        s += cmds.map { $0.args.map(\.text).joined(separator: " ") }.joined(separator: " | ")
        return s
    }
}
