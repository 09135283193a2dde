import APIModels
import Engine
import Logging
import NIOCore
import NIOHTTP1
import OCI

/// Routes one request, negotiates the API version, runs the handler and writes its response:
/// dockerd's mux + version middleware + `makeHTTPHandler`.
struct RequestDispatcher: Sendable {
    let router: Router
    let logger: Logger
    /// Headers dockerd's version middleware puts on every response.
    let standardHeaders: HTTPHeaders

    init(router: Router, logger: Logger) {
        self.router = router
        self.logger = logger
        self.standardHeaders = [
            "Server": "Docker/\(BerthBuild.version) (linux)",
            "Api-Version": APIVersion.current.string,
            "Ostype": "linux",
        ]
    }

    func serve(head: HTTPRequestHead, body: RequestBody, connection: ConnectionHandle) async {
        let uri = head.uri
        let pathPart: Substring, queryPart: Substring
        if let q = uri.firstIndex(of: "?") {
            pathPart = uri[..<q]
            queryPart = uri[uri.index(after: q)...]
        } else {
            pathPart = uri[...]
            queryPart = ""
        }
        let decodedPath = String(pathPart).removingPercentEncoding ?? String(pathPart)
        let (requested, path) = APIVersion.splitPrefix(decodedPath)
        logger.debug("Calling \(head.method) \(pathPart)")
        Trace.mark("request \(head.method) \(pathPart)")

        let response: APIResponse
        do {
            guard let (route, params) = router.match(method: head.method, path: path) else {
                throw BerthError(.notFound, "page not found")
            }
            let version = try APIVersion.negotiate(requested)
            let request = APIRequest(method: head.method, uri: uri, path: path, version: version, params: params,
                                     query: QueryParameters(query: queryPart), headers: head.headers, body: body)
            response = try await route.handler(request)
        } catch {
            response = errorResponse(error, method: head.method, path: pathPart)
        }
        Trace.mark("handled \(head.method) \(pathPart)")
        await send(response, for: head, connection: connection, path: pathPart)
    }

    // MARK: errors

    /// Docker's status for an error (`errdefs` classes), and its message.
    static func status(for error: any Error) -> (HTTPResponseStatus, String) {
        if let e = error as? BerthError {
            switch e.code {
            case .invalidArgument: return (.badRequest, e.description)
            case .unauthorized: return (.unauthorized, e.description)
            case .forbidden: return (.forbidden, e.description)
            case .notFound: return (.notFound, e.description)
            case .conflict: return (.conflict, e.description)
            case .notModified: return (.notModified, e.description)
            case .unsupported: return (.notImplemented, e.description)
            case .unavailable, .dataCorrupted, .internalError: return (.internalServerError, e.description)
            }
        }
        if error is CancellationError { return (.internalServerError, "context canceled") }
        return (.internalServerError, "\(error)")
    }

    func errorResponse(_ error: any Error, method: HTTPMethod, path: Substring) -> APIResponse {
        let (status, message) = Self.status(for: error)
        if status.code >= 500 {
            logger.error("Handler for \(method) \(path) returned error: \(message)")
        } else {
            logger.debug("Handler for \(method) \(path) returned error: \(message)")
        }
        if status == .notModified { return .status(.notModified) }
        return (try? .json(ErrorResponse(message: message), status: status))
            ?? .status(.internalServerError)
    }

    // MARK: writing

    private func responseHead(_ status: HTTPResponseStatus, _ headers: HTTPHeaders, for request: HTTPRequestHead) -> HTTPResponseHead {
        var h = standardHeaders
        for (name, value) in headers { h.replaceOrAdd(name: name, value: value) }
        if !request.isKeepAlive { h.replaceOrAdd(name: "Connection", value: "close") }
        return HTTPResponseHead(version: request.version, status: status, headers: h)
    }

    private func send(_ response: APIResponse, for request: HTTPRequestHead, connection: ConnectionHandle,
                      path: Substring) async {
        let channel = connection.channel
        switch response {
        case .full(let status, let headers, let body):
            var head = responseHead(status, headers, for: request)
            let noBody = status == .noContent || status == .notModified || status.code < 200
            if !noBody && !head.headers.contains(name: "Content-Length") {
                head.headers.replaceOrAdd(name: "Content-Length", value: String(body?.readableBytes ?? 0))
            }
            channel.write(HTTPServerResponsePart.head(head), promise: nil)
            if let body, body.readableBytes > 0, request.method != .HEAD, !noBody {
                channel.write(HTTPServerResponsePart.body(.byteBuffer(body)), promise: nil)
            }
            try? await channel.writeAndFlush(HTTPServerResponsePart.end(nil))

        case .stream(let status, let headers, let produce):
            await connection.markStreaming()
            let stream = ResponseStream(channel: channel, head: responseHead(status, headers, for: request))
            do {
                try await produce(stream)
            } catch {
                if !stream.isStarted {
                    await send(errorResponse(error, method: request.method, path: path), for: request,
                               connection: connection, path: path)
                    return
                }
                if !(error is CancellationError) && !(error is ChannelError) {
                    logger.debug("stream for \(request.method) \(path) ended with error: \(error)")
                }
            }
            do {
                try await stream.finish()
            } catch {
                channel.close(promise: nil)
            }

        case .hijack(let hijack):
            var text = request.headers.contains(name: "Upgrade")
                ? "HTTP/1.1 101 UPGRADED\r\nContent-Type: \(hijack.contentType)\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                : "HTTP/1.1 200 OK\r\nContent-Type: \(hijack.contentType)\r\n"
            var extra = standardHeaders
            for (name, value) in hijack.headers { extra.replaceOrAdd(name: name, value: value) }
            for (name, value) in extra { text += "\(name): \(value)\r\n" }
            text += "\r\n"
            do {
                let raw = try await connection.hijack(head: ByteBuffer(string: text))
                try await raw.executeThenClose { inbound, outbound in
                    try await hijack.run(HijackedConnection(inbound: inbound, outbound: outbound, channel: channel))
                }
            } catch {
                logger.debug("hijacked connection for \(request.method) \(path) ended with error: \(error)")
                channel.close(promise: nil)
            }
        }
    }
}
