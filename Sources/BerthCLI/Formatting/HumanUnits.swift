#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// docker/go-units (`HumanSize`, `BytesSize`, `HumanDuration`) and the Go time formats the CLI prints.
public enum HumanUnits {
    static let decimalAbbrs = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    static let binaryAbbrs = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]

    static func sizeAndUnit(_ size: Double, base: Double, _ map: [String]) -> (Double, String) {
        var s = size
        var i = 0
        while s >= base && i < map.count - 1 {
            s /= base
            i += 1
        }
        return (s, map[i])
    }

    /// `units.HumanSizeWithPrecision(size, precision)`: base 1000, `%.*g`.
    public static func humanSize(_ size: Double, precision: Int = 4) -> String {
        let (s, unit) = sizeAndUnit(size, base: 1000, decimalAbbrs)
        return GoFormat.cFormat("%.\(precision)g", s) + unit
    }

    public static func humanSize(_ size: Int64, precision: Int = 4) -> String { humanSize(Double(size), precision: precision) }

    /// `units.BytesSize`: base 1024, `%.4g`.
    public static func bytesSize(_ size: Double) -> String {
        let (s, unit) = sizeAndUnit(size, base: 1024, binaryAbbrs)
        return GoFormat.cFormat("%.4g", s) + unit
    }

    /// `units.HumanDuration` for a duration in seconds.
    public static func humanDuration(seconds d: Double) -> String {
        let seconds = Int(d)
        if seconds < 1 { return "Less than a second" }
        if seconds == 1 { return "1 second" }
        if seconds < 60 { return "\(seconds) seconds" }
        let minutes = Int(d / 60)
        if minutes == 1 { return "About a minute" }
        if minutes < 60 { return "\(minutes) minutes" }
        let hours = Int((d / 3600).rounded(.toNearestOrAwayFromZero))
        if hours == 1 { return "About an hour" }
        if hours < 48 { return "\(hours) hours" }
        if hours < 24 * 7 * 2 { return "\(hours / 24) days" }
        if hours < 24 * 30 * 2 { return "\(hours / 24 / 7) weeks" }
        if hours < 24 * 365 * 2 { return "\(hours / 24 / 30) months" }
        return "\(Int(d / 3600) / 24 / 365) years"
    }

    /// "3 weeks ago" for a Unix timestamp, relative to now.
    public static func since(unix: Int64, now: Double = HumanUnits.now()) -> String {
        humanDuration(seconds: now - Double(unix)) + " ago"
    }

    /// Seconds since the epoch with sub-second precision.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Go's `time.Duration.String()` (e.g. `1m2s`, `3.5s`, `0s`) for whole seconds.
    public static func goDuration(seconds: Int64) -> String {
        if seconds == 0 { return "0s" }
        var s = abs(seconds)
        let neg = seconds < 0
        var out = ""
        let h = s / 3600
        s %= 3600
        let m = s / 60
        s %= 60
        if h > 0 { out = "\(h)h\(m)m\(s)s" } else if m > 0 { out = "\(m)m\(s)s" } else { out = "\(s)s" }
        return neg ? "-" + out : out
    }

    // MARK: Time formatting in the local time zone

    struct Broken {
        var year, month, day, hour, minute, second: Int
        var weekday: Int
        var gmtoff: Int
        var zone: String
    }

    static func broken(_ t: Int64) -> Broken {
        var tt = time_t(t)
        var tmv = tm()
        localtime_r(&tt, &tmv)
        let zone = tmv.tm_zone.map { String(cString: $0) } ?? "UTC"
        return Broken(year: Int(tmv.tm_year) + 1900, month: Int(tmv.tm_mon) + 1, day: Int(tmv.tm_mday),
                      hour: Int(tmv.tm_hour), minute: Int(tmv.tm_min), second: Int(tmv.tm_sec),
                      weekday: Int(tmv.tm_wday), gmtoff: Int(tmv.tm_gmtoff), zone: zone)
    }

    static func p2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
    static func pn(_ v: Int, _ n: Int) -> String { String(v).leftPadded(n) }

    static func offset(_ gmtoff: Int, colon: Bool) -> String {
        let sign = gmtoff < 0 ? "-" : "+"
        let a = abs(gmtoff)
        return sign + p2(a / 3600) + (colon ? ":" : "") + p2(a % 3600 / 60)
    }

    /// Go's `time.Time.String()` without fractional seconds: `2006-01-02 15:04:05 -0700 MST`.
    public static func goTimeString(unix: Int64) -> String {
        let b = broken(unix)
        return "\(pn(b.year, 4))-\(p2(b.month))-\(p2(b.day)) \(p2(b.hour)):\(p2(b.minute)):\(p2(b.second)) \(offset(b.gmtoff, colon: false)) \(b.zone)"
    }

    /// Docker's `RFC3339NanoFixed` (`2006-01-02T15:04:05.000000000Z07:00`) in the local zone.
    public static func rfc3339NanoFixed(unixNano: Int64) -> String {
        let sec = unixNano >= 0 ? unixNano / 1_000_000_000 : (unixNano - 999_999_999) / 1_000_000_000
        let nsec = unixNano - sec * 1_000_000_000
        let b = broken(sec)
        let zone = b.gmtoff == 0 ? "Z" : offset(b.gmtoff, colon: true)
        return "\(pn(b.year, 4))-\(p2(b.month))-\(p2(b.day))T\(p2(b.hour)):\(p2(b.minute)):\(p2(b.second)).\(pn(Int(nsec), 9))\(zone)"
    }

    static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Go's `time.ANSIC` (`Mon Jan _2 15:04:05 2006`) of a UTC/offset time given as broken-down fields.
    public static func ansic(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> String {
        // Day of week (Zeller-style via days from civil).
        let wd = weekday(year: year, month: month, day: day)
        let dayStr = day < 10 ? " \(day)" : "\(day)"
        return "\(weekdays[wd]) \(months[month - 1]) \(dayStr) \(p2(hour)):\(p2(minute)):\(p2(second)) \(year)"
    }

    static func weekday(year: Int, month: Int, day: Int) -> Int {
        // Days since 1970-01-01 (Thursday).
        let days = daysFromCivil(year, month, day)
        return ((days % 7) + 7 + 4) % 7
    }

    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// Docker's `reformatDate`: an RFC 3339 time becomes `time.ANSIC` (keeping its own offset); anything else is unchanged.
    public static func reformatDate(_ s: String) -> String {
        // 2025-05-30T12:07:14.000000000+00:00
        let u = Array(s.utf8)
        guard u.count >= 20, u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-"), u[10] == UInt8(ascii: "T") || u[10] == UInt8(ascii: "t"),
              u[13] == UInt8(ascii: ":"), u[16] == UInt8(ascii: ":") else { return s }
        func num(_ r: Range<Int>) -> Int? { Int(String(decoding: u[r], as: UTF8.self)) }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16), let se = num(17..<19),
              (1...12).contains(mo), (1...31).contains(d) else { return s }
        // Validate the tail: optional fraction then Z or ±hh:mm.
        var i = 19
        if i < u.count, u[i] == UInt8(ascii: ".") {
            i += 1
            while i < u.count, u[i] >= 0x30 && u[i] <= 0x39 { i += 1 }
        }
        guard i < u.count else { return s }
        if u[i] == UInt8(ascii: "Z") || u[i] == UInt8(ascii: "z") { guard i + 1 == u.count else { return s } } else {
            guard i + 6 == u.count, u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-") else { return s }
        }
        return ansic(year: y, month: mo, day: d, hour: h, minute: mi, second: se)
    }
}

extension HumanUnits {
    /// Go's `time.RFC3339` (`2006-01-02T15:04:05Z07:00`) in the local zone.
    public static func rfc3339(unix: Int64) -> String {
        let b = broken(unix)
        let zone = b.gmtoff == 0 ? "Z" : offset(b.gmtoff, colon: true)
        return "\(pn(b.year, 4))-\(p2(b.month))-\(p2(b.day))T\(p2(b.hour)):\(p2(b.minute)):\(p2(b.second))\(zone)"
    }
}
