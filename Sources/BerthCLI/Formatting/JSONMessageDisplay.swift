/// Docker's `jsonmessage.DisplayJSONMessagesStream`: progress lines per layer id rewritten in place
/// with ANSI cursor movement on a terminal; plain lines (progress bars dropped) otherwise.
public final class JSONMessageDisplay: @unchecked Sendable {
    let out: OutputStream
    let isTerminal: Bool
    let width: Int
    var ids: [String: Int] = [:]
    /// Called with `aux` payloads (the message itself is not displayed).
    public var onAux: ((TemplateValue) -> Void)?
    /// The first error message seen in the stream.
    public private(set) var error: String?

    public init(out: OutputStream, isTerminal: Bool? = nil, width: Int? = nil) {
        self.out = out
        self.isTerminal = isTerminal ?? out.isTerminal
        self.width = width ?? out.terminalWidth ?? 200
    }

    struct Progress {
        var current: Int64 = 0
        var total: Int64 = 0
        var start: Int64 = 0
        var hideCounts = false
        var units = ""
    }

    /// Go's `JSONProgress.String()`.
    func progressString(_ p: Progress, now: Double) -> String {
        if p.current <= 0 && p.total <= 0 { return "" }
        if p.total <= 0 {
            if p.units.isEmpty { return GoFormat.sprintf("%8v", [.string(HumanUnits.humanSize(p.current))]) }
            return "\(p.current) \(p.units)"
        }
        var percentage = Int(Double(p.current) / Double(p.total) * 100) / 2
        if percentage > 50 { percentage = 50 }
        var pbBox = ""
        if width > 110 {
            pbBox = "[" + String(repeating: "=", count: percentage) + ">" + String(repeating: " ", count: max(0, 50 - percentage)) + "] "
        }
        var numbersBox = ""
        if !p.hideCounts {
            if p.units.isEmpty {
                let current = HumanUnits.humanSize(p.current), total = HumanUnits.humanSize(p.total)
                numbersBox = GoFormat.sprintf("%8v/%v", [.string(current), .string(total)])
                if p.current > p.total { numbersBox = GoFormat.sprintf("%8v", [.string(current)]) }
            } else {
                numbersBox = "\(p.current)/\(p.total) \(p.units)"
                if p.current > p.total { numbersBox = "\(p.current) \(p.units)" }
            }
        }
        var timeLeftBox = ""
        if width > 50, p.current > 0, p.start > 0, percentage < 50 {
            let fromStart = now - Double(p.start)
            let perEntry = fromStart / Double(p.current)
            let left = Double(p.total - p.current) * perEntry
            timeLeftBox = " " + HumanUnits.goDuration(seconds: Int64(left.rounded()))
        }
        return pbBox + numbersBox + timeLeftBox
    }

    /// Handles one JSON message; returns false (and records `error`) when it carries an error.
    @discardableResult
    public func handle(_ raw: [UInt8]) -> Bool {
        guard let jm = try? JSON.parse(raw) else {
            error = error ?? "invalid character in JSON message stream"
            return false
        }
        if let aux = jm["aux"], !(aux.isNull) {
            onAux?(aux)
            return true
        }
        let id = jm["id"]?.stringValue ?? ""
        let status = jm["status"]?.stringValue ?? ""
        let stream = jm["stream"]?.stringValue ?? ""
        let progressMessage = jm["progress"]?.stringValue ?? ""
        var progress: Progress?
        if let pd = jm["progressDetail"], case .map(let m) = pd {
            var p = Progress()
            p.current = m["current"]?.int64Value ?? 0
            p.total = m["total"]?.int64Value ?? 0
            p.start = m["start"]?.int64Value ?? 0
            p.hideCounts = m["hidecounts"]?.boolValue ?? false
            p.units = m["units"]?.stringValue ?? ""
            progress = p
        }
        var errorMessage: String?
        if case .map(let ed) = jm["errorDetail"] ?? .invalid {
            errorMessage = ed["message"]?.stringValue ?? ""
        } else if let e = jm["error"]?.stringValue, !e.isEmpty {
            errorMessage = e
        }

        var diff = 0
        if !id.isEmpty && (progress != nil || !progressMessage.isEmpty) {
            var line = ids[id]
            if line == nil {
                line = ids.count
                ids[id] = line
                if isTerminal { out.write("\n") }
            }
            diff = ids.count - line!
            if isTerminal && diff > 0 { out.write("\u{1B}[\(diff)A") }
        } else {
            ids = [:]
        }
        let ok = display(status: status, stream: stream, id: id, from: jm["from"]?.stringValue ?? "",
                         progress: progress, progressMessage: progressMessage, errorMessage: errorMessage,
                         time: jm["time"]?.int64Value ?? 0, timeNano: jm["timeNano"]?.int64Value ?? 0)
        if !id.isEmpty && isTerminal && diff > 0 { out.write("\u{1B}[\(diff)B") }
        out.flush()
        return ok
    }

    func display(status: String, stream: String, id: String, from: String, progress: Progress?, progressMessage: String,
                 errorMessage: String?, time: Int64, timeNano: Int64) -> Bool {
        if let errorMessage {
            error = error ?? errorMessage
            return false
        }
        var endl = ""
        let now = HumanUnits.now()
        if isTerminal && stream.isEmpty && progress != nil {
            out.write("\u{1B}[2K")
            endl = "\r"
            out.write(endl)
        } else if let p = progress, !progressString(p, now: now).isEmpty {
            return true  // no progress bars off a terminal
        }
        if timeNano != 0 {
            out.write(HumanUnits.rfc3339NanoFixed(unixNano: timeNano) + " ")
        } else if time != 0 {
            out.write(HumanUnits.rfc3339NanoFixed(unixNano: time * 1_000_000_000) + " ")
        }
        if !id.isEmpty { out.write(id + ": ") }
        if !from.isEmpty { out.write("(from \(from)) ") }
        if let p = progress, isTerminal {
            out.write(status + " " + progressString(p, now: now) + endl)
        } else if !progressMessage.isEmpty {
            out.write(status + " " + progressMessage + endl)
        } else if !stream.isEmpty {
            out.write(stream + endl)
        } else {
            out.write(status + endl + "\n")
        }
        return true
    }
}

extension TemplateValue {
    var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}
