import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP1
import OCI

#if canImport(Glibc)
import Glibc
#endif

/// A plain (unix-socket or TCP) connection to the daemon driven with blocking syscalls on the
/// caller's thread. NIO's HTTP/1.1 codec (`HTTPRequestEncoder` + `HTTPResponseDecoder`) runs in an
/// `EmbeddedChannel`, so the wire format is NIO's while no event loop thread, channel bootstrap or
/// selector is set up: a CLI invocation makes one to four requests and exits, and the event loop
/// machinery cost it more CPU than everything else together.
final class SocketConnection: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var shutDown = false
    /// The HTTP codec, made on first use. An EmbeddedChannel belongs to the thread that made it
    /// (NIO checks), so it is made by the thread that sends the request, and only that thread
    /// decodes: hijacked streams switch to raw socket reads once the head is through.
    private var codecStorage: EmbeddedChannel?

    private var codec: EmbeddedChannel {
        get throws {
            if let c = codecStorage { return c }
            let c = try Self.makeCodec()
            codecStorage = c
            return c
        }
    }

    private static func makeCodec() throws -> EmbeddedChannel {
        let c = EmbeddedChannel()
        try c.pipeline.syncOperations.addHandler(HTTPRequestEncoder(), name: "http-encoder")
        try c.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes)), name: "http-decoder")
        return c
    }

    private init(fd: Int32) {
        self.fd = fd
    }

    deinit {
        Glibc.close(fd)
    }

    /// Starts connecting to `address` on another thread; the next ``connect(_:)`` to the same
    /// address takes that connection. A CLI command calls this as soon as it knows the daemon's
    /// address, so the connect and the HTTP codec's set-up (the first NIO pipeline of the process
    /// instantiates a good deal of type metadata) overlap its option parsing and request encoding.
    static func prepare(_ address: DockerHost.Address) {
        let early = EarlyConnection(address)
        EarlyConnection.pending.withLockedValue { $0 = early }
        Thread.detachNewThread {
            early.finish(Result { try SocketConnection.open(address) })
            // Meanwhile the process's first codec is made here and dropped: what it costs is mostly
            // one-time type metadata, which the sending thread then finds ready.
            if let c = try? makeCodec() { _ = try? c.finish() }
        }
    }

    /// Connects to `address` (or takes the connection ``prepare(_:)`` opened); failures carry the
    /// errno of the last attempt.
    static func connect(_ address: DockerHost.Address) throws -> SocketConnection {
        if let early = EarlyConnection.take(address), let c = try? early.wait() { return c }
        return try open(address)
    }

    private static func open(_ address: DockerHost.Address) throws -> SocketConnection {
        switch address {
        case .unix(let path):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw SocketError(errno: errno) }
            var sa = sockaddr_un()
            sa.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: sa.sun_path) else {
                Glibc.close(fd)
                throw SocketError(errno: ENAMETOOLONG)
            }
            withUnsafeMutableBytes(of: &sa.sun_path) { p in
                for (i, b) in bytes.enumerated() { p[i] = b }
            }
            let rc = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if rc != 0 {
                let e = errno
                Glibc.close(fd)
                throw SocketError(errno: e)
            }
            return SocketConnection(fd: fd)
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_family = AF_UNSPEC
            var res: UnsafeMutablePointer<addrinfo>?
            let gai = getaddrinfo(host, String(port), &hints, &res)
            guard gai == 0, let first = res else {
                throw SocketError(errno: 0, resolveError: String(cString: gai_strerror(gai)), host: host)
            }
            defer { freeaddrinfo(first) }
            var lastErrno: Int32 = ECONNREFUSED
            var ai: UnsafeMutablePointer<addrinfo>? = first
            while let a = ai {
                ai = a.pointee.ai_next
                let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
                if fd < 0 { lastErrno = errno; continue }
                // As the NIO client: give up on an unreachable address after 30 s.
                var tv = timeval(tv_sec: 30, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                if Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 {
                    tv = timeval(tv_sec: 0, tv_usec: 0)
                    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                    var one: Int32 = 1
                    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                    return SocketConnection(fd: fd)
                }
                lastErrno = errno
                Glibc.close(fd)
            }
            throw SocketError(errno: lastErrno)
        }
    }

    // MARK: Raw I/O

    /// Writes all bytes (retrying short writes and EINTR).
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var off = 0
        while off < bytes.count {
            let n = Glibc.send(fd, bytes.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                throw SocketError(errno: errno)
            }
            off += n
        }
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Reads what is available (blocking); an empty result is EOF.
    func read(max: Int = 65536) throws -> ByteBuffer {
        var buf = ByteBufferAllocator().buffer(capacity: max)
        let n = try buf.writeWithUnsafeMutableBytes(minimumWritableBytes: max) { p -> Int in
            while true {
                let r = recv(fd, p.baseAddress!, p.count, 0)
                if r >= 0 { return r }
                if errno == EINTR { continue }
                // A local `shutdown` (close from another thread) ends the stream quietly.
                if isShutDown { return 0 }
                throw SocketError(errno: errno)
            }
        }
        _ = n
        return buf
    }

    private var isShutDown: Bool { lock.withLock { shutDown } }

    /// Half-closes the write side (stdin EOF for attach); reading continues.
    func closeWrite() { _ = shutdown(fd, Int32(SHUT_WR)) }

    /// Ends both directions and wakes a thread blocked in `read` (the descriptor itself is closed
    /// when the connection is released, so a concurrent reader never sees a reused fd).
    func close() {
        lock.withLock { shutDown = true }
        _ = shutdown(fd, Int32(SHUT_RDWR))
    }

    // MARK: HTTP

    /// Encodes and sends a request through the codec.
    func send(head: HTTPRequestHead, body: [UInt8]?) throws {
        let codec = try codec
        try codec.writeOutbound(HTTPClientRequestPart.head(head))
        if let body, !body.isEmpty {
            try codec.writeOutbound(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))))
        }
        try codec.writeOutbound(HTTPClientRequestPart.end(nil))
        var out: [UInt8] = []
        while let b = try codec.readOutbound(as: ByteBuffer.self) { out.append(contentsOf: b.readableBytesView) }
        try write(out)
    }

    /// The next decoded response part, reading from the socket as needed; nil after EOF once the
    /// decoder has nothing more.
    func nextPart() throws -> HTTPClientResponsePart? {
        let codec = try codec
        while true {
            if let p = try codec.readInbound(as: HTTPClientResponsePart.self) { return p }
            if sawEOF { return nil }
            let b = try read()
            if b.readableBytes == 0 {
                sawEOF = true
                // Lets the decoder end a body delimited by EOF (or report a truncated one).
                codec.pipeline.fireChannelInactive()
                try codec.throwIfErrorCaught()
            } else {
                try codec.writeInbound(b)
            }
        }
    }
    private var sawEOF = false

    /// After the head of a hijacked response (`101`, or a raw stream sent as a `200` body that
    /// ends at EOF): drops the HTTP codec; returns the stream bytes that arrived with the head.
    func upgrade() throws -> [ByteBuffer] {
        let codec = try codec
        var rest: [ByteBuffer] = []
        // Body parts already decoded (a 200 stream) are stream bytes; a 101's `.end` is not.
        while let p = try codec.readInbound(as: HTTPClientResponsePart.self) {
            if case .body(let b) = p { rest.append(b) }
        }
        let ops = codec.pipeline.syncOperations
        let dec = try ops.handler(type: ByteToMessageHandler<HTTPResponseDecoder>.self)
        _ = ops.removeHandler(dec)
        codec.embeddedEventLoop.run()
        while let b = try codec.readInbound(as: ByteBuffer.self) { rest.append(b) }
        return rest
    }
}

/// A connection being opened ahead of the first request (``SocketConnection/prepare(_:)``).
final class EarlyConnection: @unchecked Sendable {
    static let pending = NIOLockedValueBox<EarlyConnection?>(nil)

    let address: DockerHost.Address
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<SocketConnection, any Error>?

    init(_ address: DockerHost.Address) { self.address = address }

    func finish(_ r: Result<SocketConnection, any Error>) {
        result = r
        done.signal()
    }

    /// The connection (waiting for it); a failure is thrown and the caller connects again itself.
    func wait() throws -> SocketConnection {
        done.wait()
        return try result!.get()
    }

    /// The pending early connection, when it is for `address` (it is taken once).
    static func take(_ address: DockerHost.Address) -> EarlyConnection? {
        pending.withLockedValue { p in
            guard let e = p, e.address == address else { return nil }
            p = nil
            return e
        }
    }
}

/// A failed socket operation.
struct SocketError: Error, CustomStringConvertible {
    var errno: Int32
    var resolveError: String?
    var host: String?

    var description: String {
        if let resolveError, let host { return "dial tcp: lookup \(host): \(resolveError)" }
        return String(cString: strerror(errno))
    }
}
