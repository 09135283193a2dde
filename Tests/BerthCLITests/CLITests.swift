import APIClient
import APIModels
import Foundation
import Testing
@testable import BerthCLI

struct FlagParserTests {
    static let specs: [FlagSpec] = [
        .bool("all", "a", "all"), .bool("quiet", "q", "quiet"), .bool("no-trunc", nil, "x"),
        .array("filter", "f", "filter", type: "filter"), .string("format", nil, "format"),
        .bool("human", "H", "human", default: true), .int("count", "n", "count"),
    ]

    struct Case: Sendable, CustomTestStringConvertible {
        var args: [String]
        var check: @Sendable (ParsedFlags, [String]) -> Bool
        var testDescription: String { args.joined(separator: " ") }
    }

    static let cases: [Case] = [
        Case(args: ["-aq"]) { f, p in f.bool("all") && f.bool("quiet") && p.isEmpty },
        Case(args: ["--filter", "a=1", "-f", "b=2", "--filter=c=3", "-fd=4"]) { f, _ in f.strings("filter") == ["a=1", "b=2", "c=3", "d=4"] },
        Case(args: ["--format={{.ID}}", "x"]) { f, p in f.string("format") == "{{.ID}}" && p == ["x"] },
        Case(args: ["--format", "{{.ID}}"]) { f, _ in f.string("format") == "{{.ID}}" },
        Case(args: ["x", "-a", "y"]) { f, p in f.bool("all") && p == ["x", "y"] },
        Case(args: ["--", "-a"]) { f, p in !f.bool("all") && p == ["-a"] },
        Case(args: ["-H=false"]) { f, _ in !f.bool("human") },
        Case(args: []) { f, _ in f.bool("human") && !f.isSet("human") },
        Case(args: ["--no-trunc=true", "-n5", "-"]) { f, p in f.bool("no-trunc") && f.int("count") == 5 && p == ["-"] },
        Case(args: ["-af", "x=1"]) { f, _ in f.bool("all") && f.strings("filter") == ["x=1"] },
    ]

    @Test(arguments: cases)
    func parses(_ c: Case) throws {
        let r = try FlagParser.parse(c.args, specs: Self.specs)
        #expect(c.check(r.flags, r.positional))
    }

    @Test func nonInterspersedStopsAtFirstPositional() throws {
        let r = try FlagParser.parse(["-a", "busybox", "sh", "-c", "echo -q"], specs: Self.specs, interspersed: false)
        #expect(r.flags.bool("all"))
        #expect(!r.flags.bool("quiet"))
        #expect(r.positional == ["busybox", "sh", "-c", "echo -q"])
    }

