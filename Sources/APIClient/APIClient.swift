import APIModels
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import OCI

/// Docker Engine API client for the berth CLI (works with any Docker-compatible daemon).
///
/// Negotiates the API version like the docker client: `HEAD /_ping` before the first versioned
/// request, then `min(server API-Version, 1.50)`; `DOCKER_API_VERSION` (``fixedVersion``) skips it.
/// Errors are `BerthError`s whose message is what the docker CLI prints
/// (`Error response from daemon: …`, `Cannot connect to the Docker daemon at …`).
public final class APIClient: Sendable {
    /// Newest API version this client speaks.
    public static let maxAPIVersion = "1.50"

    public let transport: HTTPTransport
    let fixedVersion: String?
    let extraHeaders: [(String, String)]
    let negotiated = NIOLockedValueBox<PingInfo?>(nil)
    public let userAgent: String

    /// What `/_ping` tells about the daemon.
    public struct PingInfo: Sendable {
        public var apiVersion: String
        public var osType: String?
        public var experimental: Bool
        public var builderVersion: String?
    }

    public init(host: DockerHost, tls: TLSOptions?, apiVersion: String? = nil, headers: [(String, String)] = [], userAgent: String = "Berth-Client/0.1.0 (linux)") throws {
        self.transport = try HTTPTransport(host: host, tls: tls)
        self.fixedVersion = apiVersion.flatMap { $0.isEmpty ? nil : $0 }
        if fixedVersion != nil { transport.versionFallback.settled.withLockedValue { $0 = true } }
        self.extraHeaders = headers
        self.userAgent = userAgent
    }

    public var host: DockerHost { transport.host }

    // MARK: Version negotiation

    /// Pings the daemon (`HEAD /_ping`, falling back to `GET`).
    public func ping() throws -> PingInfo {
        var req = APIRequest(method: .HEAD, uri: "/_ping", headers: baseHeaders())
        var (head, _) = try transport.roundTrip(req)
        if head.status == 404 || head.status == 405 {
            req.method = .GET
            (head, _) = try transport.roundTrip(req)
        }
        return PingInfo(apiVersion: head.header("API-Version") ?? "",
                        osType: head.header("OSType"),
                        experimental: head.header("Docker-Experimental") == "true",
                        builderVersion: head.header("Builder-Version"))
    }

    /// The API version requests use. Over a plain connection the first requests go out with
    /// ``maxAPIVersion`` without a ping (one round trip less per command); a daemon that refuses it
    /// names its maximum and the transport resends with that, as the docker CLI's negotiation
    /// would have chosen. Over TLS (and for ``negotiate()``) the daemon is pinged first.
    public func apiVersion() throws -> String {
        if let fixedVersion { return fixedVersion }
        if let p = negotiated.withLockedValue({ $0 }) { return p.apiVersion }
        if let v = transport.versionFallback.version { return v }
        if transport.plain { return APIClient.maxAPIVersion }
        return try negotiate()
    }

    /// Pings the daemon and settles the version: `min(server API-Version, maxAPIVersion)`.
    @discardableResult
    public func negotiate() throws -> String {
        if let fixedVersion { return fixedVersion }
        if let p = negotiated.withLockedValue({ $0 }) { return p.apiVersion }
        var p = try ping()
        var v = p.apiVersion.isEmpty ? "1.24" : p.apiVersion
        if APIClient.versionLess(APIClient.maxAPIVersion, v) { v = APIClient.maxAPIVersion }
        p.apiVersion = v
        negotiated.withLockedValue { $0 = p }
        transport.versionFallback.settled.withLockedValue { $0 = true }
        return v
    }

    /// The version in use without contacting the daemon (`maxAPIVersion` before negotiation).
    public var currentVersion: String {
        fixedVersion ?? negotiated.withLockedValue { $0?.apiVersion } ?? transport.versionFallback.version ?? APIClient.maxAPIVersion
    }

    /// Compares dotted versions numerically (`versions.LessThan`).
    public static func versionLess(_ a: String, _ b: String) -> Bool {
        let x = a.split(separator: ".").map { Int($0) ?? 0 }
        let y = b.split(separator: ".").map { Int($0) ?? 0 }
        for i in 0..<max(x.count, y.count) {
            let xi = i < x.count ? x[i] : 0, yi = i < y.count ? y[i] : 0
            if xi != yi { return xi < yi }
        }
        return false
    }

