import Foundation
import OCI

/// The daemon's pidfile. Held locked (`flock`) for the daemon's lifetime so a second berthd with the same
/// pidfile refuses to start; a stale file left by a killed daemon is simply taken over.
public final class PIDFile: Sendable {
    public let path: String
    private let fd: CInt

    private init(path: String, fd: CInt) {
        self.path = path
        self.fd = fd
    }

    /// Creates and locks `path`, writing our pid. Fails with dockerd's wording if another live daemon
    /// holds it.
    public static func acquire(_ path: String) throws -> PIDFile {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o755])
            } catch {
                throw BerthError(.internalError, "failed to create pidfile directory: \(error.localizedDescription)")
            }
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure(path, "open \(path): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let other = readPID(fd)
            close(fd)
            throw failure(path, other.map { "process with PID \($0) is still running" } ?? "pid file is locked by another process")
        }
        // A daemon that did not lock (older, or another tool) but is alive and is a berthd.
        if let other = readPID(fd), other != getpid(), kill(other, 0) == 0, processName(other) == "berthd" {
            close(fd)
            throw failure(path, "process with PID \(other) is still running")
        }
        let text = Array(String(getpid()).utf8)
        guard ftruncate(fd, 0) == 0, pwrite(fd, text, text.count, 0) == text.count else {
            let err = String(cString: strerror(errno))
            close(fd)
            throw failure(path, "write \(path): \(err)")
        }
        return PIDFile(path: path, fd: fd)
    }

    /// Removes the file and releases the lock.
    public func remove() {
        unlink(path)
        close(fd)
    }

    private static func failure(_ path: String, _ why: String) -> BerthError {
        BerthError(.conflict, "failed to start daemon, ensure berthd is not running or delete \(path): \(why)")
    }

    private static func readPID(_ fd: CInt) -> pid_t? {
        var buf = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buf, buf.count, 0)
        guard n > 0 else { return nil }
        return pid_t(String(decoding: buf[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private static func processName(_ pid: pid_t) -> String? {
        (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
