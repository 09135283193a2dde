import APIModels
import Engine
import Foundation
import Logging
import NIOPosix
import Testing
@testable import EngineAPI

/// `/events` over HTTP against a real EventService.
@Suite(.serialized) struct EventsRouteTests {
    func withEvents(_ body: (String, EventService) async throws -> Void) async throws {
        let dir = shortTempDir("ev")
        let socket = dir + "/api.sock"
        let events = EventService()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = APIServer(router: Router(APIRoutes.events(events)), group: group, logger: Logger(label: "events"))
        try await server.listen(.unix(path: socket))
        do {
            try await body(socket, events)
        } catch {
            await server.shutdown(grace: .zero)
            try? await group.shutdownGracefully()
            throw error
        }
        await server.shutdown(grace: .seconds(2))
        try? await group.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: dir)
    }

    static func lines(_ r: RawClient.Response) throws -> [[String: Any]] {
        try r.text.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:]
        }
    }

    @Test func pastEventsWithSinceUntilAndFilters() async throws {
        try await withEvents { socket, events in
            let t0 = EventTime.now() / 1_000_000_000 - 1
            await events.publish(type: "image", action: "pull", id: "localhost:5000/a:1", attributes: ["name": "localhost:5000/a:1"])
            await events.publish(type: "image", action: "tag", id: "sha256:1", attributes: ["name": "b:2"])
            await events.publish(type: "container", action: "start", id: "c1", attributes: ["image": "b:2", "name": "web"])
            let t1 = EventTime.now() / 1_000_000_000 + 1
            try await Task.sleep(nanoseconds: 1_100_000_000)  // until (whole seconds) is now in the past
            try await offPool {
                let c = try RawClient(unixPath: socket)
                let all = try Self.lines(c.request("GET", "/v1.50/events?since=\(t0)&until=\(t1)"))
                #expect(all.map { $0["Action"] as? String } == ["pull", "tag", "start"])
                #expect(all[0]["status"] as? String == "pull" && all[0]["id"] as? String == "localhost:5000/a:1")
                #expect(all[0]["scope"] as? String == "local" && all[0]["timeNano"] is Int)
                let q = #"{"type":{"image":true}}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                #expect(try Self.lines(c.request("GET", "/events?since=\(t0)&until=\(t1)&filters=\(q)")).count == 2)
                let img = #"{"image":["b"]}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let byImage = try Self.lines(c.request("GET", "/events?since=\(t0).000000000&until=\(t1).000000000&filters=\(img)"))
                #expect(byImage.map { $0["Action"] as? String } == ["tag", "start"])
                let bad = try c.request("GET", "/events?since=\(t0)&until=\(t1)&filters=%7B%22nope%22%3A%5B%22x%22%5D%7D")
                #expect(bad.status == 400 && bad.text.contains("invalid filter 'nope'"))
                let reversed = try c.request("GET", "/events?since=\(t1)&until=\(t0)")
                #expect(reversed.status == 400)
                let garbage = try c.request("GET", "/events?since=yesterday")
                #expect(garbage.status == 400)
            }
        }
    }

    @Test func liveEventsUntilAFutureTime() async throws {
        try await withEvents { socket, events in
            let until = EventTime.now() + 1_500_000_000
            let reader = Task {
                try await offPool { () throws -> [String] in
                    let c = try RawClient(unixPath: socket)
                    let secs = until / 1_000_000_000, nanos = until % 1_000_000_000
                    let r = try c.request("GET", "/events?until=\(secs).\(String(format: "%09lld", nanos))")
                    return try Self.lines(r).compactMap { $0["Action"] as? String }
                }
            }
            try await Task.sleep(nanoseconds: 400_000_000)
            await events.publish(type: "image", action: "delete", id: "sha256:2")
            let started = ContinuousClock.now
            let actions = try await reader.value
            #expect(actions == ["delete"])
            #expect(ContinuousClock.now - started < .seconds(3), "the stream ends at `until`")
        }
    }
}
