import Foundation

/// RFC 3339 timestamps as Go writes them (`time.RFC3339Nano`: fraction without trailing zeros).
public enum RFC3339 {
    /// Broken-down timestamp, kept to the nanosecond (a `Date` is not that precise).
    public struct Stamp: Sendable, Hashable {
        public var seconds: Int64      // since the epoch, UTC
        public var nanos: Int32
        public var offsetSeconds: Int32 // zone offset as written (0 for Z)

        public init(seconds: Int64, nanos: Int32, offsetSeconds: Int32 = 0) {
            self.seconds = seconds
            self.nanos = nanos
            self.offsetSeconds = offsetSeconds
        }
    }

    /// Parses `2006-01-02T15:04:05.999999999Z07:00` (also lower-case t/z, and a space for T).
    public static func parseStamp(_ s: String) -> Stamp? {
        let u = Array(s.utf8)
        func num(_ from: Int, _ n: Int) -> Int? {
            guard from + n <= u.count else { return nil }
            var v = 0
            for i in from..<(from + n) {
                let c = u[i]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard u.count >= 20,
              let year = num(0, 4), u[4] == 45, let month = num(5, 2), u[7] == 45, let day = num(8, 2),
              u[10] == 84 || u[10] == 116 || u[10] == 32,
              let hour = num(11, 2), u[13] == 58, let minute = num(14, 2), u[16] == 58, let second = num(17, 2)
        else { return nil }
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var i = 19
        var nanos = 0
        if i < u.count, u[i] == 46 {
            i += 1
            var digits = 0
            while i < u.count, u[i] >= 48, u[i] <= 57 {
                if digits < 9 { nanos = nanos * 10 + Int(u[i] - 48) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 9) { nanos *= 10 }
        }
        guard i < u.count else { return nil }
        var offset = 0
        if u[i] == 90 || u[i] == 122 {
            i += 1
        } else if u[i] == 43 || u[i] == 45 {
            guard let oh = num(i + 1, 2), u.count > i + 3, u[i + 3] == 58, let om = num(i + 4, 2) else { return nil }
            offset = (oh * 3600 + om * 60) * (u[i] == 45 ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == u.count else { return nil }
        let days = daysFromCivil(year, month, day)
        let local = Int64(days) * 86400 + Int64(hour * 3600 + minute * 60 + second)
        return Stamp(seconds: local - Int64(offset), nanos: Int32(nanos), offsetSeconds: Int32(offset))
    }

    public static func parse(_ s: String) -> Date? {
        guard let st = parseStamp(s) else { return nil }
        return Date(timeIntervalSince1970: Double(st.seconds) + Double(st.nanos) / 1e9)
    }

    /// Go's `Format(time.RFC3339Nano)` of a parsed stamp (zone kept as written).
    public static func format(_ st: Stamp) -> String {
        let local = st.seconds + Int64(st.offsetSeconds)
        var days = local / 86400
        var rem = local % 86400
        if rem < 0 { rem += 86400; days -= 1 }
        let (y, m, d) = civilFromDays(Int(days))
        var s = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, Int(rem / 3600), Int(rem % 3600 / 60), Int(rem % 60))
        if st.nanos > 0 {
            var frac = String(format: "%09d", Int(st.nanos))
            while frac.hasSuffix("0") { frac.removeLast() }
            s += "." + frac
        }
        if st.offsetSeconds == 0 {
            s += "Z"
        } else {
            let o = abs(Int(st.offsetSeconds))
            s += (st.offsetSeconds < 0 ? "-" : "+") + String(format: "%02d:%02d", o / 3600, o % 3600 / 60)
        }
        return s
    }

    /// A `Date` as UTC RFC 3339 with nanoseconds (as precise as the `Date` is).
    public static func format(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        var secs = Int64(t.rounded(.down))
        var nanos = Int32(((t - Double(secs)) * 1e9).rounded())
        if nanos >= 1_000_000_000 { secs += 1; nanos -= 1_000_000_000 }
        return format(Stamp(seconds: secs, nanos: nanos, offsetSeconds: 0))
    }

    /// Re-renders a timestamp the way Docker shows it (parse, then RFC3339Nano); nil if unparsable.
    public static func normalize(_ s: String) -> String? {
        parseStamp(s).map(format)
    }

    // Howard Hinnant's civil-calendar conversions.
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp + (mp < 10 ? 3 : -9)
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
