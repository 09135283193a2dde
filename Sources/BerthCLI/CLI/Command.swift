import Foundation

/// A CLI command in a cobra-like tree, with docker's usage/help layout and error messages.
public final class Command: @unchecked Sendable {
    public enum Args: Sendable {
        case any
        case none
        case exact(Int)
        case min(Int)
        case max(Int)
        case range(Int, Int)
    }

    /// Root help sections.
    public enum Category: Sendable { case common, management, swarm, other }

    public typealias Run = (Invocation) throws -> Void

    /// The first word of `use` is the command's name.
    public let use: String
    public let short: String
    public var long: String?
    /// Other names this command answers to under its parent (`list` for `ls`).
    public var aliases: [String]
    /// Docker's `aliases` annotation shown in help (`docker image ls, docker image list, docker images`).
    public var aliasLine: String?
    public var flags: [FlagSpec]
    public var args: Args
    /// pflag interspersed mode; false stops flag parsing at the first positional (run, exec).
    public var interspersed: Bool
    public var category: Category
    public var hidden: Bool
    public var run: Run?
    public private(set) var subcommands: [Command] = []
    public private(set) weak var parent: Command?

    public init(_ use: String, _ short: String, long: String? = nil, aliases: [String] = [], aliasLine: String? = nil,
                flags: [FlagSpec] = [], args: Args = .any, interspersed: Bool = true, category: Category = .other,
                hidden: Bool = false, run: Run? = nil) {
        self.use = use
        self.short = short
        self.long = long
        self.aliases = aliases
        self.aliasLine = aliasLine
        self.flags = flags
        self.args = args
        self.interspersed = interspersed
        self.category = category
        self.hidden = hidden
        self.run = run
    }

    public var name: String { String(use.split(separator: " ", maxSplits: 1).first ?? "") }

    @discardableResult
    public func add(_ cmds: Command...) -> Command {
        for c in cmds {
            c.parent = self
            subcommands.append(c)
        }
        return self
    }

    public var root: Command { parent?.root ?? self }
    public var binName: String { root.name }

    /// `docker image ls`
    public var commandPath: String {
        if let parent { return parent.commandPath + " " + name }
        return name
    }

    /// `docker image ls [OPTIONS] [REPOSITORY[:TAG]]`
    public var useLine: String {
        if let parent { return parent.commandPath + " " + use }
        return use
    }

    public func find(_ name: String) -> Command? {
        subcommands.first { $0.name == name || $0.aliases.contains(name) }
    }

    var hasSubcommands: Bool { !subcommands.isEmpty }

    // MARK: Argument validation (docker's cli.NoArgs / RequiresMinArgs / …)

    static func pluralize(_ n: Int) -> String { n == 1 ? "argument" : "arguments" }

    func validate(_ a: [String]) throws {
        let bin = binName, path = commandPath, ul = useLine
        switch args {
        case .any: return
        case .none:
            guard !a.isEmpty else { return }
            if hasSubcommands {
                throw CLIError("\(bin): unknown command: \(path) \(a[0])\n\nUsage:  \(ul)\n\nRun '\(path) --help' for more information")
            }
            throw CLIError("\(bin): '\(path)' accepts no arguments\n\nUsage:  \(ul)\n\nRun '\(path) --help' for more information")
        case .exact(let n):
            guard a.count != n else { return }
            throw CLIError("\(bin): '\(path)' requires \(n) \(Command.pluralize(n))\n\nUsage:  \(ul)\n\nRun '\(path) --help' for more information")
        case .min(let n):
            guard a.count < n else { return }
            throw CLIError("\(bin): '\(path)' requires at least \(n) \(Command.pluralize(n))\n\nUsage:  \(ul)\n\nSee '\(path) --help' for more information")
        case .max(let n):
            guard a.count > n else { return }
            // "SRun" is docker's own typo (cli/required.go); kept for byte-for-byte output.
            throw CLIError("\(bin): '\(path)' requires at most \(n) \(Command.pluralize(n))\n\nUsage:  \(ul)\n\nSRun '\(path) --help' for more information")
        case .range(let lo, let hi):
            guard a.count < lo || a.count > hi else { return }
            throw CLIError("\(bin): '\(path)' requires at least \(lo) and at most \(hi) \(Command.pluralize(hi))\n\nUsage:  \(ul)\n\nRun '\(path) --help' for more information")
        }
    }

    // MARK: Help

