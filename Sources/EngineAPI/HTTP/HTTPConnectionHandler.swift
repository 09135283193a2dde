import Logging
import NIOCore
import NIOHTTP1

/// Fired through every open connection when the daemon stops: idle connections close, streaming
/// responses (events, progress) are cancelled and end cleanly, others finish and then close.
struct ServerShutdownEvent: Sendable {}

/// The last handler of an API connection: turns each request into a `Task` running the dispatcher,
/// feeds the request body to it with back-pressure, tracks keep-alive and closes when it should, and
/// performs the connection hijack for attach/exec.
///
/// Pipeline: [TLS] → HTTPResponseEncoder → ByteToMessageHandler(HTTPRequestDecoder(.forwardBytes))
/// → HTTPServerPipelineHandler → HTTPServerProtocolErrorHandler → HTTPConnectionHandler.
final class HTTPConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// The HTTP handlers that leave the pipeline on hijack (the decoder goes last, separately).
    struct HTTPHandlers {
        let encoder: HTTPResponseEncoder
        let decoder: ByteToMessageHandler<HTTPRequestDecoder>
        let pipelining: HTTPServerPipelineHandler
        let errors: HTTPServerProtocolErrorHandler
    }

    private let dispatcher: RequestDispatcher
    private let http: HTTPHandlers
    private var context: ChannelHandlerContext?

    private var task: Task<Void, Never>?
    private var bodySource: RequestBody.Producer.Source?
    /// Between a request head and the end of its response.
    private var inFlight = false
    private var keepAlive = true
    private var streaming = false
    private var readsPaused = false
    private var readPending = false
    private var inputClosed = false
    private var shuttingDown = false
    private var hijacked = false

    init(dispatcher: RequestDispatcher, http: HTTPHandlers) {
        self.dispatcher = dispatcher
        self.http = http
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    // MARK: inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if hijacked { return }  // requests pipelined behind a hijack: dropped
        switch unwrapInboundIn(data) {
        case .head(let head):
            startRequest(context: context, head: head)
        case .body(let buffer):
            guard let source = bodySource else { return }  // nobody reads the body any more: discard
            switch source.yield(buffer) {
            case .produceMore: break
            case .stopProducing: readsPaused = true
            case .dropped:
                bodySource = nil
                resumeReads()
            }
        case .end:
            bodySource?.finish()
            bodySource = nil
            resumeReads()
        }
    }

    private func startRequest(context: ChannelHandlerContext, head: HTTPRequestHead) {
        inFlight = true
        streaming = false
        keepAlive = head.isKeepAlive
        if head.headers[canonicalForm: "Expect"].contains(where: { $0.lowercased() == "100-continue" }) {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))),
                                  promise: nil)
        }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        let body: RequestBody
        if Self.hasBody(head) {
            let delegate = BodyReadDelegate(
                produceMoreHandler: { eventLoop.execute { loopBound.value.resumeReads() } },
                terminateHandler: { eventLoop.execute { loopBound.value.bodyAbandoned() } })
            let made = RequestBody.Producer.makeSequence(
                elementType: ByteBuffer.self, failureType: (any Error).self,
                backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8),
                finishOnDeinit: false, delegate: delegate)
            bodySource = made.source
            body = RequestBody(.stream(made.sequence))
        } else {
            bodySource = nil
            body = .empty
        }
        let connection = ConnectionHandle(channel: context.channel, handler: loopBound)
        let dispatcher = self.dispatcher
        task = Task { await dispatcher.serve(head: head, body: body, connection: connection) }
    }

    static func hasBody(_ head: HTTPRequestHead) -> Bool {
        if head.headers.contains(name: "Transfer-Encoding") { return true }
        guard let length = head.headers.first(name: "Content-Length") else { return false }
        return Int(length.trimmingCharacters(in: .whitespaces)) != 0
    }

    private func resumeReads() {
        readsPaused = false
        if readPending, let context {
            readPending = false
            context.read()
        }
    }

    private func bodyAbandoned() {
        bodySource = nil
        resumeReads()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case ChannelEvent.inputClosed:
            inputClosed = true
            if let source = bodySource {
                source.finish(ChannelError.eof)
                bodySource = nil
            }
            if !inFlight { context.close(promise: nil) }
        case is ServerShutdownEvent:
            shuttingDown = true
            if !inFlight {
                context.close(promise: nil)
            } else if streaming {
                task?.cancel()
            }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        task?.cancel()
        bodySource?.finish(ChannelError.ioOnClosedChannel)
        bodySource = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        dispatcher.logger.debug("closing API connection after error: \(error)")
        context.close(promise: nil)
    }

    // MARK: outbound

    func read(context: ChannelHandlerContext) {
        if readsPaused {
            readPending = true
        } else {
            context.read()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        inFlight = false
        streaming = false
        task = nil
        guard !keepAlive || inputClosed || shuttingDown else {
            context.write(data, promise: promise)
            return
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        let channel = context.channel
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
        written.futureResult.cascade(to: promise)
        context.write(data, promise: written)
    }

    // MARK: calls from the request task (on the event loop)

    func markStreaming() {
        streaming = true
        if shuttingDown { task?.cancel() }
    }

    /// Removes the HTTP handlers and wraps the raw connection. `head` (the 101/200 response head) is
    /// written before anything else.
    func hijack(head: ByteBuffer) throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        guard let context else { throw ChannelError.ioOnClosedChannel }
        let channel = context.channel
        let pipeline = channel.pipeline.syncOperations
        hijacked = true
        bodySource?.finish()
        bodySource = nil
        // Only raw bytes may reach the async channel from here on.
        let gate = HijackGate()
        try pipeline.addHandler(gate, position: .after(http.decoder))
        pipeline.removeHandler(http.pipelining, promise: nil)
        pipeline.removeHandler(http.errors, promise: nil)
        pipeline.removeHandler(http.encoder, promise: nil)
        pipeline.removeHandler(self, promise: nil)
        let wrapped = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
            wrappingChannelSynchronously: channel,
            configuration: .init(isOutboundHalfClosureEnabled: true))
        channel.writeAndFlush(head, promise: nil)
        // Bytes the client sent after its request (still buffered in the decoder) now flow to `wrapped`;
        // a read-complete makes the async channel deliver them without waiting for the next socket read.
        let decoderGone = channel.eventLoop.makePromise(of: Void.self)
        pipeline.removeHandler(http.decoder, promise: decoderGone)
        let loopBoundGate = NIOLoopBound(gate, eventLoop: channel.eventLoop)
        decoderGone.futureResult.whenSuccess { loopBoundGate.value.flush() }
        return wrapped
    }
}

/// Lets only raw bytes through after a hijack: anything the HTTP decoder still produces from bytes
/// that raced the hijack (a client not waiting for the 101) is dropped, never handed to the raw stream.
final class HijackGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Any
    typealias InboundOut = ByteBuffer
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Ends the batch of leftover bytes the decoder handed over on removal.
    func flush() { context?.fireChannelReadComplete() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        if let io = value as? IOData, case .byteBuffer(let buffer) = io {
            context.fireChannelRead(wrapInboundOut(buffer))
        } else if let buffer = value as? ByteBuffer {
            context.fireChannelRead(wrapInboundOut(buffer))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError { return }
        context.fireErrorCaught(error)
    }
}

/// The request task's handle on its connection.
struct ConnectionHandle: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<HTTPConnectionHandler>

    func markStreaming() async {
        let handler = self.handler
        try? await channel.eventLoop.submit { handler.value.markStreaming() }.get()
    }

    func hijack(head: ByteBuffer) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        let handler = self.handler
        return try await channel.eventLoop.submit { try handler.value.hijack(head: head) }.get()
    }
}
