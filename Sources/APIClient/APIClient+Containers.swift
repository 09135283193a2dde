import APIModels
import Foundation
import NIOCore
import NIOHTTP1
import OCI

/// Container endpoints used by the CLI (`run`, `exec`, `attach`, `ps` …).
extension APIClient {
    /// `POST /containers/create?name=&platform=` with an already encoded body.
    public func createContainer(body: [UInt8], name: String?, platform: String?) throws -> ContainerCreateResponse {
        var query: [(String, String)] = []
        if let name, !name.isEmpty { query.append(("name", name)) }
        if let platform, !platform.isEmpty { query.append(("platform", platform)) }
        let (_, data) = try send(.POST, "/containers/create", query: query, body: body)
        return try FastAnswers.createResponse(data) ?? decode(ContainerCreateResponse.self, data)
    }

    /// A request whose response is hijacked (attach, exec start); error statuses throw the daemon's error.
    public func hijack(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: [UInt8]? = nil) throws -> HijackedConnection {
        var h = baseHeaders()
        if body != nil { h.append(("Content-Type", "application/json")) }
        let (head, conn) = try transport.hijack(APIRequest(method: method, uri: try uri(path, query: query), headers: h, body: body))
        if head.status >= 400 {
            let data = (try? conn.readAll()) ?? []
            conn.close()
            try checkResponse(head, data, uri: path)
        }
        return conn
    }

    /// `POST /containers/{id}/attach?stream=1&…` (hijacked).
    public func attachContainer(_ id: String, stdin: Bool, stdout: Bool, stderr: Bool, detachKeys: String?, logs: Bool = false) throws -> HijackedConnection {
        var q: [(String, String)] = [("stream", "1")]
        if stdin { q.append(("stdin", "1")) }
        if stdout { q.append(("stdout", "1")) }
        if stderr { q.append(("stderr", "1")) }
        if logs { q.append(("logs", "1")) }
        if let detachKeys, !detachKeys.isEmpty { q.append(("detachKeys", detachKeys)) }
        return try hijack(.POST, "/containers/" + APIClient.pathEscape(id) + "/attach", query: q)
    }

    /// Starts `POST /containers/{id}/wait?condition=` in the background; `result` blocks for the answer.
    public func waitContainer(_ id: String, condition: String) -> ContainerWaiter {
        let waiter = ContainerWaiter()
        let path = "/containers/" + APIClient.pathEscape(id) + "/wait"
        // Build the request (and negotiate) on this thread so the wait is registered before `start`.
        let req: APIRequest
        do {
            req = APIRequest(method: .POST, uri: try uri(path, query: condition.isEmpty ? [] : [("condition", condition)]), headers: baseHeaders())
        } catch {
            waiter.finish(.failure(error))
            return waiter
        }
        // Docker's daemon sends the response head as soon as the wait is registered: `start` goes out
        // after that (or after a short grace period for daemons that answer only at the exit).
        let registered = DispatchSemaphore(value: 0)
        Thread.detachNewThread { [self] in
            let box = NIOLockedValueBoxShim()
            do {
                try transport.perform(req, onHead: { h in
                    box.set(head: h)
                    registered.signal()
                    return true
                }, onBody: { b in box.append(b) })
                let (head, data) = box.get()
                guard let head else { throw BerthError(.unavailable, "unexpected EOF") }
                try checkResponse(head, data, uri: path)
                let r = try FastAnswers.waitResponse(data) ?? decode(ContainerWaitResponse.self, data)
                waiter.finish(.success(r))
            } catch {
                registered.signal()
                waiter.finish(.failure(error))
            }
        }
        _ = registered.wait(timeout: .now() + .milliseconds(500))
        return waiter
    }

    /// Like ``stream(_:_:query:headers:body:onChunk:)`` with chunks as arrays.
    public func streamBytes(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [],
                            onChunk: @escaping @Sendable ([UInt8]) -> Void) throws {
        try stream(method, path, query: query) { b in onChunk(Array(b.readableBytesView)) }
    }

