extension GoTemplate {
    /// Executes the template with `data` as dot. `functions` may replace the implementations the
    /// template was parsed with (Docker renders table headers with `HeaderFunctions`).
    public func execute(_ data: TemplateValue, functions: TemplateFunctions = .standard) throws -> String {
        var st = ExecState(tmpl: self, funcs: functions, vars: [("$", data)])
        try st.walk(data, root)
        return st.out
    }

    /// Go's ErrorContext: `name:line:col` where col is the byte offset within the line.
    func location(_ pos: Int) -> String {
        let before = source[..<min(pos, source.count)]
        var line = 1
        var lastNL = -1
        for (i, c) in before.enumerated() where c == 0x0A {
            line += 1
            lastNL = i
        }
        let col = lastNL < 0 ? pos : pos - lastNL - 1
        return "\(name):\(line):\(col)"
    }

    enum LoopControl: Swift.Error { case breakLoop, continueLoop }

    /// A failure inside a function, reported as `error calling NAME: …`.
    public struct FunctionError: Swift.Error, Sendable {
        public var message: String
        public init(_ m: String) { message = m }
    }

    struct ExecState {
        let tmpl: GoTemplate
        let funcs: TemplateFunctions
        var vars: [(String, TemplateValue)]
        var out = ""

        func fail(_ pos: Int, _ context: String, _ msg: String) -> GoTemplate.Error {
            GoTemplate.Error("template: \(tmpl.location(pos)): executing \"\(tmpl.name)\" at <\(context)>: \(msg)")
        }

        func lookup(_ name: String) -> TemplateValue {
            for (n, v) in vars.reversed() where n == name { return v }
            return .invalid
        }

        mutating func setVar(_ name: String, _ v: TemplateValue) {
            if let idx = vars.lastIndex(where: { $0.0 == name }) { vars[idx].1 = v }
        }

        mutating func walk(_ dot: TemplateValue, _ nodes: [Node]) throws {
            for n in nodes { try walk(dot, n) }
        }

        mutating func walk(_ dot: TemplateValue, _ node: Node) throws {
            switch node {
            case .text(let t): out += t
            case .action(let pipe):
                let v = try evalPipeline(dot, pipe)
                if pipe.decl.isEmpty { v.appendGoString(to: &out, top: true) }
            case .ifNode(let pipe, let list, let elseList), .withNode(let pipe, let list, let elseList):
                let mark = vars.count
                defer { vars.removeSubrange(mark...) }
                let v = try evalPipeline(dot, pipe)
                var isWith = false
                if case .withNode = node { isWith = true }
                if v.isTruthy {
                    try walk(isWith ? v : dot, list)
                } else if let e = elseList {
                    try walk(dot, e)
                }
            case .rangeNode(let pipe, let list, let elseList):
                let mark = vars.count
                defer { vars.removeSubrange(mark...) }
                var p = pipe
                let decl = p.decl
                p.decl = []
                let v = try evalPipeline(dot, p)
                var iterations = 0
                func body(_ st: inout ExecState, key: TemplateValue, elem: TemplateValue) throws -> Bool {
                    let m = st.vars.count
                    defer { st.vars.removeSubrange(m...) }
                    if decl.count == 1 { st.vars.append((decl[0], elem)) } else if decl.count == 2 {
                        st.vars.append((decl[0], key))
                        st.vars.append((decl[1], elem))
                    }
                    do { try st.walk(elem, list) } catch LoopControl.breakLoop { return false } catch LoopControl.continueLoop { return true }
                    return true
                }
                switch v {
                case .array(let a):
                    for (i, e) in a.enumerated() {
                        iterations += 1
                        if try !body(&self, key: .int(Int64(i)), elem: e) { break }
                    }
                case .map(let m):
                    for k in m.sortedKeys {
                        iterations += 1
                        if try !body(&self, key: .string(k), elem: m[k]!) { break }
                    }
                case .int(let n):
                    for i in 0..<max(0, n) {
                        iterations += 1
                        if try !body(&self, key: .int(i), elem: .int(i)) { break }
                    }
                case .invalid, .null, .typedNil:
                    break
                default:
                    throw fail(pipe.pos, p.text, "range can't iterate over \(v.goString)")
                }
                if iterations == 0, let e = elseList { try walk(dot, e) }
            case .breakNode: throw LoopControl.breakLoop
            case .continueNode: throw LoopControl.continueLoop
            }
        }

        mutating func evalPipeline(_ dot: TemplateValue, _ pipe: Pipeline) throws -> TemplateValue {
            var value: TemplateValue?
            for cmd in pipe.cmds {
                value = try evalCommand(dot, cmd, final: value)
            }
            let v = value ?? .invalid
            for name in pipe.decl {
                if pipe.isAssign { setVar(name, v) } else { vars.append((name, v)) }
            }
            return v
        }

        func notAFunction(_ cmd: Command, _ final: TemplateValue?) throws {
            if cmd.args.count > 1 || final != nil {
                throw fail(cmd.pos, cmd.args[0].text, "can't give argument to non-function \(cmd.args[0].text)")
            }
        }

