import Foundation

extension GoTemplate {
    /// Recursive-descent parser over the lexer's items (Go's `text/template/parse`).
    struct Parser {
        let items: [Item]
        let src: [UInt8]
        let name: String
        let functions: TemplateFunctions
        var k = 0
        var vars: [[String]] = [["$"]]
        var rangeDepth = 0

        init(items: [Item], src: [UInt8], name: String, functions: TemplateFunctions) {
            self.items = items
            self.src = src
            self.name = name
            self.functions = functions
        }

        func line(_ pos: Int) -> Int { 1 + src[..<min(pos, src.count)].reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } }
        func err(_ msg: String, _ pos: Int) -> GoTemplate.Error { GoTemplate.Error("template: \(name):\(line(pos)): \(msg)") }

        var peek: Item { items[k] }
        mutating func next() -> Item {
            let it = items[k]
            if k < items.count - 1 { k += 1 }
            return it
        }
        mutating func nextNonSpace() -> Item {
            var it = next()
            while it.tok == .space { it = next() }
            return it
        }
        mutating func peekNonSpace() -> Item {
            let save = k
            let it = nextNonSpace()
            k = save
            return it
        }

        enum Stop { case end, elseKw, eof }

        mutating func parseTop() throws -> [Node] {
            let (list, stop, pos) = try parseList()
            switch stop {
            case .eof: return list
            case .end: throw err("unexpected {{end}}", pos)
            case .elseKw: throw err("unexpected {{else}}", pos)
            }
        }

        /// Parses nodes until `{{end}}`, `{{else}}` (consumed, except what follows else) or EOF.
        mutating func parseList() throws -> ([Node], Stop, Int) {
            var nodes: [Node] = []
            while true {
                let it = next()
                switch it.tok {
                case .eof: return (nodes, .eof, it.pos)
                case .text(let t): nodes.append(.text(t))
                case .leftDelim:
                    let kw = peekNonSpace()
                    if case .keyword(let w) = kw.tok {
                        _ = nextNonSpace()
                        switch w {
                        case "end":
                            try expectRightDelim("end")
                            return (nodes, .end, kw.pos)
                        case "else":
                            return (nodes, .elseKw, kw.pos)
                        case "if": nodes.append(try parseControl(.ifKind, pos: kw.pos))
                        case "range": nodes.append(try parseControl(.rangeKind, pos: kw.pos))
                        case "with": nodes.append(try parseControl(.withKind, pos: kw.pos))
                        case "break", "continue":
                            guard rangeDepth > 0 else { throw err("{{\(w)}} outside {{range}}", kw.pos) }
                            try expectRightDelim(w)
                            nodes.append(w == "break" ? .breakNode(kw.pos) : .continueNode(kw.pos))
                        default:
                            throw err("{{\(w)}} is not supported by berth's template engine", kw.pos)
                        }
                    } else {
                        let pipe = try parsePipeline(context: "command", allowDecl: true)
                        nodes.append(.action(pipe))
                    }
                default:
                    throw err("unexpected \(describe(it.tok))", it.pos)
                }
            }
        }

        mutating func expectRightDelim(_ context: String) throws {
            let it = nextNonSpace()
            guard it.tok == .rightDelim else { throw err("unexpected \(describe(it.tok)) in \(context)", it.pos) }
        }

        enum Kind { case ifKind, rangeKind, withKind }

