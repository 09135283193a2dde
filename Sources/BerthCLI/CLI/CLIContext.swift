import APIClient
import Foundation
import OCI

#if canImport(Glibc)
import Glibc
#endif

/// A buffered writer to a file descriptor (or to memory, for tests).
public final class OutputStream: @unchecked Sendable {
    let fd: Int32
    var buffer: [UInt8] = []
    /// Everything written, when capturing (tests).
    public private(set) var captured: [UInt8] = []
    let capture: Bool
    let lock = NSLock()
    public let isTerminal: Bool
    /// Unbuffered streams write through at once, after flushing `flushFirst` (stderr after stdout keeps
    /// their interleaving as docker's unbuffered writes produce it).
    var unbuffered = false
    weak var flushFirst: OutputStream?

    public init(fd: Int32) {
        self.fd = fd
        self.capture = false
        self.isTerminal = isatty(fd) == 1
        buffer.reserveCapacity(1 << 16)
    }

    /// An in-memory stream.
    public init(capturingAsTerminal terminal: Bool = false) {
        self.fd = -1
        self.capture = true
        self.isTerminal = terminal
    }

    public var capturedString: String { String(decoding: captured, as: UTF8.self) }

    public func write(_ s: String) { write(s.utf8) }

    public func write(_ bytes: some Collection<UInt8>) {
        if unbuffered { flushFirst?.flush() }
        lock.lock()
        defer { lock.unlock() }
        if capture { captured.append(contentsOf: bytes); return }
        buffer.append(contentsOf: bytes)
        if unbuffered || buffer.count >= 1 << 16 { flushLocked() }
    }

    public func writeLine(_ s: String = "") { write(s + "\n") }

    public func flush() {
        lock.lock()
        defer { lock.unlock() }
        flushLocked()
    }

