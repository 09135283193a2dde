#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import Engine

/// The small pieces of the container life cycle's fast path: exit watching by pidfd, the monitor
/// check after a restart, the state-file writer, the hand-rolled timestamp parser.
struct ContainerLifecycleSupportTests {
    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2026-11-29T03:12:26.181382000Z", Int64(1_795_921_946)),
        ("2000-02-29T23:59:59.999999999Z", Int64(951_868_799)),
        ("0001-01-01T00:00:00Z", Int64(-62_135_596_800)),
        ("2024-12-31T12:00:00Z", Int64(1_735_646_400)),
        ("", Int64(0)),
        ("not a time at all!!", Int64(0)),
        ("2024-13-01T00:00:00Z", Int64(0)),
    ])
    func unixSeconds(_ stamp: String, _ expected: Int64) {
        #expect(ContainerService.unixSeconds(stamp) == expected)
    }

    @Test func unixSecondsMatchesFoundation() {
        let f = ISO8601DateFormatter()
        for t in stride(from: Int64(-2_000_000_000), to: 4_000_000_000, by: 86_399 * 37) {
            let stamp = f.string(from: Date(timeIntervalSince1970: TimeInterval(t)))
            #expect(ContainerService.unixSeconds(stamp) == t, "\(stamp)")
        }
    }

    /// posix_spawn of `/bin/sh -c SCRIPT` (stdout to /dev/null); the pid.
    static func spawn(_ script: String) -> pid_t {
        let fd = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(fd) }
        let (rc, pid) = ContainerSystem.spawn(["/bin/sh", "-c", script], stdout: fd, stderr: nil)
        #expect(rc == 0)
        return pid
    }

    static func reap(_ pid: pid_t) {
        var st: Int32 = 0
        while waitpid(pid, &st, 0) < 0 && errno == EINTR {}
    }

    @Test func exitWatcherFiresOnceAfterExit() async throws {
        let w = ExitWatcher()
        let pid = Self.spawn("sleep 0.2")
        let start = Date()
        let fired = ManagedAtomicCounter()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let ok = w.watch("a", pid: pid, verify: { _ in true }) {
                fired.increment()
                c.resume()
            }
            #expect(ok)
        }
        let took = Date().timeIntervalSince(start)
        // Not before the exit; the upper bound is loose because the whole suite runs in parallel on 2 cores.
        #expect(took >= 0.15 && took < 60)
        try await Task.sleep(nanoseconds: 100_000_000)
        #expect(fired.value == 1)
        #expect(w.count == 0)
        Self.reap(pid)
    }

    @Test func exitWatcherRefusesGoneAndUnverified() {
        let w = ExitWatcher()
        let pid = Self.spawn("exit 0")
        Self.reap(pid)
        #expect(!w.watch("gone", pid: pid, verify: { _ in true }) {})
        let live = Self.spawn("sleep 5")
        #expect(!w.watch("other", pid: live, verify: { _ in false }) {})
        #expect(w.watch("live", pid: live, verify: { _ in true }) { Issue.record("cancelled watch fired") })
        w.cancel("live")
        #expect(w.count == 0)
        kill(live, SIGKILL)
        Self.reap(live)
    }

    @Test func isMonitorNeedsTheExecDirArgument() {
        // `sh -c SCRIPT NAME ARGS...`: the process' argv carries `--exec-dir DIR` as a monitor's does.
        let fd = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(fd) }
        let (rc, p) = ContainerSystem.spawn(["/bin/sh", "-c", "sleep 5; :", "berth-monitor", "--exec-dir", "/x/m/abc"],
                                            stdout: fd, stderr: nil)
        #expect(rc == 0)
        // Right after posix_spawn the child may not have exec'd yet (its cmdline is still ours): wait for it.
        var seen = false
        for _ in 0..<500 where !seen {
            seen = ContainerSystem.isMonitor(p, execDir: "/x/m/abc")
            if !seen { usleep(10_000) }
        }
        #expect(seen)
        #expect(!ContainerSystem.isMonitor(p, execDir: "/x/m/ab"))
        #expect(!ContainerSystem.isMonitor(p, execDir: "/x/m/abcd"))
        #expect(!ContainerSystem.isMonitor(getpid(), execDir: "/x/m/abc"))
        kill(p, SIGKILL)
        Self.reap(p)
        #expect(!ContainerSystem.isMonitor(p, execDir: "/x/m/abc"))
    }

    @Test func writeAtomicallyReplacesAndLeavesNoTemp() throws {
        let dir = NSTemporaryDirectory() + "berth-cfs-\(UUID().uuidString)"
        try CFS.mkdirAll(dir)
        defer { try? CFS.removeTree(dir) }
        let path = dir + "/state.json"
        try CFS.writeAtomically(path, Array("{\"a\":1}".utf8))
        try CFS.writeAtomically(path, Array("{}".utf8))
        #expect(FileManager.default.contents(atPath: path) == Data("{}".utf8))
        try CFS.writeAtomically(dir + "/empty", [])
        #expect(FileManager.default.contents(atPath: dir + "/empty") == Data())
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["empty", "state.json"])
        #expect(throws: (any Error).self) { try CFS.writeAtomically(dir + "/no/such/dir/x", [1]) }
    }

    @Test func unmountOfAPlainDirectoryIsANoOp() throws {
        let dir = NSTemporaryDirectory() + "berth-um-\(UUID().uuidString)"
        try CFS.mkdirAll(dir)
        defer { try? CFS.removeTree(dir) }
        #expect(!ContainerSystem.hasOwnDevice(dir))
        ContainerSystem.unmount(dir)
        ContainerSystem.unmount(dir + "/missing")
        #expect(FileManager.default.fileExists(atPath: dir))
        #expect(ContainerSystem.hasOwnDevice("/proc"))
    }
}

/// A counter shared with a callback.
final class ManagedAtomicCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}

struct ContainerStampAndIDTests {
    @Test(arguments: [
        (Int64(0), Int32(0), "1970-01-01T00:00:00.000000000Z"),
        (Int64(1_795_921_946), Int32(181_382_000), "2026-11-29T03:12:26.181382000Z"),
        (Int64(951_868_799), Int32(999_999_999), "2000-02-29T23:59:59.999999999Z"),
        (Int64(253_402_300_799), Int32(5), "9999-12-31T23:59:59.000000005Z"),
    ])
    func formatNanos(_ secs: Int64, _ nanos: Int32, _ expected: String) {
        #expect(ContainerSystem.formatNanos(secs, nanos) == expected)
        #expect(ContainerService.unixSeconds(expected) == secs)
    }

    @Test func newIDIsSixtyFourLowercaseHex() {
        for _ in 0..<200 {
            let id = ContainerNames.newID()
            #expect(id.utf8.count == 64)
            #expect(id.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
            #expect(Int(id.prefix(12)) == nil)
        }
    }
}
