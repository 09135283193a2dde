import APIClient
import Foundation
import OCI

/// `version`, `info`, `system df`, `system events` / `events`.
enum SystemCommands {
    static func register(on root: Command) {
        let bin = root.name
        root.add(versionCommand(bin: bin))
        root.add(infoCommand(bin: bin, category: .common))
        root.add(EventsCommand.make(bin: bin))
        let system = Command("system", "Manage \(bin.capitalized)", category: .management)
        system.add(DiskUsageCommand.make(bin: bin), EventsCommand.make(bin: bin), infoCommand(bin: bin, category: .other))
        root.add(system)
    }

    // MARK: version

    static let defaultVersionTemplate = """
        {{with .Client -}}
        Client:{{if ne .Platform nil}}{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}{{end}}
         Version:\t{{.Version}}
         API version:\t{{.APIVersion}}{{if ne .APIVersion .DefaultAPIVersion}} (downgraded from {{.DefaultAPIVersion}}){{end}}
         Swift version:\t{{.GoVersion}}
         Git commit:\t{{.GitCommit}}
         Built:\t{{.BuildTime}}
         OS/Arch:\t{{.Os}}/{{.Arch}}
         Context:\t{{.Context}}
        {{- end}}

        {{- if ne .Server nil}}{{with .Server}}

        Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
         {{- range $component := .Components}}
         {{$component.Name}}:
          {{- if eq $component.Name "Engine" }}
          Version:\t{{.Version}}
          API version:\t{{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
          Go version:\t{{index .Details "GoVersion"}}
          Git commit:\t{{index .Details "GitCommit"}}
          Built:\t{{index .Details "BuildTime"}}
          OS/Arch:\t{{index .Details "Os"}}/{{index .Details "Arch"}}
          Experimental:\t{{index .Details "Experimental"}}
          {{- else }}
          Version:\t{{$component.Version}}
          {{- $detailsOrder := getDetailsOrder $component}}
          {{- range $key := $detailsOrder}}
          {{$key}}:\t{{index $component.Details $key}}
           {{- end}}
          {{- end}}
         {{- end}}
         {{- end}}{{- end}}
        """

    static func versionCommand(bin: String) -> Command {
        Command("version [OPTIONS]", "Show the \(bin.capitalized) version information",
                flags: [.string("format", "f", ImageCommands.inspectFormatHelp)],
                args: .none, category: .common, run: runVersion)
    }

    static var swiftVersion: String {
        #if swift(>=6.3)
        return "swift6.3"
        #elseif swift(>=6.2)
        return "swift6.2"
        #else
        return "swift6"
        #endif
    }

