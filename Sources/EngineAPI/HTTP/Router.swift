import NIOHTTP1

/// What a route does with a request. Throw `BerthError` for Docker-style error responses.
public typealias RouteHandler = @Sendable (APIRequest) async throws -> APIResponse

/// A path pattern in gorilla/mux syntax as moby writes its routes: literal segments, `{name}` for one
/// segment, and at most one `{name:.*}` that takes one or more segments, slashes included
/// (`/images/{name:.*}/json` matches `/images/localhost:5000/a/b:tag/json`).
public struct RoutePattern: Sendable, Hashable, CustomStringConvertible {
    enum Segment: Sendable, Hashable {
        case literal(String)
        case parameter(String)
        case greedy(String)
    }

    let segments: [Segment]
    public let description: String

    public init(_ pattern: String) {
        description = pattern
        segments = pattern.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { raw in
            guard raw.hasPrefix("{"), raw.hasSuffix("}") else { return .literal(String(raw)) }
            let inner = raw.dropFirst().dropLast()
            if let colon = inner.firstIndex(of: ":") {
                let name = String(inner[..<colon])
                return inner[inner.index(after: colon)...] == ".*" ? .greedy(name) : .parameter(name)
            }
            return .parameter(String(inner))
        }
        precondition(segments.filter { if case .greedy = $0 { return true } else { return false } }.count <= 1,
                     "route \(pattern): at most one {name:.*}")
    }

    /// Path parameters when `path` (already without the `/vX.Y` prefix) matches.
    public func match(_ path: String) -> [String: String]? {
        guard path.hasPrefix("/") else { return nil }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        guard let greedyIndex = segments.firstIndex(where: { if case .greedy = $0 { return true } else { return false } }) else {
            guard parts.count == segments.count else { return nil }
            var params: [String: String] = [:]
            for (segment, part) in zip(segments, parts) {
                guard Self.bind(segment, part, into: &params) else { return nil }
            }
            return params
        }
        let head = segments[..<greedyIndex], tail = segments[(greedyIndex + 1)...]
        guard parts.count >= head.count + tail.count + 1 else { return nil }
        var params: [String: String] = [:]
        for (segment, part) in zip(head, parts) {
            guard Self.bind(segment, part, into: &params) else { return nil }
        }
        for (segment, part) in zip(tail, parts.suffix(tail.count)) {
            guard Self.bind(segment, part, into: &params) else { return nil }
        }
        let middle = parts[head.count..<(parts.count - tail.count)].joined(separator: "/")
        guard case .greedy(let name) = segments[greedyIndex], !middle.isEmpty else { return nil }
        params[name] = middle
        return params
    }

    private static func bind(_ segment: Segment, _ part: String, into params: inout [String: String]) -> Bool {
        switch segment {
        case .literal(let s): return s == part
        case .parameter(let name):
            guard !part.isEmpty else { return false }
            params[name] = part
            return true
        case .greedy: return false
        }
    }
}

/// One row of the routing table.
public struct Route: Sendable {
    public let method: HTTPMethod
    public let pattern: RoutePattern
    public let handler: RouteHandler

    public init(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping RouteHandler) {
        self.method = method
        self.pattern = RoutePattern(pattern)
        self.handler = handler
    }
}

/// A table of (method, pattern) → handler, searched in order like moby's mux. Paths are matched with
/// the `/vX.Y` prefix removed; an unknown path or a known path with another method is Docker's
/// `404 page not found`.
public struct Router: Sendable {
    public private(set) var routes: [Route]

    public init(_ routes: [Route] = []) { self.routes = routes }

    public mutating func add(_ more: [Route]) { routes += more }

    public func match(method: HTTPMethod, path: String) -> (Route, [String: String])? {
        for route in routes where route.method == method {
            if let params = route.pattern.match(path) { return (route, params) }
        }
        return nil
    }
}