        mutating func parseControl(_ kind: Kind, pos: Int) throws -> Node {
            vars.append([])
            defer { vars.removeLast() }
            let ctx = kind == .ifKind ? "if" : kind == .rangeKind ? "range" : "with"
            let pipe = try parsePipeline(context: ctx, allowDecl: true, isRange: kind == .rangeKind)
            if kind == .rangeKind { rangeDepth += 1 }
            var (list, stop, stopPos) = try parseList()
            if kind == .rangeKind { rangeDepth -= 1 }
            var elseList: [Node]?
            if stop == .elseKw {
                // `{{else if …}}` / `{{else with …}}` chain into a nested node.
                let after = peekNonSpace()
                if case .keyword(let w) = after.tok, (w == "if" && kind == .ifKind) || (w == "with" && kind == .withKind) {
                    _ = nextNonSpace()
                    let nested = try parseControl(kind, pos: after.pos)
                    elseList = [nested]
                    // The nested control consumed the shared {{end}}.
                    return make(kind, pipe, list, elseList)
                }
                try expectRightDelim("else")
                let (el, stop2, pos2) = try parseList()
                elseList = el
                stop = stop2
                stopPos = pos2
                if stop == .elseKw { throw err("expected end; found {{else}}", pos2) }
            }
            if stop != .end { throw err("unexpected EOF", stopPos) }
            _ = list
            return make(kind, pipe, list, elseList)
        }

        func make(_ kind: Kind, _ p: Pipeline, _ l: [Node], _ e: [Node]?) -> Node {
            switch kind {
            case .ifKind: return .ifNode(p, l, e)
            case .rangeKind: return .rangeNode(p, l, e)
            case .withKind: return .withNode(p, l, e)
            }
        }

        /// Parses `[decl :=] cmd | cmd …` up to the right delimiter (or right paren when `inParens`).
        mutating func parsePipeline(context: String, allowDecl: Bool, isRange: Bool = false, inParens: Bool = false) throws -> Pipeline {
            var pipe = Pipeline(pos: peekNonSpace().pos)
            // Declarations: $x := / $x = / $i, $e :=
            if allowDecl {
                let save = k
                var names: [String] = []
                var ok = false
                while true {
                    let v = nextNonSpace()
                    guard case .variable(let n, let chain) = v.tok, chain.isEmpty else { break }
                    names.append(n)
                    let sep = nextNonSpace()
                    if sep.tok == .declare || sep.tok == .assign {
                        pipe.isAssign = sep.tok == .assign
                        ok = true
                        break
                    }
                    if sep.tok == .comma, isRange, names.count == 1 { continue }
                    break
                }
                if ok {
                    pipe.decl = names
                    if pipe.isAssign {
                        for n in names where !isDefined(n) { throw err("undefined variable \"\(n)\"", pipe.pos) }
                    } else {
                        for n in names { vars[vars.count - 1].append(n) }
                    }
                } else {
                    k = save
                }
            }
            while true {
                let it = peekNonSpace()
                switch it.tok {
                case .rightDelim where !inParens:
                    _ = nextNonSpace()
                    if pipe.cmds.isEmpty { throw err("missing value for \(context)", it.pos) }
                    return pipe
                case .rightParen where inParens:
                    _ = nextNonSpace()
                    if pipe.cmds.isEmpty { throw err("missing value for \(context)", it.pos) }
                    return pipe
                case .eof:
                    throw err("unclosed action", it.pos)
                default:
                    pipe.cmds.append(try parseCommand(inParens: inParens))
                }
            }
        }

        func isDefined(_ v: String) -> Bool { vars.contains { $0.contains(v) } }

        mutating func parseCommand(inParens: Bool) throws -> Command {
            var cmd = Command(pos: peekNonSpace().pos, args: [])
            while true {
                let it = peekNonSpace()
                switch it.tok {
                case .pipe:
                    _ = nextNonSpace()
                    if cmd.args.isEmpty { throw err("missing value for command", it.pos) }
                    return cmd
                case .rightDelim, .rightParen:
                    if cmd.args.isEmpty { throw err("missing value for command", it.pos) }
                    if case .rightParen = it.tok, !inParens { throw err("unexpected right paren", it.pos) }
                    return cmd
                default:
                    _ = nextNonSpace()
                    var arg = try parseOperand(it)
                    // A field chain directly after a term: (…).Field, fn.Field
                    if case .field(let names) = peek.tok {
                        let chainPos = peek.pos
                        switch arg {
                        case .pipe, .identifier:
                            _ = next()
                            arg = .chain(pos: chainPos, arg, names: names)
                        case .string, .number, .bool, .nilValue, .dot:
                            throw err("unexpected . after term \(GoFormat.quote(arg.text))", peek.pos)
                        default:
                            break
                        }
                    }
                    cmd.args.append(arg)
                    // Operands must be separated by spaces.
                    switch peek.tok {
                    case .space, .rightDelim, .rightParen, .pipe: break
                    default: throw err("unexpected \(describe(peek.tok)) in operand", peek.pos)
                    }
                }
            }
        }

