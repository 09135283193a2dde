import APIClient
import Foundation

/// `berth events` / `berth system events`.
enum EventsCommand {
    static func make(bin: String) -> Command {
        Command("events [OPTIONS]", "Get real time events from the server", aliasLine: "\(bin) system events, \(bin) events",
                flags: [
                    .array("filter", "f", "Filter output based on conditions provided", type: "filter"),
                    .string("format", nil, ImageCommands.inspectFormatHelp),
                    .string("since", nil, "Show all events created since timestamp"),
                    .string("until", nil, "Stream events until this timestamp"),
                ],
                args: .none, run: run)
    }

    /// An `events.Message` as the docker CLI's templates see it.
    static func message(_ e: TemplateValue) -> TemplateValue {
        var attrs = TemplateMap()
        if let a = e["Actor"]?["Attributes"]?.mapValue {
            for k in a.sortedKeys { attrs[k] = a[k] }
        }
        let actor = GoStruct("events.Actor", [
            .init("ID", e["Actor"]?["ID"] ?? .string("")),
            .init("Attributes", e["Actor"]?["Attributes"]?.mapValue == nil ? .typedNil(.map) : .map(attrs)),
        ])
        return .object(GoStruct("*events.Message", [
            .init("Status", json: "status", e["status"] ?? .string(""), omitEmpty: true),
            .init("ID", json: "id", e["id"] ?? .string(""), omitEmpty: true),
            .init("From", json: "from", e["from"] ?? .string(""), omitEmpty: true),
            .init("Type", e["Type"] ?? .string("")),
            .init("Action", e["Action"] ?? .string("")),
            .init("Actor", .object(actor)),
            .init("Scope", json: "scope", e["scope"] ?? .string("")),
            .init("Time", json: "time", e["time"] ?? .int(0), omitEmpty: true),
            .init("TimeNano", json: "timeNano", e["timeNano"] ?? .int(0), omitEmpty: true),
        ]))
    }

    /// Docker's `prettyPrintEvent`.
    static func pretty(_ e: TemplateValue) -> String {
        var s = ""
        let nano = e["timeNano"]?.int64Value ?? 0, t = e["time"]?.int64Value ?? 0
        if nano != 0 { s += HumanUnits.rfc3339NanoFixed(unixNano: nano) + " " } else if t != 0 {
            s += HumanUnits.rfc3339NanoFixed(unixNano: t * 1_000_000_000) + " "
        }
        s += "\(e["Type"]?.stringValue ?? "") \(e["Action"]?.stringValue ?? "") \(e["Actor"]?["ID"]?.stringValue ?? "")"
        if let a = e["Actor"]?["Attributes"]?.mapValue, !a.isEmpty {
            s += " (" + a.sortedKeys.map { "\($0)=\(a[$0]?.stringValue ?? "")" }.joined(separator: ", ") + ")"
        }
        return s + "\n"
    }

    static func run(_ inv: Invocation) throws {
        var format = inv.flags.string("format")
        if format == "json" { format = "{{json .}}" }
        var parsed: GoTemplate?
        if !format.isEmpty {
            do {
                let t = try GoTemplate(format)
                _ = try t.execute(message(.map(TemplateMap())))
                parsed = t
            } catch let e as GoTemplate.Error {
                throw CLIError("Error parsing format: \(e.description)", status: 64)
            }
        }
        let tmpl = parsed
        var query: [(String, String)] = []
        let now = Date().timeIntervalSince1970
        for key in ["since", "until"] {
            let v = inv.flags.string(key)
            if v.isEmpty { continue }
            query.append((key, try Timestamps.apiTimestamp(v, now: now)))
        }
        let filters = try inv.filters()
        if !filters.isEmpty { query.append(("filters", APIClient.encodeFilters(filters))) }
        let out = inv.out
        let failure = FailureBox()
        try inv.client().streamJSON(.GET, "/events", query: query) { raw in
            guard failure.message == nil, let e = try? JSON.parse(raw) else { return }
            if let tmpl {
                do {
                    out.write(try tmpl.execute(message(e)))
                } catch let err as GoTemplate.Error {
                    failure.message = "template: \(err.description)"
                } catch {}
                out.write("\n")
            } else {
                out.write(pretty(e))
            }
            out.flush()
        }
        if let m = failure.message { throw CLIError(m) }
    }
}

/// A value written on the event loop thread and read after the stream ended.
final class FailureBox: @unchecked Sendable {
    var message: String?
}
