import Foundation
import OCI
import Testing
@testable import Runtime

/// The in-process library path the daemon uses (BerthRuntime), with real namespaces and cgroups.
/// Skipped unless root with busybox-static installed.
@Suite(.serialized, .enabled(if: getuid() == 0 && access("/bin/busybox", X_OK) == 0))
struct LibraryTests {
    static func makeBundle() throws -> String {
        let dir = NSTemporaryDirectory() + "berth-lib-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let bin = dir + "/rootfs/bin"
        try FileIO.mkdirAll(bin, mode: 0o755)
        for d in ["proc", "sys", "dev", "etc", "tmp"] { try FileIO.mkdirAll(dir + "/rootfs/" + d, mode: 0o755) }
        _ = FileManager.default.createFile(atPath: bin + "/busybox", contents: FileManager.default.contents(atPath: "/bin/busybox"))
        chmod(bin + "/busybox", 0o755)
        for a in ["sh", "echo", "cat", "sleep", "id", "true"] { symlink("busybox", bin + "/" + a) }
        return dir
    }

    func read(_ fd: Int32) -> String {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 4096) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    @Test func runWaitExecDelete() async throws {
        let bundle = try Self.makeBundle()
        let root = bundle + "/state"
        defer { FileIO.removeAll(bundle) }
        let rt = BerthRuntime(root: root)
        let id = "lib\(getpid())"
        var spec = Spec.dockerDefault(args: ["sh", "-c", "echo hi from $(hostname); exit 7"], rootfs: "rootfs", hostname: "libtest",
                                      cgroupsPath: "/berth-test/\(id)")
        spec.process?.terminal = false
        var p: [Int32] = [-1, -1]
        #expect(pipe(&p) == 0)
        var opts = CreateOptions(spec: spec)
        opts.stdio = [-1, p[1], p[1]]
        let state = try await rt.create(id: id, bundle: bundle, options: opts)
        close(p[1])
        #expect(try await rt.state(id: id).status == .created)
        try await rt.start(id: id)
        let code = try await rt.wait(pid: state.pid)
        #expect(code == 7)
        #expect(read(p[0]) == "hi from libtest\n")
        close(p[0])
        #expect(try await rt.state(id: id).status == .stopped)
        try await rt.delete(id: id, force: false)
        #expect(access("/sys/fs/cgroup/memory/berth-test/\(id)", F_OK) != 0)
        await #expect(throws: BerthError.self) { try await rt.state(id: id) }
    }

    @Test func execIntoRunningContainer() async throws {
        let bundle = try Self.makeBundle()
        defer { FileIO.removeAll(bundle) }
        let rt = BerthRuntime(root: bundle + "/state")
        let id = "libx\(getpid())"
        var opts = CreateOptions(spec: Spec.dockerDefault(args: ["sleep", "60"], cgroupsPath: "/berth-test/\(id)"))
        opts.stdio = [-1, -1, -1]
        let st = try await rt.run(id: id, bundle: bundle, options: opts)
        var p: [Int32] = [-1, -1]
        #expect(pipe(&p) == 0)
        var eo = ExecOptions()
        eo.stdio = [-1, p[1], p[1]]
        let pid = try await rt.exec(id: id, process: Spec.Process(user: Spec.User(uid: 1000, gid: 1000), args: ["id"],
                                                                  env: ["PATH=/bin"], cwd: "/"), options: eo)
        close(p[1])
        #expect(try await rt.wait(pid: pid) == 0)
        #expect(read(p[0]).hasPrefix("uid=1000 gid=1000"))
        close(p[0])
        #expect(try await rt.processes(id: id).contains(st.pid))
        let stats = try await rt.stats(id: id)
        #expect(stats.pidsCurrent >= 1)
        try await rt.kill(id: id, signal: SIGKILL, all: false)
        #expect(try await rt.wait(pid: st.pid) == 137)
        try await rt.delete(id: id, force: false)
    }

    @Test func badExecutableFailsCleanly() async throws {
        let bundle = try Self.makeBundle()
        defer { FileIO.removeAll(bundle) }
        let rt = BerthRuntime(root: bundle + "/state")
        let id = "libbad\(getpid())"
        var opts = CreateOptions(spec: Spec.dockerDefault(args: ["nosuch"], cgroupsPath: "/berth-test/\(id)"))
        opts.stdio = [-1, -1, -1]
        do {
            _ = try await rt.create(id: id, bundle: bundle, options: opts)
            Issue.record("create should fail")
        } catch {
            #expect("\(error)".contains("exec: \"nosuch\": executable file not found in $PATH"))
            #expect(ContainerRuntime.dockerExitCode(forStartError: error) == 127)
        }
        #expect(access(bundle + "/state/" + id, F_OK) != 0)
        #expect(access("/sys/fs/cgroup/memory/berth-test/\(id)", F_OK) != 0)
    }
}
