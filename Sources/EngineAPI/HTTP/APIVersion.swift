import Engine
import OCI

/// A Docker Engine API version (`1.50`). Compared numerically component by component, like Docker's
/// `versions.Compare` (missing components are 0, non-numeric ones too).
public struct APIVersion: Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let string: String
    let components: [Int]

    public init(_ string: String) {
        self.string = string
        self.components = string.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) ?? 0 }
    }

    public init(stringLiteral value: String) { self.init(value) }

    public var description: String { string }

    /// The newest version berthd speaks, and the one used when a request has no `/vX.Y` prefix.
    public static let current = APIVersion(BerthBuild.apiVersion)
    /// The oldest version berthd accepts.
    public static let minimum = APIVersion(BerthBuild.minAPIVersion)

    public static func < (a: APIVersion, b: APIVersion) -> Bool {
        let n = max(a.components.count, b.components.count)
        for i in 0..<n {
            let x = i < a.components.count ? a.components[i] : 0
            let y = i < b.components.count ? b.components[i] : 0
            if x != y { return x < y }
        }
        return false
    }

    public static func == (a: APIVersion, b: APIVersion) -> Bool { !(a < b) && !(b < a) }

    public func hash(into hasher: inout Hasher) {
        var c = components
        while c.last == 0 { c.removeLast() }
        hasher.combine(c)
    }

    /// Splits `/v1.41/images/json` into `("1.41", "/images/json")`. Docker's matcher is
    /// `/v{version:[0-9.]+}`: anything else is not a version prefix.
    public static func splitPrefix(_ path: String) -> (version: String?, rest: String) {
        guard path.hasPrefix("/v") else { return (nil, path) }
        let afterV = path.index(path.startIndex, offsetBy: 2)
        let end = path[afterV...].firstIndex(of: "/") ?? path.endIndex
        let candidate = path[afterV..<end]
        guard !candidate.isEmpty, candidate.allSatisfy({ $0 == "." || ("0"..."9").contains($0) }) else {
            return (nil, path)
        }
        let rest = end == path.endIndex ? "/" : String(path[end...])
        return (String(candidate), rest)
    }

    /// Docker's version middleware: a missing version is the current one; outside [minimum, current]
    /// is a 400 with Docker's wording.
    public static func negotiate(_ requested: String?) throws -> APIVersion {
        guard let requested, !requested.isEmpty else { return .current }
        let v = APIVersion(requested)
        if v < .minimum {
            throw BerthError(.invalidArgument, "client version \(requested) is too old. Minimum supported API version is \(minimum), please upgrade your client to a newer version")
        }
        if v > .current {
            throw BerthError(.invalidArgument, "client version \(requested) is too new. Maximum supported API version is \(current)")
        }
        return v
    }
}