        mutating func parseOperand(_ it: Item) throws -> Arg {
            switch it.tok {
            case .field(let names):
                // Go positions a multi-field chain at its second field.
                let pos = names.count > 1 ? it.pos + 1 + names[0].utf8.count : it.pos
                return .field(pos: pos, names: names)
            case .dot: return .dot(pos: it.pos)
            case .variable(let n, let chain):
                guard isDefined(n) else { throw err("undefined variable \"\(n)\"", it.pos) }
                return .variable(pos: chain.isEmpty ? it.pos : it.pos + n.utf8.count, name: n, names: chain)
            case .identifier(let f):
                guard functions.has(f) else { throw err("function \"\(f)\" not defined", it.pos) }
                return .identifier(pos: it.pos, f)
            case .string(let s): return .string(pos: it.pos, s)
            case .bool(let b): return .bool(pos: it.pos, b)
            case .nilTok: return .nilValue(pos: it.pos)
            case .number(let t):
                guard let v = GoTemplate.parseNumber(t) else { throw err("illegal number syntax: \(GoFormat.quote(t))", it.pos) }
                return .number(pos: it.pos, v, text: t)
            case .leftParen:
                let p = try parsePipeline(context: "parenthesized pipeline", allowDecl: false, inParens: true)
                return .pipe(p)
            default:
                throw err("unexpected \(describe(it.tok)) in operand", it.pos)
            }
        }

        func describe(_ t: Tok) -> String {
            switch t {
            case .rightDelim: return "\"}}\""
            case .leftDelim: return "\"{{\""
            case .rightParen: return "\")\""
            case .leftParen: return "\"(\""
            case .pipe: return "\"|\""
            case .comma: return "\",\""
            case .declare: return "\":=\""
            case .assign: return "\"=\""
            case .keyword(let w): return "<\(w)>"
            case .identifier(let w): return "\(GoFormat.quote(w))"
            case .field(let n): return "<" + n.map { "." + $0 }.joined() + ">"
            case .string(let s): return GoFormat.quote(s)
            case .number(let s): return GoFormat.quote(s)
            case .eof: return "EOF"
            case .dot: return "<.>"
            case .variable(let n, let c): return "<" + n + c.map { "." + $0 }.joined() + ">"
            case .bool(let b): return "<\(b)>"
            case .nilTok: return "<nil>"
            case .space: return "space"
            case .text(let t): return GoFormat.quote(t)
            }
        }
    }

    /// Go number literals: ints (decimal, 0x, 0o, 0b, with `_`), floats, and char constants (already decoded).
    static func parseNumber(_ raw: String) -> TemplateValue? {
        var t = raw.replacingOccurrences(of: "_", with: "")
        var neg = false
        if t.hasPrefix("+") { t.removeFirst() } else if t.hasPrefix("-") { neg = true; t.removeFirst() }
        let lower = t.lowercased()
        var intVal: Int64?
        if lower.hasPrefix("0x") { intVal = Int64(lower.dropFirst(2), radix: 16) } else if lower.hasPrefix("0o") { intVal = Int64(lower.dropFirst(2), radix: 8) } else if lower.hasPrefix("0b") { intVal = Int64(lower.dropFirst(2), radix: 2) } else if lower.count > 1, lower.hasPrefix("0"), lower.allSatisfy({ $0.isNumber }) { intVal = Int64(lower.dropFirst(), radix: 8) } else { intVal = Int64(lower) }
        if let v = intVal { return .int(neg ? -v : v) }
        if let d = Double(lower), lower.first?.isNumber == true || lower.first == "." { return .float(neg ? -d : d) }
        return nil
    }
}

