#if canImport(Glibc)
import Glibc
#endif

/// Docker's `timetypes.GetTimestamp`: `--since`/`--until` values (Go durations, RFC 3339 dates,
/// Unix timestamps) converted to the API's `seconds.nanoseconds`.
public enum Timestamps {
    /// Go's `time.ParseDuration` (returns seconds), or nil.
    public static func parseDuration(_ s: String) -> Double? {
        var str = Substring(s)
        guard !str.isEmpty else { return nil }
        var neg = false
        if str.first == "-" || str.first == "+" {
            neg = str.first == "-"
            str = str.dropFirst()
        }
        if str == "0" { return 0 }
        var total = 0.0
        var any = false
        while !str.isEmpty {
            var num = ""
            while let c = str.first, c.isNumber || c == "." { num.append(c); str.removeFirst() }
            guard !num.isEmpty, let v = Double(num) else { return nil }
            var unit = ""
            while let c = str.first, !(c.isNumber || c == ".") { unit.append(c); str.removeFirst() }
            let mult: Double
            switch unit {
            case "ns": mult = 1e-9
            case "us", "µs", "μs": mult = 1e-6
            case "ms": mult = 1e-3
            case "s": mult = 1
            case "m": mult = 60
            case "h": mult = 3600
            default: return nil
            }
            total += v * mult
            any = true
        }
        guard any else { return nil }
        return neg ? -total : total
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Converts a user-supplied time into the API's `seconds.nanoseconds` form.
    public static func apiTimestamp(_ value: String, now: Double) throws -> String {
        if value != "0", let d = parseDuration(value) {
            return String(Int64((now - d).rounded(.down)))
        }
        if let t = parseDate(value) {
            let sec = Int64(t.rounded(.down))
            let nsec = Int64(((t - Double(sec)) * 1e9).rounded())
            return "\(sec)." + String(nsec).leftPadded(9)
        }
        if value.contains("-") {
            throw CLIError("parsing time \"\(value)\": cannot parse")
        }
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }) else {
            throw CLIError("failed to parse value as time or duration: \"\(value)\"")
        }
        return value
    }

    /// RFC 3339-like dates (`2006-01-02`, `2006-01-02T15:04:05[.nnn][Z|±hh:mm]`), local time when no zone.
    public static func parseDate(_ s: String) -> Double? {
        let u = Array(s.utf8)
        func num(_ i: Int, _ n: Int) -> Int? {
            guard i + n <= u.count else { return nil }
            var v = 0
            for k in i..<(i + n) {
                guard u[k] >= 0x30 && u[k] <= 0x39 else { return nil }
                v = v * 10 + Int(u[k] - 0x30)
            }
            return v
        }
        guard let y = num(0, 4), u.count >= 10, u[4] == 0x2D, let mo = num(5, 2), u[7] == 0x2D, let d = num(8, 2) else { return nil }
        var h = 0, mi = 0, se = 0
        var frac = 0.0
        var i = 10
        if i < u.count && (u[i] == UInt8(ascii: "T") || u[i] == UInt8(ascii: "t")) {
            guard let hh = num(i + 1, 2) else { return nil }
            h = hh
            i += 3
            if i < u.count && u[i] == UInt8(ascii: ":") {
                guard let m = num(i + 1, 2) else { return nil }
                mi = m
                i += 3
                if i < u.count && u[i] == UInt8(ascii: ":") {
                    guard let sv = num(i + 1, 2) else { return nil }
                    se = sv
                    i += 3
                    if i < u.count && u[i] == UInt8(ascii: ".") {
                        var k = i + 1
                        var digits = ""
                        while k < u.count, u[k] >= 0x30 && u[k] <= 0x39 { digits.unicodeScalars.append(Unicode.Scalar(u[k])); k += 1 }
                        frac = Double("0." + digits) ?? 0
                        i = k
                    }
                }
            }
        }
        var offset: Int?
        if i < u.count {
            if u[i] == UInt8(ascii: "Z") || u[i] == UInt8(ascii: "z") {
                offset = 0
                i += 1
            } else if u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-") {
                guard let oh = num(i + 1, 2), i + 3 < u.count, u[i + 3] == UInt8(ascii: ":"), let om = num(i + 4, 2) else { return nil }
                offset = (oh * 3600 + om * 60) * (u[i] == UInt8(ascii: "-") ? -1 : 1)
                i += 6
            }
        }
        guard i == u.count else { return nil }
        let days = HumanUnits.daysFromCivil(y, mo, d)
        var t = Double(days * 86400 + h * 3600 + mi * 60 + se) + frac
        if let offset {
            t -= Double(offset)
        } else {
            // Local time: find the zone offset at that moment.
            var tt = time_t(t)
            var tmv = tm()
            localtime_r(&tt, &tmv)
            t -= Double(tmv.tm_gmtoff)
        }
        return t
    }
}
