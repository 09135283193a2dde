import ArgumentParser
import Foundation
import OCI
import Runtime

/// Measures what supervising containers in process costs: starts N containers through
/// `BerthRuntime` (the daemon's path), waits on each, and prints the RSS growth per container.
struct SuperviseBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "supervise-bench", shouldDisplay: false)
    @Option(name: [.short, .long]) var bundle: String
    @Option(name: .short) var count: Int = 20

    static func rssKB() -> Int {
        let text = FileIO.readString("/proc/self/status") ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    func run() async throws {
        let rt = BerthRuntime(root: Globals.current.root)
        var spec = try Spec.decode(Data(contentsOf: URL(fileURLWithPath: bundle + "/config.json")))
        spec.process?.args = ["sleep", "600"]
        let prefix = "sup\(getpid())-"
        // Warm up (first container pays one-time costs: code pages, caches).
        func options(_ id: String) -> CreateOptions {
            var s = spec
            s.linux?.cgroupsPath = "/berth-bench/" + id
            var o = CreateOptions(spec: s)
            o.stdio = [-1, -1, -1]
            return o
        }
        let warm = try await rt.run(id: prefix + "warm", bundle: bundle, options: options(prefix + "warm"))
        let warmWait = Task { try await rt.wait(pid: warm.pid) }
        let before = Self.rssKB()
        var waits: [Task<Int32, any Error>] = []
        for i in 0..<count {
            let st = try await rt.run(id: prefix + String(i), bundle: bundle, options: options(prefix + String(i)))
            waits.append(Task { try await rt.wait(pid: st.pid) })
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        let after = Self.rssKB()
        print("supervisor RSS: \(before) kB with 1 container, \(after) kB with \(count + 1); \(Double(after - before) / Double(count)) kB per container")
        for i in 0..<count { try? await rt.kill(id: prefix + String(i), signal: SIGKILL, all: false) }
        try? await rt.kill(id: prefix + "warm", signal: SIGKILL, all: false)
        for w in waits { _ = try? await w.value }
        _ = try? await warmWait.value
        for i in 0..<count { try? await rt.delete(id: prefix + String(i), force: true) }
        try? await rt.delete(id: prefix + "warm", force: true)
    }
}
