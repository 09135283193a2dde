import APIModels
import Engine
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import OCI
import Testing
@testable import EngineAPI

/// The HTTP machinery end to end, in process: a server on a temp unix socket with test routes.
@Suite(.serialized) struct ServerTests {
    static func testRoutes() -> [Route] {
        [
            Route(.GET, "/_ping") { _ in APIRoutes.ping(head: false) },
            Route(.HEAD, "/_ping") { _ in APIRoutes.ping(head: true) },
            Route(.GET, "/version") { req in .text(req.version.string) },
            Route(.POST, "/echo") { req in
                .full(status: .ok, headers: ["Content-Type": "application/octet-stream"],
                      body: try await req.body.collect(upTo: 8 << 20))
            },
            Route(.GET, "/images/{name:.*}/json") { req in try .json(["name": req.param("name")]) },
            Route(.GET, "/stream") { _ in
                .jsonStream { s in for i in 0..<3 { try await s.writeJSON(["n": i]) } }
            },
            Route(.GET, "/stream-fails-early") { _ in
                .jsonStream { _ in throw BerthError(.notFound, "nothing here") }
            },
            Route(.GET, "/stream-forever") { _ in
                .jsonStream { s in
                    try await s.start()
                    try await Task.sleep(nanoseconds: 60_000_000_000)
                }
            },
            Route(.POST, "/containers/{id}/attach") { _ in
                .hijack(Hijack(contentType: Hijack.multiplexedStream) { conn in
                    for try await chunk in conn.inbound { try await conn.outbound.write(chunk) }
                    try await conn.outbound.write(ByteBuffer(string: "bye"))
                    conn.outbound.finish()
                })
            },
        ]
    }

