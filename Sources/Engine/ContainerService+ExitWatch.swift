#if canImport(Glibc)
import Glibc
#endif
import CBerthShim
import Dispatch
import Foundation

/// Calls back once a process has exited, through a pidfd: no polling. Each watch is a
/// `DispatchSourceRead` on the pidfd (readable when the process exits); libdispatch multiplexes them
/// all on its one epoll thread, so a watched container costs one fd and a small source object.
final class ExitWatcher: @unchecked Sendable {
    /// One watch: the source, and identity for "is this still the current watch of its key".
    private final class Watch: @unchecked Sendable {
        let source: DispatchSourceRead
        init(_ source: DispatchSourceRead) { self.source = source }
    }

    private let queue = DispatchQueue(label: "berth.exit-watcher")
    private let lock = NSLock()
    private var watches: [String: Watch] = [:]

    /// Watches `pid` under `key` (replacing an earlier watch of that key): `onExit` runs once, after
    /// the process has exited. False when it cannot be watched — gone already, not the expected
    /// process (`verify`, checked after the pidfd pins it, so a reused pid is not mistaken for it),
    /// or no fd — and then the caller looks for the outcome itself.
    func watch(_ key: String, pid: Int32, verify: (Int32) -> Bool, onExit: @escaping @Sendable () -> Void) -> Bool {
        guard pid > 0 else { return false }
        let fd = berth_pidfd_open(pid)
        guard fd >= 0 else { return false }
        guard verify(pid) else {
            close(fd)
            return false
        }
        let w = Watch(DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue))
        w.source.setEventHandler { [weak self, weak w] in
            guard let w, !w.source.isCancelled else { return }
            w.source.cancel()
            self?.forget(key, w)
            onExit()
        }
        w.source.setCancelHandler { close(fd) }
        lock.lock()
        let old = watches.updateValue(w, forKey: key)
        lock.unlock()
        old?.source.cancel()
        w.source.resume()
        return true
    }

    /// Stops watching `key` (no callback).
    func cancel(_ key: String) {
        lock.lock()
        let w = watches.removeValue(forKey: key)
        lock.unlock()
        w?.source.cancel()
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return watches.count
    }

    private func forget(_ key: String, _ w: Watch) {
        lock.lock()
        if let cur = watches[key], cur === w { watches.removeValue(forKey: key) }
        lock.unlock()
    }
}

extension ContainerService {
    // MARK: - Exit notification

    /// Watches the container's monitor: it writes the exit file and then exits, so its exit (a pidfd
    /// event) means "read the exit file now". If the monitor cannot be watched it has exited
    /// already (or is not ours), which `checkExit` sorts out; polling is only the fallback for a
    /// monitor that is alive but cannot get a pidfd (fd limit).
    func watch(_ id: String) async {
        watchers.removeValue(forKey: id)?.cancel()
        let dir = monitorDir(id)
        if let mp = containers[id]?.MonitorPid,
           exitWatcher.watch(id, pid: mp, verify: { ContainerSystem.isMonitor($0, execDir: dir) }, onExit: { [weak self] in
               Task { await self?.monitorExited(id) }
           }) {
            return
        }
        if await checkExit(id) { return }
        pollExit(id)
    }

    /// The monitor of `id` has exited. A stale event (the container was restarted meanwhile) finds
    /// a running process with a live monitor and changes nothing.
    func monitorExited(_ id: String) async {
        await checkExit(id)
    }

    /// Fallback: polls the monitor's exit file.
    func pollExit(_ id: String) {
        watchers[id]?.cancel()
        watchers[id] = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 100_000_000)
                guard let self else { return }
                if await self.checkExit(id) { return }
            }
        }
    }

    /// Stops watching (exit handled, or container removed).
    func unwatch(_ id: String) {
        watchers.removeValue(forKey: id)?.cancel()
        exitWatcher.cancel(id)
    }

    /// Waits until the container is not running (or the timeout); true if it exited. Woken by
    /// `handleExit`/`destroy` (`resumeExitWaits`), not by polling.
    func waitExit(_ id: String, timeoutSeconds: Double) async -> Bool {
        guard containers[id]?.State.Running == true else { return true }
        if await checkExit(id) { return true }
        nextExitWaitToken &+= 1
        let token = nextExitWaitToken
        let nanos = UInt64(max(0, min(timeoutSeconds, 1e7)) * 1e9)
        let timer = Task { [weak self] in
            try? await Task.sleep(nanoseconds: nanos)
            guard !Task.isCancelled else { return }
            await self?.resumeExitWait(id, token: token)
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            exitWaits[id, default: []].append((token, c))
        }
        timer.cancel()
        return containers[id]?.State.Running != true
    }

    func resumeExitWait(_ id: String, token: UInt64) {
        guard var list = exitWaits[id], let i = list.firstIndex(where: { $0.0 == token }) else { return }
        let c = list.remove(at: i).1
        exitWaits[id] = list.isEmpty ? nil : list
        c.resume()
    }

    func resumeExitWaits(_ id: String) {
        for (_, c) in exitWaits.removeValue(forKey: id) ?? [] { c.resume() }
    }

    // MARK: - Exec exits

    /// An exec's monitor has exited: normally its exit file is there; if it was killed without
    /// writing one, the exec is over as far as we can know (exit code 137, like a lost container).
    func execMonitorExited(_ execID: String) async {
        if await checkExecExit(execID) { return }
        guard let e = execs[execID], e.running else { return }
        execs[execID]?.running = false
        execs[execID]?.exitCode = 137
        try? CFS.removeTree(execDir(execID))
        if let c = containers[e.containerID] {
            await publish("exec_die", c, extra: ["execID": execID, "exitCode": "137"])
        }
    }

    /// Watches an exec's monitor; polling only as the fallback.
    func watchExec(_ execID: String, monitorPid: Int32?) {
        let dir = execDir(execID)
        if let mp = monitorPid,
           exitWatcher.watch("exec:" + execID, pid: mp, verify: { ContainerSystem.isMonitor($0, execDir: dir) }, onExit: { [weak self] in
               Task { await self?.execMonitorExited(execID) }
           }) {
            return
        }
        Task { [weak self] in
            while true {
                guard let self else { return }
                if await self.checkExecExit(execID) { return }
                try? await Task.sleep(nanoseconds: 100_000_000)
            }
        }
    }
}
