import APIClient
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Docker's `stdcopy` framing: `[stream, 0, 0, 0, size(4, big endian)]` then `size` bytes.
struct StdcopyDemuxer {
    enum Stream: UInt8 { case stdin = 0, stdout = 1, stderr = 2, systemErr = 3 }
    var buf: [UInt8] = []

    /// Feeds bytes; returns the complete frames.
    mutating func feed(_ bytes: some Collection<UInt8>) -> [(Stream, [UInt8])] {
        buf.append(contentsOf: bytes)
        var out: [(Stream, [UInt8])] = []
        var off = 0
        while buf.count - off >= 8 {
            let size = Int(buf[off + 4]) << 24 | Int(buf[off + 5]) << 16 | Int(buf[off + 6]) << 8 | Int(buf[off + 7])
            guard buf.count - off - 8 >= size else { break }
            let s = Stream(rawValue: buf[off]) ?? .stdout
            out.append((s, Array(buf[(off + 8)..<(off + 8 + size)])))
            off += 8 + size
        }
        if off > 0 { buf.removeFirst(off) }
        return out
    }

    /// Encodes one frame (tests, and anything that must produce the format).
    static func frame(_ s: Stream, _ payload: [UInt8]) -> [UInt8] {
        let n = payload.count
        return [s.rawValue, 0, 0, 0, UInt8(n >> 24 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + payload
    }
}

/// Detach keys (`ctrl-p,ctrl-q`): docker's `term.ToBytes`.
enum DetachKeys {
    static let defaultKeys = "ctrl-p,ctrl-q"

    static func parse(_ s: String) throws -> [UInt8] {
        var out: [UInt8] = []
        for key in s.split(separator: ",", omittingEmptySubsequences: false) {
            let k = String(key)
            if k.count > 1 {
                guard k.lowercased().hasPrefix("ctrl-"), k.count == 6 else {
                    throw CLIError("Invalid detach keys (\(s)) provided")
                }
                let c = k.lowercased().last!
                switch c {
                case "a"..."z": out.append(c.asciiValue! - 96)
                case "@": out.append(0)
                case "[": out.append(27)
                case "\\": out.append(28)
                case "]": out.append(29)
                case "^": out.append(30)
                case "_": out.append(31)
                default: throw CLIError("Invalid detach keys (\(s)) provided")
                }
            } else {
                guard let b = k.utf8.first, k.utf8.count == 1 else { throw CLIError("Invalid detach keys (\(s)) provided") }
                out.append(b)
            }
        }
        return out
    }
}

/// Docker's `term.EscapeProxy`: passes input through until the escape sequence is typed.
struct EscapeProxy {
    let keys: [UInt8]
    var matched = 0

    /// Returns the bytes to forward and whether the full sequence was seen (then nothing more is forwarded).
    mutating func filter(_ input: some Collection<UInt8>) -> (forward: [UInt8], detached: Bool) {
        guard !keys.isEmpty else { return (Array(input), false) }
        var out: [UInt8] = []
        for b in input {
            if b == keys[matched] {
                matched += 1
                if matched == keys.count { return (out, true) }
                continue
            }
            if matched > 0 {
                out.append(contentsOf: keys[0..<matched])
                matched = 0
                if b == keys[0] { matched = 1; continue }
            }
            out.append(b)
        }
        return (out, false)
    }
}

/// Raw terminal mode on a file descriptor, restored once.
final class RawTerminal: @unchecked Sendable {
    let fd: Int32
    var saved = termios()
    var active = false
    let lock = NSLock()

    /// Global so a fatal path (signal, exit) can restore the terminal.
    nonisolated(unsafe) static var current: RawTerminal?

    init?(fd: Int32) {
        self.fd = fd
        guard isatty(fd) == 1, tcgetattr(fd, &saved) == 0 else { return nil }
        var raw = saved
        cfmakeraw(&raw)
        // Docker keeps output processing (OPOST) so "\n" still returns the carriage.
        raw.c_oflag = saved.c_oflag
        guard tcsetattr(fd, TCSANOW, &raw) == 0 else { return nil }
        active = true
        RawTerminal.current = self
    }

    func restore() {
        lock.lock()
        defer { lock.unlock() }
        guard active else { return }
        active = false
        var s = saved
        _ = tcsetattr(fd, TCSANOW, &s)
    }
}

/// The terminal size of `fd` as (height, width).
func terminalSize(_ fd: Int32) -> (Int, Int)? {
    var ws = winsize()
    guard isatty(fd) == 1, ioctl(fd, UInt(TIOCGWINSZ), &ws) == 0 else { return nil }
    return (Int(ws.ws_row), Int(ws.ws_col))
}

/// Pumps a hijacked connection: output to stdout/stderr (demultiplexed without a TTY), stdin to the
/// connection (through the detach-key proxy with a TTY), half-closing at stdin EOF.
/// Docker's `hijackedIOStreamer`.
final class HijackedStreamer: @unchecked Sendable {
    let conn: HijackedConnection
    let ctx: CLIContext
    let tty: Bool
    let sendStdin: Bool
    let detachKeys: [UInt8]
    let wantStdout: Bool
    let wantStderr: Bool
    private let state = NSCondition()
    private var detached = false
    private var outputDone = false
    private var inputDone = false
    private var outputError: (any Error)?

    init(conn: HijackedConnection, ctx: CLIContext, tty: Bool, stdin: Bool, stdout: Bool = true, stderr: Bool = true, detachKeys: [UInt8]) {
        self.conn = conn
        self.ctx = ctx
        self.tty = tty
        self.sendStdin = stdin
        self.wantStdout = stdout
        self.wantStderr = stderr
        self.detachKeys = detachKeys
    }

    enum Outcome { case finished, detached }

    /// Runs until the output ends (or the user detaches).
    func run() throws -> Outcome {
        var raw: RawTerminal?
        if tty && sendStdin && ctx.stdin.isTerminal { raw = RawTerminal(fd: ctx.stdin.fd) }
        defer { raw?.restore() }
        if sendStdin { startInput() }
        Thread.detachNewThread { [self] in
            let demux = DemuxBox()
            var err: (any Error)?
            do {
                try conn.readBytes { [self] bytes in
                    if tty {
                        if wantStdout { ctx.out.write(bytes); ctx.out.flush() }
                        return
                    }
                    for (s, payload) in demux.feed(bytes) {
                        switch s {
                        case .stdout, .stdin:
                            if wantStdout { ctx.out.write(payload); ctx.out.flush() }
                        case .stderr:
                            if wantStderr { ctx.err.write(payload) }
                        case .systemErr:
                            ctx.err.writeLine("error from daemon in stream: " + String(decoding: payload, as: UTF8.self))
                        }
                    }
                }
            } catch { err = error }
            state.lock()
            outputDone = true
            outputError = err
            state.broadcast()
            state.unlock()
        }
        state.lock()
        while !outputDone && !detached { state.wait() }
        let d = detached
        let e = outputError
        state.unlock()
        ctx.out.flush()
        if d {
            raw?.restore()
            conn.close()
            return .detached
        }
        if let e { throw e }
        return .finished
    }

    private func startInput() {
        let fd = ctx.stdin.fd
        let preset = ctx.stdin.fd < 0 ? ctx.stdin.readAll() : nil
        Thread.detachNewThread { [self] in
            var proxy = EscapeProxy(keys: tty ? detachKeys : [])
            if let preset {
                if !preset.isEmpty { try? conn.write(preset) }
            } else {
                var buf = [UInt8](repeating: 0, count: 32768)
                loop: while true {
                    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 32768) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    let (fwd, det) = proxy.filter(buf[0..<n])
                    if !fwd.isEmpty {
                        do { try conn.write(fwd) } catch { break loop }
                    }
                    if det {
                        state.lock()
                        detached = true
                        state.broadcast()
                        state.unlock()
                        return
                    }
                }
            }
            conn.closeWrite()
            state.lock()
            inputDone = true
            state.unlock()
        }
    }
}

/// Keeps the container's TTY size in step with ours: once now, then on every SIGWINCH.
final class TTYSizeMonitor: @unchecked Sendable {
    var source: DispatchSourceSignal?

