@testable import APIClient
import APIModels
import OCI
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A one-connection-at-a-time HTTP server on a unix socket, driven by a handler that gets the raw
/// request head and the connected fd (plain POSIX, on its own thread).
final class TinyServer: @unchecked Sendable {
    let path: String
    let fd: Int32
    let handler: @Sendable (String, Int32) -> Void
    let thread: Thread
    /// Signalled when the accept loop has returned, so `stop` can close the fd without another test's
    /// socket reusing its number under a still-running `accept` (which would steal that test's connections).
    let finished = DispatchSemaphore(value: 0)

    init(handler: @escaping @Sendable (String, Int32) -> Void) throws {
        let sockPath = NSTemporaryDirectory() + "berth-tiny-\(UInt32.random(in: 0...UInt32.max)).sock"
        let lfd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in sockPath.utf8.enumerated() { p[i] = b }
        }
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(lfd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard ok == 0, listen(lfd, 8) == 0 else { throw CocoaError(.fileWriteUnknown) }
        path = sockPath
        fd = lfd
        self.handler = handler
        let finished = self.finished
        thread = Thread {
            defer { finished.signal() }
            while true {
                let c = accept(lfd, nil, nil)
                if c < 0 { return }
                var head = [UInt8]()
                var byte: UInt8 = 0
                while read(c, &byte, 1) == 1 {
                    head.append(byte)
                    if head.count >= 4 && head.suffix(4) == [13, 10, 13, 10] { break }
                }
                handler(String(decoding: head, as: UTF8.self), c)
                close(c)
            }
        }
        thread.start()
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        finished.wait()
        close(fd)
        unlink(path)
    }

    static func send(_ fd: Int32, _ s: String) {
        let b = Array(s.utf8)
        _ = b.withUnsafeBytes { write(fd, $0.baseAddress, b.count) }
    }
}

