import APIModels
import Foundation
import NIOCore
import NIOHTTP1
import OCI

/// A request as route handlers see it: the version negotiated from the `/vX.Y` prefix, path
/// parameters from the route pattern, the query, headers and a streaming body.
public struct APIRequest: Sendable {
    public let method: HTTPMethod
    /// The raw request target (`/v1.50/images/json?all=1`).
    public let uri: String
    /// The decoded path without the version prefix (`/images/json`).
    public let path: String
    /// The API version the client asked for (the current one without a prefix).
    public let version: APIVersion
    /// Values bound by the route pattern (`name` in `/images/{name:.*}/json`).
    public let params: [String: String]
    public let query: QueryParameters
    public let headers: HTTPHeaders
    public let body: RequestBody

    public init(method: HTTPMethod, uri: String, path: String, version: APIVersion, params: [String: String],
                query: QueryParameters, headers: HTTPHeaders, body: RequestBody) {
        self.method = method
        self.uri = uri
        self.path = path
        self.version = version
        self.params = params
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// A path parameter the route pattern guarantees.
    public func param(_ name: String) -> String { params[name] ?? "" }

    /// The client asked to take over the connection (`Upgrade: tcp`), as `docker attach`/`exec` do.
    public var wantsUpgrade: Bool { headers.contains(name: "Upgrade") }

    /// Decodes a JSON body (Docker: an empty body is an error unless `allowEmpty`).
    public func decodeJSON<T: Decodable>(_ type: T.Type, maxBytes: Int = 16 << 20, allowEmpty: Bool = false) async throws -> T? {
        let buffer = try await body.collect(upTo: maxBytes)
        if buffer.readableBytes == 0 {
            if allowEmpty { return nil }
            throw BerthError(.invalidArgument, "invalid JSON: got EOF while reading request body")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw BerthError(.invalidArgument, "invalid JSON: \(APIRequest.describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(let type, let ctx):
            return "cannot unmarshal into field \(ctx.codingPath.map(\.stringValue).joined(separator: ".")) of type \(type)"
        case DecodingError.dataCorrupted(let ctx):
            return ctx.debugDescription
        case DecodingError.keyNotFound(let key, _):
            return "missing field \(key.stringValue)"
        case DecodingError.valueNotFound(_, let ctx):
            return "null value at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))"
        default:
            return "\(error)"
        }
    }
}

/// `application/x-www-form-urlencoded` query values, with Docker's typed readers.
public struct QueryParameters: Sendable, Equatable {
    public private(set) var pairs: [(String, String)]

    public init(_ pairs: [(String, String)] = []) { self.pairs = pairs }

    /// Parses the part after `?` (`+` is a space, `%XX` escapes are decoded).
    public init(query: Substring) {
        pairs = query.split(separator: "&", omittingEmptySubsequences: true).map { item in
            if let eq = item.firstIndex(of: "=") {
                return (QueryParameters.unescape(item[..<eq]), QueryParameters.unescape(item[item.index(after: eq)...]))
            }
            return (QueryParameters.unescape(item), "")
        }
    }

    public static func == (a: QueryParameters, b: QueryParameters) -> Bool {
        a.pairs.map { [$0.0, $0.1] } == b.pairs.map { [$0.0, $0.1] }
    }

    /// The first value (Go's `r.Form.Get`); nil when absent.
    public subscript(_ name: String) -> String? { pairs.first { $0.0 == name }?.1 }

    public func all(_ name: String) -> [String] { pairs.filter { $0.0 == name }.map(\.1) }

    public func has(_ name: String) -> Bool { pairs.contains { $0.0 == name } }

    /// Docker's `httputils.BoolValue`: false for absent, "", "0", "no", "false", "none"; true otherwise.
    public func bool(_ name: String) -> Bool {
        let v = (self[name] ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        return !(v.isEmpty || v == "0" || v == "no" || v == "false" || v == "none")
    }

    /// Docker's `BoolValueOrDefault`: the default when the parameter is absent.
    public func bool(_ name: String, default value: Bool) -> Bool { has(name) ? bool(name) : value }

    /// An integer parameter; absent or empty is nil, garbage is a 400.
    public func int(_ name: String) throws -> Int? {
        guard let raw = self[name], !raw.isEmpty else { return nil }
        guard let v = Int(raw) else {
            throw BerthError(.invalidArgument, "invalid value for \(name): strconv.Atoi: parsing \"\(raw)\": invalid syntax")
        }
        return v
    }

    /// The `filters` parameter (Docker's `filters.FromJSON`).
    public func filters(_ name: String = "filters") throws -> Filters {
        try Filters.parse(self[name] ?? "")
    }

    static func unescape(_ s: Substring) -> String {
        let spaced = s.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}

/// A request body, streamed with back-pressure from the connection. Iterate it, or `collect` it.
/// It can be consumed once.
public struct RequestBody: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    typealias Producer = NIOThrowingAsyncSequenceProducer<
        ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, BodyReadDelegate>

    enum Storage: Sendable {
        case empty
        case buffer(ByteBuffer)
        case stream(Producer)
    }

    let storage: Storage

    init(_ storage: Storage) { self.storage = storage }

    /// A body that is already complete (tests, internal callers).
    public init(buffer: ByteBuffer?) { storage = buffer.map { .buffer($0) } ?? .empty }

    public static let empty = RequestBody(.empty)

    public struct AsyncIterator: AsyncIteratorProtocol {
        var buffer: ByteBuffer?
        var inner: Producer.AsyncIterator?

        public mutating func next() async throws -> ByteBuffer? {
            if let b = buffer {
                buffer = nil
                return b
            }
            return try await inner?.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        switch storage {
        case .empty: return AsyncIterator(buffer: nil, inner: nil)
        case .buffer(let b): return AsyncIterator(buffer: b, inner: nil)
        case .stream(let p): return AsyncIterator(buffer: nil, inner: p.makeAsyncIterator())
        }
    }

    /// The whole body; more than `maxBytes` is a 400.
    public func collect(upTo maxBytes: Int) async throws -> ByteBuffer {
        var result = ByteBuffer()
        for try await var chunk in self {
            guard result.readableBytes + chunk.readableBytes <= maxBytes else {
                throw BerthError(.invalidArgument, "request body is larger than \(maxBytes) bytes")
            }
            result.writeBuffer(&chunk)
        }
        return result
    }
}

/// Connects the body's back-pressure to the connection's reads (called from any thread).
struct BodyReadDelegate: NIOAsyncSequenceProducerDelegate {
    let produceMoreHandler: @Sendable () -> Void
    let terminateHandler: @Sendable () -> Void
    func produceMore() { produceMoreHandler() }
    func didTerminate() { terminateHandler() }
}
