import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A scratch directory removed at the end of a test.
final class TempDir: @unchecked Sendable {
    let path: String
    init(_ prefix: String = "berth-regtest") throws {
        path = NSTemporaryDirectory() + "/\(prefix)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func write(_ name: String, _ text: String) throws -> String {
        let p = file(name)
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A child process the test started; stopped by its pid.
final class ChildProcess: @unchecked Sendable {
    let process: Process
    init(_ p: Process) { process = p }
    var pid: Int32 { process.processIdentifier }
    /// Sends `signal` (SIGKILL for helpers holding no state; signals may be blocked in children of the test runner).
    func stop(signal: Int32 = SIGTERM) {
        guard process.isRunning else { return }
        kill(pid, signal)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }
}

enum TestSupport {
    /// Runs a command to completion, failing on non-zero exit.
    @discardableResult
    static func run(_ exe: String, _ args: [String], stdin: String? = nil) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        let inPipe = Pipe()
        p.standardInput = inPipe
        try p.run()
        if let stdin { inPipe.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? inPipe.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else {
            throw TestFailure("\(exe) \(args.joined(separator: " ")) failed (\(p.terminationStatus)): \(text)")
        }
        return text
    }

    /// A currently free loopback TCP port.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> Bool in
                bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        guard ok else { throw TestFailure("no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func canConnect(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    static func waitForPort(_ port: Int, process: ChildProcess, log: String) async throws {
        let deadline = Date().addingTimeInterval(60)  // generous: the whole suite starts many servers at once on 2 cores
        while Date() < deadline {
            if canConnect(port) { return }
            if !process.process.isRunning {
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                throw TestFailure("server exited early: \(text)")
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw TestFailure("server did not listen on \(port)")
    }

    /// Starts one of the Python helper servers; returns it and its port.
    static func startPython(mode: String, config: [String: Any], dir: TempDir) async throws -> (ChildProcess, Int) {
        let script = try dir.write("helpers.py", helpersPython)
        let json = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, mode, json]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        let child = ChildProcess(p)
        // The first line is the port.
        let handle = out.fileHandleForReading
        var line = Data()
        while true {
            let b = handle.readData(ofLength: 1)
            if b.isEmpty || b == Data("\n".utf8) { break }
            line.append(b)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            child.stop()
            throw TestFailure("helper \(mode) did not start")
        }
        return (child, port)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ s: String) { description = s }
}
