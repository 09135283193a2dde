import APIModels
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import OCI

/// A response body read on the caller's thread with back-pressure: the event loop stops reading the
/// socket while `capacity` bytes wait (the CLI's loop thread serves only this exchange).
public final class ResponseBodyReader: @unchecked Sendable {
    private let cond = NSCondition()
    private var chunks: [ByteBuffer] = []
    private var queued = 0
    private let capacity: Int
    private var finished = false
    private var failure: (any Error)?
    private var closed = false
    private var channel: Channel?
    /// The response head (set before the reader is handed out).
    public private(set) var head = ResponseHead(status: 0, headers: [])

    init(capacity: Int = 4 << 20) { self.capacity = capacity }

    func setHead(_ h: ResponseHead) { head = h }
    func attach(_ c: Channel) { channel = c }

    /// On the event loop: queue a chunk, waiting while the queue is full.
    func push(_ b: ByteBuffer) {
        cond.lock()
        while queued >= capacity && !closed { cond.wait() }
        if !closed {
            chunks.append(b)
            queued += b.readableBytes
        }
        cond.signal()
        cond.unlock()
    }

    func finish(_ error: (any Error)?) {
        cond.lock()
        finished = true
        if failure == nil { failure = error }
        cond.broadcast()
        cond.unlock()
    }

    /// The next chunk of the body (blocking); nil at its end.
    public func next() throws -> ByteBuffer? {
        cond.lock()
        defer { cond.unlock() }
        while chunks.isEmpty && !finished { cond.wait() }
        if !chunks.isEmpty {
            let b = chunks.removeFirst()
            queued -= b.readableBytes
            cond.signal()
            return b
        }
        if let failure { throw failure }
        return nil
    }

    /// Stops reading (the connection is closed).
    public func close() {
        cond.lock()
        closed = true
        chunks = []
        queued = 0
        cond.broadcast()
        cond.unlock()
        channel?.close(promise: nil)
    }
}

/// `docker cp` / `docker export` endpoints, streamed both ways.
extension APIClient {
    static func archivePath(_ container: String, _ suffix: String) -> String {
        "/containers/" + APIClient.pathEscape(container) + suffix
    }

    /// `HEAD /containers/{id}/archive?path=`: the stat header.
    public func statContainerPath(_ container: String, path: String) throws -> ContainerPathStat {
        try negotiate()  // a HEAD answer has no body to learn an older daemon's version from
        let (head, _) = try transport.roundTrip(APIRequest(
            method: .HEAD, uri: try uri(Self.archivePath(container, "/archive"), query: [("path", path)]), headers: baseHeaders()))
        if head.status >= 400 {
            if head.status == 404 {
                throw BerthError(.notFound, "Error response from daemon: Could not find the file \(path) in container \(container)")
            }
            try checkResponse(head, [], uri: Self.archivePath(container, "/archive"))
        }
        guard let raw = head.header(ContainerPathStat.headerName), let stat = ContainerPathStat(headerValue: raw) else {
            throw BerthError(.internalError, "unable to decode container path stat header")
        }
        return stat
    }

    /// Starts a GET and returns once its head arrived; error statuses throw the daemon's error.
    public func openBody(_ path: String, query: [(String, String)] = []) throws -> ResponseBodyReader {
        try negotiate()  // streamed over NIO: no resend with an older version
        let reader = ResponseBodyReader()
        let req = APIRequest(method: .GET, uri: try uri(path, query: query), headers: baseHeaders())
        let channel = try transport.connect()
        reader.attach(channel)
        let headSeen = DispatchSemaphore(value: 0)
        let errorBody = NIOLockedValueBox<[UInt8]?>(nil)
        let done = channel.eventLoop.makePromise(of: Void.self)
        let handler = ResponseHandler(onHead: { h in
            reader.setHead(h)
            if h.status >= 400 { errorBody.withLockedValue { $0 = [] } }
            headSeen.signal()
            return true
        }, onBody: { b in
            let isError = errorBody.withLockedValue { e -> Bool in
                guard e != nil else { return false }
                e!.append(contentsOf: b.readableBytesView)
                return true
            }
            if !isError { reader.push(b) }
        }, done: done)
        done.futureResult.whenComplete { r in
            if case .failure(let e) = r { reader.finish(e) } else { reader.finish(nil) }
            headSeen.signal()
        }
        do {
            try channel.eventLoop.submit { try channel.pipeline.syncOperations.addHandler(handler) }.wait()
        } catch {
            channel.close(promise: nil)
            throw BerthError(.internalError, "error during connect: \(error)")
        }
        transport.send(req, on: channel)
        headSeen.wait()
        if reader.head.status == 0 {
            _ = try reader.next()
            throw BerthError(.unavailable, "error during connect: unexpected EOF")
        }
        if reader.head.status >= 400 {
            try? done.futureResult.wait()
            try checkResponse(reader.head, errorBody.withLockedValue { $0 ?? [] }, uri: path)
        }
        return reader
    }