    /// Docker's usage template for this command.
    public func helpText(columns: Int = 80) -> String {
        var out = "Usage:"
        if hasSubcommands {
            out += "  " + commandPath + (flags.contains { !$0.hidden } ? " [OPTIONS]" : "") + " COMMAND"
        } else {
            out += "  " + useLine
        }
        out += "\n\n"
        out += (long ?? short).trimmingWhitespace()
        if let aliasLine {
            out += "\n\nAliases:\n  " + aliasLine
        }
        if parent != nil, flags.contains(where: { !$0.hidden }) {
            out += "\n\nOptions:\n" + Command.flagUsages(flags, columns: columns - 1).trimmingTrailingWhitespace()
        }
        let visible = subcommands.filter { !$0.hidden }
        if !visible.isEmpty {
            let pad = max(11, visible.map { $0.name.count }.max() ?? 0)
            out += "\n\nCommands:"
            for c in visible {
                out += "\n  " + c.name + String(repeating: " ", count: pad - c.name.count) + " " + c.short
            }
            out += "\n\nRun '\(commandPath) COMMAND --help' for more information on a command."
        }
        return out + "\n"
    }

    /// pflag's `FlagUsagesWrapped` (flags sorted by name, usage wrapped at `columns`).
    public static func flagUsages(_ flags: [FlagSpec], columns: Int) -> String {
        let sorted = flags.filter { !$0.hidden }.sorted { $0.long < $1.long }
        var lines: [(String, String)] = []
        var maxlen = 0
        for f in sorted {
            var line = f.short.map { "  -\($0), --\(f.long)" } ?? "      --\(f.long)"
            if !f.typeName.isEmpty { line += " " + f.typeName }
            maxlen = max(maxlen, line.utf8.count + 1)  // pflag counts its "\x00" marker
            var usage = f.usage
            if let d = f.defaultValue, !(f.kind == .bool && d == "false") {
                usage += f.kind == .string ? " (default \(GoFormat.quote(d)))" : " (default \(d))"
            }
            lines.append((line, usage))
        }
        var out = ""
        for (l, u) in lines {
            let spacing = String(repeating: " ", count: maxlen - l.utf8.count)  // at least one
            out += l + " " + spacing + " " + wrap(indent: maxlen + 2, width: columns, u) + "\n"
        }
        return out
    }

    static func wrap(indent i0: Int, width w: Int, _ s0: String) -> String {
        var i = i0
        if w == 0 { return s0.replacingAll("\n", with: "\n" + String(repeating: " ", count: i)) }
        var wrapWidth = w - i
        var r = ""
        if wrapWidth < 24 {
            i = 16
            wrapWidth = w - i
            r += "\n" + String(repeating: " ", count: i)
        }
        if wrapWidth < 24 { return s0.replacingAll("\n", with: r) }
        let slop = 5
        wrapWidth -= slop
        let pad = String(repeating: " ", count: i)
        var (l, s) = wrapN(wrapWidth, slop, Array(s0.utf8))
        r += String(decoding: l, as: UTF8.self).replacingAll("\n", with: "\n" + pad)
        while !s.isEmpty {
            let t: [UInt8]
            (t, s) = wrapN(wrapWidth, slop, s)
            r += "\n" + pad + String(decoding: t, as: UTF8.self).replacingAll("\n", with: "\n" + pad)
        }
        return r
    }

    static func wrapN(_ i: Int, _ slop: Int, _ s: [UInt8]) -> ([UInt8], [UInt8]) {
        if i + slop > s.count { return (s, []) }
        let head = s[..<i]
        guard let w = head.lastIndex(where: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A }), w > 0 else { return (s, []) }
        if let nl = head.lastIndex(of: 0x0A), nl > 0, nl < w {
            return (Array(s[..<nl]), Array(s[(nl + 1)...]))
        }
        return (Array(s[..<w]), Array(s[(w + 1)...]))
    }
}

/// What a command's `run` receives.
public struct Invocation {
    public let command: Command
    public let flags: ParsedFlags
    public let args: [String]
    public let ctx: CLIContext
}

/// An error to print as-is (exit status 1 unless `status` says otherwise); docker's `cli.StatusError`.
public struct CLIError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var status: Int32
    public init(_ message: String, status: Int32 = 1) {
        self.message = message
        self.status = status
    }
    public var description: String { message }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }

    func trimmingTrailingWhitespace() -> String {
        var s = Substring(self)
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }

    func replacingAll(_ a: String, with b: String) -> String {
        guard !a.isEmpty, contains(a) else { return self }
        return components(separatedBy: a).joined(separator: b)
    }
}
