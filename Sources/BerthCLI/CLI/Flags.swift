/// Command-line flags with spf13/pflag semantics (what the docker CLI uses):
/// `--name value`, `--name=value`, `-n value`, `-nvalue`, `-n=value`, combined booleans `-aq`,
/// `--bool=false`, `--` ends flags, repeated array flags accumulate. With `interspersed: false`
/// parsing stops at the first positional argument (docker `run IMAGE [COMMAND] [ARG...]`).
public struct FlagSpec: Sendable {
    public enum Kind: Sendable, Equatable {
        case bool
        /// A single string; the last occurrence wins.
        case string
        /// Every occurrence appends (`--filter a --filter b`); `typeName` is what help shows (`filter`, `list`, `stringArray`).
        case array
        /// Comma-separated values, every occurrence appends (pflag `stringSlice`, help shows `strings`).
        case slice
        case int
    }

    public var long: String
    public var short: Character?
    public var kind: Kind
    public var usage: String
    /// Help's value placeholder (`string`, `filter`, `list`, `int` …); empty for booleans.
    public var typeName: String
    /// Default shown in help and used when not set (`nil` = zero value).
    public var defaultValue: String?
    public var hidden: Bool

    public init(_ long: String, short: Character? = nil, _ kind: Kind = .bool, usage: String, typeName: String? = nil,
                defaultValue: String? = nil, hidden: Bool = false) {
        self.long = long
        self.short = short
        self.kind = kind
        self.usage = usage
        self.typeName = typeName ?? {
            switch kind {
            case .bool: return ""
            case .string: return "string"
            case .array: return "stringArray"
            case .slice: return "strings"
            case .int: return "int"
            }
        }()
        self.defaultValue = defaultValue
        self.hidden = hidden
    }

    public static func bool(_ long: String, _ short: Character? = nil, _ usage: String, default d: Bool = false, hidden: Bool = false) -> FlagSpec {
        FlagSpec(long, short: short, .bool, usage: usage, defaultValue: d ? "true" : nil, hidden: hidden)
    }
    public static func string(_ long: String, _ short: Character? = nil, _ usage: String, type: String = "string", default d: String? = nil, hidden: Bool = false) -> FlagSpec {
        FlagSpec(long, short: short, .string, usage: usage, typeName: type, defaultValue: d, hidden: hidden)
    }
    public static func array(_ long: String, _ short: Character? = nil, _ usage: String, type: String = "stringArray", hidden: Bool = false) -> FlagSpec {
        FlagSpec(long, short: short, .array, usage: usage, typeName: type, hidden: hidden)
    }
    public static func int(_ long: String, _ short: Character? = nil, _ usage: String, default d: Int? = nil) -> FlagSpec {
        FlagSpec(long, short: short, .int, usage: usage, defaultValue: d.map(String.init))
    }
}

/// The parsed values of a command's flags.
public struct ParsedFlags: Sendable {
    var specs: [String: FlagSpec] = [:]
    var values: [String: [String]] = [:]
    /// Long names of the flags given on the command line.
    public private(set) var changed: Set<String> = []

    init(specs: [FlagSpec]) {
        for s in specs { self.specs[s.long] = s }
    }

    mutating func set(_ spec: FlagSpec, _ value: String) {
        changed.insert(spec.long)
        switch spec.kind {
        case .array: values[spec.long, default: []].append(value)
        case .slice: values[spec.long, default: []].append(contentsOf: value.isEmpty ? [] : value.split(separator: ",", omittingEmptySubsequences: false).map(String.init))
        default: values[spec.long] = [value]
        }
    }

    public func isSet(_ long: String) -> Bool { changed.contains(long) }

    public func bool(_ long: String) -> Bool {
        if let v = values[long]?.last { return v == "true" }
        return specs[long]?.defaultValue == "true"
    }

    public func string(_ long: String) -> String {
        values[long]?.last ?? specs[long]?.defaultValue ?? ""
    }

    public func optionalString(_ long: String) -> String? {
        values[long]?.last
    }

    public func strings(_ long: String) -> [String] { values[long] ?? [] }

    public func int(_ long: String) -> Int {
        Int(values[long]?.last ?? specs[long]?.defaultValue ?? "0") ?? 0
    }
}

/// A flag parse failure (printed with the command's usage line; exit status 125).
public struct FlagError: Error, Sendable {
    public var message: String
}

