#if canImport(Glibc)
import Glibc
#endif
import APIModels
import Dispatch
import Engine
import Foundation
import NIOCore
import NIOHTTP1
import OCI

extension APIRoutes {
    /// `/containers/*`: create, start, stop, kill, restart, wait, remove, inspect, list, logs, attach, resize.
    public static func containers(_ s: APIServices) -> [Route] {
        @Sendable func svc() throws -> ContainerService {
            guard let c = s.containers else { throw BerthError(.unavailable, "containers are not available") }
            return c
        }
        return [
            Route(.POST, "/containers/create") { req in
                let c = try svc()
                guard let body = try await req.decodeJSON(ContainerCreateBody.self) else {
                    throw BerthError(.invalidArgument, "invalid JSON: got EOF while reading request body")
                }
                let platform = try req.query["platform"].flatMap { $0.isEmpty ? nil : try Platform(parsing: $0) }
                let res = try await c.create(name: req.query["name"], body: body, platform: platform)
                return try .json(res, status: .created)
            },
            Route(.GET, "/containers/json") { req in
                let list = try await svc().list(all: req.query.bool("all"), limit: try req.query.int("limit"),
                                                filters: try req.query.filters().dictionary, size: req.query.bool("size"))
                return try .json(list)
            },
            Route(.GET, "/containers/{id}/json") { req in
                try .json(try await svc().inspect(req.param("id")))
            },
            Route(.POST, "/containers/{id}/start") { req in
                do {
                    try await svc().start(req.param("id"))
                } catch let e as BerthError where e.code == .notModified {
                    return .status(.notModified)
                }
                return .status(.noContent)
            },
            Route(.POST, "/containers/{id}/stop") { req in
                do {
                    try await svc().stop(req.param("id"), timeout: try req.query.int("t"), signal: req.query["signal"])
                } catch let e as BerthError where e.code == .notModified {
                    return .status(.notModified)
                }
                return .status(.noContent)
            },
            Route(.POST, "/containers/{id}/restart") { req in
                try await svc().restart(req.param("id"), timeout: try req.query.int("t"), signal: req.query["signal"])
                return .status(.noContent)
            },
            Route(.POST, "/containers/{id}/kill") { req in
                try await svc().kill(req.param("id"), signal: req.query["signal"])
                return .status(.noContent)
            },
            Route(.POST, "/containers/{id}/wait") { req in
                let c = try svc()
                let raw = req.query["condition"] ?? ""
                guard let cond = raw.isEmpty ? .notRunning : ContainerService.WaitCondition(rawValue: raw) else {
                    throw BerthError(.invalidArgument, "invalid condition: \"\(raw)\"")
                }
                let id = try await c.resolve(req.param("id")).ID
                return .jsonStream { stream in
                    try await stream.start()
                    try await stream.writeJSON(await c.waitResult(id, condition: cond))
                }
            },
            Route(.DELETE, "/containers/{id}") { req in
                try await svc().remove(req.param("id"), force: req.query.bool("force"), volumes: req.query.bool("v"))
                return .status(.noContent)
            },
            Route(.POST, "/containers/{id}/resize") { req in
                try await svc().resize(req.param("id"), height: try req.query.int("h") ?? 0, width: try req.query.int("w") ?? 0)
                return .status(.ok)
            },
            Route(.GET, "/containers/{id}/logs") { req in try await logs(req, try svc()) },
            Route(.POST, "/containers/{id}/pause") { req in
                try await svc().pause(req.param("id"))
                return .status(.noContent)
            },
            Route(.POST, "/containers/{id}/unpause") { req in
                try await svc().unpause(req.param("id"))
                return .status(.noContent)
            },
            Route(.POST, "/containers/{id}/rename") { req in
                try await svc().rename(req.param("id"), to: req.query["name"] ?? "")
                return .status(.noContent)
            },
            Route(.GET, "/containers/{id}/top") { req in
                try .json(try await svc().top(req.param("id"), psArgs: req.query["ps_args"]))
            },
            Route(.GET, "/containers/{id}/stats") { req in
                let c = try svc()
                let id = try await c.resolve(req.param("id")).ID
                let stream = req.query.bool("stream", default: true) && !req.query.bool("one-shot")
                if !stream {
                    // One sample as a plain body with Content-Length, as dockerd answers it. Without
                    // one-shot, Docker waits one interval so that precpu_stats is meaningful.
                    var pre: JSONValue? = nil
                    var preRead = "0001-01-01T00:00:00Z"
                    if !req.query.bool("one-shot") {
                        let first = try await c.stats(id, pre: nil, preRead: preRead)
                        pre = first["cpu_stats"]
                        if case .string(let s)? = first["read"] { preRead = s }
                        try await Task.sleep(nanoseconds: 1_000_000_000)
                    }
                    return try .json(try await c.stats(id, pre: pre, preRead: preRead))
                }
                return .jsonStream { out in
                    var pre: JSONValue? = nil
                    var preRead = "0001-01-01T00:00:00Z"
                    repeat {
                        let sample = try await c.stats(id, pre: pre, preRead: preRead)
                        try await out.writeJSON(sample)
                        pre = sample["cpu_stats"]
                        if case .string(let s)? = sample["read"] { preRead = s }
                        if !stream { break }
                        let running = await c.isRunning(id)
                        if !running { break }
                        try await Task.sleep(nanoseconds: 1_000_000_000)
                    } while true
                }
            },
            Route(.POST, "/containers/prune") { req in
                try .json(try await svc().prune(filters: try req.query.filters().dictionary))
            },
            Route(.POST, "/containers/{id}/attach") { req in try await attach(req, try svc()) },
        ]
    }

