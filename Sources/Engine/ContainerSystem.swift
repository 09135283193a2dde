#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import OCI
import Storage

/// The host side of containers: spawning the monitor and the runtime (posix_spawn, never fork),
/// overlay mounts, the monitor's attach socket. Blocking calls run on GCD threads, not on the
/// Swift concurrency pool.
enum ContainerSystem {
    struct Output: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a blocking body off the cooperative pool.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { cont in
            DispatchQueue.global().async { cont.resume(returning: body()) }
        }
    }

    /// posix_spawn `argv` with stdin /dev/null, stdout and stderr captured; waits for exit.
    /// stdout is read to EOF (the monitor's P2 keeps it open until it has reported).
    static func run(_ argv: [String]) async -> Output {
        await blocking { runSync(argv) }
    }

    /// A process spawned right away (posix_spawn on the calling thread: no hop to another thread
    /// before it starts), its output collected by `finish`.
    final class Spawned: Sendable {
        let pid: pid_t
        let out: Int32, err: Int32

        init?(_ argv: [String]) {
            var o: [Int32] = [-1, -1], e: [Int32] = [-1, -1]
            let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
            guard socketpair(AF_UNIX, kind, 0, &o) == 0 else { return nil }
            guard socketpair(AF_UNIX, kind, 0, &e) == 0 else { close(o[0]); close(o[1]); return nil }
            let (rc, pid) = ContainerSystem.spawn(argv, stdout: o[1], stderr: e[1])
            close(o[1])
            close(e[1])
            guard rc == 0 else { close(o[0]); close(e[0]); return nil }
            self.pid = pid
            self.out = o[0]
            self.err = e[0]
        }

        /// Reads its output to EOF and reaps it (off the cooperative pool); call exactly once.
        func finish() async -> Output {
            let (pid, out, err) = (self.pid, self.out, self.err)
            return await ContainerSystem.blocking {
                let errBox = ResultBox()
                let group = DispatchGroup()
                group.enter()
                DispatchQueue.global().async {
                    errBox.bytes = readAll(err)
                    group.leave()
                }
                let stdout = readAll(out)
                group.wait()
                close(out)
                close(err)
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                return Output(status: code, stdout: String(decoding: stdout, as: UTF8.self),
                              stderr: String(decoding: errBox.bytes, as: UTF8.self))
            }
        }
    }

    /// A spawned process with its stdout readable line by line (for the monitor's sync messages
    /// with `--attach-wait`); stderr goes to /dev/null.
    final class LineProcess: @unchecked Sendable {
        let pid: pid_t
        let fd: Int32
        private var buffer: [UInt8] = []

        init?(_ argv: [String]) {
            var pair: [Int32] = [-1, -1]
            let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
            guard socketpair(AF_UNIX, kind, 0, &pair) == 0 else { return nil }
            let (rc, pid) = ContainerSystem.spawn(argv, stdout: pair[1], stderr: nil)
            close(pair[1])
            if rc != 0 { close(pair[0]); return nil }
            self.pid = pid
            self.fd = pair[0]
        }

        /// Guards `closed`: the gate is written from the caller's thread while another thread reads
        /// the lines and may close the descriptor (a monitor that failed early), and a closed
        /// descriptor's number can belong to someone else's socket a moment later.
        private let fdLock = NSLock()
        private var closed = false

        /// Writes `g` on the channel: a `--start-gate` monitor goes on.
        func openGate() {
            fdLock.withLock {
                guard !closed else { return }
                var g: UInt8 = UInt8(ascii: "g")
                _ = send(fd, &g, 1, Int32(MSG_NOSIGNAL))
            }
        }

        /// Ends our side of the channel: a `--start-gate` monitor cleans up and reports an error.
        func closeGate() {
            fdLock.withLock {
                if !closed { _ = shutdown(fd, Int32(SHUT_WR)) }
            }
        }

        /// The next line (without `\n`); nil at EOF.
        func readLine() -> String? {
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                if let nl = buffer.firstIndex(of: 0x0A) {
                    let line = String(decoding: buffer[..<nl], as: UTF8.self)
                    buffer.removeSubrange(...nl)
                    return line
                }
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4096) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    if buffer.isEmpty { return nil }
                    let line = String(decoding: buffer, as: UTF8.self)
                    buffer = []
                    return line
                }
                buffer += chunk[0..<n]
            }
        }

        /// Reads to EOF, closes, reaps; the exit status.
        func finish() -> Int32 {
            while readLine() != nil {}
            fdLock.withLock {
                close(fd)
                closed = true
            }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        }
    }

    /// posix_spawn (never fork) with stdin from /dev/null, the given stdout and stderr (nil: /dev/null),
    /// an empty signal mask and default dispositions for the signals the daemon handles.
    static func spawn(_ argv: [String], stdout: Int32, stderr: Int32?) -> (rc: Int32, pid: pid_t) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        if let stderr {
            posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attr, &mask)
        var def = sigset_t()
        sigemptyset(&def)
        for s in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD] { sigaddset(&def, s) }
        posix_spawnattr_setsigdefault(&attr, &def)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let cargs = argv.map { strdup($0) } + [nil]
        defer { for p in cargs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, argv[0], &actions, &attr, cargs, environ)
        return (rc, pid)
    }

    static func runSync(_ argv: [String]) -> Output {
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        // Socket pairs: created close-on-exec atomically (pipe2 is not visible from Swift).
        let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, kind, 0, &outPipe) == 0, socketpair(AF_UNIX, kind, 0, &errPipe) == 0 else {
            return Output(status: -1, stdout: "", stderr: "pipe: \(String(cString: strerror(errno)))")
        }
        let (rc, pid) = spawn(argv, stdout: outPipe[1], stderr: errPipe[1])
        close(outPipe[1])
        close(errPipe[1])
        if rc != 0 {
            close(outPipe[0])
            close(errPipe[0])
            return Output(status: -1, stdout: "", stderr: "exec \(argv[0]): \(String(cString: strerror(rc)))")
        }
        // Read both pipes (stderr on a helper thread so neither can fill up).
        let errBox = ResultBox()
        let errFD = errPipe[0]
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errBox.bytes = readAll(errFD)
            group.leave()
        }
        let out = readAll(outPipe[0])
        group.wait()
        close(outPipe[0])
        close(errFD)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Output(status: code, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: errBox.bytes, as: UTF8.self))
    }

    final class ResultBox: @unchecked Sendable { var bytes: [UInt8] = [] }

    static func readAll(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
            if n > 0 { out += buf[0..<n] } else if n < 0 && errno == EINTR { continue } else { break }
        }
        return out
    }

    // MARK: - Mounts

    /// `volatile`: for an upper dir that is deleted after one run (`--rm`): no sync of the upper file
    /// system at unmount (see `OverlayMount.mount`).
    static func mountOverlay(lower: [String], upper: String, work: String, target: String, volatile: Bool = false) throws {
        if hasOwnDevice(target) { return }
        // Lower dirs go through short links in `<layer dir>/l` (OverlayMount): any number of layers fits.
        let linkDir = (upper as NSString).deletingLastPathComponent + "/l"
        try OverlayMount.mount(lowers: lower, upper: upper, work: work, target: target, linkDir: linkDir, volatile: volatile)
    }

    /// Unmounts everything stacked on `target`. `umount2` itself says when nothing is left
    /// (EINVAL: not a mount point), so no scan of /proc/self/mountinfo, which is long on a busy host.
    static func unmount(_ target: String) {
        for _ in 0..<10 {
            if umount2(target, 0) == 0 { continue }
            switch errno {
            case EINTR: continue
            case EBUSY: if umount2(target, Int32(MNT_DETACH)) != 0 { return }
            default: return  // EINVAL (not mounted), ENOENT
            }
        }
    }

    /// Removes a pinned network namespace (`berth-monitor --netns`): normally its monitor did at the
    /// exit; this covers a monitor that was killed. Two syscalls when there is nothing to do.
    static func removeNetns(_ path: String) {
        umount2(path, Int32(MNT_DETACH))
        unlink(path)
    }

    /// Whether `path` is on another device than its parent directory: true for an overlay (or any
    /// other file system) mounted there. A stat of two paths instead of reading mountinfo.
    static func hasOwnDevice(_ path: String) -> Bool {
        var a = stat(), b = stat()
        guard stat(path, &a) == 0, stat(path + "/..", &b) == 0 else { return false }
        return a.st_dev != b.st_dev
    }

    /// Whether `path` is a mount point (listed in /proc/self/mountinfo).
    static func isMountPoint(_ path: String) -> Bool {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return false }
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count > 4, unescapeMountinfo(String(f[4])) == path { return true }
        }
        return false
    }

    static func unescapeMountinfo(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = [UInt8]()
        let u = Array(s.utf8)
        var i = 0
        while i < u.count {
            if u[i] == 92, i + 3 < u.count, let v = UInt8(String(decoding: u[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(u[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - Attach socket

    /// Connects to the monitor's `SOCK_SEQPACKET` attach socket; -1 on failure.
    static func connectAttach(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { return -1 }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { close(fd); return -1 }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 { close(fd); return -1 }
        var size: Int32 = 512 * 1024
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(4))
        return fd
    }

    /// One packet from the attach socket: (stream id, payload); nil at EOF/error.
    static func recvPacket(_ fd: Int32) -> (UInt8, [UInt8])? {
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            return (buf[0], Array(buf[1..<n]))
        }
    }

    static func sendPacket(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        repeat {
            let len = min(32768, bytes.count - off)
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + off, len, Int32(MSG_NOSIGNAL)) }
            if n < 0 { if errno == EINTR { continue }; return false }
            off += len
        } while off < bytes.count
        return true
    }

    /// Writes one line to the monitor's control FIFO; false when the monitor is gone.
    static func writeControl(_ path: String, _ line: String) -> Bool {
        let fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { return false }
        defer { close(fd) }
        let b = Array(line.utf8)
        return b.withUnsafeBytes { write(fd, $0.baseAddress, b.count) } == b.count
    }

    static func processAlive(_ pid: Int32) -> Bool {
        pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)
    }

    /// Whether `pid` is a live berth-monitor for `execDir` (its command line has `--exec-dir DIR`):
    /// a monitor pid saved before a berthd restart may since have been reused by another process.
    static func isMonitor(_ pid: Int32, execDir: String) -> Bool {
        guard pid > 0 else { return false }
        let fd = open("/proc/\(pid)/cmdline", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let args = readAll(fd).split(separator: 0, omittingEmptySubsequences: false)
        let dir = Array(execDir.utf8)
        guard args.count > 1 else { return false }
        for i in 0..<(args.count - 1) where args[i].elementsEqual("--exec-dir".utf8) && args[i + 1].elementsEqual(dir) {
            return true
        }
        return false
    }

    /// A non-empty environment variable. `getenv`, not `ProcessInfo.environment`, which builds a
    /// dictionary of the whole environment on every call (several times per container start).
    static func env(_ name: String) -> String? {
        guard let v = getenv(name), v.pointee != 0 else { return nil }
        return String(cString: v)
    }

    /// The directory of the running executable (`/proc/self/exe`).
    static func executableDirectory() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, 4095)
        guard n > 0 else { return "." }
        let path = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (path as NSString).deletingLastPathComponent
    }

    static func nowStamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return formatNanos(Int64(ts.tv_sec), Int32(ts.tv_nsec))
    }

    static func formatNanos(_ secs: Int64, _ nanos: Int32) -> String {
        var t = time_t(secs)
        var tm = tm()
        gmtime_r(&t, &tm)
        // By hand: String(format:) goes through CoreFoundation's formatter (a few µs per field).
        var out: [UInt8] = []
        out.reserveCapacity(30)
        func put(_ v: Int, _ width: Int) {
            var digits = [UInt8](repeating: 0x30, count: width)
            var x = max(0, v)
            for i in stride(from: width - 1, through: 0, by: -1) { digits[i] = UInt8(0x30 + x % 10); x /= 10 }
            out += digits
        }
        put(Int(tm.tm_year) + 1900, 4); out.append(0x2D); put(Int(tm.tm_mon) + 1, 2); out.append(0x2D)
        put(Int(tm.tm_mday), 2); out.append(0x54); put(Int(tm.tm_hour), 2); out.append(0x3A)
        put(Int(tm.tm_min), 2); out.append(0x3A); put(Int(tm.tm_sec), 2); out.append(0x2E)
        put(Int(nanos), 9); out.append(0x5A)
        return String(decoding: out, as: UTF8.self)
    }
}
