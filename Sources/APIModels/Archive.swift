import Foundation

/// The `X-Docker-Container-Path-Stat` header of `HEAD`/`GET /containers/{id}/archive`: base64 of
/// `{"name":…,"size":…,"mode":…,"mtime":…,"linkTarget":…}` (moby's `container.PathStat`).
public struct ContainerPathStat: Codable, Sendable, Equatable {
    public var name: String
    public var size: Int64
    /// Go's `os.FileMode`: permission bits plus the type/setuid flags below.
    public var mode: UInt32
    /// Go's `time.Time` JSON (RFC 3339 with nanoseconds, trailing zeros dropped).
    public var mtime: String
    /// For a symlink: the fully resolved target inside the container.
    public var linkTarget: String

    public static let headerName = "X-Docker-Container-Path-Stat"

    // Go's `io/fs.FileMode` bits.
    public static let modeDir: UInt32 = 1 << 31
    public static let modeSymlink: UInt32 = 1 << 27
    public static let modeDevice: UInt32 = 1 << 26
    public static let modeNamedPipe: UInt32 = 1 << 25
    public static let modeSocket: UInt32 = 1 << 24
    public static let modeSetuid: UInt32 = 1 << 23
    public static let modeSetgid: UInt32 = 1 << 22
    public static let modeCharDevice: UInt32 = 1 << 21
    public static let modeSticky: UInt32 = 1 << 20

    public init(name: String, size: Int64, mode: UInt32, mtime: String, linkTarget: String) {
        self.name = name
        self.size = size
        self.mode = mode
        self.mtime = mtime
        self.linkTarget = linkTarget
    }

    public var isDir: Bool { mode & Self.modeDir != 0 }
    public var isSymlink: Bool { mode & Self.modeSymlink != 0 }
    /// Neither a directory nor a regular file (docker's `ValidateOutputPathFileMode` refuses these).
    public var isIrregular: Bool {
        mode & (Self.modeSymlink | Self.modeDevice | Self.modeNamedPipe | Self.modeSocket | Self.modeCharDevice) != 0
    }

    /// Go's `FileMode` from a `st_mode` (`os.fillFileStatFromSys`).
    public static func goMode(posix m: UInt32) -> UInt32 {
        var mode = m & 0o777
        switch m & 0o170000 {
        case 0o060000: mode |= modeDevice
        case 0o020000: mode |= modeDevice | modeCharDevice
        case 0o040000: mode |= modeDir
        case 0o010000: mode |= modeNamedPipe
        case 0o120000: mode |= modeSymlink
        case 0o140000: mode |= modeSocket
        default: break
        }
        if m & 0o2000 != 0 { mode |= modeSetgid }
        if m & 0o4000 != 0 { mode |= modeSetuid }
        if m & 0o1000 != 0 { mode |= modeSticky }
        return mode
    }

    /// The JSON in Go's field order.
    public var json: String {
        func q(_ s: String) -> String {
            let data = (try? JSONEncoder().encode(s)) ?? Data("\"\"".utf8)
            return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\\/", with: "/")
        }
        return "{\"name\":\(q(name)),\"size\":\(size),\"mode\":\(mode),\"mtime\":\(q(mtime)),\"linkTarget\":\(q(linkTarget))}"
    }

    /// The header value (standard base64 of ``json``).
    public var headerValue: String { Data(json.utf8).base64EncodedString() }

    /// Decodes a header value; nil when it is not valid base64 JSON.
    public init?(headerValue: String) {
        guard let data = Data(base64Encoded: headerValue.trimmingCharacters(in: .whitespaces)),
              let s = try? JSONDecoder().decode(ContainerPathStat.self, from: data) else { return nil }
        self = s
    }

    /// Go's `time.Time.MarshalJSON` in UTC: `2006-01-02T15:04:05.999999999Z`.
    public static func goTime(seconds: Int64, nanoseconds: Int64) -> String {
        var days = seconds / 86400, rem = seconds % 86400
        if rem < 0 { rem += 86400; days -= 1 }
        // Civil date from days since the epoch (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func p(_ v: Int64, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        var out = "\(p(y, 4))-\(p(m, 2))-\(p(d, 2))T\(p(rem / 3600, 2)):\(p(rem % 3600 / 60, 2)):\(p(rem % 60, 2))"
        if nanoseconds > 0 {
            var frac = p(nanoseconds, 9)
            while frac.hasSuffix("0") { frac.removeLast() }
            out += "." + frac
        }
        return out + "Z"
    }
}
