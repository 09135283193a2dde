/// Docker's `formatter.Context.Write`: `table`, `table TEMPLATE`, `json`, or a plain template, applied
/// per row; tables get a header rendered from per-command header names and go through the tab writer.
public struct ListFormatter {
    public var format: String
    /// Field name → column header (`ID` → `IMAGE ID`).
    public var headers: [String: String]

    public init(format: String, headers: [String: String]) {
        self.format = format
        self.headers = headers
    }

    public var isTable: Bool { format.hasPrefix("table") }

    /// The template text after docker's `preFormat`.
    public var templateText: String {
        var f = format
        if isTable { f = String(f.dropFirst(5)) } else if f == "json" { f = "{{json .}}" }
        f = f.goTrim(" ")
        return f.replacingAll("\\t", with: "\t").replacingAll("\\n", with: "\n")
    }

    /// Renders all rows. Errors read `template parsing error: …` as docker's do.
    public func render(_ rows: [TemplateValue], functions: TemplateFunctions = .standard) throws -> String {
        let tmpl: GoTemplate
        do {
            tmpl = try GoTemplate(templateText, functions: functions)
        } catch let e as GoTemplate.Error {
            throw CLIError("template parsing error: \(e.description)")
        }
        var body = ""
        for r in rows {
            do {
                body += try tmpl.execute(r, functions: functions)
            } catch let e as GoTemplate.Error {
                throw CLIError("template parsing error: \(e.description)")
            }
            body += "\n"
        }
        guard isTable else { return body }
        var headerMap = TemplateMap()
        for k in headers.keys.sorted() { headerMap[k] = .string(headers[k]!) }
        let header = (try? tmpl.execute(.map(headerMap), functions: .header)) ?? ""
        var tw = TabWriter.dockerTable()
        tw.write(header)
        tw.write("\n")
        tw.write(body)
        tw.flush()
        return String(decoding: tw.output, as: UTF8.self)
    }
}

extension String {
    /// Go's `strings.Trim(s, cutset)` for a one-character cutset.
    func goTrim(_ c: Character) -> String {
        var s = Substring(self)
        while s.first == c { s.removeFirst() }
        while s.last == c { s.removeLast() }
        return String(s)
    }
}
