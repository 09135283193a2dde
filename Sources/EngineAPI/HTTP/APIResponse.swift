import APIModels
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import OCI

/// What a route handler answers.
public enum APIResponse: Sendable {
    /// A complete body (JSON, text) or none (`buffer == nil`, e.g. `201 Created` from `tag`).
    case full(status: HTTPResponseStatus, headers: HTTPHeaders, body: ByteBuffer?)
    /// A chunked body written piece by piece with an immediate flush each time (progress, events).
    /// The head is sent by the first write, or by `start()`; if `produce` throws before that,
    /// the error becomes an ordinary error response.
    case stream(status: HTTPResponseStatus, headers: HTTPHeaders, produce: @Sendable (ResponseStream) async throws -> Void)
    /// Take the connection over (`attach`, `exec start`): see ``Hijack``.
    case hijack(Hijack)

    /// `Content-Type: application/json` body with a trailing newline, as Go's `json.Encoder` writes it.
    public static func json<T: Encodable>(_ value: T, status: HTTPResponseStatus = .ok) throws -> APIResponse {
        .full(status: status, headers: ["Content-Type": "application/json"], body: try JSONBody.encode(value))
    }

    /// A status with no body.
    public static func status(_ status: HTTPResponseStatus, headers: HTTPHeaders = [:]) -> APIResponse {
        .full(status: status, headers: headers, body: nil)
    }

    public static func text(_ text: String, status: HTTPResponseStatus = .ok,
                            contentType: String = "text/plain; charset=utf-8") -> APIResponse {
        .full(status: status, headers: ["Content-Type": contentType], body: ByteBuffer(string: text))
    }

    /// A streamed JSON body (`application/json`, one document per line).
    public static func jsonStream(status: HTTPResponseStatus = .ok,
                                  _ produce: @escaping @Sendable (ResponseStream) async throws -> Void) -> APIResponse {
        .stream(status: status, headers: ["Content-Type": "application/json"], produce: produce)
    }
}

/// Taking over a connection the way dockerd's `hijack` does for attach/exec: the HTTP handlers leave
/// the pipeline, the daemon writes `101 UPGRADED` (client sent `Upgrade: tcp`) or `200 OK` with a raw
/// or multiplexed stream content type, and `run` gets the raw bidirectional byte stream. Bytes the
/// client sent right after its request are delivered first. The inbound sequence ends when the client
/// half-closes; finishing `outbound` half-closes our side. The connection is closed when `run` returns.
public struct Hijack: Sendable {
    public static let rawStream = "application/vnd.docker.raw-stream"
    public static let multiplexedStream = "application/vnd.docker.multiplexed-stream"

    public var contentType: String
    /// Extra headers for the 101/200 head.
    public var headers: HTTPHeaders
    public var run: @Sendable (HijackedConnection) async throws -> Void

    public init(contentType: String = Hijack.rawStream, headers: HTTPHeaders = [:],
                run: @escaping @Sendable (HijackedConnection) async throws -> Void) {
        self.contentType = contentType
        self.headers = headers
        self.run = run
    }
}

/// The raw connection after a hijack.
public struct HijackedConnection: Sendable {
    public let inbound: NIOAsyncChannelInboundStream<ByteBuffer>
    public let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    /// The underlying channel (remote address, close).
    public let channel: any Channel
}

/// The writer handed to a `.stream` response's producer.
public final class ResponseStream: Sendable {
    let channel: any Channel
    let head: HTTPResponseHead
    private let started = NIOLockedValueBox(false)

    init(channel: any Channel, head: HTTPResponseHead) {
        self.channel = channel
        self.head = head
    }

    /// Whether the head went out (after that, errors can only be reported in-band).
    public var isStarted: Bool { started.withLockedValue { $0 } }

    /// Sends the head now (`/events` does, so clients see the 200 before the first event).
    public func start() async throws {
        let first = started.withLockedValue { s -> Bool in
            defer { s = true }
            return !s
        }
        if first {
            try await channel.writeAndFlush(HTTPServerResponsePart.head(head))
        }
    }

    /// Writes one chunk and flushes it; waits until the socket took it (back-pressure).
    public func write(_ buffer: ByteBuffer) async throws {
        try await start()
        guard buffer.readableBytes > 0 else { return }
        try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buffer)))
    }

    /// Writes `value` as JSON followed by a newline (Go's `json.Encoder.Encode`).
    public func writeJSON<T: Encodable>(_ value: T) async throws {
        try await write(JSONBody.encode(value))
    }

    func finish() async throws {
        try await start()
        try await channel.writeAndFlush(HTTPServerResponsePart.end(nil))
    }
}

/// JSON encoding as dockerd's: no escaped slashes, a newline after each document.
enum JSONBody {
    static func encode<T: Encodable>(_ value: T) throws -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        var data = try encoder.encode(value)
        data.append(0x0A)
        return ByteBuffer(bytes: data)
    }
}
