/// A Go struct value for templates: fields by Go name, marshalled with JSON names and `omitempty`.
public struct GoStruct: TemplateObject {
    public struct Field: Sendable {
        public var name: String
        public var jsonName: String?
        public var value: TemplateValue
        public var omitEmpty: Bool
        public init(_ name: String, json: String? = nil, _ value: TemplateValue, omitEmpty: Bool = false) {
            self.name = name
            self.jsonName = json
            self.value = value
            self.omitEmpty = omitEmpty
        }
    }

    public let templateTypeName: String
    public var fields: [Field]

    public init(_ typeName: String, _ fields: [Field]) {
        self.templateTypeName = typeName
        self.fields = fields
    }

    public func templateField(_ name: String) -> TemplateValue? {
        fields.first { $0.name == name }?.value
    }

    public func templateJSON() -> TemplateValue {
        var m = TemplateMap()
        for f in fields {
            if f.omitEmpty && !f.value.isTruthy {
                if case .object = f.value {} else { continue }
            }
            m[f.jsonName ?? f.name] = f.value
        }
        return .map(m)
    }

    public var templateJSONEscapesHTML: Bool { false }
}
