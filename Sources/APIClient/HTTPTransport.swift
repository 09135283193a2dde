import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import OCI

/// The head of a daemon response.
public struct ResponseHead: Sendable {
    public var status: Int
    public var headers: [(String, String)]

    /// Case-insensitive header lookup.
    public func header(_ name: String) -> String? {
        let l = name.lowercased()
        return headers.first { $0.0.lowercased() == l }?.1
    }
}

/// A request to the daemon.
public struct APIRequest: Sendable {
    public var method: HTTPMethod
    /// Path and query, e.g. `/v1.50/images/json?all=1`.
    public var uri: String
    public var headers: [(String, String)] = []
    public var body: [UInt8]?

    public init(method: HTTPMethod, uri: String, headers: [(String, String)] = [], body: [UInt8]? = nil) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
    }
}

/// One HTTP/1.1 exchange per connection, with blocking entry points for the CLI. Plain unix-socket
/// and TCP requests run on the caller's thread (``SocketConnection``); TLS and the streamed archive
/// transfers go through SwiftNIO, whose event loop thread is started on first use only (callbacks
/// then run on that thread while the caller's thread waits).
public final class HTTPTransport: Sendable {
    public let host: DockerHost
    let sslContext: NIOSSLContext?
    private let lazyGroup = NIOLockedValueBox<MultiThreadedEventLoopGroup?>(nil)
    let versionFallback = VersionFallback()

    public init(host: DockerHost, tls: TLSOptions?) throws {
        self.host = host
        self.sslContext = try tls?.makeContext()
    }

    deinit {
        lazyGroup.withLockedValue { $0 }?.shutdownGracefully { _ in }
    }

    var group: MultiThreadedEventLoopGroup {
        lazyGroup.withLockedValue { g in
            if let g { return g }
            let made = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            g = made
            return made
        }
    }

    /// Starts connecting to a plain (unix/TCP) daemon address in the background; the first request
    /// to that address takes the connection (see ``SocketConnection``).
    public static func preconnect(_ host: DockerHost) {
        SocketConnection.prepare(host.address)
    }

    /// Whether requests can skip NIO (no TLS).
    var plain: Bool { sslContext == nil }

    /// The docker CLI's "cannot connect" wording for connection failures.
    func connectError(_ error: any Error) -> BerthError {
        var errno: Int32?
        if let e = error as? SocketError {
            if let r = e.resolveError { return BerthError(.unavailable, "error during connect: \(e.host.map { "dial tcp: lookup \($0): " } ?? "")\(r)") }
            errno = e.errno
        }
        if let e = error as? IOError { errno = e.errnoCode }
        if let e = error as? NIOConnectionError {
            for attempt in e.connectionErrors { if let io = attempt.error as? IOError { errno = io.errnoCode } }
            if errno == nil, let dns = e.dnsAAAAError ?? e.dnsAError { return BerthError(.unavailable, "error during connect: \(dns)") }
        }
        if let errno, errno == EACCES {
            var path = ""
            if case .unix(let p) = host.address { path = p }
            return BerthError(.unavailable, "permission denied while trying to connect to the Docker daemon socket at \(host): dial unix \(path): connect: permission denied")
        }
        return BerthError(.unavailable, "Cannot connect to the Docker daemon at \(host). Is the docker daemon running?")
    }

