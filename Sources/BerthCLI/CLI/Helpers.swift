import APIClient
import Foundation
import OCI

extension TemplateValue {
    public subscript(key: String) -> TemplateValue? {
        if case .map(let m) = self { return m[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var int64Value: Int64? {
        switch self {
        case .int(let i): return i
        case .float(let f): return Int64(exactly: f.rounded()) ?? Int64(f)
        default: return nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var arrayValue: [TemplateValue] {
        if case .array(let a) = self { return a }
        return []
    }

    public var stringArray: [String] { arrayValue.compactMap(\.stringValue) }

    public var mapValue: TemplateMap? {
        if case .map(let m) = self { return m }
        return nil
    }
}

extension Invocation {
    /// A flag-value error reported like pflag's (`invalid argument "x" for "-f, --filter" flag: …`, status 125).
    func flagValueError(_ flag: String, _ value: String, _ reason: String) -> CLIError {
        let spec = command.flags.first { $0.long == flag }
        let name = spec.map { FlagParser.flagName($0) } ?? "--\(flag)"
        return BerthCLI.usageError(command, "invalid argument \"\(value)\" for \"\(name)\" flag: \(reason)")
    }

    /// Docker's `FilterOpt`: `name=value` pairs (names lower-cased, both trimmed).
    func filters(_ flag: String = "filter") throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for v in flags.strings(flag) where !v.isEmpty {
            guard let eq = v.firstIndex(of: "=") else {
                throw flagValueError(flag, v, "bad format of filter (expected name=value)")
            }
            let name = v[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = v[v.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            out[name, default: []].append(value)
        }
        return out
    }

    var out: OutputStream { ctx.out }
    var err: OutputStream { ctx.err }
    func client() throws -> APIClient { try ctx.client() }
}

/// `docker image` IDs: `sha256:` stripped and cut to 12 characters (`stringid.TruncateID`).
func truncateID(_ id: String) -> String {
    var s = Substring(id)
    if let colon = s.firstIndex(of: ":") { s = s[s.index(after: colon)...] }
    return String(s.prefix(12))
}

/// Parses a reference the way the docker CLI does before talking to the daemon.
func parseReference(_ s: String) throws -> Reference {
    do {
        return try Reference.parse(s)
    } catch let e as BerthError {
        throw CLIError(e.message)
    }
}