    // MARK: Requests

    func baseHeaders() -> [(String, String)] {
        var h: [(String, String)] = [("User-Agent", userAgent)]
        h.append(contentsOf: extraHeaders)
        return h
    }

    /// `/v1.50/path?query`, with the query encoded like Go's `url.Values.Encode` (sorted by key).
    public func uri(_ path: String, query: [(String, String)] = []) throws -> String {
        var s = "/v" + (try apiVersion()) + path
        let q = APIClient.encodeQuery(query)
        if !q.isEmpty { s += "?" + q }
        return s
    }

    public static func encodeQuery(_ query: [(String, String)]) -> String {
        let sorted = query.enumerated().sorted { a, b in
            a.element.0 == b.element.0 ? a.offset < b.offset : a.element.0.utf8.lexicographicallyPrecedes(b.element.0.utf8)
        }.map(\.element)
        return sorted.map { queryEscape($0.0) + "=" + queryEscape($0.1) }.joined(separator: "&")
    }

    /// Go's `url.QueryEscape`.
    public static func queryEscape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            switch b {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            case 0x20: out += "+"
            default:
                let h = String(b, radix: 16, uppercase: true)
                out += "%" + (h.count == 1 ? "0" + h : h)
            }
        }
        return out
    }

    /// Go's `url.PathEscape` for one path segment (image names in `/images/{name}/json`).
    public static func pathEscape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"),
                 UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "+"), UInt8(ascii: ":"), UInt8(ascii: "="), UInt8(ascii: "@"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let h = String(b, radix: 16, uppercase: true)
                out += "%" + (h.count == 1 ? "0" + h : h)
            }
        }
        return out
    }

    /// Docker's filter arguments as JSON: `{"dangling":{"true":true}}` (keys sorted like Go maps).
    public static func encodeFilters(_ filters: [String: [String]]) -> String {
        var out = "{"
        for (i, k) in filters.keys.sorted().enumerated() {
            if i > 0 { out += "," }
            out += jsonString(k) + ":{"
            for (j, v) in Set(filters[k]!).sorted().enumerated() {
                if j > 0 { out += "," }
                out += jsonString(v) + ":true"
            }
            out += "}"
        }
        return out + "}"
    }

    static func jsonString(_ s: String) -> String {
        let data = (try? JSONEncoder().encode(s)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// Sends a request and returns the buffered body; non-2xx/3xx statuses throw the daemon's error.
    @discardableResult
    public func send(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], headers: [(String, String)] = [],
                     body: [UInt8]? = nil, jsonBody: Bool = true) throws -> (ResponseHead, [UInt8]) {
        var h = baseHeaders()
        if body != nil && jsonBody { h.append(("Content-Type", "application/json")) }
        h.append(contentsOf: headers)
        let (head, data) = try transport.roundTrip(APIRequest(method: method, uri: try uri(path, query: query), headers: h, body: body))
        try checkResponse(head, data, uri: path)
        return (head, data)
    }

    /// Streams a response: `onChunk` gets raw body chunks as they arrive (on the event loop thread).
    /// Error statuses throw before any chunk is delivered.
    public func stream(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], headers: [(String, String)] = [],
                       body: [UInt8]? = nil, onChunk: @escaping @Sendable (ByteBuffer) -> Void) throws {
        var h = baseHeaders()
        if body != nil { h.append(("Content-Type", "application/json")) }
        h.append(contentsOf: headers)
        let req = APIRequest(method: method, uri: try uri(path, query: query), headers: h, body: body)
        let state = NIOLockedValueBox<(ResponseHead?, [UInt8])>((nil, []))
        try transport.perform(req, onHead: { head in
            state.withLockedValue { $0.0 = head }
            return true
        }, onBody: { chunk in
            let isError = state.withLockedValue { s -> Bool in
                guard let h = s.0, h.status >= 400 else { return false }
                s.1.append(contentsOf: chunk.readableBytesView)
                return true
            }
            if !isError { onChunk(chunk) }
        })
        let (head, errBody) = state.withLockedValue { $0 }
        if let head { try checkResponse(head, errBody, uri: path) }
    }

    /// Streams a JSON-lines response (pull progress, events), one complete JSON value per call.
    public func streamJSON(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], headers: [(String, String)] = [],
                           body: [UInt8]? = nil, onValue: @escaping @Sendable ([UInt8]) -> Void) throws {
        let splitter = NIOLockedValueBox(JSONStreamSplitter())
        try stream(method, path, query: query, headers: headers, body: body) { chunk in
            let values = splitter.withLockedValue { $0.feed(chunk.readableBytesView) }
            for v in values { onValue(v) }
        }
        if let rest = splitter.withLockedValue({ $0.finish() }) { onValue(rest) }
    }

    /// The docker client's `checkResponseErr`.
    public func checkResponse(_ head: ResponseHead, _ body: [UInt8], uri: String) throws {
        guard head.status < 200 || head.status >= 400 else { return }
        let code = APIClient.errorCode(forStatus: head.status)
        if body.isEmpty {
            throw BerthError(code, "request returned \(APIClient.statusText(head.status)) for API route and version http://\(transport.host.hostHeader)\(uri), check if the server supports the requested API version")
        }
        let ct = head.header("Content-Type") ?? ""
        var message: String
        if ct.hasPrefix("application/json") {
            if let e = try? JSONDecoder().decode(ErrorResponse.self, from: Data(body)) {
                message = e.message.trimmingCharacters(in: .whitespacesAndNewlines)
                if message.isEmpty {
                    message = "API returned a \(head.status) (\(APIClient.statusText(head.status))) but provided no error-message"
                }
            } else if (try? JSONSerialization.jsonObject(with: Data(body))) != nil {
                message = "API returned a \(head.status) (\(APIClient.statusText(head.status))) but provided no error-message"
            } else {
                throw BerthError(code, "Error reading JSON: invalid character in error response")
            }
        } else {
            message = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        throw BerthError(code, "Error response from daemon: " + message)
    }

    public static func errorCode(forStatus s: Int) -> BerthError.Code {
        switch s {
        case 304: return .notModified
        case 400: return .invalidArgument
        case 401: return .unauthorized
        case 403: return .forbidden
        case 404: return .notFound
        case 409: return .conflict
        case 501: return .unsupported
        case 502, 503, 504: return .unavailable
        default: return .internalError
        }
    }

    static func statusText(_ s: Int) -> String {
        switch s {
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        default: return HTTPResponseStatus(statusCode: s).reasonPhrase
        }
    }

    /// Decodes a JSON body into an API model.
    public func decode<T: Decodable>(_ type: T.Type, _ data: [UInt8]) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(data))
        } catch {
            throw BerthError(.internalError, "Error reading JSON: \(error)")
        }
    }
}