    func bootstrap(halfClosure: Bool) -> ClientBootstrap {
        let ssl = sslContext
        var name: String?
        if case .tcp(let h, _) = host.address, let f = h.first, !f.isNumber, !h.contains(":") { name = h }
        let serverName = name
        return ClientBootstrap(group: group)
            .connectTimeout(.seconds(30))
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: halfClosure)
            .channelInitializer { channel in
                do {
                    if let ssl {
                        let h = try NIOSSLClientHandler(context: ssl, serverHostname: serverName)
                        try channel.pipeline.syncOperations.addHandler(h)
                    }
                    let encoder = HTTPRequestEncoder()
                    let decoder = ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes))
                    try channel.pipeline.syncOperations.addHandler(encoder, name: "http-encoder")
                    try channel.pipeline.syncOperations.addHandler(decoder, name: "http-decoder")
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
    }

    func connect(halfClosure: Bool = false) throws -> Channel {
        let b = bootstrap(halfClosure: halfClosure)
        do {
            switch host.address {
            case .unix(let path): return try b.connect(unixDomainSocketPath: path).wait()
            case .tcp(let h, let p): return try b.connect(host: h, port: p).wait()
            }
        } catch {
            throw connectError(error)
        }
    }

    func makeHead(_ req: APIRequest) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host.hostHeader)
        for (k, v) in req.headers { headers.add(name: k, value: v) }
        if let body = req.body {
            headers.add(name: "Content-Length", value: String(body.count))
        } else if req.method == .POST || req.method == .PUT {
            headers.add(name: "Content-Length", value: "0")
        }
        return HTTPRequestHead(version: .http1_1, method: req.method, uri: req.uri, headers: headers)
    }

    /// Opens a plain connection (no TLS), with the docker CLI's wording on failure.
    func connectSocket() throws -> SocketConnection {
        do {
            return try SocketConnection.connect(host.address)
        } catch {
            throw connectError(error)
        }
    }

    func send(_ req: APIRequest, on channel: Channel) {
        channel.write(HTTPClientRequestPart.head(makeHead(req)), promise: nil)
        if let body = req.body, !body.isEmpty {
            channel.write(HTTPClientRequestPart.body(.byteBuffer(channel.allocator.buffer(bytes: body))), promise: nil)
        }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    /// Performs a request, calling `onHead` once and `onBody` per received chunk (on the event loop),
    /// and returns when the response has ended. `onHead` returning false stops reading (the
    /// connection is closed).
    public func perform(_ req: APIRequest,
                        onHead: @escaping @Sendable (ResponseHead) -> Bool,
                        onBody: @escaping @Sendable (ByteBuffer) -> Void) throws {
        if plain {
            try performPlain(req, onHead: onHead, onBody: onBody)
            return
        }
        let channel = try connect()
        let done = channel.eventLoop.makePromise(of: Void.self)
        let handler = ResponseHandler(onHead: onHead, onBody: onBody, done: done)
        do {
            try channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(handler)
            }.wait()
        } catch {
            channel.close(promise: nil)
            throw BerthError(.internalError, "error during connect: \(error)")
        }
        send(req, on: channel)
        do {
            try done.futureResult.wait()
        } catch let e as BerthError {
            channel.close(promise: nil)
            throw e
        } catch {
            channel.close(promise: nil)
            throw BerthError(.unavailable, "error during connect: \(error)")
        }
        channel.close(promise: nil)
    }

    /// Performs a request and buffers the whole response.
    public func roundTrip(_ req: APIRequest) throws -> (ResponseHead, [UInt8]) {
        let box = NIOLockedValueBox<(ResponseHead?, [UInt8])>((nil, []))
        try perform(req, onHead: { h in box.withLockedValue { $0.0 = h }; return true },
                    onBody: { b in box.withLockedValue { $0.1.append(contentsOf: b.readableBytesView) } })
        let (head, body) = box.withLockedValue { $0 }
        guard let head else { throw BerthError(.unavailable, "error during connect: no response") }
        return (head, body)
    }

    /// Sends a request whose response upgrades the connection (`101 UPGRADED`, as for attach/exec
    /// start) or is a raw stream; after the head, HTTP framing is removed and bytes flow both ways.
    public func hijack(_ req: APIRequest) throws -> (ResponseHead, HijackedConnection) {
        if plain { return try hijackPlain(req) }
        let channel = try connect(halfClosure: true)
        let headPromise = channel.eventLoop.makePromise(of: ResponseHead.self)
        let raw = RawStreamHandler()
        let handler = HijackHandler(headPromise: headPromise, raw: raw)
        do {
            try channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(handler, name: "hijack")
            }.wait()
        } catch {
            channel.close(promise: nil)
            throw BerthError(.internalError, "error during connect: \(error)")
        }
        var r = req
        r.headers.append(("Connection", "Upgrade"))
        r.headers.append(("Upgrade", "tcp"))
        send(r, on: channel)
        let head: ResponseHead
        do {
            head = try headPromise.futureResult.wait()
        } catch {
            channel.close(promise: nil)
            if let e = error as? BerthError { throw e }
            throw BerthError(.unavailable, "error during connect: \(error)")
        }
        return (head, HijackedConnection(channel: channel, raw: raw))
    }
}