    init(fd: Int32, resize: @escaping @Sendable (Int, Int) -> Void) {
        if let (h, w) = terminalSize(fd) { resize(h, w) }
        signal(SIGWINCH, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: SIGWINCH, queue: .global())
        s.setEventHandler {
            if let (h, w) = terminalSize(fd) { resize(h, w) }
        }
        s.resume()
        source = s
    }

    func stop() {
        source?.cancel()
        signal(SIGWINCH, SIG_DFL)
    }
}

/// Forwards SIGINT/SIGTERM/… to the container (docker's `--sig-proxy`, without a TTY).
final class SignalProxy: @unchecked Sendable {
    var sources: [DispatchSourceSignal] = []
    static let signals: [(Int32, String)] = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM"), (SIGHUP, "SIGHUP"), (SIGQUIT, "SIGQUIT"),
                                            (SIGUSR1, "SIGUSR1"), (SIGUSR2, "SIGUSR2")]

    init(forward: @escaping @Sendable (String) -> Void) {
        for (sig, name) in SignalProxy.signals {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { forward(name) }
            s.resume()
            sources.append(s)
        }
    }

    func stop() {
        for s in sources { s.cancel() }
        for (sig, _) in SignalProxy.signals { signal(sig, SIG_DFL) }
    }
}
