import APIModels
import Foundation
import OCI
import Testing
@testable import Engine

/// `--change` instructions and commit configs, checked against dockerd's answers.
struct CommitChangesTests {
    static let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    static var base: ContainerAPIConfig {
        var c = ContainerAPIConfig()
        c.Hostname = "abc123"
        c.Env = [path, "X=1"]
        c.Cmd = ["true"]
        c.Labels = ["a": "1"]
        c.ExposedPorts = ["80/tcp": .object([:])]
        return c
    }

    /// The config as JSON, for comparing fields.
    static func field(_ c: ContainerAPIConfig, _ key: String) throws -> JSONValue? {
        try JSONValue(encoding: c)[key]
    }

    static func strings(_ s: [String]) -> JSONValue { .array(s.map(JSONValue.string)) }
    static func set(_ s: [String]) -> JSONValue { .object(Dictionary(uniqueKeysWithValues: s.map { ($0, JSONValue.object([:])) })) }

    @Test(arguments: [
        (["ENTRYPOINT [\"/bin/echo\"]"], "Entrypoint", strings(["/bin/echo"])),
        (["ENTRYPOINT [\"/bin/echo\"]"], "Cmd", nil),
        (["CMD [\"a\"]", "ENTRYPOINT [\"b\"]"], "Cmd", strings(["a"])),
        (["CMD echo hi"], "Cmd", strings(["/bin/sh", "-c", "echo hi"])),
        (["ENTRYPOINT exec top -b"], "Entrypoint", strings(["/bin/sh", "-c", "exec top -b"])),
        (["ENV A=$X:b B=\"q r\""], "Env", strings([path, "X=1", "A=1:b", "B=q r"])),
        (["ENV C ${X}z w"], "Env", strings([path, "X=1", "C=1z w"])),
        (["ENV X=2 Y=$X"], "Env", strings([path, "X=2", "Y=1"])),
        (["ENV Q=\"${MISSING:-dflt}\" R='$X' S=${X:+set}"], "Env", strings([path, "X=1", "Q=dflt", "R=$X", "S=set"])),
        (["EXPOSE 81 90-92/udp"], "ExposedPorts", set(["80/tcp", "81/tcp", "90/udp", "91/udp", "92/udp"])),
        (["LABEL b=2 \"c d\"=e"], "Labels", .object(["a": .string("1"), "b": .string("2"), "c d": .string("e")])),
        (["USER nobody"], "User", .string("nobody")),
        (["WORKDIR rel"], "WorkingDir", .string("/rel")),
        (["WORKDIR /abs\nWORKDIR sub/../sub2"], "WorkingDir", .string("/abs/sub2")),
        (["VOLUME /v1 /v2"], "Volumes", set(["/v1", "/v2"])),
        (["VOLUME [\"/v3\"]"], "Volumes", set(["/v3"])),
        (["ONBUILD RUN echo hi"], "OnBuild", strings(["RUN echo hi"])),
        (["HEALTHCHECK --interval=5s CMD true"], "Healthcheck",
         .object(["Test": strings(["CMD-SHELL", "true"]), "Interval": .number(5e9)])),
        (["HEALTHCHECK --timeout=1m30s --retries=3 CMD [\"check\", \"-q\"]"], "Healthcheck",
         .object(["Test": strings(["CMD", "check", "-q"]), "Timeout": .number(9e10), "Retries": .number(3)])),
        (["HEALTHCHECK NONE"], "Healthcheck", .object(["Test": strings(["NONE"])])),
        (["STOPSIGNAL SIGKILL"], "StopSignal", .string("SIGKILL")),
        (["# a comment", "", "CMD \\\n  [\"x\"]"], "Cmd", strings(["x"])),
    ] as [([String], String, JSONValue?)])
    func applies(changes: [String], key: String, expected: JSONValue?) throws {
        let c = try CommitChanges.apply(changes, to: Self.base)
        #expect(try Self.field(c, key) == expected)
    }