// MARK: Plain connections (no event loop)

extension HTTPTransport {
    static func responseHead(_ h: HTTPResponseHead) -> ResponseHead {
        ResponseHead(status: Int(h.status.code), headers: h.headers.map { ($0.name, $0.value) })
    }

    /// The version a daemon older than the request's version names in its 400 answer ("client
    /// version 1.50 is too new. Maximum supported API version is 1.41"), if that is the answer.
    static func maximumVersion(inErrorBody body: [UInt8]) -> String? {
        let text = String(decoding: body, as: UTF8.self)
        guard text.contains("is too new"), let r = text.range(of: "Maximum supported API version is ") else { return nil }
        let v = text[r.upperBound...].prefix { $0.isNumber || $0 == "." }
        return v.isEmpty ? nil : String(v)
    }

    /// `req` with its `/vX.Y/` prefix replaced by `version`; nil for an unversioned path.
    static func retargeted(_ req: APIRequest, version: String) -> APIRequest? {
        guard req.uri.hasPrefix("/v"), let slash = req.uri.dropFirst(2).firstIndex(of: "/") else { return nil }
        var r = req
        r.uri = "/v" + version + req.uri[slash...]
        return r
    }

    /// Sends `req` and reads up to its response head; a 400 "client version … is too new" answer to
    /// an unnegotiated request is answered by sending it again with the daemon's maximum version
    /// (which later requests then use). Returns the connection, the head, and a body already read.
    func exchangePlain(_ req: APIRequest) throws -> (SocketConnection, HTTPResponseHead, [UInt8]?) {
        var req = req
        var retried = false
        while true {
            let conn = try connectSocket()
            do {
                try conn.send(head: makeHead(req), body: req.body)
                var head: HTTPResponseHead?
                while head == nil, let part = try conn.nextPart() {
                    if case .head(let h) = part { head = h }
                }
                guard let head else {
                    conn.close()
                    throw BerthError(.unavailable, "error during connect: unexpected EOF")
                }
                guard head.status == .badRequest, !retried, versionFallback.optimistic(req.uri) else {
                    return (conn, head, nil)
                }
                var body: [UInt8] = []
                while let part = try conn.nextPart() {
                    if case .body(let b) = part { body.append(contentsOf: b.readableBytesView) }
                    if case .end = part { break }
                }
                guard let max = Self.maximumVersion(inErrorBody: body), let again = Self.retargeted(req, version: max) else {
                    return (conn, head, body)
                }
                conn.close()
                versionFallback.set(max)
                req = again
                retried = true
            } catch let e as BerthError {
                conn.close()
                throw e
            } catch {
                conn.close()
                throw BerthError(.unavailable, "error during connect: \(error)")
            }
        }
    }

