import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import OCI

/// Where the API listens.
public enum ListenerAddress: Sendable, CustomStringConvertible {
    /// A unix socket created by the daemon (removed again at shutdown), with its mode and group.
    case unix(path: String, mode: mode_t = 0o660, group: gid_t? = nil)
    case tcp(host: String, port: Int)
    /// An already listening socket inherited from systemd (`LISTEN_FDS`).
    case inherited(fd: CInt, name: String)

    public var description: String {
        switch self {
        case .unix(let path, _, _): return path
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .inherited(let fd, let name): return "\(name) (fd \(fd))"
        }
    }
}

/// The Docker Engine API server: a few SwiftNIO listeners sharing one router.
public final class APIServer: Sendable {
    private struct State {
        var listeners: [any Channel] = []
        var connections: [ObjectIdentifier: any Channel] = [:]
        var socketFiles: [String] = []
        var closing = false
    }

    let group: any EventLoopGroup
    let dispatcher: RequestDispatcher
    let logger: Logger
    private let state = NIOLockedValueBox(State())

    public init(router: Router, group: any EventLoopGroup, logger: Logger) {
        self.group = group
        self.logger = logger
        self.dispatcher = RequestDispatcher(router: router, logger: logger)
    }

    /// Number of open API connections.
    public var connectionCount: Int { state.withLockedValue { $0.connections.count } }

    /// Starts serving on `address`; returns the bound address (for `tcp://…:0`, the real port).
    @discardableResult
    public func listen(_ address: ListenerAddress, tls: NIOSSLContext? = nil) async throws -> SocketAddress? {
        let bootstrap = makeBootstrap(tls: tls)
        let channel: any Channel
        switch address {
        case .unix(let path, let mode, let gid):
            try UnixSocketFile.prepare(path)
            let old = umask(0o777 & ~mode)
            defer { umask(old) }
            channel = try await bootstrap.bind(unixDomainSocketPath: path).get()
            state.withLockedValue { $0.socketFiles.append(path) }
            if chmod(path, mode) != 0 {
                let err = String(cString: strerror(errno))
                channel.close(promise: nil)
                throw BerthError(.internalError, "failed to set permissions of unix socket \(path): \(err)")
            }
            if let gid, chown(path, uid_t(bitPattern: -1), gid) != 0 {
                logger.warning("could not change group of unix socket \(path) to \(gid): \(String(cString: strerror(errno)))")
            }
        case .tcp(let host, let port):
            channel = try await bootstrap
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host == "localhost" ? "127.0.0.1" : host, port: port).get()
        case .inherited(let fd, _):
            channel = try await bootstrap.withBoundSocket(fd).get()
        }
        state.withLockedValue { $0.listeners.append(channel) }
        logger.info("API listen on \(address)")
        return channel.localAddress
    }

    private func makeBootstrap(tls: NIOSSLContext?) -> ServerBootstrap {
        let dispatcher = self.dispatcher
        let state = self.state
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let refused = state.withLockedValue { s -> Bool in
                        if s.closing { return true }
                        s.connections[ObjectIdentifier(channel)] = channel
                        return false
                    }
                    if refused {
                        channel.close(promise: nil)
                        return
                    }
                    channel.closeFuture.whenComplete { _ in
                        _ = state.withLockedValue { $0.connections.removeValue(forKey: ObjectIdentifier(channel)) }
                    }
                    let sync = channel.pipeline.syncOperations
                    if let tls { try sync.addHandler(NIOSSLServerHandler(context: tls)) }
                    let http = HTTPConnectionHandler.HTTPHandlers(
                        encoder: HTTPResponseEncoder(),
                        decoder: ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)),
                        pipelining: HTTPServerPipelineHandler(),
                        errors: HTTPServerProtocolErrorHandler())
                    try sync.addHandler(http.encoder)
                    try sync.addHandler(http.decoder)
                    try sync.addHandler(http.pipelining)
                    try sync.addHandler(http.errors)
                    try sync.addHandler(HTTPConnectionHandler(dispatcher: dispatcher, http: http))
                }
            }
    }

    /// Stops accepting, ends streams, lets ordinary requests finish for up to `grace`, then closes
    /// whatever is left and removes the unix socket files.
    public func shutdown(grace: TimeAmount = .seconds(5)) async {
        let (listeners, socketFiles) = state.withLockedValue { s -> ([any Channel], [String]) in
            s.closing = true
            defer { s.listeners = []; s.socketFiles = [] }
            return (s.listeners, s.socketFiles)
        }
        for listener in listeners { try? await listener.close() }
        for path in socketFiles { UnixSocketFile.remove(path) }

        for connection in state.withLockedValue({ Array($0.connections.values) }) {
            connection.pipeline.fireUserInboundEventTriggered(ServerShutdownEvent())
        }
        let deadline = NIODeadline.now() + grace
        while connectionCount > 0 && NIODeadline.now() < deadline {
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        let left = state.withLockedValue { Array($0.connections.values) }
        if !left.isEmpty { logger.debug("closing \(left.count) API connection(s) still open") }
        for connection in left { try? await connection.close() }
    }
}

/// The unix socket file's lifecycle: dockerd replaces a stale socket; berth also refuses to steal
/// one a live daemon still answers on.
enum UnixSocketFile {
    static func prepare(_ path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty {
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o755])
        }
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw BerthError(.invalidArgument, "failed to create unix socket \(path): file exists and is not a socket")
        }
        if isListening(path) {
            throw BerthError(.conflict, "failed to create unix socket \(path): another daemon is listening on it")
        }
        if unlink(path) != 0 && errno != ENOENT {
            throw BerthError(.internalError, "failed to remove stale unix socket \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func remove(_ path: String) {
        var st = stat()
        if lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK { unlink(path) }
    }

    /// Whether something accepts connections on the socket file.
    static func isListening(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let len = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) == 0 }
        }
    }
}