struct APIClientTests {
    @Test func firstRequestGoesOutWithoutAPing() throws {
        let requests = RequestLog()
        let server = try TinyServer { head, fd in
            requests.append(head)
            TinyServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]")
        }
        defer { server.stop() }
        let client = try APIClient(host: .init(address: .unix(path: server.path)), tls: nil)
        let (head, body) = try client.send(.GET, "/images/json", query: [("all", "1")])
        #expect(head.status == 200)
        #expect(body == Array("[]".utf8))
        let log = requests.all
        #expect(log.count == 1)
        #expect(log.first?.hasPrefix("GET /v1.50/images/json?all=1 HTTP/1.1\r\n") == true)
        #expect(log.first?.contains("Host: api.moby.localhost\r\n") == true)
    }

    /// An older daemon refuses /v1.50 (dockerd's exact answer); the request is sent again with the
    /// version it names, body included, and later requests use that version from the start.
    @Test func olderDaemonGetsTheRequestAgainWithItsVersion() throws {
        let requests = RequestLog()
        let server = try TinyServer { head, fd in
            requests.append(head)
            if head.contains(" /v1.50/") {
                let msg = #"{"message":"client version 1.50 is too new. Maximum supported API version is 1.41"}"#
                TinyServer.send(fd, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: \(msg.utf8.count)\r\n\r\n" + msg)
                return
            }
            // The body of a POST follows the head: echo it back.
            var body = ""
            if let r = head.range(of: "Content-Length: "), let n = Int(head[r.upperBound...].prefix { $0.isNumber }), n > 0 {
                var buf = [UInt8](repeating: 0, count: n)
                var got = 0
                while got < n {
                    let k = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, n - got) }
                    if k <= 0 { break }
                    got += k
                }
                body = String(decoding: buf[..<got], as: UTF8.self)
            }
            let reply = body.isEmpty ? "[]" : body
            TinyServer.send(fd, "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: \(reply.utf8.count)\r\n\r\n" + reply)
        }
        defer { server.stop() }
        let client = try APIClient(host: .init(address: .unix(path: server.path)), tls: nil)
        let (head, body) = try client.send(.POST, "/containers/create", query: [("name", "x")], body: Array(#"{"Image":"busybox"}"#.utf8))
        #expect(head.status == 201)
        #expect(String(decoding: body, as: UTF8.self) == #"{"Image":"busybox"}"#)
        #expect(client.currentVersion == "1.41")
        _ = try client.send(.GET, "/containers/json")
        let log = requests.all
        #expect(log.count == 3)
        #expect(log[0].hasPrefix("POST /v1.50/containers/create?name=x HTTP/1.1\r\n"))
        #expect(log[1].hasPrefix("POST /v1.41/containers/create?name=x HTTP/1.1\r\n"))
        #expect(log[2].hasPrefix("GET /v1.41/containers/json HTTP/1.1\r\n"))
    }

    /// Any other 400 is the daemon's answer, not a version problem: no second request.
    @Test func otherBadRequestsAreNotResent() throws {
        let requests = RequestLog()
        let server = try TinyServer { head, fd in
            requests.append(head)
            let msg = #"{"message":"invalid reference format"}"#
            TinyServer.send(fd, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: \(msg.utf8.count)\r\n\r\n" + msg)
        }
        defer { server.stop() }
        let client = try APIClient(host: .init(address: .unix(path: server.path)), tls: nil)
        #expect(throws: BerthError.self) { try client.send(.POST, "/images/create", query: [("fromImage", "A")]) }
        #expect(requests.all.count == 1)
    }

    @Test func negotiatePingsAndCapsTheVersion() throws {
        let requests = RequestLog()
        let server = try TinyServer { head, fd in
            requests.append(head)
            if head.hasPrefix("HEAD /_ping") {
                TinyServer.send(fd, "HTTP/1.1 200 OK\r\nApi-Version: 1.43\r\nContent-Length: 0\r\n\r\n")
            } else {
                TinyServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]")
            }
        }
        defer { server.stop() }
        let client = try APIClient(host: .init(address: .unix(path: server.path)), tls: nil)
        #expect(try client.negotiate() == "1.43")
        _ = try client.send(.GET, "/images/json")
        let log = requests.all
        #expect(log.count == 2)
        #expect(log.last?.hasPrefix("GET /v1.43/images/json HTTP/1.1\r\n") == true)
    }

    @Test func daemonErrorsReadLikeDocker() throws {
        let server = try TinyServer { head, fd in
            if head.hasPrefix("HEAD") {
                TinyServer.send(fd, "HTTP/1.1 200 OK\r\nApi-Version: 1.50\r\nContent-Length: 0\r\n\r\n")
            } else {
                TinyServer.send(fd, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 33\r\n\r\n{\"message\":\"No such image: nope\"}")
            }
        }
        defer { server.stop() }
        let client = try APIClient(host: .init(address: .unix(path: server.path)), tls: nil)
        do {
            _ = try client.send(.GET, "/images/nope/json")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)" == "Error response from daemon: No such image: nope")
        }
    }

    @Test func streamsJSONLinesIncrementally() throws {
        let server = try TinyServer { head, fd in
            if head.hasPrefix("HEAD") {
                TinyServer.send(fd, "HTTP/1.1 200 OK\r\nApi-Version: 1.50\r\nContent-Length: 0\r\n\r\n")
                return
            }
            TinyServer.send(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            for line in [#"{"status":"a"}"#, #"{"status":"b"}"#] {
                let data = line + "\r\n"
                TinyServer.send(fd, String(data.utf8.count, radix: 16) + "\r\n" + data + "\r\n")
                usleep(20_000)
            }
            TinyServer.send(fd, "0\r\n\r\n")
        }
        defer { server.stop() }
        let client = try APIClient(host: .init(address: .unix(path: server.path)), tls: nil)
        let got = RequestLog()
        try client.streamJSON(.POST, "/images/create") { v in got.append(String(decoding: v, as: UTF8.self)) }
        #expect(got.all == [#"{"status":"a"}"#, #"{"status":"b"}"#])
    }

    /// Hijack: the 101 response's trailing bytes are not lost, both directions flow, and closing the
    /// write side (half-close) lets the daemon finish its output.
    @Test func hijackWithHalfClose() throws {
        let server = try TinyServer { head, fd in
            if head.hasPrefix("HEAD") {
                TinyServer.send(fd, "HTTP/1.1 200 OK\r\nApi-Version: 1.50\r\nContent-Length: 0\r\n\r\n")
                return
            }
            TinyServer.send(fd, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nhello ")
            var buf = [UInt8](repeating: 0, count: 1024)
            var echoed = [UInt8]()
            while true {
                let n = read(fd, &buf, 1024)
                if n <= 0 { break }
                echoed.append(contentsOf: buf[0..<n])
            }
            TinyServer.send(fd, "echo:" + String(decoding: echoed, as: UTF8.self))
        }
        defer { server.stop() }
        let client = try APIClient(host: .init(address: .unix(path: server.path)), tls: nil)
        let uri = try client.uri("/containers/x/attach", query: [("stream", "1")])
        let (head, conn) = try client.transport.hijack(.init(method: .POST, uri: uri))
        #expect(head.status == 101)
        try conn.write(Array("ping".utf8))
        conn.closeWrite()
        let all = try conn.readAll()
        #expect(String(decoding: all, as: UTF8.self) == "hello echo:ping")
        conn.close()
    }
}

final class RequestLog: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func append(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}

/// The fast readers of the create and wait answers agree with JSONDecoder or step aside (nil).
struct FastAnswersTests {
    @Test(arguments: [
        #"{"Id":"abc","Warnings":[]}"#,
        "{\"Id\":\"abc\",\"Warnings\":[\"w1\",\"w \\\"2\\\"\"]}\n",
        #"{"Warnings":null,"Id":"x"}"#,
        #"{"Id":"x"}"#,
        #"{"Id":"x","Warnings":[],"Extra":{"a":[1,2.5,null,true]}}"#,
        #"{"Id":"x","Id":"y","Warnings":[]}"#,
        #"{"Id":"\u00e9\n","Warnings":[]}"#,
        #"[]"#,
        #"{"Id":"x","Warnings":[]} trailing"#,
    ])
    func createAnswer(json: String) throws {
        let bytes = Array(json.utf8)
        let slow = try? JSONDecoder().decode(ContainerCreateResponse.self, from: Data(bytes))
        guard let fast = FastAnswers.createResponse(bytes) else { return }
        let s = try #require(slow, "fast read what JSONDecoder refuses: \(json)")
        #expect(fast.Id == s.Id && fast.Warnings == s.Warnings)
    }

    @Test(arguments: [
        #"{"StatusCode":0,"Error":null}"# + "\n",
        #"{"StatusCode":137}"#,
        #"{"StatusCode":1,"Error":{"Message":"boom"}}"#,
        #"{"StatusCode":1.5}"#,
        #"{"StatusCode":-1,"Error":{"Message":"x","Other":1}}"#,
        #"{"Error":{"Message":"no code"}}"#,
        #"{"StatusCode":99999999999999999999}"#,
        #"{"StatusCode":2,"Error":{}}"#,
    ])
    func waitAnswer(json: String) throws {
        let bytes = Array(json.utf8)
        let slow = try? JSONDecoder().decode(ContainerWaitResponse.self, from: Data(bytes))
        guard let fast = FastAnswers.waitResponse(bytes) else { return }
        let s = try #require(slow, "fast read what JSONDecoder refuses: \(json)")
        #expect(fast.StatusCode == s.StatusCode && fast.Error?.Message == s.Error?.Message)
    }

    @Test func plainAnswersTakeTheFastPath() {
        #expect(FastAnswers.createResponse(Array(#"{"Id":"abc","Warnings":[]}"#.utf8))?.Id == "abc")
        #expect(FastAnswers.waitResponse(Array(#"{"StatusCode":3,"Error":null}"#.utf8))?.StatusCode == 3)
        #expect(FastAnswers.waitResponse(Array(#"{"StatusCode":1,"Error":{"Message":"m"}}"#.utf8))?.Error?.Message == "m")
    }
}