    /// Runs `body` against a fresh server; shuts it down afterwards.
    func withServer(_ body: (String, APIServer) async throws -> Void) async throws {
        let dir = shortTempDir()
        let socket = dir + "/api.sock"
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = APIServer(router: Router(Self.testRoutes()), group: group, logger: Logger(label: "test"))
        try await server.listen(.unix(path: socket, mode: 0o660, group: nil))
        do {
            try await body(socket, server)
        } catch {
            await server.shutdown(grace: .zero)
            try? await group.shutdownGracefully()
            throw error
        }
        await server.shutdown(grace: .seconds(2))
        try? await group.shutdownGracefully()
        #expect(!FileManager.default.fileExists(atPath: socket), "socket file removed at shutdown")
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test func pingHeadersAndKeepAlive() async throws {
        try await withServer { socket, _ in
            try await offPool {
                let c = try RawClient(unixPath: socket)
                let get = try c.request("GET", "/_ping")
                #expect(get.status == 200 && get.text == "OK")
                #expect(get.headers["api-version"] == "1.50" && get.headers["ostype"] == "linux")
                #expect(get.headers["server"] == "Docker/\(BerthBuild.version) (linux)")
                #expect(get.headers["cache-control"] == "no-cache, no-store, must-revalidate")
                #expect(get.headers["pragma"] == "no-cache" && get.headers["docker-experimental"] == "false")
                #expect(get.headers["builder-version"] != nil)
                let head = try c.request("HEAD", "/_ping")   // same connection
                #expect(head.status == 200 && head.headers["content-length"] == "0")
                #expect(c.drainAvailable().isEmpty, "no body after a HEAD response")
                let versioned = try c.request("GET", "/v1.24/version")
                #expect(versioned.text == "1.24")
                #expect(try c.request("GET", "/version").text == "1.50")
            }
        }
    }

    @Test func errorsAreDockerJSON() async throws {
        try await withServer { socket, _ in
            try await offPool {
                let c = try RawClient(unixPath: socket)
                let old = try c.request("GET", "/v1.23/version")
                #expect(old.status == 400 && old.headers["content-type"] == "application/json")
                #expect(old.text == #"{"message":"client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"}"# + "\n")
                let new = try c.request("GET", "/v1.99/version")
                #expect(new.status == 400 && new.text.contains("client version 1.99 is too new. Maximum supported API version is 1.50"))
                for (m, p) in [("GET", "/nope"), ("POST", "/version"), ("GET", "/v1.50/no/such/route"), ("DELETE", "/_ping")] {
                    let r = try c.request(m, p)
                    #expect(r.status == 404 && r.text == #"{"message":"page not found"}"# + "\n", "\(m) \(p)")
                }
            }
        }
    }

    @Test func namesWithSlashesAndEscapes() async throws {
        try await withServer { socket, _ in
            try await offPool {
                let c = try RawClient(unixPath: socket)
                #expect(try c.request("GET", "/v1.50/images/localhost:5000/a/b:tag/json").text == #"{"name":"localhost:5000/a/b:tag"}"# + "\n")
                #expect(try c.request("GET", "/images/localhost%3A5000%2Fx/json").text == #"{"name":"localhost:5000/x"}"# + "\n")
            }
        }
    }

    @Test func requestBodies() async throws {
        try await withServer { socket, _ in
            try await offPool {
                let c = try RawClient(unixPath: socket)
                let big = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
                let r = try c.request("POST", "/echo", body: big)
                #expect(r.status == 200 && r.body == big)
                // chunked upload
                try c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
                #expect(try c.readResponse().text == "hello world")
                // a body the handler never reads does not break the next request
                let ignored = try c.request("GET", "/version", body: Data(repeating: 1, count: 100_000))
                #expect(ignored.text == "1.50")
                #expect(try c.request("GET", "/version").text == "1.50")
            }
        }
    }

    @Test func streamedResponses() async throws {
        try await withServer { socket, _ in
            try await offPool {
                let c = try RawClient(unixPath: socket)
                let s = try c.request("GET", "/stream")
                #expect(s.headers["transfer-encoding"] == "chunked" && s.headers["content-type"] == "application/json")
                #expect(s.text == "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n")
                let early = try c.request("GET", "/stream-fails-early")
                #expect(early.status == 404 && early.text == #"{"message":"nothing here"}"# + "\n")
            }
        }
    }

    @Test func connectionCloseIsHonoured() async throws {
        try await withServer { socket, _ in
            try await offPool {
                let c = try RawClient(unixPath: socket)
                let r = try c.request("GET", "/_ping", headers: ["Connection": "close"])
                #expect(r.text == "OK" && r.headers["connection"] == "close")
                #expect(try c.readToEOF().isEmpty)
            }
        }
    }

    @Test(arguments: [true, false])
    func hijackEchoAndHalfClose(upgrade: Bool) async throws {
        try await withServer { socket, _ in
            try await offPool {
                let c = try RawClient(unixPath: socket)
                let extra = upgrade ? "Connection: Upgrade\r\nUpgrade: tcp\r\n" : ""
                try c.send("POST /v1.50/containers/abc/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: x\r\n\(extra)Content-Length: 0\r\n\r\n")
                let (status, headers) = try c.readHead()
                if upgrade {
                    #expect(status == "HTTP/1.1 101 UPGRADED")
                    #expect(headers["connection"] == "Upgrade" && headers["upgrade"] == "tcp")
                } else {
                    #expect(status == "HTTP/1.1 200 OK")
                }
                #expect(headers["content-type"] == "application/vnd.docker.multiplexed-stream")
                #expect(headers["api-version"] == "1.50")
                try c.send("hello")
                #expect(String(decoding: try c.readExactly(5), as: UTF8.self) == "hello")
                let raw = " raw \r\n\r\nGET / HTTP/1.1\r\n\r\n"   // not HTTP any more: echoed as is
                try c.send(raw)
                #expect(String(decoding: try c.readExactly(raw.utf8.count), as: UTF8.self) == raw)
                c.shutdownWrite()
                #expect(String(decoding: try c.readToEOF(), as: UTF8.self) == "bye")
            }
        }
    }

    @Test func hijackKeepsBytesSentWithTheRequest() async throws {
        try await withServer { socket, _ in
            try await offPool {
                let c = try RawClient(unixPath: socket)
                try c.send("POST /containers/x/attach HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nearly-bytes")
                let (status, _) = try c.readHead()
                #expect(status.hasPrefix("HTTP/1.1 101"))
                #expect(String(decoding: try c.readExactly(11), as: UTF8.self) == "early-bytes")
                c.shutdownWrite()
                #expect(String(decoding: try c.readToEOF(), as: UTF8.self) == "bye")
            }
        }
    }

    @Test func shutdownEndsStreamsAndClosesIdleConnections() async throws {
        let dir = shortTempDir()
        let socket = dir + "/api.sock"
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = APIServer(router: Router(Self.testRoutes()), group: group, logger: Logger(label: "test"))
        try await server.listen(.unix(path: socket))
        let (idle, streaming) = try await offPool { () -> (RawClient, RawClient) in
            let idle = try RawClient(unixPath: socket)
            _ = try idle.request("GET", "/_ping")
            let streaming = try RawClient(unixPath: socket)
            try streaming.send("GET /stream-forever HTTP/1.1\r\nHost: x\r\n\r\n")
            let (status, _) = try streaming.readHead()
            #expect(status == "HTTP/1.1 200 OK")
            return (idle, streaming)
        }
        #expect(server.connectionCount == 2)
        let started = ContinuousClock.now
        await server.shutdown(grace: .seconds(5))
        #expect(ContinuousClock.now - started < .seconds(3), "streams are cancelled, not waited for")
        try await offPool { () throws -> Void in
            #expect(try idle.readToEOF().isEmpty)
            #expect(String(decoding: try streaming.readToEOF(), as: UTF8.self) == "0\r\n\r\n")  // the chunked body ends cleanly
        }
        #expect(!FileManager.default.fileExists(atPath: socket))
        try await group.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test func refusesToStealALiveSocket() async throws {
        try await withServer { socket, _ in
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let second = APIServer(router: Router(), group: group, logger: Logger(label: "test2"))
            await #expect(throws: BerthError.self) { try await second.listen(.unix(path: socket)) }
            try await group.shutdownGracefully()
        }
    }
}

extension ServerTests {
    @Test func expectContinue() async throws {
        try await withServer { socket, _ in
            try await offPool {
                let c = try RawClient(unixPath: socket)
                try c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
                let (status, _) = try c.readHead()
                #expect(status == "HTTP/1.1 100 Continue")
                try c.send("hello")
                #expect(try c.readResponse().text == "hello")
            }
        }
    }
}