    func flushLocked() {
        guard !capture, !buffer.isEmpty else { return }
        var off = 0
        buffer.withUnsafeBytes { p in
            while off < p.count {
                let n = Glibc.write(fd, p.baseAddress! + off, p.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    break
                }
                off += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Terminal width (`TIOCGWINSZ`, possibly 0 for a fresh pty), if this is a terminal.
    public var terminalWidth: Int? {
        guard isTerminal, fd >= 0 else { return nil }
        return windowWidth(fd)
    }
}

/// The `TIOCGWINSZ` width of `fd`, or nil when it is not a terminal.
func windowWidth(_ fd: Int32) -> Int? {
    var ws = winsize()
    guard ioctl(fd, UInt(TIOCGWINSZ), &ws) == 0 else { return nil }
    return Int(ws.ws_col)
}

/// Standard input (a file descriptor, or bytes in tests).
public final class InputStream: @unchecked Sendable {
    let fd: Int32
    var data: [UInt8]?
    public let isTerminal: Bool

    public init(fd: Int32) {
        self.fd = fd
        self.isTerminal = isatty(fd) == 1
    }

    public init(bytes: [UInt8], terminal: Bool = false) {
        self.fd = -1
        self.data = bytes
        self.isTerminal = terminal
    }

    /// Reads until EOF.
    public func readAll() -> [UInt8] {
        if let data { self.data = []; return data }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }

    /// Reads one line (without the newline); nil at EOF.
    public func readLine() -> String? {
        if data != nil {
            guard let d = data, !d.isEmpty else { return nil }
            if let nl = d.firstIndex(of: 0x0A) {
                data = Array(d[(nl + 1)...])
                return String(decoding: d[..<nl], as: UTF8.self)
            }
            data = []
            return String(decoding: d, as: UTF8.self)
        }
        var line: [UInt8] = []
        var c: UInt8 = 0
        while true {
            let n = read(fd, &c, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
            if c == 0x0A { break }
            line.append(c)
        }
        return String(decoding: line, as: UTF8.self)
    }
}

/// Global options (docker's root flags).
public struct GlobalOptions: Sendable {
    public var hosts: [String] = []
    public var configDir: String?
    public var context: String?
    public var debug = false
    public var logLevel: String?
    public var tls = false
    public var tlsVerify = false
    public var tlsCACert: String?
    public var tlsCert: String?
    public var tlsKey: String?
}

/// What every command uses: streams, environment, global options, the config file and (lazily) the API client.
public final class CLIContext: @unchecked Sendable {
    public let out: OutputStream
    public let err: OutputStream
    public let stdin: InputStream
    public let env: [String: String]
    public var options = GlobalOptions()
    var clientCache: APIClient?
    var configCache: ConfigFile?

    public init(out: OutputStream, err: OutputStream, stdin: InputStream, env: [String: String]) {
        self.out = out
        self.err = err
        err.unbuffered = true
        err.flushFirst = out
        self.stdin = stdin
        self.env = env
    }

    /// The real process streams and environment.
    public static func standard() -> CLIContext {
        CLIContext(out: OutputStream(fd: 1), err: OutputStream(fd: 2), stdin: InputStream(fd: 0), env: ProcessInfo.processInfo.environment)
    }

    public var homeDir: String { env["HOME"] ?? NSHomeDirectory() }

    /// `--config`, `DOCKER_CONFIG`, or `~/.docker`.
    public var configDir: String {
        if let c = options.configDir, !c.isEmpty { return c }
        if let c = env["DOCKER_CONFIG"], !c.isEmpty { return c }
        return homeDir + "/.docker"
    }

    /// `~/.docker/config.json`, loaded on first use.
    public func configFile() throws -> ConfigFile {
        if let c = configCache { return c }
        let c = try ConfigFile.load(dir: configDir)
        configCache = c
        return c
    }

    /// The daemon host: `-H`, then `DOCKER_HOST`, then berth's default socket.
    public func resolveHost() throws -> DockerHost {
        let useTLS = tlsEnabled
        if options.hosts.count > 1 {
            throw CLIError("Failed to initialize: unable to resolve docker endpoint: Specify only one -H")
        }
        let raw = options.hosts.first ?? env["DOCKER_HOST"] ?? ""
        do {
            return try DockerHost.parse(raw, tls: useTLS)
        } catch let e as BerthError {
            throw CLIError("Failed to initialize: " + e.message)
        }
    }

    var tlsEnabled: Bool {
        options.tls || options.tlsVerify || !(env["DOCKER_TLS_VERIFY"] ?? "").isEmpty || !(env["DOCKER_TLS"] ?? "").isEmpty
    }

    var tlsVerify: Bool { options.tlsVerify || !(env["DOCKER_TLS_VERIFY"] ?? "").isEmpty }

    /// Starts connecting to the daemon in the background (plain unix/TCP only), so that the
    /// command's first request finds the connection made. Harmless if the command never sends one.
    public func preconnect() {
        guard !tlsEnabled, options.hosts.count <= 1, let host = try? resolveHost() else { return }
        HTTPTransport.preconnect(host)
    }

    /// The API client (created on first use; nothing touches the network until a request).
    public func client() throws -> APIClient {
        if let c = clientCache { return c }
        let host = try resolveHost()
        var tls: TLSOptions?
        if tlsEnabled {
            let certPath = env["DOCKER_CERT_PATH"].flatMap { $0.isEmpty ? nil : $0 } ?? configDir
            tls = TLSOptions.resolve(verify: tlsVerify, certPath: certPath, caFile: options.tlsCACert,
                                     certFile: options.tlsCert, keyFile: options.tlsKey)
        }
        var headers: [(String, String)] = []
        if let cfg = try? configFile() {
            for (k, v) in cfg.httpHeaders.sorted(by: { $0.key < $1.key }) { headers.append((k, v)) }
        }
        do {
            let c = try APIClient(host: host, tls: tls, apiVersion: env["DOCKER_API_VERSION"], headers: headers)
            clientCache = c
            return c
        } catch let e as BerthError {
            throw CLIError("Failed to initialize: " + e.message)
        }
    }

    /// A debug line on stderr when `-D` is set.
    public func debug(_ s: @autoclosure () -> String) {
        if options.debug { err.writeLine(s()) }
    }
}