    func performPlain(_ req: APIRequest, onHead: (ResponseHead) -> Bool, onBody: (ByteBuffer) -> Void) throws {
        let (conn, head, readBody) = try exchangePlain(req)
        defer { conn.close() }
        if !onHead(Self.responseHead(head)) { return }
        if let readBody {
            onBody(ByteBuffer(bytes: readBody))
            return
        }
        do {
            while let part = try conn.nextPart() {
                switch part {
                case .head: continue
                case .body(let b): onBody(b)
                case .end: return
                }
            }
        } catch {
            throw BerthError(.unavailable, "error during connect: \(error)")
        }
        // EOF before the response ended: the daemon went away.
        throw BerthError(.unavailable, "unexpected EOF")
    }

    func hijackPlain(_ req: APIRequest) throws -> (ResponseHead, HijackedConnection) {
        var r = req
        r.headers.append(("Connection", "Upgrade"))
        r.headers.append(("Upgrade", "tcp"))
        let (conn, h, readBody) = try exchangePlain(r)
        let head = Self.responseHead(h)
        if let readBody {
            return (head, HijackedConnection(socket: conn, pending: [ByteBuffer(bytes: readBody)], decoded: true, ended: true))
        }
        // Raw bytes both ways from here (a 101, or a raw stream as a 200 body that ends at EOF);
        // whatever arrived with the head is kept. Only a chunked stream stays decoded.
        let chunked = (head.header("Transfer-Encoding") ?? "").lowercased().contains("chunked")
        let rawStream = head.status == 200 && !chunked && head.header("Content-Length") == nil
            && ((head.header("Content-Type") ?? "").hasPrefix("application/vnd.docker.raw-stream")
                || (head.header("Content-Type") ?? "").hasPrefix("application/vnd.docker.multiplexed-stream"))
        if head.status == 101 || rawStream {
            do {
                let rest = try conn.upgrade()
                return (head, HijackedConnection(socket: conn, pending: rest, decoded: false))
            } catch {
                conn.close()
                throw BerthError(.unavailable, "error during connect: \(error)")
            }
        }
        // An error answer (read right away by the caller), or a chunked stream: the body is decoded.
        return (head, HijackedConnection(socket: conn, pending: [], decoded: true))
    }
}

/// The API version learnt from a daemon that refused the client's newest one (plain connections
/// send versioned requests without pinging first; see ``HTTPTransport/exchangePlain(_:)``).
final class VersionFallback: Sendable {
    private let learnt = NIOLockedValueBox<String?>(nil)
    /// Set by the client when it has negotiated or was given a version: no retries then.
    let settled = NIOLockedValueBox(false)

    var version: String? { learnt.withLockedValue { $0 } }
    func set(_ v: String) { learnt.withLockedValue { $0 = v } }
    func optimistic(_ uri: String) -> Bool { !settled.withLockedValue { $0 } && version == nil && uri.hasPrefix("/v") }
}

/// Collects one response and signals its end.
final class ResponseHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    let onHead: @Sendable (ResponseHead) -> Bool
    let onBody: @Sendable (ByteBuffer) -> Void
    let done: EventLoopPromise<Void>
    var finished = false
    var stopped = false

    init(onHead: @escaping @Sendable (ResponseHead) -> Bool, onBody: @escaping @Sendable (ByteBuffer) -> Void, done: EventLoopPromise<Void>) {
        self.onHead = onHead
        self.onBody = onBody
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        switch unwrapInboundIn(data) {
        case .head(let h):
            let head = ResponseHead(status: Int(h.status.code), headers: h.headers.map { ($0.name, $0.value) })
            if !onHead(head) {
                stopped = true
                finish(context: context, nil)
            }
        case .body(let b):
            if !stopped { onBody(b) }
        case .end:
            finish(context: context, nil)
        }
    }

    func finish(context: ChannelHandlerContext, _ error: (any Error)?) {
        guard !finished else { return }
        finished = true
        if let error { done.fail(error) } else { done.succeed(()) }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A response without Content-Length ends at EOF; the decoder emits .end first, so reaching here
        // unfinished means the daemon went away mid-response.
        finish(context: context, BerthError(.unavailable, "unexpected EOF"))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context: context, error)
    }
}
