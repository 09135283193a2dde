import ArgumentParser
import Foundation
import OCI
import Runtime

/// Global flags (given before the command, as with runc: `berth-runtime --root /x create ...`).
struct Globals {
    var root = "/run/berth-runtime"
    var log: String?
    var logFormat = "text"
    var debug = false

    nonisolated(unsafe) static var current = Globals()

    /// Takes the global flags off the front of `args`.
    static func extract(_ args: [String]) -> [String] {
        var g = Globals()
        var rest: [String] = []
        var i = 0
        // Arrays, not Set literals: a Set's first use costs a runtime Hashable conformance lookup.
        let withValue = ["--root", "--log", "--log-format", "--criu", "--rootless"]
        while i < args.count {
            let a = args[i]
            if !a.hasPrefix("-") { rest.append(contentsOf: args[i...]); break }
            var name = a
            var value: String?
            if let eq = a.firstIndex(of: "=") {
                name = String(a[..<eq])
                value = String(a[a.index(after: eq)...])
            }
            if withValue.contains(name) {
                if value == nil, i + 1 < args.count { i += 1; value = args[i] }
                switch name {
                case "--root": g.root = value ?? g.root
                case "--log": g.log = value
                case "--log-format": g.logFormat = value ?? "text"
                default: break
                }
            } else if name == "--debug" {
                g.debug = true
            } else if name == "--systemd-cgroup" {
                // cgroupfs only; accepted for compatibility.
            } else {
                rest.append(contentsOf: args[i...])
                break
            }
            i += 1
        }
        current = g
        return rest
    }

    var runtime: ContainerRuntime { ContainerRuntime(root: root) }

    /// Reports an error like runc: to stderr, and to the log file (JSON lines with --log-format json).
    func report(_ message: String) {
        let time = StateStore.rfc3339Now()
        if let log {
            let line: String
            if logFormat == "json" {
                let obj = ["level": "error", "msg": message, "time": time]
                let data = (try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
                line = String(decoding: data, as: UTF8.self) + "\n"
            } else {
                line = "time=\"\(time)\" level=error msg=\"\(message.replacingOccurrences(of: "\"", with: "\\\""))\"\n"
            }
            if let h = FileHandle(forWritingAtPath: log) ?? {
                FileManager.default.createFile(atPath: log, contents: nil)
                return FileHandle(forWritingAtPath: log)
            }() {
                h.seekToEndOfFile()
                h.write(Data(line.utf8))
                try? h.close()
            }
        }
        FileHandle.standardError.write(Data("\(message)\n".utf8))
    }
}

/// Exits with `code` (for `run`/`exec`, the container process's exit code).
struct ExitWith: Error { var code: Int32 }

struct BerthRuntimeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth-runtime",
        abstract: "berth's OCI runtime (runc-compatible command line).",
        discussion: "Global options (before the command): --root DIR (default /run/berth-runtime), --log FILE, --log-format text|json, --debug.",
        subcommands: [Create.self, Start.self, StateCommand.self, Kill.self, Delete.self, Run.self, Exec.self, Ps.self,
                      Pause.self, Resume.self, Update.self, List.self, SpecCommand.self, Events.self, Features.self, SuperviseBench.self])
}

@main
enum Entry {
    static func main() {
        Trace.mark("main")
        var args = Array(CommandLine.arguments.dropFirst())
        args = Globals.extract(args)
        do {
            if try FastPath.run(args) { exit(0) }
            var command = try BerthRuntimeCommand.parseAsRoot(args)
            if let asyncCommand = command as? any AsyncParsableCommand {
                try runBlocking(asyncCommand)
            } else {
                try command.run()
            }
            exit(0)
        } catch let e as ExitWith {
            exit(e.code)
        } catch let e as BerthError {
            Globals.current.report("\(commandName(args)) failed: \(e.description)")
            exit(1)
        } catch {
            if let code = (error as? ExitCode)?.rawValue { exit(code) }
            if let e = error as? CleanExit {
                BerthRuntimeCommand.exit(withError: e)
            }
            BerthRuntimeCommand.exit(withError: error)
        }
    }

    /// Runs an async command to completion from synchronous main.
    static func runBlocking(_ command: any AsyncParsableCommand) throws {
        final class Box: @unchecked Sendable { var error: (any Error)?; var command: any AsyncParsableCommand
            init(_ c: any AsyncParsableCommand) { command = c } }
        let box = Box(command)
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await box.command.run() } catch { box.error = error }
            done.signal()
        }
        done.wait()
        if let e = box.error { throw e }
    }

    static func commandName(_ args: [String]) -> String {
        "berth-runtime " + (args.first ?? "")
    }
}
