import Foundation
import OCI

/// Runs OCI hooks: the hook's `path` with `args`/`env`, the container state JSON on stdin,
/// killed after `timeout` seconds.
enum HookRunner {
    static func run(_ hooks: [Spec.Hook]?, kind: String, state: ContainerStateJSON) throws {
        guard let hooks, !hooks.isEmpty else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let input = try [UInt8](encoder.encode(state))
        for (i, hook) in hooks.enumerated() {
            do {
                try runOne(hook, input: input)
            } catch {
                throw BerthError(.internalError, "error running \(kind) hook #\(i): \(error)")
            }
        }
    }

    static func runOne(_ hook: Spec.Hook, input: [UInt8]) throws {
        var inPipe: [Int32] = [-1, -1]
        var outPipe: [Int32] = [-1, -1]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0 else {
            throw BerthError(.internalError, "pipe: \(FileIO.errorString(errno))")
        }
        for fd in inPipe + outPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 2)
        let args = (hook.args?.isEmpty == false ? hook.args! : [hook.path])
        let env = hook.env ?? []
        let argv = args.map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        // The hook gets default signal handling (the runtime itself may ignore SIGPIPE).
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, hook.path, &actions, &attr, argv, envp)
        close(inPipe[0])
        close(outPipe[1])
        guard rc == 0 else {
            close(inPipe[1]); close(outPipe[0])
            throw BerthError(.internalError, "fork/exec \(hook.path): \(FileIO.errorString(rc))")
        }
        // A hook that does not read its stdin must not take the runtime down with SIGPIPE.
        let previous = signal(SIGPIPE, SIG_IGN)
        _ = input.withUnsafeBytes { write(inPipe[1], $0.baseAddress, $0.count) }
        signal(SIGPIPE, previous)
        close(inPipe[1])
        var output: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        let deadline = hook.timeout.map { Date().addingTimeInterval(TimeInterval($0)) }
        var status: Int32 = 0
        var outOpen = true
        while true {
            if outOpen {
                var p = pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0)
                if poll(&p, 1, 100) > 0 {
                    let n = buf.withUnsafeMutableBytes { read(outPipe[0], $0.baseAddress, 4096) }
                    if n > 0 { output.append(contentsOf: buf[0..<n]) } else { outOpen = false }
                }
            } else {
                usleep(2000)
            }
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if let deadline, Date() > deadline {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                close(outPipe[0])
                throw BerthError(.internalError, "timeout of \(hook.timeout!)s exceeded")
            }
        }
        close(outPipe[0])
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        if code != 0 {
            let out = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw BerthError(.internalError, "exit status \(code)\(out.isEmpty ? "" : ", output: \(out)")")
        }
    }
}
