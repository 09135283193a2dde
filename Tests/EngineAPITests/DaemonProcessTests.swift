import Foundation
import TestSupport
import Testing

/// The built `berthd` (BERTHD overrides), next to this package's sources.
let berthdBinary: String = {
    if let p = ProcessInfo.processInfo.environment["BERTHD"], !p.isEmpty { return p }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build/debug/berthd").path
}()

/// A berthd process on a temp socket, data root, exec root and pidfile.
final class DaemonProcess: @unchecked Sendable {
    let dir: String
    let socket: String
    let process = Process()
    let log: String

    init(extraArgs: [String] = [], configJSON: String = "{}\n", pidfile: String? = nil) throws {
        dir = shortTempDir("bd")
        socket = dir + "/berth.sock"
        log = dir + "/berthd.log"
        try Data(configJSON.utf8).write(to: URL(fileURLWithPath: dir + "/daemon.json"))
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: berthdBinary)
        process.arguments = ["-H", "unix://" + socket, "--data-root", dir + "/data", "--exec-root", dir + "/exec",
                             "--pidfile", pidfile ?? dir + "/berthd.pid", "--config-file", dir + "/daemon.json"] + extraArgs
        let handle = FileHandle(forWritingAtPath: log)
        process.standardOutput = handle
        process.standardError = handle
    }

    var pidfile: String { process.arguments![process.arguments!.firstIndex(of: "--pidfile")! + 1] }
    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// Starts berthd tied to the test process, so a run that dies mid-test does not leave it running.
    func start() throws { try process.runTiedToTestProcess() }

    /// Waits until /_ping answers (or the process died).
    func waitReady(timeout: TimeInterval = 20) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline && process.isRunning {
            if let c = try? RawClient(unixPath: socket, timeout: 2), let r = try? c.request("GET", "/_ping"), r.status == 200 {
                return true
            }
            usleep(50_000)
        }
        return false
    }

    func stop(signal sig: Int32 = SIGTERM) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, sig) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    func cleanup() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: dir)
    }
}

@Suite(.serialized, .enabled(if: FileManager.default.isExecutableFile(atPath: berthdBinary), "berthd is not built"))
struct DaemonProcessTests {
    @Test func servesTheAPIAndStopsCleanlyOnSIGTERM() async throws {
        let d = try DaemonProcess()
        defer { d.cleanup() }
        try d.start()
        try await offPool {
            #expect(d.waitReady(), "berthd did not come up: \(d.output)")
            let c = try RawClient(unixPath: d.socket)
            let ping = try c.request("GET", "/_ping")
            #expect(ping.status == 200 && ping.text == "OK" && ping.headers["api-version"] == "1.50")
            let version = try c.request("GET", "/version")
            #expect(version.status == 200 && version.headers["content-type"] == "application/json")
            let v = try JSONSerialization.jsonObject(with: version.body) as? [String: Any]
            #expect(v?["ApiVersion"] as? String == "1.50" && v?["MinAPIVersion"] as? String == "1.24" && v?["Os"] as? String == "linux")
            let old = try c.request("GET", "/v1.23/version")
            #expect(old.status == 400 && old.text.contains("client version 1.23 is too old"))
            let new = try c.request("GET", "/v1.99/info")
            #expect(new.status == 400 && new.text.contains("client version 1.99 is too new. Maximum supported API version is 1.50"))
            let info = try c.request("GET", "/v1.50/info")
            let i = try JSONSerialization.jsonObject(with: info.body) as? [String: Any]
            #expect(info.status == 200 && i?["DockerRootDir"] as? String == d.dir + "/data" && i?["OSType"] as? String == "linux")
            #expect((i?["NCPU"] as? Int ?? 0) >= 1 && (i?["MemTotal"] as? Int ?? 0) > 0)
            let missing = try c.request("GET", "/v1.50/no/such/route")
            #expect(missing.status == 404 && missing.text.contains("page not found"))
            #expect(FileManager.default.fileExists(atPath: d.pidfile))
            let pid = try String(contentsOfFile: d.pidfile, encoding: .utf8)
            #expect(pid.trimmingCharacters(in: .whitespacesAndNewlines) == String(d.process.processIdentifier))
            var st = stat()
            #expect(stat(d.socket, &st) == 0 && (st.st_mode & 0o777) == 0o660)
        }
        #expect(d.stop() == 0, "exit status after SIGTERM; log:\n\(d.output)")
        #expect(!FileManager.default.fileExists(atPath: d.socket), "socket file removed")
        #expect(!FileManager.default.fileExists(atPath: d.pidfile), "pidfile removed")
    }

    @Test func secondDaemonWithTheSamePidfileIsRefused() async throws {
        let a = try DaemonProcess()
        defer { a.cleanup() }
        try a.start()
        let ready = try await offPool { a.waitReady() }
        #expect(ready)
        let b = try DaemonProcess(pidfile: a.pidfile)
        defer { b.cleanup() }
        try b.start()
        b.process.waitUntilExit()
        #expect(b.process.terminationStatus == 1)
        #expect(b.output.contains("failed to start daemon, ensure berthd is not running or delete \(a.pidfile): process with PID \(a.process.processIdentifier) is still running"))
        #expect(try await offPool { try RawClient(unixPath: a.socket).request("GET", "/_ping").status } == 200)
        #expect(a.stop() == 0)
    }

    @Test func badConfigurationExitsWithAClearError() throws {
        let d = try DaemonProcess(extraArgs: ["--debug"], configJSON: #"{"debug": true, "bogus-key": 1}"#)
        defer { d.cleanup() }
        try d.start()
        d.process.waitUntilExit()
        #expect(d.process.terminationStatus == 1)
        #expect(d.output.contains("the following directives don't match any configuration option: bogus-key"))
        #expect(!FileManager.default.fileExists(atPath: d.socket))
    }
}
