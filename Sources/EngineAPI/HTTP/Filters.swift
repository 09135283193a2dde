import APIModels
import Foundation
import OCI

/// Docker's `filters.Args`: `{"key": {"value": true}}` on the wire (the legacy `{"key": ["value"]}`
/// form is accepted too), with Docker's exact and fuzzy matching.
public struct Filters: Sendable, Equatable {
    public private(set) var fields: [String: [String: Bool]]

    public init(_ fields: [String: [String]] = [:]) {
        self.fields = fields.mapValues { Dictionary($0.map { ($0, true) }, uniquingKeysWith: { a, _ in a }) }
    }

    /// Parses the `filters` query parameter; empty means no filters.
    public static func parse(_ json: String) throws -> Filters {
        let trimmed = json.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return Filters() }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(trimmed.utf8))
        } catch {
            throw BerthError(.invalidArgument, "invalid filter: \(APIRequest.describe(error))")
        }
        guard case .object(let object) = value else {
            throw BerthError(.invalidArgument, "invalid filter: json: cannot unmarshal \(kind(value)) into Go value of type map[string]map[string]bool")
        }
        var result = Filters()
        for (key, entry) in object {
            switch entry {
            case .object(let map):
                var values: [String: Bool] = [:]
                for (v, flag) in map {
                    guard case .bool(let b) = flag else {
                        throw BerthError(.invalidArgument, "invalid filter: json: cannot unmarshal \(kind(flag)) into Go value of type bool")
                    }
                    values[v] = b
                }
                result.fields[key] = values
            case .array(let list):
                var values: [String: Bool] = [:]
                for item in list {
                    guard case .string(let s) = item else {
                        throw BerthError(.invalidArgument, "invalid filter: json: cannot unmarshal \(kind(item)) into Go value of type string")
                    }
                    values[s] = true
                }
                result.fields[key] = values
            case .null:
                result.fields[key] = [:]
            default:
                throw BerthError(.invalidArgument, "invalid filter: json: cannot unmarshal \(kind(entry)) into Go value of type map[string]bool")
            }
        }
        return result
    }

    private static func kind(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool: return "bool"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    public var isEmpty: Bool { fields.isEmpty }

    /// Values given for `key` (Docker's `Get`), sorted for determinism.
    public func values(_ key: String) -> [String] { (fields[key] ?? [:]).keys.sorted() }

    public func contains(_ key: String) -> Bool { fields[key] != nil }

    /// The plain `[key: [values]]` form the engine services take.
    public var dictionary: [String: [String]] { fields.mapValues { $0.keys.sorted() } }

    /// Rejects keys outside `accepted` with Docker's `invalid filter 'key'`.
    public func validate(accepted: Set<String>) throws {
        for key in fields.keys.sorted() where !accepted.contains(key) {
            throw BerthError(.invalidArgument, "invalid filter '\(key)'")
        }
    }

    /// True when `key` is not filtered, or `value` is one of its values.
    public func exactMatch(_ key: String, _ value: String) -> Bool {
        guard let values = fields[key], !values.isEmpty else { return true }
        return values[value] == true
    }

    /// True when `key` is not filtered, or a value equals or is a prefix of `value`.
    public func fuzzyMatch(_ key: String, _ value: String) -> Bool {
        guard let values = fields[key], !values.isEmpty else { return true }
        if values[value] == true { return true }
        return values.keys.contains { value.hasPrefix($0) }
    }

    /// `label` filters against attributes: `key` (present) or `key=value`.
    public func matchKVList(_ key: String, _ attributes: [String: String]) -> Bool {
        guard let values = fields[key], !values.isEmpty else { return true }
        for v in values.keys {
            if let eq = v.firstIndex(of: "=") {
                let k = String(v[..<eq]), want = String(v[v.index(after: eq)...])
                if attributes[k] != want { return false }
            } else if attributes[v] == nil {
                return false
            }
        }
        return true
    }
}