    static var arch: String {
        var u = utsname()
        uname(&u)
        let m = withUnsafeBytes(of: &u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        switch m {
        case "x86_64": return "amd64"
        case "aarch64": return "arm64"
        case "armv7l": return "arm"
        default: return m
        }
    }

    /// The build time of this binary (its modification time), in Go's ANSIC layout.
    static var buildTime: String {
        var st = stat()
        guard stat("/proc/self/exe", &st) == 0 else { return "" }
        var t = time_t(st.st_mtim.tv_sec)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        return HumanUnits.ansic(year: Int(tmv.tm_year) + 1900, month: Int(tmv.tm_mon) + 1, day: Int(tmv.tm_mday),
                                hour: Int(tmv.tm_hour), minute: Int(tmv.tm_min), second: Int(tmv.tm_sec))
    }

    static func clientVersion(apiVersion: String?) -> GoStruct {
        GoStruct("system.clientVersion", [
            .init("Platform", .typedNil(.pointer), omitEmpty: true),
            .init("Version", .string(BerthCLI.version), omitEmpty: true),
            .init("APIVersion", json: "ApiVersion", .string(apiVersion ?? ""), omitEmpty: true),
            .init("DefaultAPIVersion", .string(APIClient.maxAPIVersion), omitEmpty: true),
            .init("GitCommit", .string(BerthCLI.gitCommit), omitEmpty: true),
            .init("GoVersion", .string(swiftVersion), omitEmpty: true),
            .init("Os", .string("linux"), omitEmpty: true),
            .init("Arch", .string(arch), omitEmpty: true),
            .init("BuildTime", .string(buildTime), omitEmpty: true),
            .init("Context", .string("default")),
        ])
    }

    /// `types.Version` from the daemon's JSON.
    static func serverVersion(_ v: TemplateValue) -> GoStruct {
        var components = v["Components"]?.arrayValue ?? []
        components = components.map { c in
            guard var m = c.mapValue else { return c }
            if m["Name"]?.stringValue == "Engine", var d = m["Details"]?.mapValue, let bt = d["BuildTime"]?.stringValue {
                d["BuildTime"] = .string(HumanUnits.reformatDate(bt))
                m["Details"] = .map(d)
            }
            if m["Details"] == nil || m["Details"]!.isNull { m["Details"] = .typedNil(.map) }
            return .object(GoStruct("types.ComponentVersion", [
                .init("Name", m["Name"] ?? .string("")),
                .init("Version", m["Version"] ?? .string("")),
                .init("Details", m["Details"] ?? .typedNil(.map), omitEmpty: true),
            ]))
        }
        if !components.contains(where: { if case .object(let o) = $0 { return o.templateField("Name")?.stringValue == "Engine" } else { return false } }) {
            var d = TemplateMap()
            d["ApiVersion"] = v["ApiVersion"] ?? .string("")
            d["MinAPIVersion"] = v["MinAPIVersion"] ?? .string("")
            d["GitCommit"] = v["GitCommit"] ?? .string("")
            d["GoVersion"] = v["GoVersion"] ?? .string("")
            d["Os"] = v["Os"] ?? .string("")
            d["Arch"] = v["Arch"] ?? .string("")
            d["BuildTime"] = .string(HumanUnits.reformatDate(v["BuildTime"]?.stringValue ?? ""))
            d["Experimental"] = .string(v["Experimental"]?.boolValue == true ? "true" : "false")
            components.append(.object(GoStruct("types.ComponentVersion", [
                .init("Name", .string("Engine")), .init("Version", v["Version"] ?? .string("")), .init("Details", .map(d)),
            ])))
        }
        var platform = TemplateMap()
        platform.isStruct = true
        platform["Name"] = v["Platform"]?["Name"] ?? .string("")
        return GoStruct("types.Version", [
            .init("Platform", .map(platform)),
            .init("Components", .array(components)),
            .init("Version", v["Version"] ?? .string("")),
            .init("APIVersion", json: "ApiVersion", v["ApiVersion"] ?? .string("")),
            .init("MinAPIVersion", v["MinAPIVersion"] ?? .string(""), omitEmpty: true),
            .init("GitCommit", v["GitCommit"] ?? .string("")),
            .init("GoVersion", v["GoVersion"] ?? .string("")),
            .init("Os", v["Os"] ?? .string("")),
            .init("Arch", v["Arch"] ?? .string("")),
            .init("KernelVersion", v["KernelVersion"] ?? .string(""), omitEmpty: true),
            .init("Experimental", v["Experimental"] ?? .bool(false), omitEmpty: true),
            .init("BuildTime", v["BuildTime"] ?? .string(""), omitEmpty: true),
        ])
    }

    static let versionFunctions = TemplateFunctions.standard.adding("getDetailsOrder") { a in
        guard let c = a.first, case .object(let o) = c, let d = o.templateField("Details")?.mapValue else { return .array([]) }
        return .strings(d.sortedKeys)
    }

    static func runVersion(_ inv: Invocation) throws {
        var format = inv.flags.string("format")
        if format.isEmpty { format = defaultVersionTemplate } else if format == "json" { format = "{{json .}}" }
        let tmpl: GoTemplate
        do {
            tmpl = try GoTemplate(format, name: "version", functions: versionFunctions)
        } catch let e as GoTemplate.Error {
            throw CLIError("template parsing error: \(e.description)", status: 64)
        }
        let client = try inv.client()
        var serverError: (any Error)?
        var server: TemplateValue = .typedNil(.pointer)
        let api = (try? client.negotiate()) ?? client.currentVersion
        do {
            let (_, body) = try client.send(.GET, "/version")
            server = .object(serverVersion(try JSON.parse(body)))
        } catch {
            serverError = error
        }
        let data = TemplateValue.object(GoStruct("system.versionInfo", [
            .init("Client", .object(clientVersion(apiVersion: api))),
            .init("Server", server),
        ]))
        var tw = TabWriter(minwidth: 20, tabwidth: 1, padding: 1)
        var templateError: (any Error)?
        do {
            tw.write(try tmpl.execute(data, functions: versionFunctions))
        } catch {
            templateError = error
        }
        tw.write("\n")
        tw.flush()
        inv.out.write(tw.output)
        if let serverError { throw serverError }
        if let e = templateError as? GoTemplate.Error { throw CLIError(e.description) }
    }

    // MARK: info

    static func infoCommand(bin: String, category: Command.Category) -> Command {
        Command("info [OPTIONS]", "Display system-wide information", aliasLine: "\(bin) system info, \(bin) info",
                flags: [.string("format", "f", ImageCommands.inspectFormatHelp)],
                args: .none, category: category, run: InfoCommand.run)
    }
}
