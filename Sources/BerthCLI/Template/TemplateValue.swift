/// A value a Go template (`--format`) is evaluated over.
///
/// Models the parts of Go's reflection that `text/template` relies on: JSON documents
/// (`map[string]interface{}` in Docker's raw inspect fallback) are `.map`s with ordered keys,
/// the CLI's formatting contexts (Docker's `formatter.imageContext` …) are `.object`s whose
/// fields may be computed lazily.
public indirect enum TemplateValue: Sendable {
    /// Go's invalid `reflect.Value` (a missing map key): prints `<no value>`.
    case invalid
    /// A nil interface (JSON `null`): prints `<no value>`, field access on it is an error.
    case null
    /// A typed nil in a Go struct: a nil pointer prints `<nil>`, a nil slice `[]`, a nil map `map[]`.
    case typedNil(TypedNil)
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case array([TemplateValue])
    case map(TemplateMap)
    case object(any TemplateObject)

    /// `[]string` convenience.
    public static func strings(_ a: [String]) -> TemplateValue { .array(a.map { .string($0) }) }
}

/// The kinds of typed nil values.
public enum TypedNil: Sendable {
    case pointer, slice, map
}

/// A JSON object / Go map with insertion-ordered keys (Go prints maps sorted by key; JSON keeps order).
///
/// `isStruct` marks objects that stand for Go structs in inspect output: a missing field is an error
/// (`map has no entry for key "X"`, as in the docker CLI's raw fallback) and they print as `{v1 v2}`.
public struct TemplateMap: Sendable {
    public private(set) var keys: [String] = []
    public private(set) var storage: [String: TemplateValue] = [:]
    public var isStruct = false

    public init() {}
    public init(_ pairs: [(String, TemplateValue)]) {
        keys.reserveCapacity(pairs.count)
        for (k, v) in pairs { self[k] = v }
    }

    public subscript(key: String) -> TemplateValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }
    /// Pairs in insertion order.
    public var pairs: [(String, TemplateValue)] { keys.map { ($0, storage[$0]!) } }
    /// Keys sorted as Go sorts map keys when printing or ranging.
    public var sortedKeys: [String] { keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } }
}

/// A struct-like value: Docker's formatting contexts (`{{.ID}}`, `{{.Repository}}` …).
public protocol TemplateObject: Sendable {
    /// Go type name used in error messages, e.g. `*formatter.imageContext`.
    var templateTypeName: String { get }
    /// The value of a field or niladic method, or nil when there is no such field.
    func templateField(_ name: String) -> TemplateValue?
    /// `{{json .}}` of the object. Docker's contexts marshal all their methods into a sorted map.
    func templateJSON() -> TemplateValue
    /// Whether `{{json .}}` escapes `<`, `>` and `&` (true for contexts, which use `json.Marshal`).
    var templateJSONEscapesHTML: Bool { get }
}

extension TemplateObject {
    public var templateJSONEscapesHTML: Bool { true }
}

/// A formatting context built from a fixed list of lazily computed fields, marshalled sorted by name.
public struct FieldsObject: TemplateObject {
    public let templateTypeName: String
    public let names: [String]
    let compute: @Sendable (String) -> TemplateValue?

    public init(typeName: String, names: [String], compute: @escaping @Sendable (String) -> TemplateValue?) {
        self.templateTypeName = typeName
        self.names = names
        self.compute = compute
    }

    public func templateField(_ name: String) -> TemplateValue? { compute(name) }

    public func templateJSON() -> TemplateValue {
        var m = TemplateMap()
        for n in names.sorted() { m[n] = compute(n) ?? .null }
        return .map(m)
    }
}

/// A plain struct with ordered fields (e.g. the `version` / `info` data): `{{json .}}` keeps the order.
public struct StructObject: TemplateObject {
    public let templateTypeName: String
    public var fields: TemplateMap
    public init(typeName: String, fields: TemplateMap) {
        self.templateTypeName = typeName
        self.fields = fields
    }
    public func templateField(_ name: String) -> TemplateValue? { fields[name] }
    public func templateJSON() -> TemplateValue { .map(fields) }
    public var templateJSONEscapesHTML: Bool { false }
}

extension TemplateValue {
    /// Go's `isTrue` (template truthiness).
    public var isTruthy: Bool {
        switch self {
        case .invalid, .null, .typedNil: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .float(let f): return f != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .map(let m): return !m.isEmpty
        case .object: return true
        }
    }

    /// Go's type name for error messages.
    var goTypeName: String {
        switch self {
        case .invalid: return "<nil>"
        case .null: return "interface {}"
        case .typedNil(let k): return k == .map ? "map[string]string" : k == .slice ? "[]string" : "*struct"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float64"
        case .string: return "string"
        case .array: return "[]interface {}"
        case .map: return "map[string]interface {}"
        case .object(let o): return o.templateTypeName
        }
    }

    /// What `{{.}}` / `print` shows: Go's `fmt` `%v`, as `text/template` prints values.
    public var goString: String {
        var out = ""
        appendGoString(to: &out, top: true)
        return out
    }

    func appendGoString(to out: inout String, top: Bool = false) {
        switch self {
        case .invalid: out += "<no value>"
        case .null: out += top ? "<no value>" : "<nil>"
        case .typedNil(let k): out += k == .map ? "map[]" : k == .slice ? "[]" : "<nil>"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .float(let f): out += GoFormat.formatFloatV(f)
        case .string(let s): out += s
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += " " }
                v.appendGoString(to: &out)
            }
            out += "]"
        case .map(let m) where m.isStruct:
            out += "{"
            for (i, (_, v)) in m.pairs.enumerated() {
                if i > 0 { out += " " }
                v.appendGoString(to: &out)
            }
            out += "}"
        case .map(let m):
            out += "map["
            for (i, k) in m.sortedKeys.enumerated() {
                if i > 0 { out += " " }
                out += k
                out += ":"
                m[k]!.appendGoString(to: &out)
            }
            out += "]"
        case .object(let o):
            // Go prints a struct pointer as &{field values…}; approximate with the JSON fields' values.
            out += "&{"
            if case .map(let m) = o.templateJSON() {
                for (i, (_, v)) in m.pairs.enumerated() {
                    if i > 0 { out += " " }
                    v.appendGoString(to: &out)
                }
            }
            out += "}"
        }
    }
}