    /// `POST /containers/{id}/resize?h=&w=` (or `/exec/{id}/resize`); errors are ignored like docker's.
    public func resize(_ kind: String, _ id: String, height: Int, width: Int) {
        _ = try? send(.POST, "/\(kind)/" + APIClient.pathEscape(id) + "/resize", query: [("h", String(height)), ("w", String(width))])
    }
}

extension HijackedConnection {
    /// Like ``read(_:)`` with the bytes as an array (for callers that do not import NIO).
    public func readBytes(_ onData: @escaping @Sendable ([UInt8]) -> Void) throws {
        try read { b in onData(Array(b.readableBytesView)) }
    }
}

/// The pending answer of a container wait.
public final class ContainerWaiter: @unchecked Sendable {
    let lock = NSCondition()
    var value: Result<ContainerWaitResponse, any Error>?

    func finish(_ r: Result<ContainerWaitResponse, any Error>) {
        lock.lock()
        value = r
        lock.broadcast()
        lock.unlock()
    }

    /// Blocks until the daemon answers.
    public func result() throws -> ContainerWaitResponse {
        lock.lock()
        defer { lock.unlock() }
        while value == nil { lock.wait() }
        return try value!.get()
    }
}

final class NIOLockedValueBoxShim: @unchecked Sendable {
    let lock = NSLock()
    var head: ResponseHead?
    var data: [UInt8] = []
    func set(head h: ResponseHead) { lock.lock(); head = h; lock.unlock() }
    func append(_ b: ByteBuffer) { lock.lock(); data.append(contentsOf: b.readableBytesView); lock.unlock() }
    func get() -> (ResponseHead?, [UInt8]) { lock.lock(); defer { lock.unlock() }; return (head, data) }
}

/// The two answers on the critical path of `run` (create, wait), read with the small JSON reader:
/// JSONDecoder's first use in a process costs ≈ 0.3 ms of type-metadata set-up. Anything but the
/// plain shape (null where JSONDecoder would object, a repeated key, an unusual number) gives nil
/// and the caller uses JSONDecoder, so values and errors stay JSONDecoder's.
enum FastAnswers {
    static func createResponse(_ bytes: [UInt8]) -> ContainerCreateResponse? {
        try? FastJSONReader.parse(bytes) { r -> ContainerCreateResponse in
            var id: String?, warnings: [String]?
            try r.object { r, key in
                switch key {
                case "Id":
                    guard id == nil else { throw FastJSONReader.Unsupported() }
                    id = try r.string()
                case "Warnings":
                    guard warnings == nil else { throw FastJSONReader.Unsupported() }
                    warnings = try r.stringArray()
                default:
                    try r.skip()
                }
            }
            guard let id, let warnings else { throw FastJSONReader.Unsupported() }
            return ContainerCreateResponse(Id: id, Warnings: warnings)
        }
    }

    static func waitResponse(_ bytes: [UInt8]) -> ContainerWaitResponse? {
        try? FastJSONReader.parse(bytes) { r -> ContainerWaitResponse in
            var code: Int?, message: String?, sawError = false
            try r.object { r, key in
                switch key {
                case "StatusCode":
                    guard code == nil else { throw FastJSONReader.Unsupported() }
                    code = try r.integer(Int.self)
                case "Error":
                    guard !sawError else { throw FastJSONReader.Unsupported() }
                    sawError = true
                    if try r.null() { return }
                    var m: String?
                    try r.object { r, key in
                        guard key == "Message", m == nil else { throw FastJSONReader.Unsupported() }
                        m = try r.string()
                    }
                    guard let m else { throw FastJSONReader.Unsupported() }
                    message = m
                default:
                    try r.skip()
                }
            }
            guard let code else { throw FastJSONReader.Unsupported() }
            return ContainerWaitResponse(StatusCode: code, error: message)
        }
    }
}