public enum FlagParser {
    /// Go's `strconv.ParseBool`.
    static func parseBool(_ s: String) -> Bool? {
        switch s {
        case "1", "t", "T", "TRUE", "true", "True": return true
        case "0", "f", "F", "FALSE", "false", "False": return false
        default: return nil
        }
    }

    static func flagName(_ spec: FlagSpec) -> String {
        if let s = spec.short { return "-\(s), --\(spec.long)" }
        return "--\(spec.long)"
    }

    static func validate(_ spec: FlagSpec, _ value: String) throws -> String {
        switch spec.kind {
        case .bool:
            guard let b = parseBool(value) else {
                throw FlagError(message: "invalid argument \"\(value)\" for \"\(flagName(spec))\" flag: strconv.ParseBool: parsing \(GoFormat.quote(value)): invalid syntax")
            }
            return b ? "true" : "false"
        case .int:
            guard Int(value) != nil else {
                throw FlagError(message: "invalid argument \"\(value)\" for \"\(flagName(spec))\" flag: strconv.ParseInt: parsing \(GoFormat.quote(value)): invalid syntax")
            }
            return value
        default:
            return value
        }
    }

    /// Parses `args`; returns the flags, the positional arguments, and whether `--help`/`-h` was given.
    public static func parse(_ args: [String], specs: [FlagSpec], interspersed: Bool = true)
        throws -> (flags: ParsedFlags, positional: [String], help: Bool, shortHelp: Bool)
    {
        var flags = ParsedFlags(specs: specs)
        var positional: [String] = []
        var help = false
        var shortHelp = false
        var byLong: [String: FlagSpec] = [:]
        var byShort: [Character: FlagSpec] = [:]
        for s in specs {
            byLong[s.long] = s
            if let c = s.short { byShort[c] = s }
        }
        var i = 0
        while i < args.count {
            let a = args[i]
            i += 1
            if a == "--" {
                positional.append(contentsOf: args[i...])
                break
            }
            if a.hasPrefix("--") {
                let body = a.dropFirst(2)
                let name: String
                var inlineValue: String?
                if let eq = body.firstIndex(of: "=") {
                    name = String(body[..<eq])
                    inlineValue = String(body[body.index(after: eq)...])
                } else {
                    name = String(body)
                }
                if name == "help" && byLong["help"] == nil {
                    if let v = inlineValue {
                        guard let b = parseBool(v) else {
                            throw FlagError(message: "invalid argument \"\(v)\" for \"-h, --help\" flag: strconv.ParseBool: parsing \(GoFormat.quote(v)): invalid syntax")
                        }
                        help = help || b
                    } else {
                        help = true
                    }
                    continue
                }
                guard let spec = byLong[name] else {
                    throw FlagError(message: "unknown flag: --\(name)")
                }
                if let v = inlineValue {
                    flags.set(spec, try validate(spec, v))
                } else if spec.kind == .bool {
                    flags.set(spec, "true")
                } else {
                    guard i < args.count else { throw FlagError(message: "flag needs an argument: --\(name)") }
                    flags.set(spec, try validate(spec, args[i]))
                    i += 1
                }
                continue
            }
            if a.hasPrefix("-") && a.count > 1 {
                var chars = Array(a.dropFirst())
                while !chars.isEmpty {
                    let c = chars.removeFirst()
                    if c == "h" && byShort["h"] == nil {
                        help = true
                        shortHelp = true
                        continue
                    }
                    guard let spec = byShort[c] else {
                        throw FlagError(message: "unknown shorthand flag: '\(c)' in \(a)")
                    }
                    if spec.kind == .bool {
                        if chars.first == "=" {
                            flags.set(spec, try validate(spec, String(chars.dropFirst())))
                            chars = []
                        } else {
                            flags.set(spec, "true")
                        }
                        continue
                    }
                    if !chars.isEmpty {
                        var v = String(chars)
                        if v.hasPrefix("=") { v.removeFirst() }
                        flags.set(spec, try validate(spec, v))
                        chars = []
                    } else {
                        guard i < args.count else { throw FlagError(message: "flag needs an argument: '\(c)' in -\(c)") }
                        flags.set(spec, try validate(spec, args[i]))
                        i += 1
                    }
                }
                continue
            }
            positional.append(a)
            if !interspersed {
                positional.append(contentsOf: args[i...])
                break
            }
        }
        return (flags, positional, help, shortHelp)
    }
}
