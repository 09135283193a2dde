import Foundation
import Engine
import NIOHTTP1
import OCI
import Testing
@testable import EngineAPI

@Suite struct APIVersionTests {
    @Test(arguments: [
        ("/v1.50/images/json", "1.50", "/images/json"),
        ("/v1.24/_ping", "1.24", "/_ping"),
        ("/v1.41", "1.41", "/"),
        ("/images/json", nil, "/images/json"),
        ("/v1.x/version", nil, "/v1.x/version"),
        ("/v/version", nil, "/v/version"),
        ("/version", nil, "/version"),
        ("/vv1.50/info", nil, "/vv1.50/info"),
    ] as [(String, String?, String)])
    func splitPrefix(path: String, version: String?, rest: String) {
        let split = APIVersion.splitPrefix(path)
        #expect(split.version == version)
        #expect(split.rest == rest)
    }

    @Test(arguments: [
        ("1.24", "1.24"), ("1.50", "1.50"), ("1.41", "1.41"), ("1.40.0", "1.40.0"),
    ])
    func accepted(requested: String, negotiated: String) throws {
        #expect(try APIVersion.negotiate(requested).string == negotiated)
    }

    @Test func noPrefixIsCurrent() throws {
        #expect(try APIVersion.negotiate(nil) == APIVersion("1.50"))
        #expect(try APIVersion.negotiate("") == .current)
    }

    @Test(arguments: [
        ("1.23", "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"),
        ("1.2", "client version 1.2 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"),
        ("1.99", "client version 1.99 is too new. Maximum supported API version is 1.50"),
        ("1.51", "client version 1.51 is too new. Maximum supported API version is 1.50"),
        ("2", "client version 2 is too new. Maximum supported API version is 1.50"),
    ])
    func rejected(requested: String, message: String) {
        do {
            _ = try APIVersion.negotiate(requested)
            Issue.record("accepted \(requested)")
        } catch let e as BerthError {
            #expect(e.code == .invalidArgument)
            #expect(e.message == message)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func ordering() {
        #expect(APIVersion("1.9") < APIVersion("1.10"))
        #expect(APIVersion("1.44") > APIVersion("1.43.9"))
        #expect(APIVersion("1.40") == APIVersion("1.40.0"))
        #expect(!(APIVersion("1.50") < "1.50"))
    }
}

@Suite struct RouterTests {
    static let router: Router = {
        func r(_ m: HTTPMethod, _ p: String) -> Route { Route(m, p) { _ in .status(.ok) } }
        return Router([
            r(.GET, "/_ping"), r(.HEAD, "/_ping"), r(.GET, "/images/json"), r(.GET, "/images/{name:.*}/history"),
            r(.GET, "/images/{name:.*}/json"), r(.POST, "/images/create"), r(.POST, "/images/{name:.*}/tag"),
            r(.POST, "/images/prune"), r(.DELETE, "/images/{name:.*}"), r(.GET, "/containers/{id}/json"),
            r(.POST, "/containers/{id}/attach"),
        ])
    }()

    @Test(arguments: [
        ("GET", "/_ping", "/_ping", [:]),
        ("HEAD", "/_ping", "/_ping", [:]),
        ("GET", "/images/json", "/images/json", [:]),
        ("GET", "/images/busybox/json", "/images/{name:.*}/json", ["name": "busybox"]),
        ("GET", "/images/localhost:5000/a/b:tag/json", "/images/{name:.*}/json", ["name": "localhost:5000/a/b:tag"]),
        ("GET", "/images/json/json", "/images/{name:.*}/json", ["name": "json"]),
        ("GET", "/images/sha256:abc/history", "/images/{name:.*}/history", ["name": "sha256:abc"]),
        ("POST", "/images/reg:5000/x/tag", "/images/{name:.*}/tag", ["name": "reg:5000/x"]),
        ("POST", "/images/prune", "/images/prune", [:]),
        ("POST", "/images/create", "/images/create", [:]),
        ("DELETE", "/images/localhost:5000/a/b:1", "/images/{name:.*}", ["name": "localhost:5000/a/b:1"]),
        ("DELETE", "/images/a/json", "/images/{name:.*}", ["name": "a/json"]),
        ("GET", "/containers/abc/json", "/containers/{id}/json", ["id": "abc"]),
        ("POST", "/containers/abc/attach", "/containers/{id}/attach", ["id": "abc"]),
    ] as [(String, String, String, [String: String])])
    func matches(method: String, path: String, pattern: String, params: [String: String]) throws {
        let m = try #require(Self.router.match(method: HTTPMethod(rawValue: method), path: path))
        #expect(m.0.pattern.description == pattern)
        #expect(m.1 == params)
    }

    @Test(arguments: [
        ("GET", "/nope"), ("POST", "/_ping"), ("PUT", "/images/json"), ("GET", "/images//json"),
        ("GET", "/images/"), ("GET", "/containers/a/b/json"), ("HEAD", "/version"), ("GET", "/_ping/"),
        ("DELETE", "/images/"),
    ])
    func noMatch(method: String, path: String) {
        #expect(Self.router.match(method: HTTPMethod(rawValue: method), path: path) == nil)
    }
}

@Suite struct QueryTests {
    @Test func parsesAndDecodes() {
        let q = QueryParameters(query: "all=1&filters=%7B%22a%22%3A%5B%22b%22%5D%7D&x=a+b&x=c&flag")
        #expect(q["all"] == "1")
        #expect(q["filters"] == #"{"a":["b"]}"#)
        #expect(q["x"] == "a b")
        #expect(q.all("x") == ["a b", "c"])
        #expect(q.has("flag") && q["flag"] == "")
        #expect(q["missing"] == nil)
    }

    @Test(arguments: [
        ("1", true), ("true", true), ("yes", true), ("True", true), ("0", false), ("false", false), ("no", false),
        ("none", false), ("", false), ("FALSE", false),
    ])
    func dockerBoolValue(raw: String, expected: Bool) {
        #expect(QueryParameters([("force", raw)]).bool("force") == expected)
    }

    @Test func boolDefault() {
        #expect(QueryParameters().bool("stream", default: true))
        #expect(!QueryParameters([("stream", "0")]).bool("stream", default: true))
    }

    @Test func intValues() throws {
        #expect(try QueryParameters([("n", "12")]).int("n") == 12)
        #expect(try QueryParameters().int("n") == nil)
        #expect(throws: BerthError.self) { try QueryParameters([("n", "x")]).int("n") }
    }

    @Test(arguments: [
        (nil, nil), ("", nil), ("abc", nil),
        ("eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6InAifQ==", "u"),   // std base64 with padding
        ("eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6InAifQ", "u"),     // padding dropped
        ("e30=", nil),                                           // {}
    ] as [(String?, String?)])
    func registryAuthHeader(header: String?, user: String?) {
        #expect(APIRoutes.decodeRegistryAuth(header)?.username == user)
    }

    @Test func registryAuthURLSafe() {
        // {"username":"?>?","password":"x"} has '+' and '/' in standard base64
        let json = #"{"username":"~~~>>>???","password":"x"}"#
        let std = Data(json.utf8).base64EncodedString()
        let url = std.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        #expect(std != url)
        #expect(APIRoutes.decodeRegistryAuth(url)?.username == "~~~>>>???")
    }
}