/// Splits a byte stream of concatenated JSON values (Docker's progress/events streams).
public struct JSONStreamSplitter: Sendable {
    var buf: [UInt8] = []
    var depth = 0
    var inString = false
    var escaped = false
    var start: Int?
    var scanned = 0

    public init() {}

    /// Adds bytes and returns the complete top-level values found so far.
    public mutating func feed(_ bytes: some Collection<UInt8>) -> [[UInt8]] {
        buf.append(contentsOf: bytes)
        var out: [[UInt8]] = []
        var i = scanned
        while i < buf.count {
            let c = buf[i]
            if inString {
                if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 {
                    inString = false
                    if depth == 0, let s = start { out.append(Array(buf[s...i])); start = nil }
                }
            } else {
                switch c {
                case 0x22:
                    inString = true
                    if depth == 0 && start == nil { start = i }
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    if depth == 0 { start = i }
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0, let s = start { out.append(Array(buf[s...i])); start = nil }
                case 0x20, 0x0A, 0x0D, 0x09:
                    if depth == 0, let s = start { out.append(Array(buf[s..<i])); start = nil }
                default:
                    if depth == 0 && start == nil { start = i }
                }
            }
            i += 1
        }
        // Drop consumed bytes.
        let keep = start ?? (depth == 0 && !inString ? buf.count : 0)
        if keep > 0 {
            buf.removeFirst(keep)
            if start != nil { start = 0 }
        }
        scanned = buf.count
        return out
    }

    /// A trailing scalar value without a terminator, if any.
    public mutating func finish() -> [UInt8]? {
        guard let s = start, depth == 0, !inString else { return nil }
        start = nil
        let v = Array(buf[s...])
        buf = []
        scanned = 0
        return v.isEmpty ? nil : v
    }
}