    @Test(arguments: [
        (["--foo"], "unknown flag: --foo"),
        (["-x"], "unknown shorthand flag: 'x' in -x"),
        (["-ax"], "unknown shorthand flag: 'x' in -ax"),
        (["--filter"], "flag needs an argument: --filter"),
        (["-f"], "flag needs an argument: 'f' in -f"),
        (["--no-trunc=foo"], "invalid argument \"foo\" for \"--no-trunc\" flag: strconv.ParseBool: parsing \"foo\": invalid syntax"),
        (["-a=maybe"], "invalid argument \"maybe\" for \"-a, --all\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax"),
    ] as [([String], String)])
    func errors(_ args: [String], _ message: String) {
        do {
            _ = try FlagParser.parse(args, specs: Self.specs)
            Issue.record("expected an error")
        } catch let e as FlagError {
            #expect(e.message == message)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func helpFlags() throws {
        #expect(try FlagParser.parse(["--help"], specs: Self.specs).help)
        let h = try FlagParser.parse(["-h"], specs: Self.specs)
        #expect(h.help && h.shortHelp)
        #expect(try !FlagParser.parse(["--help=false"], specs: Self.specs).help)
    }

    @Test func helpLayoutMatchesPflag() {
        let usage = Command.flagUsages([
            .bool("all", "a", "Show all images (default hides intermediate images)"),
            .array("filter", "f", "Filter output based on conditions provided", type: "filter"),
            .bool("disable-content-trust", nil, "Skip image verification", default: true),
            .string("log-level", "l", "Set the logging level", default: "info"),
        ], columns: 79)
        #expect(usage == """
              -a, --all                     Show all images (default hides
                                            intermediate images)
                  --disable-content-trust   Skip image verification (default true)
              -f, --filter filter           Filter output based on conditions provided
              -l, --log-level string        Set the logging level (default "info")

            """)
    }
}

struct DockerHostTests {
    @Test(arguments: [
        ("", false, "unix:///run/berth/berth.sock"),
        ("", true, "tcp://localhost:2376"),
        ("unix://", false, "unix:///run/berth/berth.sock"),
        ("unix:///tmp/x.sock", false, "unix:///tmp/x.sock"),
        ("tcp://127.0.0.1:1", false, "tcp://127.0.0.1:1"),
        ("tcp://127.0.0.1", false, "tcp://127.0.0.1:2375"),
        ("tcp://", false, "tcp://localhost:2375"),
        ("127.0.0.1:1", false, "tcp://127.0.0.1:1"),
        ("tcp://[::1]:1", false, "tcp://[::1]:1"),
        ("  tcp://h:5/path ", false, "tcp://h:5"),
    ] as [(String, Bool, String)])
    func parses(_ input: String, _ tls: Bool, _ expected: String) throws {
        #expect(try DockerHost.parse(input, tls: tls).description == expected)
    }

    @Test func rejectsUnknownSchemes() {
        do {
            _ = try DockerHost.parse("foo://x")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("invalid bind address format: foo://x"))
        }
    }

    @Test func queryAndFilterEncoding() {
        #expect(APIClient.encodeQuery([("tag", "latest"), ("fromImage", "docker.io/library/busybox")]) == "fromImage=docker.io%2Flibrary%2Fbusybox&tag=latest")
        #expect(APIClient.encodeFilters(["reference": ["busybox"], "dangling": ["true"]]) == #"{"dangling":{"true":true},"reference":{"busybox":true}}"#)
        #expect(APIClient.pathEscape("localhost:5000/a b@sha256:x") == "localhost:5000%2Fa%20b@sha256:x")
        #expect(APIClient.versionLess("1.9", "1.10"))
        #expect(!APIClient.versionLess("1.50", "1.50"))
    }
}

struct ConfigFileTests {
    func tempDir() -> String {
        let d = NSTemporaryDirectory() + "berth-cli-test-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func readsAndWritesAuthsLikeDocker() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #"{"psFormat":"x","custom":{"keep":1},"credsStore":"","auths":{"old.example":{"auth":"dTpw"}}}"#
            .write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        let c = try ConfigFile.load(dir: dir)
        #expect(c.auths["old.example"]?.username == "u")
        #expect(c.auths["old.example"]?.password == "p")
        try c.store(AuthConfig(username: "alice", password: "secret", serveraddress: "localhost:5000"), env: [:])
        let text = try String(contentsOfFile: dir + "/config.json", encoding: .utf8)
        #expect(text == """
            {
            \t"auths": {
            \t\t"localhost:5000": {
            \t\t\t"auth": "YWxpY2U6c2VjcmV0"
            \t\t},
            \t\t"old.example": {
            \t\t\t"auth": "dTpw"
            \t\t}
            \t},
            \t"psFormat": "x",
            \t"credsStore": "",
            \t"custom": {
            \t\t"keep": 1
            \t}
            }
            """)
        let again = try ConfigFile.load(dir: dir)
        #expect(try again.authConfig(for: "localhost:5000", env: [:]).username == "alice")
        try again.erase("localhost:5000", env: [:])
        #expect(try ConfigFile.load(dir: dir).auths["localhost:5000"] == nil)
    }

    @Test func legacyKeysMatchByHostname() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #"{"auths":{"https://reg.example:5000/v2/":{"auth":"dTpw"}}}"#.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        let a = try ConfigFile.load(dir: dir).authConfig(for: "reg.example:5000", env: [:])
        #expect(a.username == "u")
        #expect(try ConfigFile.load(dir: dir).authConfig(for: "other", env: [:]).username == nil)
    }

    @Test func registryAuthHeader() {
        #expect(ConfigFile.encodeAuthHeader(AuthConfig()) == "e30=")
        let h = ConfigFile.encodeAuthHeader(AuthConfig(username: "alice", password: "secret", serveraddress: "localhost:5000"))
        #expect(h == "eyJ1c2VybmFtZSI6ImFsaWNlIiwicGFzc3dvcmQiOiJzZWNyZXQiLCJzZXJ2ZXJhZGRyZXNzIjoibG9jYWxob3N0OjUwMDAifQ==")
    }

    @Test func hostnames() {
        #expect(ConfigFile.convertToHostname("https://index.docker.io/v1/") == "index.docker.io")
        #expect(ConfigFile.convertToHostname("localhost:5000") == "localhost:5000")
    }
}

/// Image-list rows: repository/tag splitting with familiar names, dangling images, digests.
struct ImageRowsTests {
    static func summary(_ json: String) -> ImageCommands.Summary { .init(try! JSON.parse(json)) }

    func render(_ images: [ImageCommands.Summary], format: String, digests: Bool = false) throws -> String {
        let fmt = ImageCommands.imageFormat(format, quiet: false, digest: digests)
        let rows = ImageCommands.rows(images, trunc: true, showDigests: digests, needDigest: digests || fmt.contains("{{.Digest}}"), now: 1_000_000)
        return try ListFormatter(format: fmt, headers: ImageCommands.imageHeaders).render(rows)
    }

    @Test func familiarNamesAndTags() throws {
        let imgs = [
            Self.summary(#"{"Id":"sha256:\#(String(repeating: "a1", count: 32))","RepoTags":["docker.io/library/busybox:latest","localhost:5000/x:1"],"RepoDigests":["busybox@sha256:\#(String(repeating: "d", count: 64))"],"Created":1000000,"Size":4261550}"#),
            Self.summary(#"{"Id":"sha256:\#(String(repeating: "b2", count: 32))","RepoTags":[],"RepoDigests":[],"Created":999940,"Size":999999}"#),
            Self.summary(#"{"Id":"sha256:\#(String(repeating: "c3", count: 32))","RepoTags":[],"RepoDigests":["alpine@sha256:\#(String(repeating: "f", count: 64))"],"Created":0,"Size":0}"#),
        ]
        let out = try render(imgs, format: "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.Digest}}")
        let d = String(repeating: "d", count: 64)
        #expect(out == """
            REPOSITORY         TAG       IMAGE ID       CREATED                  SIZE      DIGEST
            busybox            latest    a1a1a1a1a1a1   Less than a second ago   4.26MB    sha256:\(d)
            localhost:5000/x   1         a1a1a1a1a1a1   Less than a second ago   4.26MB    <none>
            <none>             <none>    b2b2b2b2b2b2   About a minute ago       1e+03kB   <none>
            alpine             <none>    c3c3c3c3c3c3   11 days ago              0B       \u{20}

            """)
    }
}

/// Whole command lines through `BerthCLI.run` without a daemon.
struct CommandLineTests {
    func run(_ args: [String], env: [String: String] = ["DOCKER_HOST": "unix:///nonexistent/berth.sock", "HOME": "/nonexistent"]) -> (Int32, String, String) {
        let ctx = CLIContext(out: OutputStream(capturingAsTerminal: false), err: OutputStream(capturingAsTerminal: false),
                             stdin: InputStream(bytes: []), env: env)
        let status = BerthCLI.run(args, ctx: ctx)
        return (status, ctx.out.capturedString, ctx.err.capturedString)
    }

    @Test func daemonUnreachable() {
        let (status, out, err) = run(["images"])
        #expect(status == 1)
        #expect(out == "")
        #expect(err == "Cannot connect to the Docker daemon at unix:///nonexistent/berth.sock. Is the docker daemon running?\n")
    }

    @Test(arguments: [
        (["foo"], Int32(1), "berth: unknown command: berth foo\n\nRun 'berth --help' for more information\n"),
        (["images", "a", "b"], 1, "berth: 'berth images' requires at most 1 argument\n\nUsage:  berth images [OPTIONS] [REPOSITORY[:TAG]]\n\nSRun 'berth images --help' for more information\n"),
        (["images", "--foo"], 125, "unknown flag: --foo\n\nUsage:  berth images [OPTIONS] [REPOSITORY[:TAG]]\n\nRun 'berth images --help' for more information\n"),
        (["image", "ls", "-x"], 125, "unknown shorthand flag: 'x' in -x\n\nUsage:  berth image ls [OPTIONS] [REPOSITORY[:TAG]]\n\nRun 'berth image ls --help' for more information\n"),
        (["image", "foo"], 1, "berth: unknown command: berth image foo\n\nUsage:  berth image\n\nRun 'berth image --help' for more information\n"),
        (["pull"], 1, "berth: 'berth pull' requires 1 argument\n\nUsage:  berth pull [OPTIONS] NAME[:TAG|@DIGEST]\n\nRun 'berth pull --help' for more information\n"),
        (["rmi"], 1, "berth: 'berth rmi' requires at least 1 argument\n\nUsage:  berth rmi [OPTIONS] IMAGE [IMAGE...]\n\nSee 'berth rmi --help' for more information\n"),
        (["version", "x"], 1, "berth: 'berth version' accepts no arguments\n\nUsage:  berth version [OPTIONS]\n\nRun 'berth version --help' for more information\n"),
        (["-H"], 125, "flag needs an argument: 'H' in -H\n\nUsage:  berth [OPTIONS] COMMAND [ARG...]\n\nRun 'berth --help' for more information\n"),
        (["images", "-f", "nofilter"], 125, "invalid argument \"nofilter\" for \"-f, --filter\" flag: bad format of filter (expected name=value)\n\nUsage:  berth images [OPTIONS] [REPOSITORY[:TAG]]\n\nRun 'berth images --help' for more information\n"),
        (["-H", "foo://x", "images"], 1, "Failed to initialize: unable to resolve docker endpoint: invalid bind address format: foo://x\n"),
        (["pull", "Bad"], 1, "invalid reference format: repository name (library/Bad) must be lowercase\n"),
        (["pull", "-a", "busybox:1"], 1, "tag can't be used with --all-tags/-a\n"),
        (["tag", "busybox", "x@sha256:" + String(repeating: "a", count: 64)], 1, "refusing to create a tag with a digest reference\n"),
        (["image", "inspect", "-f", "{{.ID", "x"], 64, "template parsing error: template: :1: unclosed action\n"),
        (["login", "-u", "x", "--password-stdin", "-p", "y"], 1, "conflicting options: cannot specify both --password and --password-stdin\n"),
        (["login", "--password-stdin"], 1, "the --password-stdin option requires --username to be set\n"),
    ] as [([String], Int32, String)])
    func usageErrors(_ args: [String], _ status: Int32, _ stderr: String) {
        let (s, _, err) = run(args)
        #expect(s == status)
        #expect(err == stderr)
    }

    @Test func versionFlag() {
        let (s, out, _) = run(["-v"])
        #expect(s == 0)
        #expect(out == "berth version \(BerthCLI.version), build \(BerthCLI.gitCommit)\n")
    }

    @Test func helpGoesToStdout() {
        let (s, out, err) = run(["images", "--help"])
        #expect(s == 0 && err == "")
        #expect(out.hasPrefix("Usage:  berth images [OPTIONS] [REPOSITORY[:TAG]]\n\nList images\n\nAliases:\n  berth image ls, berth image list, berth images\n\nOptions:\n  -a, --all             Show all images"))
        let (s2, out2, err2) = run(["image"])
        #expect(s2 == 0 && out2 == "")
        #expect(err2.hasPrefix("Usage:  berth image COMMAND\n\nManage images\n\nCommands:\n"))
    }

    @Test func versionWithoutDaemonPrintsClientAndFails() {
        let (s, out, err) = run(["version"])
        #expect(s == 1)
        #expect(out.hasPrefix("Client:\n Version:           \(BerthCLI.version)\n API version:       1.50\n"))
        #expect(err.hasPrefix("Cannot connect to the Docker daemon"))
    }
}