    // MARK: - Logs

    static func logs(_ req: APIRequest, _ c: ContainerService) async throws -> APIResponse {
        let src = try await c.logSource(req.param("id"))
        let wantOut = req.query.bool("stdout"), wantErr = req.query.bool("stderr")
        guard wantOut || wantErr else {
            throw BerthError(.invalidArgument, "Bad parameters: you must choose at least one stream")
        }
        if src.logDriver == "none" {
            throw BerthError(.invalidArgument, "configured logging driver does not support reading")
        }
        let follow = req.query.bool("follow"), timestamps = req.query.bool("timestamps"), details = req.query.bool("details")
        let since = try EventTime.parse(req.query["since"] ?? "", name: "since") ?? 0
        let until = try EventTime.parse(req.query["until"] ?? "", name: "until")
        let tailRaw = req.query["tail"] ?? "all"
        let tail = Int(tailRaw).flatMap { $0 >= 0 ? $0 : nil }
        let multiplexed = !src.tty
        let contentType = multiplexed ? Hijack.multiplexedStream : Hijack.rawStream
        @Sendable func keep(_ e: ContainerLogEntry) -> Bool {
            (e.stream == "stderr" ? wantErr : wantOut) && e.nanos >= since && (until.map { e.nanos <= $0 } ?? true)
        }
        return .stream(status: .ok, headers: ["Content-Type": contentType]) { stream in
            try await stream.start()
            let follower = ContainerLogs.Follower(path: src.path)
            var entries = ContainerLogs.readRotated(src.path) + follower.poll()
            entries = entries.filter(keep)
            if let tail { entries = Array(entries.suffix(tail)) }
            for e in entries { try await stream.write(ByteBuffer(bytes: e.frame(timestamps: timestamps, multiplexed: multiplexed, details: details))) }
            guard follow else { return }
            if let until, until <= EventTime.now() { return }
            while true {
                let running = await c.isRunning(src.id)
                for e in follower.poll() where keep(e) {
                    try await stream.write(ByteBuffer(bytes: e.frame(timestamps: timestamps, multiplexed: multiplexed, details: details)))
                }
                if !running { return }
                if let until, until <= EventTime.now() { return }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
        }
    }

    // MARK: - Attach

    /// `POST /containers/{id}/attach`: hijack, then bridge to the monitor's attach socket. Before the
    /// container starts (as `docker run` does) this waits for `start`.
    static func attach(_ req: APIRequest, _ c: ContainerService) async throws -> APIResponse {
        let info = try await c.attachInfo(req.param("id"))
        let wantIn = req.query.bool("stdin"), wantOut = req.query.bool("stdout"), wantErr = req.query.bool("stderr")
        let stream = req.query.bool("stream"), logs = req.query.bool("logs")
        let detachKeys = try DetachKeys.parse(req.query["detachKeys"])
        let multiplexed = !info.tty
        let contentType = multiplexed ? Hijack.multiplexedStream : Hijack.rawStream
        // Registered before the 101 goes out: `docker run` sends `start` right after it.
        let socket: AsyncStream<Int32>? = stream ? await c.prepareAttach(info.id) : nil
        return .hijack(Hijack(contentType: contentType) { conn in
            await c.publishAttach(info.id)
            @Sendable func send(_ stream: UInt8, _ payload: [UInt8]) async throws {
                if stream == 2 && !wantErr || stream != 2 && !wantOut { return }
                try await conn.outbound.write(frame(stream, payload, multiplexed: multiplexed))
            }
            if logs {
                let src = try await c.logSource(info.id)
                let follower = ContainerLogs.Follower(path: src.path)
                for e in ContainerLogs.readRotated(src.path) + follower.poll() {
                    try await send(e.stream == "stderr" ? 2 : 1, e.log)
                }
            }
            var fd: Int32 = -1
            if let socket {
                for await f in socket { fd = f; break }
            }
            guard fd >= 0 else {
                conn.outbound.finish()
                return
            }
            let detached = try await bridge(conn, fd: fd, stdin: wantIn && info.openStdin, tty: info.tty,
                                            detachKeys: detachKeys, send: send)
            if detached { await c.publishDetach(info.id) }
        })
    }

    /// Copies the monitor's attach socket to the hijacked connection (and client input to it when
    /// `stdin`) until the process' output ends or the client detaches; closes `fd`. Returns true on detach.
    ///
    /// As in Docker, the detach sequence is watched for on the daemon side, and a client's stdin EOF
    /// closes the container's stdin only without a TTY; with a TTY it ends this attach instead.
    @discardableResult
    static func bridge(_ conn: HijackedConnection, fd: Int32, stdin: Bool, tty: Bool = false,
                       detachKeys: [UInt8] = DetachKeys.default,
                       send: @escaping @Sendable (UInt8, [UInt8]) async throws -> Void) async throws -> Bool {
        let closer = FDBox(fd)
        defer { closer.close() }
        let outcome = StdinOutcome()
        let stdinTask = Task {
            var matcher = DetachKeys.Matcher(keys: detachKeys)
            do {
                for try await buf in conn.inbound {
                    guard stdin else { continue }
                    let (forward, detach) = matcher.feed(Array(buf.readableBytesView))
                    if !forward.isEmpty {
                        let ok = await blockingCall { attachSend(fd, forward) }
                        if !ok { break }
                    }
                    if detach {
                        outcome.set(.detached)
                        conn.outbound.finish()
                        return
                    }
                }
            } catch {}
            guard stdin else { return }
            if tty {
                outcome.set(.ended)
                conn.outbound.finish()
            } else {
                _ = shutdown(fd, Int32(SHUT_WR))
            }
        }
        defer { stdinTask.cancel() }
        while conn.channel.isActive, outcome.get() == nil {
            let pkt = await blockingCall { attachRecv(fd, timeoutMs: 200) }
            switch pkt {
            case .timeout: continue
            case .eof: conn.outbound.finish(); return false
            case .data(let id, let payload): try await send(id, payload)
            }
        }
        return outcome.get() == .detached
    }

    /// How the client's side of an attach ended, shared between the stdin task and the output loop.
    final class StdinOutcome: @unchecked Sendable {
        enum Value { case detached, ended }
        private let lock = NSLock()
        private var value: Value?
        func set(_ v: Value) { lock.lock(); value = v; lock.unlock() }
        func get() -> Value? { lock.lock(); defer { lock.unlock() }; return value }
    }

    static func frame(_ stream: UInt8, _ payload: [UInt8], multiplexed: Bool) -> ByteBuffer {
        guard multiplexed else { return ByteBuffer(bytes: payload) }
        let n = UInt32(payload.count)
        return ByteBuffer(bytes: [stream == 2 ? 2 : 1, 0, 0, 0, UInt8(n >> 24), UInt8((n >> 16) & 0xff),
                                  UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + payload)
    }

    // MARK: - Exec

    public static func execs(_ s: APIServices) -> [Route] {
        @Sendable func svc() throws -> ContainerService {
            guard let c = s.containers else { throw BerthError(.unavailable, "containers are not available") }
            return c
        }
        return [
            Route(.POST, "/containers/{id}/exec") { req in
                guard let body = try await req.decodeJSON(ExecCreateBody.self) else {
                    throw BerthError(.invalidArgument, "invalid JSON: got EOF while reading request body")
                }
                return try .json(IDResponse(Id: try await svc().execCreate(req.param("id"), body: body)), status: .created)
            },
            Route(.GET, "/exec/{id}/json") { req in try .json(try await svc().execInspect(req.param("id"))) },
            Route(.POST, "/exec/{id}/resize") { req in
                try await svc().execResize(req.param("id"), height: try req.query.int("h") ?? 0, width: try req.query.int("w") ?? 0)
                return .status(.ok)
            },
            Route(.POST, "/exec/{id}/start") { req in
                let c = try svc()
                let id = req.param("id")
                let body = try await req.decodeJSON(ExecStartBody.self, allowEmpty: true) ?? ExecStartBody()
                let info = try await c.execInfo(id)
                if body.Detach == true {
                    _ = try await c.execStart(id, attach: false, consoleSize: body.ConsoleSize)
                    return .status(.ok)
                }
                let multiplexed = !info.tty
                return .hijack(Hijack(contentType: multiplexed ? Hijack.multiplexedStream : Hijack.rawStream) { conn in
                    @Sendable func send(_ stream: UInt8, _ payload: [UInt8]) async throws {
                        if stream == 2 && !info.stderr || stream != 2 && !info.stdout { return }
                        try await conn.outbound.write(frame(stream, payload, multiplexed: multiplexed))
                    }
                    let fd: Int32
                    do {
                        fd = try await c.execStart(id, attach: true, consoleSize: body.ConsoleSize)
                    } catch {
                        let text = (error as? BerthError)?.message ?? "\(error)"
                        try await conn.outbound.write(frame(1, Array((text + "\r\n").utf8), multiplexed: multiplexed))
                        conn.outbound.finish()
                        return
                    }
                    guard fd >= 0 else {
                        conn.outbound.finish()
                        return
                    }
                    do {
                        try await bridge(conn, fd: fd, stdin: info.stdin, send: send)
                    } catch {}
                    await c.checkExecExit(id)
                })
            },
        ]
    }

    enum AttachPacket: Sendable {
        case data(UInt8, [UInt8])
        case timeout
        case eof
    }

    final class FDBox: @unchecked Sendable {
        var fd: Int32
        init(_ fd: Int32) { self.fd = fd }
        func close() {
            if fd >= 0 { _ = Glibc.close(fd); fd = -1 }
        }
    }

    static func blockingCall<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { cont in DispatchQueue.global().async { cont.resume(returning: body()) } }
    }

    static func attachRecv(_ fd: Int32, timeoutMs: Int32) -> AttachPacket {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let r = poll(&p, 1, timeoutMs)
        if r == 0 { return .timeout }
        if r < 0 { return errno == EINTR ? .timeout : .eof }
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, Int32(MSG_DONTWAIT)) }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return .timeout }
        if n <= 0 { return .eof }
        return .data(buf[0], Array(buf[1..<n]))
    }

    static func attachSend(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let len = min(32768, bytes.count - off)
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + off, len, Int32(MSG_NOSIGNAL)) }
            if n < 0 { if errno == EINTR { continue }; return false }
            off += len
        }
        return true
    }
}
