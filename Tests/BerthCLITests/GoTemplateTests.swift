import Testing
@testable import BerthCLI

/// Table-driven tests of the Go template engine; expectations are what Go's text/template
/// (with the docker CLI's functions) prints for the same template and data.
struct GoTemplateTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var template: String
        var json: String
        var expected: String
        var testDescription: String { template }
        init(_ template: String, _ json: String = "{}", _ expected: String) {
            self.template = template
            self.json = json
            self.expected = expected
        }
    }

    static let data = """
        {"ID":"abc","Size":4261550,"Ratio":0.5,"Big":4260000.5,"On":true,"Off":false,"Name":"",
         "Tags":["a","b"],"Empty":[],"Labels":{"z":"1","a":"2"},"Null":null,
         "Config":{"Env":["A=1","B=2"],"Cmd":["sh"],"Nested":{"X":"y"}},"N":3,"Html":"<b>&</b>"}
        """

    static let cases: [Case] = [
        Case("{{.ID}}", data, "abc"),
        Case("plain text", data, "plain text"),
        Case("{{.Config.Env}}", data, "[A=1 B=2]"),
        Case("{{.Config.Nested.X}}", data, "y"),
        Case("{{.Labels}}", data, "map[a:2 z:1]"),
        Case("{{.Missing}}", data, "<no value>"),
        Case("{{.Missing.Deeper}}", data, "<no value>"),
        Case("{{.Null}}", data, "<no value>"),
        Case("{{.Size}}", data, "4261550"),
        Case("{{.Ratio}}", data, "0.5"),
        Case("{{.Big}}", data, "4.2600005e+06"),
        Case("{{.On}} {{.Off}}", data, "true false"),
        Case("{{json .}}", #"{"b":[1,2],"a":"x<y"}"#, #"{"b":[1,2],"a":"x<y"}"#),
        Case("{{json .Tags}}", data, #"["a","b"]"#),
        Case("{{json .Html}}", data, #""<b>&</b>""#),
        Case("{{json .Null}}", data, "null"),
        Case("{{json .Config.Nested}}", data, #"{"X":"y"}"#),
        Case("{{range .Tags}}[{{.}}]{{end}}", data, "[a][b]"),
        Case("{{range $i, $t := .Tags}}{{$i}}={{$t}} {{end}}", data, "0=a 1=b "),
        Case("{{range $k, $v := .Labels}}{{$k}}:{{$v}};{{end}}", data, "a:2;z:1;"),
        Case("{{range .Empty}}x{{else}}none{{end}}", data, "none"),
        Case("{{range .Tags}}{{if eq . \"b\"}}{{break}}{{end}}{{.}}{{end}}", data, "a"),
        Case("{{range .Tags}}{{if eq . \"a\"}}{{continue}}{{end}}{{.}}{{end}}", data, "b"),
        Case("{{range 3}}{{.}}{{end}}", data, "012"),
        Case("{{index .Labels \"z\"}}", data, "1"),
        Case("{{index .Tags 1}}", data, "b"),
        Case("{{index .ID 1}}", data, "98"),
        Case("{{index .Labels \"nope\"}}", data, ""),
        Case("{{if .On}}yes{{else}}no{{end}}", data, "yes"),
        Case("{{if .Name}}yes{{else}}no{{end}}", data, "no"),
        Case("{{if eq .ID \"x\"}}1{{else if eq .ID \"abc\"}}2{{else}}3{{end}}", data, "2"),
        Case("{{if and .On .ID}}{{and .On .ID}}{{end}}", data, "abc"),
        Case("{{or .Name .ID}}", data, "abc"),
        Case("{{not .On}}", data, "false"),
        Case("{{with .Config}}{{.Cmd}}{{end}}", data, "[sh]"),
        Case("{{with .Missing}}x{{else}}empty{{end}}", data, "empty"),
        Case("{{$x := .ID}}{{$x}}-{{$x}}", data, "abc-abc"),
        Case("{{$x := 1}}{{if .On}}{{$x = 2}}{{end}}{{$x}}", data, "2"),
        Case("{{.ID | printf \"%s-x\"}}", data, "abc-x"),
        Case("{{printf \"%q %5.2s|%-5s|%05d|%x|%v\" .ID .ID .ID .N .N .Tags}}", data, "\"abc\"    ab|abc  |00003|3|[a b]"),
        Case("{{printf \"%d\" .ID}}", data, "%!d(string=abc)"),
        Case("{{printf \"%s %s\" .ID}}", data, "abc %!s(MISSING)"),
        Case("{{printf \"%.2f\" .Ratio}}", data, "0.50"),
        Case("{{join .Tags \",\"}}", data, "a,b"),
        Case("{{split \"a/b/c\" \"/\"}}", data, "[a b c]"),
        Case("{{upper .ID}} {{lower \"ABC\"}} {{title \"hello world-x\"}}", data, "ABC abc Hello World-X"),
        Case("{{truncate .ID 2}}|{{truncate .ID 10}}", data, "ab|abc"),
        Case("{{pad .ID 1 2}}|{{pad .Name 1 2}}|", data, " abc  ||"),
        Case("{{println .ID}}", data, "abc\n"),
        Case("{{print .ID 1 2 \"x\"}}", data, "abc1 2x"),
        Case("{{len .Tags}} {{len .ID}} {{len .Labels}}", data, "2 3 2"),
        Case("{{slice .ID 1}} {{slice .Tags 0 1}}", data, "bc [a]"),
        Case("{{lt 1 2}} {{le 2 2}} {{gt \"b\" \"a\"}} {{ge 1 2}} {{ne .ID \"x\"}}", data, "true true true false true"),
        Case("{{eq .N 1 2 3}}", data, "true"),
        Case("{{html .Html}} {{urlquery \"a b&c\"}}", data, "&lt;b&gt;&amp;&lt;/b&gt; a+b%26c"),
        Case("  {{- .ID -}}  \n", data, "abc"),
        Case("a {{/* comment */}}b", data, "a b"),
        Case("a {{- /* comment */ -}} b", data, "ab"),
        Case("{{\"quoted\\tstr\"}} {{`raw\\t`}} {{'a'}} {{0x10}} {{-2}} {{1.5}}", data, "quoted\tstr raw\\t 97 16 -2 1.5"),
        Case("{{(index .Config.Env 0)}}", data, "A=1"),
        Case("{{(.Config).Nested.X}}", data, "y"),
        Case("{{.Config.Nested | json}}", data, #"{"X":"y"}"#),
        Case("{{eq .Null nil}} {{ne .ID nil}}", data, "true true"),
    ]

    @Test(arguments: cases)
    func renders(_ c: Case) throws {
        let t = try GoTemplate(c.template)
        let v = try JSON.parse(c.json)
        #expect(try t.execute(v) == c.expected)
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var template: String
        var expected: String
        var testDescription: String { template }
    }

    static let parseErrors: [ErrorCase] = [
        ErrorCase(template: "{{.ID", expected: "template: :1: unclosed action"),
        ErrorCase(template: "{{foo .ID}}", expected: "template: :1: function \"foo\" not defined"),
        ErrorCase(template: "{{.ID}} {{end}}", expected: "template: :1: unexpected {{end}}"),
        ErrorCase(template: "{{if .ID}}", expected: "template: :1: unexpected EOF"),
        ErrorCase(template: "{{json.}}", expected: "template: :1: unexpected <.> in operand"),
        ErrorCase(template: "{{$x}}", expected: "template: :1: undefined variable \"$x\""),
        ErrorCase(template: "{{}}", expected: "template: :1: missing value for command"),
        ErrorCase(template: "{{break}}", expected: "template: :1: {{break}} outside {{range}}"),
    ]

    @Test(arguments: parseErrors)
    func parseError(_ c: ErrorCase) {
        #expect(throws: GoTemplate.Error.self) { try GoTemplate(c.template) }
        do {
            _ = try GoTemplate(c.template)
        } catch {
            #expect("\(error)" == c.expected)
        }
    }

    static let execErrors: [ErrorCase] = [
        ErrorCase(template: "{{.Config.Nope}}", expected: "template: :1:9: executing \"\" at <.Config.Nope>: map has no entry for key \"Nope\""),
        ErrorCase(template: "{{index .Tags 5}}", expected: "template: :1:2: executing \"\" at <index .Tags 5>: error calling index: index out of range: 5"),
        ErrorCase(template: "{{json.Config}}", expected: "template: :1:2: executing \"\" at <json>: wrong number of args for json: want 1 got 0"),
        ErrorCase(template: "{{.Null.X}}", expected: "template: :1:7: executing \"\" at <.Null.X>: nil pointer evaluating interface {}.X"),
    ]

    /// Execution errors over the inspect "typed view" (structs error on missing fields, as docker's raw fallback does).
    @Test(arguments: execErrors)
    func execError(_ c: ErrorCase) throws {
        let t = try GoTemplate(c.template)
        let v = InspectOutput.typedView(try JSON.parse(#"{"Config":{"Env":[]},"Tags":["a"],"Null":{"X":1}}"#))
        var data = v
        if c.template.contains(".Null.X") { data = try JSON.parse(#"{"Null":null}"#) }
        do {
            _ = try t.execute(data)
            Issue.record("expected an error")
        } catch {
            #expect("\(error)" == c.expected)
        }
    }

    @Test func contextObjectErrorsLikeDocker() throws {
        let row = ImageCommands.imageRow(.init(.map(TemplateMap())), repo: "r", tag: "t", digest: "<none>", trunc: true, now: 0)
        let t = try GoTemplate("{{.Foo}}")
        do {
            _ = try t.execute(row)
            Issue.record("expected an error")
        } catch {
            #expect("\(error)" == "template: :1:2: executing \"\" at <.Foo>: can't evaluate field Foo in type *formatter.imageContext")
        }
    }

    @Test func headerFunctionsKeepHeaders() throws {
        let t = try GoTemplate("{{upper .ID}}\t{{json .Tag}}\t{{truncate .Repository 2}}")
        var m = TemplateMap()
        m["ID"] = .string("IMAGE ID")
        m["Tag"] = .string("TAG")
        m["Repository"] = .string("REPOSITORY")
        #expect(try t.execute(.map(m), functions: .header) == "IMAGE ID\tTAG\tREPOSITORY")
    }

    @Test func typedViewPrintsGoZeroValues() throws {
        let v = InspectOutput.typedView(try JSON.parse(#"{"Config":{"Env":null,"Labels":null,"Healthcheck":null,"Cmd":["sh"]}}"#))
        let t = try GoTemplate("{{.Config.Env}}|{{.Config.Labels}}|{{.Config.Healthcheck}}|{{json .Config}}|{{.Config.Labels.x}}")
        #expect(try t.execute(v) == #"[]|map[]|<nil>|{"Cmd":["sh"]}|<no value>"#)
    }
}