    @Test(arguments: [
        (["RUN x"], "run is not a valid change command"),
        (["CMD x", "FROM busybox"], "from is not a valid change command"),
        (["ARG x"], "arg is not a valid change command"),
        (["bogus"], "bogus is not a valid change command"),
        (["ENV"], "ENV requires at least one argument"),
        (["EXPOSE"], "EXPOSE requires at least one argument"),
        (["ENV a=1 b"], "Syntax error - can't find = in \"b\". Must be of the form: name=value"),
        (["ONBUILD ONBUILD RUN x"], "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        (["ONBUILD FROM x"], "FROM isn't allowed as an ONBUILD trigger"),
        (["STOPSIGNAL NOPE"], "Invalid signal: NOPE"),
        (["HEALTHCHECK NONE --interval=1s"], "HEALTHCHECK NONE takes no arguments"),
        (["HEALTHCHECK RUN x"], "Unknown type \"RUN\" in HEALTHCHECK (try CMD)"),
        (["EXPOSE 99999"], "Invalid containerPort: 99999"),
    ])
    func refuses(changes: [String], message: String) {
        let e = #expect(throws: BerthError.self) { try CommitChanges.apply(changes, to: Self.base) }
        #expect(e?.code == .invalidArgument)
        #expect(e?.message == message)
    }

    @Test func bodyConfigIsMergedWithTheContainers() throws {
        var body = ContainerAPIConfig()
        body.Cmd = ["echo", "body"]
        body.Env = ["Y=2"]
        body.Labels = ["z": "9"]
        let c = CommitConfig.merge(body, Self.base)
        #expect(c.Env == ["Y=2", Self.path, "X=1"])
        #expect(c.Labels == ["a": "1", "z": "9"])
        #expect(c.Cmd?.values == ["echo", "body"])
        #expect(c.Hostname == nil && c.ExposedPorts?.keys.sorted() == ["80/tcp"])
        guard case .object(let json) = try CommitConfig.dockerJSON(c) else { Issue.record("not an object"); return }
        #expect(json["Hostname"] == .string("") && json["Volumes"] == .null && json["AttachStdout"] == .bool(false))
    }

    @Test func entrypointChangeDropsTheContainersCmd() throws {
        let changed = try CommitChanges.apply(["ENTRYPOINT [\"/bin/echo\"]"], to: Self.base)
        let c = CommitConfig.merge(changed, Self.base)
        #expect(c.Entrypoint?.values == ["/bin/echo"] && c.Cmd == nil)
    }

    @Test(arguments: [true, false])
    func imageConfigAppendsHistoryAndLayer(emptyLayer: Bool) throws {
        let parent = """
        {"architecture":"arm64","variant":"v8","os":"linux","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:\(String(repeating: "a", count: 64))"]},
         "history":[{"created":"2023-01-01T00:00:00Z","created_by":"ADD rootfs","comment":"base"}],"unknown":{"x":1}}
        """
        let diffID = try Digest(sha256Hex: String(repeating: "b", count: 64))
        let origin = CommitConfig.Origin(containerID: "c0ffee", containerConfig: Self.base, author: "me", comment: "msg",
                                         createdBy: "sh -c touch /x", created: "2024-05-06T07:08:09.1Z")
        let bytes = try CommitConfig.imageConfig(parent: Array(parent.utf8), config: Self.base, origin: origin,
                                                 diffID: emptyLayer ? nil : diffID)
        let cfg = try JSONDecoder().decode(ImageConfig.self, from: Data(bytes))
        #expect(cfg.architecture == "arm64" && cfg.variant == "v8" && cfg.author == "me" && cfg.container == "c0ffee")
        #expect(cfg.rootfs.diffIDs.count == (emptyLayer ? 1 : 2))
        #expect(cfg.history?.count == 2 && cfg.history?[0].comment == "base")
        let h = try #require(cfg.history?.last)
        #expect(h.createdBy == "sh -c touch /x" && h.comment == "msg" && h.created == "2024-05-06T07:08:09.1Z")
        #expect(h.emptyLayer == (emptyLayer ? true : nil))
        #expect(cfg.config?.Hostname == "abc123" && cfg.config?.Cmd == ["true"])
        #expect(try JSONValue(encoding: JSONDecoder().decode(JSONValue.self, from: Data(bytes)))["unknown"] == nil)
    }
}
