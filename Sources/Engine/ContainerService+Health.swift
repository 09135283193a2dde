#if canImport(Glibc)
import Glibc
#endif
import APIModels
import Foundation
import OCI

/// The running health monitor of one container (a task owned by `ContainerService`).
struct HealthMonitorHandle: Sendable {
    var token: UInt64
    var task: Task<Void, Never>
}

extension ContainerService {
    /// Starts probing (container start, unpause, berthd restore). `fresh` (a start) resets the status
    /// to `starting` and the failing streak, keeping the log — as dockerd's `initHealthMonitor`;
    /// otherwise the stored status is kept (`updateHealthMonitor`).
    func startHealth(_ id: String, fresh: Bool) {
        healthMonitors.removeValue(forKey: id)?.task.cancel()
        guard var r = containers[id], r.State.Running, !r.State.Paused,
              let settings = HealthSettings(r.Config.Healthcheck) else { return }
        if fresh || r.State.Health == nil {
            var h = r.State.Health ?? ContainerHealth()
            h.Status = "starting"
            h.FailingStreak = 0
            r.State.Health = h
            update(r)
        }
        healthSerial &+= 1
        let token = healthSerial
        let task = Task { [weak self] in
            guard let self else { return }
            await self.healthLoop(id, token: token, settings: settings)
        }
        healthMonitors[id] = HealthMonitorHandle(token: token, task: task)
    }

    /// Stops probing (exit, pause). As dockerd, a stopped monitor leaves the status `unhealthy`.
    func stopHealth(_ id: String, state: inout ContainerState) {
        guard let m = healthMonitors.removeValue(forKey: id) else { return }
        m.task.cancel()
        state.Health?.Status = "unhealthy"
    }

    private func healthLoop(_ id: String, token: UInt64, settings s: HealthSettings) async {
        while !Task.isCancelled {
            guard let r = containers[id], r.State.Running else { return }
            let started = HealthMachine.epoch(r.State.StartedAt)
            let wait = HealthMachine.nextInterval(s, status: r.State.Health?.Status ?? "starting",
                                                  sinceStart: Date().timeIntervalSince1970 - started)
            try? await Task.sleep(nanoseconds: UInt64(max(wait, 0.001) * 1e9))
            if Task.isCancelled || healthMonitors[id]?.token != token { return }
            guard let probe = await runProbe(id, settings: s) else { continue }
            let (result, at) = probe
            guard healthMonitors[id]?.token == token, var cur = containers[id], cur.State.Running,
                  let h = cur.State.Health else { return }
            let next = HealthMachine.record(h, result: result, retries: s.retries, startPeriod: s.startPeriod,
                                            sinceStart: at - HealthMachine.epoch(cur.State.StartedAt))
            cur.State.Health = next
            update(cur)
            if next.Status != h.Status { await publish("health_status: " + next.Status, cur) }
        }
    }

    /// One probe: an exec in the container (events `exec_create`/`exec_start`/`exec_die` as any
    /// exec), output read from its attach socket, SIGKILL on timeout. nil when the container is gone.
    private func runProbe(_ id: String, settings s: HealthSettings) async -> (HealthcheckResult, Double)? {
        guard let r = containers[id], r.State.Running, !r.State.Paused else { return nil }
        let startEpoch = Date().timeIntervalSince1970
        let start = Self.goStamp(ContainerSystem.nowStamp())
        func failed(_ text: String) -> (HealthcheckResult, Double) {
            (HealthcheckResult(Start: start, End: Self.goStamp(ContainerSystem.nowStamp()), ExitCode: -1, Output: text), startEpoch)
        }
        var body = ExecCreateBody()
        body.AttachStdout = true
        body.AttachStderr = true
        body.Cmd = s.command(shell: r.Config.Shell)
        let execID: String
        do { execID = try await execCreate(id, body: body) } catch { return failed(Self.message(error)) }
        defer { execs.removeValue(forKey: execID) }
        let fd: Int32
        do { fd = try await execStart(execID, attach: true, consoleSize: nil) } catch { return failed(Self.message(error)) }
        let ctl = execDir(execID) + "/ctl"
        let timeout = s.timeout
        let (output, timedOut) = await ContainerSystem.blocking { HealthProbeIO.collect(fd: fd, timeout: timeout, ctl: ctl) }
        var code = -1
        for _ in 0..<100 {
            if await checkExecExit(execID) { code = execs[execID]?.exitCode ?? -1; break }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        let text = String(decoding: output, as: UTF8.self)
        let end = Self.goStamp(ContainerSystem.nowStamp())
        if timedOut {
            let d = HealthMachine.goDuration(Int64((timeout * 1e9).rounded()))
            let msg = "Health check exceeded timeout (\(d))" + (text.isEmpty ? "" : ": " + text)
            return (HealthcheckResult(Start: start, End: end, ExitCode: -1, Output: msg), startEpoch)
        }
        return (HealthcheckResult(Start: start, End: end, ExitCode: code, Output: text), startEpoch)
    }

    static func message(_ error: any Error) -> String { (error as? BerthError)?.message ?? "\(error)" }

    /// Go's RFC3339Nano: trailing zeros of the fraction dropped.
    static func goStamp(_ s: String) -> String {
        guard s.hasSuffix("Z"), let dot = s.firstIndex(of: ".") else { return s }
        var frac = s[s.index(after: dot)..<s.index(before: s.endIndex)]
        while frac.hasSuffix("0") { frac = frac.dropLast() }
        return String(s[..<dot]) + (frac.isEmpty ? "" : "." + frac) + "Z"
    }
}

/// Blocking reads of a probe's attach socket (off the actor).
enum HealthProbeIO {
    /// Reads stdout and stderr packets until EOF (the exec exited), keeping the first
    /// `HealthMachine.maxOutput` bytes. At `timeout` the process gets SIGKILL through the monitor's
    /// control FIFO and the rest is drained (at most 5 s more). Closes `fd`.
    static func collect(fd: Int32, timeout: Double, ctl: String) -> (output: [UInt8], timedOut: Bool) {
        defer { close(fd) }
        var out: [UInt8] = []
        var timedOut = false
        var deadline = Date().addingTimeInterval(timeout)
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 {
                if timedOut { break }
                timedOut = true
                _ = ContainerSystem.writeControl(ctl, "kill 9\n")
                deadline = Date().addingTimeInterval(5)
                continue
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let rc = poll(&p, 1, Int32(min(left * 1000, 1000).rounded(.up)))
            if rc < 0 && errno != EINTR { break }
            if rc <= 0 { continue }
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, Int32(MSG_DONTWAIT)) }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            if n <= 0 { break }
            if !timedOut && n > 1 && out.count < HealthMachine.maxOutput {
                out += buf[1..<min(n, 1 + HealthMachine.maxOutput - out.count)]
            }
        }
        return (out, timedOut)
    }
}
