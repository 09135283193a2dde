/// The one error type of berth: a machine-readable code, a message for people, and an optional cause.
///
/// Codes map one-to-one onto Docker's error classes (and so onto HTTP status codes in the API),
/// which keeps "what went wrong" separate from "how it is reported".
public struct BerthError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable, Codable {
        /// Bad input from the caller (HTTP 400).
        case invalidArgument
        /// Authentication is missing or wrong (HTTP 401).
        case unauthorized
        /// Authenticated but not allowed (HTTP 403).
        case forbidden
        /// The named object does not exist (HTTP 404).
        case notFound
        /// The request conflicts with the current state (HTTP 409).
        case conflict
        /// The object exists but is in the wrong state for this request (HTTP 304/409 depending on route).
        case notModified
        /// Not supported by berth or by the peer (HTTP 501).
        case unsupported
        /// A remote service failed or timed out (HTTP 502/503 class; reported as 500 by Docker).
        case unavailable
        /// Content did not match its digest or size, or a stored file is damaged.
        case dataCorrupted
        /// Anything else (HTTP 500).
        case internalError
    }

    public var code: Code
    public var message: String
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause { return "\(message): \(cause)" }
        return message
    }

    /// Wraps any error as a `BerthError`, keeping one that already is.
    public static func wrap(_ error: any Error, code: Code = .internalError, _ message: String? = nil) -> BerthError {
        if let e = error as? BerthError {
            guard let message else { return e }
            return BerthError(e.code, "\(message): \(e.message)", cause: e.cause)
        }
        return BerthError(code, message ?? "\(error)", cause: message == nil ? nil : SendableErrorBox(error))
    }
}

/// Carries a non-Sendable error's description across concurrency domains.
public struct SendableErrorBox: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ error: any Error) { description = "\(error)" }
}
