import Foundation
#if canImport(Glibc)
import Glibc
#endif

// Servers the tests start (docker-registry, the Python helpers, a test berthd) must not outlive the
// test process. Explicit `stop()` covers the normal path, but not a test process that crashes, is
// killed by a timeout or by ^C, or exits while a test is still running: those children used to
// linger, holding ports and temp dirs. So every long-lived child is started with
// PR_SET_PDEATHSIG=SIGKILL, and the kernel kills it when its parent goes away, however that happens.
//
// Two details make this work:
// - Foundation's Process has no hook to run code in the child, so the prctl is done by
//   `setpriv --pdeathsig KILL -- CMD` (util-linux, Essential on Debian), which then execs CMD in
//   place: the pid stays the one Process reports, and the command line is CMD's own.
// - The "parent" for PR_SET_PDEATHSIG is the *thread* that forked, not the process. Process.run()
//   spawns from the calling thread, and the threads Swift concurrency and Dispatch run tests on exit
//   after a few idle seconds, which would SIGKILL a registry in the middle of a test. So all spawns
//   happen on one dedicated thread that never returns: it ends only with the test process.

/// The tie-to-the-test-process wrapper; without it children are started plainly and rely on `stop()`.
private let setprivPath = "/usr/bin/setpriv"

/// A thread that lives as long as the test process and performs every tied spawn (see above for why
/// the spawning thread matters).
private final class SpawnerThread: @unchecked Sendable {
    static let shared = SpawnerThread()

    private let condition = NSCondition()
    private var jobs: [() -> Void] = []  // guarded by `condition`

    private init() {
        let thread = Thread { [self] in serve() }
        thread.name = "test-spawner"
        thread.start()
    }

    /// Never returns: if this thread ended, the kernel would kill every child it started.
    private func serve() -> Never {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }

    /// Runs `body` on the spawner thread and waits for it (a spawn takes about a millisecond, so
    /// blocking the caller, even a cooperative-pool thread, is harmless).
    func sync<T>(_ body: @escaping () throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        var result: Result<T, Error>?
        condition.lock()
        jobs.append {
            result = Result { try body() }
            done.signal()
        }
        condition.signal()
        condition.unlock()
        done.wait()  // orders the write of `result` before the read below
        return try result!.get()
    }
}

extension Process {
    /// Starts the process so that the kernel SIGKILLs it when the test process ends, for whatever
    /// reason (normal exit, crash, timeout kill). Use instead of `run()` for servers and daemons.
    ///
    /// The executable is run through `setpriv --pdeathsig KILL --`, which execs it in place:
    /// `processIdentifier`, signals and `terminationStatus` all refer to the real command. `arguments`
    /// is rewritten to carry the wrapper's arguments in front of the command's own.
    public func runTiedToTestProcess() throws {
        if FileManager.default.isExecutableFile(atPath: setprivPath), let exe = executableURL?.path {
            executableURL = URL(fileURLWithPath: setprivPath)
            arguments = ["--pdeathsig", "KILL", "--", exe] + (arguments ?? [])
        }
        try SpawnerThread.shared.sync { try self.run() }
    }
}

/// A child process the test started; stopped by its pid.
public final class ChildProcess: @unchecked Sendable {
    /// The underlying Foundation process (already running).
    public let process: Process

    /// Wraps a process that has been started.
    public init(_ p: Process) { process = p }

    /// Starts `process` tied to the test process (`Process.runTiedToTestProcess`) and wraps it.
    public static func start(_ process: Process) throws -> ChildProcess {
        try process.runTiedToTestProcess()
        return ChildProcess(process)
    }

    /// The child's pid (the real command's: the setpriv wrapper execs it in place).
    public var pid: Int32 { process.processIdentifier }

    /// Sends `signal`, waits up to 5 s, then SIGKILLs, and reaps the child. SIGKILL suits helpers
    /// holding no state; signals may be blocked in children of the test runner, hence the fallback.
    public func stop(signal: Int32 = SIGTERM) {
        guard process.isRunning else { return }
        kill(pid, signal)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }
}