    /// `GET /containers/{id}/archive?path=`: the stat and the tar stream.
    public func copyFromContainer(_ container: String, path: String) throws -> (ContainerPathStat, ResponseBodyReader) {
        let reader = try openBody(Self.archivePath(container, "/archive"), query: [("path", path)])
        guard let raw = reader.head.header(ContainerPathStat.headerName), let stat = ContainerPathStat(headerValue: raw) else {
            reader.close()
            throw BerthError(.internalError, "unable to decode container path stat header")
        }
        return (stat, reader)
    }

    /// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=true[&copyUIDGID=true]` with a body
    /// written by `produce` (chunked, each write waits until the socket took it).
    public func copyToContainer(_ container: String, path: String, copyUIDGID: Bool,
                                produce: (_ write: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        var q: [(String, String)] = [("path", path), ("noOverwriteDirNonDir", "true")]
        if copyUIDGID { q.append(("copyUIDGID", "true")) }
        let apiPath = Self.archivePath(container, "/archive")
        try negotiate()  // streamed over NIO: no resend with an older version
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: transport.host.hostHeader)
        for (k, v) in baseHeaders() { headers.add(name: k, value: v) }
        headers.add(name: "Content-Type", value: "application/x-tar")
        headers.add(name: "Transfer-Encoding", value: "chunked")
        let head = HTTPRequestHead(version: .http1_1, method: .PUT, uri: try uri(apiPath, query: q), headers: headers)
        let channel = try transport.connect()
        defer { channel.close(promise: nil) }
        let box = NIOLockedValueBox<(ResponseHead?, [UInt8])>((nil, []))
        let done = channel.eventLoop.makePromise(of: Void.self)
        let handler = ResponseHandler(onHead: { h in box.withLockedValue { $0.0 = h }; return true },
                                      onBody: { b in box.withLockedValue { $0.1.append(contentsOf: b.readableBytesView) } },
                                      done: done)
        do {
            try channel.eventLoop.submit { try channel.pipeline.syncOperations.addHandler(handler) }.wait()
        } catch {
            throw BerthError(.internalError, "error during connect: \(error)")
        }
        var sendError: (any Error)?
        do {
            try channel.writeAndFlush(HTTPClientRequestPart.head(head)).wait()
            try produce { bytes in
                // The daemon answered early (an error): stop sending.
                if box.withLockedValue({ $0.0 }) != nil { throw CancellationError() }
                try channel.writeAndFlush(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: bytes)))).wait()
            }
            try channel.writeAndFlush(HTTPClientRequestPart.end(nil)).wait()
        } catch {
            sendError = error
        }
        let finished: Result<Void, any Error>
        if sendError == nil || box.withLockedValue({ $0.0 }) != nil {
            finished = Result { try done.futureResult.wait() }
        } else {
            finished = .success(())
        }
        let (respHead, body) = box.withLockedValue { $0 }
        if let respHead {
            try checkResponse(respHead, body, uri: apiPath)
            if let sendError, !(sendError is CancellationError) { throw sendError }
            return
        }
        if let sendError { throw sendError as? BerthError ?? BerthError(.unavailable, "error during connect: \(sendError)") }
        if case .failure(let e) = finished { throw e as? BerthError ?? BerthError(.unavailable, "error during connect: \(e)") }
        throw BerthError(.unavailable, "error during connect: unexpected EOF")
    }

    /// `GET /containers/{id}/export`.
    public func exportContainer(_ container: String) throws -> ResponseBodyReader {
        try openBody(Self.archivePath(container, "/export"))
    }
}
