import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import OCI

/// Waits for the response head of a hijack request, then strips the HTTP handlers so the
/// connection carries raw bytes (Docker's attach/exec `101 UPGRADED` protocol).
final class HijackHandler: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart

    let headPromise: EventLoopPromise<ResponseHead>
    let raw: RawStreamHandler
    var gotHead = false
    var rawMode = false
    /// Set between a `101` head and the removal of the HTTP handlers; the decoder's `.end` is ignored.
    var upgrading = false

    init(headPromise: EventLoopPromise<ResponseHead>, raw: RawStreamHandler) {
        self.headPromise = headPromise
        self.raw = raw
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            gotHead = true
            let head = ResponseHead(status: Int(h.status.code), headers: h.headers.map { ($0.name, $0.value) })
            let ct = head.header("Content-Type") ?? ""
            let upgraded = head.status == 101
            let rawStream = head.status == 200 && (ct.hasPrefix("application/vnd.docker.raw-stream") || ct.hasPrefix("application/vnd.docker.multiplexed-stream"))
            guard upgraded || rawStream else {
                // An error (or plain) response: collect the body for the caller.
                raw.collectErrorBody = true
                headPromise.succeed(head)
                return
            }
            let pipeline = context.pipeline.syncOperations
            do {
                try pipeline.addHandler(raw)
            } catch {
                headPromise.fail(error)
                return
            }
            if !upgraded { rawMode = true }
            upgrading = upgraded
            // Reconfigure once the decoder has finished the current read (it still emits `.end` for the
            // 101 response): first this handler goes, then the decoder, which forwards the bytes it
            // buffered past the head to the raw handler, then the encoder. Only then may the caller write.
            let promise = headPromise
            let ctx = context
            context.eventLoop.execute {
                let ops = ctx.pipeline.syncOperations
                if upgraded {
                    _ = ops.removeHandler(context: ctx)
                    if let dec = try? ops.handler(type: ByteToMessageHandler<HTTPResponseDecoder>.self) {
                        _ = ops.removeHandler(dec)
                    }
                }
                if let enc = try? ops.handler(type: HTTPRequestEncoder.self) {
                    _ = ops.removeHandler(enc)
                }
                promise.succeed(head)
            }
        case .body(let b):
            if rawMode || raw.collectErrorBody || upgrading { raw.deliver(b) }
        case .end:
            if upgrading { return }
            if rawMode || raw.collectErrorBody { raw.finish(nil) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !gotHead { headPromise.fail(BerthError(.unavailable, "unexpected EOF")) }
        if !upgrading { raw.finish(nil) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !gotHead { headPromise.fail(error) }
        raw.finish(error)
        context.close(promise: nil)
    }
}

/// Buffers raw inbound bytes until a reader is attached; reports EOF (including half-close).
final class RawStreamHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    struct State {
        var pending: [ByteBuffer] = []
        var reader: (@Sendable (ByteBuffer) -> Void)?
        var eofPromise: EventLoopPromise<Void>?
        var finished = false
        var error: (any Error)?
    }
    let state = NIOLockedValueBox(State())
    var collectErrorBody = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        deliver(unwrapInboundIn(data))
    }

    func deliver(_ b: ByteBuffer) {
        let reader: (@Sendable (ByteBuffer) -> Void)? = state.withLockedValue { s in
            if s.reader == nil { s.pending.append(b) }
            return s.reader
        }
        reader?(b)
    }

    func finish(_ error: (any Error)?) {
        let p: EventLoopPromise<Void>? = state.withLockedValue { s in
            if s.finished { return nil }
            s.finished = true
            s.error = error
            return s.reader == nil ? nil : s.eofPromise
        }
        if let p { if let error { p.fail(error) } else { p.succeed(()) } }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let e = event as? ChannelEvent, e == .inputClosed { finish(nil) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(error)
    }
}

/// A hijacked connection: raw bytes both ways, with half-close of the write side. Over a plain
/// socket it is driven with blocking calls; over TLS by NIO.
public final class HijackedConnection: @unchecked Sendable {
    enum Backend {
        case channel(Channel, RawStreamHandler)
        /// `decoded`: the body still goes through the HTTP decoder (an error answer, or a raw stream
        /// sent as a plain `200` body); otherwise the socket carries raw bytes after the `101` head.
        /// `ended`: the whole (error) body is in `pending` already.
        case socket(SocketConnection, pending: [ByteBuffer], decoded: Bool, ended: Bool)
    }
    let backend: Backend

    init(channel: Channel, raw: RawStreamHandler) {
        backend = .channel(channel, raw)
    }

    init(socket: SocketConnection, pending: [ByteBuffer], decoded: Bool, ended: Bool = false) {
        backend = .socket(socket, pending: pending, decoded: decoded, ended: ended)
    }

    /// Writes bytes (blocking until written).
    public func write(_ bytes: [UInt8]) throws {
        switch backend {
        case .channel(let channel, _): try channel.writeAndFlush(channel.allocator.buffer(bytes: bytes)).wait()
        case .socket(let s, _, _, _): try s.write(bytes)
        }
    }

    /// Closes the write side (like Docker's `CloseWrite` after stdin EOF); reading continues.
    public func closeWrite() {
        switch backend {
        case .channel(let channel, _): channel.close(mode: .output, promise: nil)
        case .socket(let s, _, _, _): s.closeWrite()
        }
    }

    public func close() {
        switch backend {
        case .channel(let channel, _): channel.close(promise: nil)
        case .socket(let s, _, _, _): s.close()
        }
    }

    /// Delivers received bytes to `onData` until the daemon closes its side; blocks the calling
    /// thread until then (`onData` runs on the event loop for TLS, on this thread otherwise).
    public func read(_ onData: @escaping @Sendable (ByteBuffer) -> Void) throws {
        switch backend {
        case .channel(let channel, let raw):
            let promise = channel.eventLoop.makePromise(of: Void.self)
            let (pending, finished, error) = raw.state.withLockedValue { s -> ([ByteBuffer], Bool, (any Error)?) in
                let p = s.pending
                s.pending = []
                s.reader = onData
                s.eofPromise = promise
                return (p, s.finished, s.error)
            }
            for b in pending { onData(b) }
            if finished {
                if let error { promise.fail(error) } else { promise.succeed(()) }
            }
            try promise.futureResult.wait()
        case .socket(let s, let pending, let decoded, let ended):
            for b in pending where b.readableBytes > 0 { onData(b) }
            if ended { return }
            if decoded {
                while let part = try s.nextPart() {
                    switch part {
                    case .head: continue
                    case .body(let b): onData(b)
                    case .end: return
                    }
                }
            } else {
                while true {
                    let b = try s.read()
                    if b.readableBytes == 0 { return }
                    onData(b)
                }
            }
        }
    }

    /// Reads everything until EOF.
    public func readAll() throws -> [UInt8] {
        let box = NIOLockedValueBox<[UInt8]>([])
        try read { b in box.withLockedValue { $0.append(contentsOf: b.readableBytesView) } }
        return box.withLockedValue { $0 }
    }
}