        mutating func evalCommand(_ dot: TemplateValue, _ cmd: Command, final: TemplateValue?) throws -> TemplateValue {
            let first = cmd.args[0]
            switch first {
            case .identifier(_, let name):
                return try evalFunction(dot, name: name, cmd: cmd, args: Array(cmd.args.dropFirst()), final: final)
            case .field(let pos, let names):
                try notAFunction(cmd, final)
                return try evalFieldChain(dot, receiver: dot, names: names, pos: pos, context: first.text)
            case .chain(let pos, let inner, let names):
                try notAFunction(cmd, final)
                let recv = try evalArg(dot, inner)
                return try evalFieldChain(dot, receiver: recv, names: names, pos: pos, context: first.text)
            case .variable(let pos, let name, let names):
                try notAFunction(cmd, final)
                let v = lookup(name)
                return names.isEmpty ? v : try evalFieldChain(dot, receiver: v, names: names, pos: pos, context: first.text)
            case .pipe(let p):
                try notAFunction(cmd, final)
                return try evalPipeline(dot, p)
            default:
                try notAFunction(cmd, final)
                return try evalArg(dot, first)
            }
        }

        mutating func evalArg(_ dot: TemplateValue, _ arg: Arg) throws -> TemplateValue {
            switch arg {
            case .dot: return dot
            case .field(let pos, let names): return try evalFieldChain(dot, receiver: dot, names: names, pos: pos, context: arg.text)
            case .variable(let pos, let name, let names):
                let v = lookup(name)
                return names.isEmpty ? v : try evalFieldChain(dot, receiver: v, names: names, pos: pos, context: arg.text)
            case .chain(let pos, let inner, let names):
                let recv = try evalArg(dot, inner)
                return try evalFieldChain(dot, receiver: recv, names: names, pos: pos, context: arg.text)
            case .pipe(let p):
                let m = vars.count
                defer { vars.removeSubrange(m...) }
                return try evalPipeline(dot, p)
            case .identifier(let pos, let name):
                return try evalFunction(dot, name: name, cmd: Command(pos: pos, args: [arg]), args: [], final: nil)
            case .string(_, let s): return .string(s)
            case .number(_, let v, _): return v
            case .bool(_, let b): return .bool(b)
            case .nilValue: return .invalid
            }
        }

        func evalFieldChain(_ dot: TemplateValue, receiver: TemplateValue, names: [String], pos: Int, context: String) throws -> TemplateValue {
            var v = receiver
            for name in names {
                switch v {
                case .invalid:
                    return .invalid
                case .null:
                    throw fail(pos, context, "nil pointer evaluating interface {}.\(name)")
                case .typedNil(let k):
                    if k == .map { return .invalid }
                    throw fail(pos, context, "nil pointer evaluating \(v.goTypeName).\(name)")
                case .map(let m):
                    if let f = m[name] {
                        v = f
                    } else if m.isStruct {
                        throw fail(pos, context, "map has no entry for key \"\(name)\"")
                    } else {
                        v = .invalid
                    }
                case .object(let o):
                    guard let f = o.templateField(name) else {
                        throw fail(pos, context, "can't evaluate field \(name) in type \(o.templateTypeName)")
                    }
                    v = f
                default:
                    throw fail(pos, context, "can't evaluate field \(name) in type \(v.goTypeName)")
                }
            }
            return v
        }

        mutating func evalFunction(_ dot: TemplateValue, name: String, cmd: Command, args: [Arg], final: TemplateValue?) throws -> TemplateValue {
            let ctx = cmd.args.map(\.text).joined(separator: " ")
            // and/or evaluate lazily and return the deciding argument (Go 1.18+).
            if name == "and" || name == "or" {
                var all = args.map { Optional($0) }
                if final != nil { all.append(nil) }
                guard !all.isEmpty else { throw fail(cmd.pos, name, "wrong number of args for \(name): want at least 1 got 0") }
                var last: TemplateValue = .invalid
                for a in all {
                    last = try a.map { try evalArg(dot, $0) } ?? final!
                    if name == "and" ? !last.isTruthy : last.isTruthy { return last }
                }
                return last
            }
            guard let fn = funcs.table[name] else {
                throw fail(cmd.pos, name, "\"\(name)\" is not a defined function")
            }
            var values: [TemplateValue] = []
            values.reserveCapacity(args.count + 1)
            for a in args { values.append(try evalArg(dot, a)) }
            if let final { values.append(final) }
            do {
                return try fn(values)
            } catch let e as FunctionError {
                throw fail(cmd.pos, ctx, "error calling \(name): \(e.message)")
            } catch let e as ArgumentError {
                throw fail(cmd.pos, name, e.message)
            }
        }
    }

    /// Wrong argument count or type (reported without "error calling").
    public struct ArgumentError: Swift.Error, Sendable {
        public var message: String
        public init(_ m: String) { message = m }
    }
}
