import APIModels
import OCI
import Testing
@testable import EngineAPI

@Suite struct FiltersTests {
    @Test(arguments: [
        (#"{"reference":["x"]}"#, ["reference": ["x"]]),
        (#"{"reference":{"x":true}}"#, ["reference": ["x"]]),
        (#"{"reference":{"x":true,"y":true},"dangling":["true"]}"#, ["reference": ["x", "y"], "dangling": ["true"]]),
        (#"{}"#, [:]),
        ("", [:]),
        ("  ", [:]),
        (#"{"label":null}"#, ["label": []]),
    ] as [(String, [String: [String]])])
    func parses(json: String, expected: [String: [String]]) throws {
        #expect(try Filters.parse(json).dictionary == expected)
    }

    @Test(arguments: [#"{"reference":"x"}"#, #"["x"]"#, "{nope", #"{"a":{"b":"yes"}}"#, #"{"a":[1]}"#])
    func rejects(json: String) {
        #expect(throws: BerthError.self) { try Filters.parse(json) }
    }

    @Test func validateKeys() throws {
        let f = try Filters.parse(#"{"type":["image"],"bogus":["1"]}"#)
        #expect(throws: BerthError.self) { try f.validate(accepted: ["type"]) }
        do {
            try f.validate(accepted: ["type"])
        } catch let e as BerthError {
            #expect(e.message == "invalid filter 'bogus'")
        }
        try f.validate(accepted: ["type", "bogus"])
    }

    @Test func matching() throws {
        let f = try Filters.parse(#"{"event":["pull"],"container":["ab"],"label":["a=1","b"]}"#)
        #expect(f.exactMatch("event", "pull"))
        #expect(!f.exactMatch("event", "push"))
        #expect(f.exactMatch("unset", "anything"))
        #expect(f.fuzzyMatch("container", "abcdef"))
        #expect(!f.fuzzyMatch("container", "xab"))
        #expect(f.matchKVList("label", ["a": "1", "b": ""]))
        #expect(!f.matchKVList("label", ["a": "2", "b": ""]))
        #expect(!f.matchKVList("label", ["a": "1"]))
    }
}

@Suite struct EventFilterTests {
    static func event(_ type: String, _ action: String, _ id: String, _ attrs: [String: String] = [:]) -> EventMessage {
        EventMessage(Type: type, Action: action, Actor: .init(ID: id, Attributes: attrs), time: 1, timeNano: 1_000_000_000)
    }

    @Test(arguments: [
        (#"{"type":["image"]}"#, true),
        (#"{"type":["container"]}"#, false),
        (#"{"event":["tag"]}"#, true),
        (#"{"event":["pull","tag"]}"#, true),
        (#"{"event":["delete"]}"#, false),
        (#"{"image":["sha256:1111"]}"#, true),
        (#"{"image":["localhost:5000/a/b:1"]}"#, true),
        (#"{"image":["localhost:5000/a/b"]}"#, true),
        (#"{"image":["other"]}"#, false),
        (#"{"label":["k=v"]}"#, true),
        (#"{"label":["k=w"]}"#, false),
        (#"{"container":["sha"]}"#, true),   // dockerd's fuzzy name match does not look at the type
        (#"{"container":["zzz"]}"#, false),
        (#"{"scope":["local"]}"#, true),
        (#"{"scope":["swarm"]}"#, false),
        ("", true),
    ])
    func imageTagEvent(filters: String, included: Bool) throws {
        let ev = Self.event("image", "tag", "sha256:1111", ["name": "localhost:5000/a/b:1", "k": "v"])
        #expect(EventFilter.matches(ev, try Filters.parse(filters)) == included)
    }

    @Test func fuzzyExecEvents() throws {
        let ev = Self.event("container", "exec_start: sh -c true", "c1")
        #expect(EventFilter.matches(ev, try Filters.parse(#"{"event":["exec_start"]}"#)))
        #expect(!EventFilter.matches(ev, try Filters.parse(#"{"event":["start"]}"#)))
    }

    @Test(arguments: [
        ("localhost:5000/a/b:1", "localhost:5000/a/b"),
        ("localhost:5000/a/b", "localhost:5000/a/b"),
        ("busybox:latest", "busybox"),
        ("busybox@sha256:abc", "busybox"),
    ])
    func stripTag(input: String, output: String) {
        #expect(EventFilter.stripTag(input) == output)
    }

    @Test(arguments: [
        ("", nil), ("1700000000", 1_700_000_000_000_000_000), ("1700000000.5", 1_700_000_000_500_000_000),
        ("1700000000.000000001", 1_700_000_000_000_000_001), ("12.123456789999", 12_123_456_789),
    ] as [(String, Int64?)])
    func eventTimes(raw: String, nanos: Int64?) throws {
        #expect(try EventTime.parse(raw, name: "since") == nanos)
    }

    @Test(arguments: ["abc", "1.x", "1.", "--1"])
    func badEventTimes(raw: String) {
        #expect(throws: BerthError.self) { try EventTime.parse(raw, name: "since") }
    }
}
