import Foundation
import NIOHTTP1
import OCI

/// A registry's error response, as Docker's distribution client reads it (`HandleErrorResponse`):
/// OAuth errors from `WWW-Authenticate` first, then the JSON `errors` body.
struct RegistryAPIError: Error, Sendable, CustomStringConvertible {
    struct Entry: Sendable {
        var code: String
        var message: String
        /// `unauthorized: authentication required`
        var description: String { code.replacingOccurrences(of: "_", with: " ").lowercased() + ": " + message }
    }

    var status: Int
    var entries: [Entry]
    /// Set when the body was not an errcode list.
    var unexpected: String?

    var firstCode: String? { entries.first?.code }

    var description: String {
        if let unexpected { return unexpected }
        switch entries.count {
        case 0: return "received unexpected HTTP status: \(Self.statusText(status))"
        case 1: return entries[0].description
        default: return "errors:\n" + entries.map { $0.description + "\n" }.joined()
        }
    }

    static let defaultMessages = [
        "UNAUTHORIZED": "authentication required",
        "DENIED": "requested access to the resource is denied",
        "TOOMANYREQUESTS": "too many requests",
        "UNKNOWN": "unknown error",
        "UNSUPPORTED": "The operation is unsupported.",
        "UNAVAILABLE": "service unavailable",
    ]

    static func statusText(_ status: Int) -> String {
        "\(status) \(HTTPResponseStatus(statusCode: status).reasonPhrase)"
    }

    private struct Body: Decodable {
        struct E: Decodable {
            var code: String?
            var message: String?
        }
        var errors: [E]?
        var details: String?
    }

    /// Builds the error for a non-success response.
    static func from(status: Int, headers: HTTPHeaders, body: [UInt8]) -> RegistryAPIError {
        var oauth: [Entry] = []
        if status >= 400 && status < 500 {
            for c in AuthChallenge.parse(headers["WWW-Authenticate"]) where c.isBearer {
                let code: String
                switch c.parameters["error"] {
                case "invalid_token": code = "UNAUTHORIZED"
                case "insufficient_scope": code = "DENIED"
                default: continue
                }
                let desc = c.parameters["error_description"] ?? ""
                oauth.append(Entry(code: code, message: desc.isEmpty ? defaultMessages[code]! : desc))
                break
            }
        }
        var parsed = parseBody(status: status, body: body)
        if !oauth.isEmpty {
            parsed.entries = oauth + parsed.entries
            parsed.unexpected = nil
            return parsed
        }
        if parsed.entries.isEmpty && status == 401 {
            return RegistryAPIError(status: status, entries: [Entry(code: "UNAUTHORIZED", message: "authentication required")])
        }
        return parsed
    }

    private static func parseBody(status: Int, body: [UInt8]) -> RegistryAPIError {
        guard status >= 400 && status < 500 else {
            return RegistryAPIError(status: status, entries: [])
        }
        guard let b = try? JSONDecoder().decode(Body.self, from: Data(body)) else {
            let text = String(decoding: body.prefix(512), as: UTF8.self)
            return RegistryAPIError(status: status, entries: [], unexpected: body.isEmpty
                ? "received unexpected HTTP status: \(statusText(status))"
                : "error parsing HTTP \(status) response body: invalid character in JSON: \(String(reflecting: text))")
        }
        if let details = b.details, !details.isEmpty, (b.errors ?? []).isEmpty {
            let code = status == 401 ? "UNAUTHORIZED" : status == 429 ? "TOOMANYREQUESTS" : "UNKNOWN"
            return RegistryAPIError(status: status, entries: [Entry(code: code, message: details)])
        }
        let entries = (b.errors ?? []).map { e -> Entry in
            let code = (e.code ?? "UNKNOWN").uppercased()
            return Entry(code: code, message: e.message ?? defaultMessages[code] ?? "")
        }
        if entries.isEmpty {
            return RegistryAPIError(status: status, entries: [], unexpected: "error parsing HTTP \(status) response body: no error details found in HTTP response body: \(String(reflecting: String(decoding: body.prefix(512), as: UTF8.self)))")
        }
        return RegistryAPIError(status: status, entries: entries)
    }

    /// berth's error class for this response.
    var berthCode: BerthError.Code {
        switch firstCode {
        case "UNAUTHORIZED": return .unauthorized
        case "DENIED": return .forbidden
        case "MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN", "BLOB_UPLOAD_UNKNOWN": return .notFound
        case "TOOMANYREQUESTS": return .unavailable
        default: break
        }
        switch status {
        case 400: return .invalidArgument
        case 401: return .unauthorized
        case 403: return .forbidden
        case 404: return .notFound
        case 405: return .unsupported
        case 409: return .conflict
        case 429, 500...599: return .unavailable
        default: return .internalError
        }
    }

    /// The error as berth reports it. Like Docker, errors read from a response carry no request prefix
    /// (only transport and authentication failures read `Get "URL": …`).
    func berthError() -> BerthError {
        BerthError(berthCode, description)
    }

    /// Docker's `translatePullError`: the first error decides; denied / unknown manifest / unknown name read as
    /// "not found" with Docker's wording.
    func pullError(_ ref: Reference) -> BerthError {
        guard let first = entries.first else { return berthError() }
        switch first.code {
        case "DENIED":
            return BerthError(.notFound, "pull access denied for \(ref.familiarName), repository does not exist or may require 'docker login': \(first.description)")
        case "MANIFEST_UNKNOWN":
            return BerthError(.notFound, "manifest for \(ref.familiarString) not found: \(first.description)")
        case "NAME_UNKNOWN":
            return BerthError(.notFound, "repository \(ref.familiarName) not found: \(first.description)")
        default:
            let e = RegistryAPIError(status: status, entries: [first])
            return e.berthError()
        }
    }
}

/// A failure worth retrying: a transport error, a 5xx or a 429.
struct RetryableFailure: Error, Sendable, CustomStringConvertible {
    var description: String
}
