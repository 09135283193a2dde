import APIClient
import APIModels
import Foundation
import Testing
@testable import BerthCLI

/// `run`/`create` flag parsing and create-body building.
struct ContainerRunOptionsTests {
    static let runSpecs = ContainerRunCommand.run(bin: "berth", category: .common).flags

    static func parse(_ args: [String], env: [String: String] = [:]) throws -> ContainerOptions.Parsed {
        let r = try FlagParser.parse(args, specs: runSpecs, interspersed: false)
        return try ContainerOptions.parse(r.flags, args: r.positional, env: env, stdoutIsTerminal: false)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var args: [String]
        var check: @Sendable (ContainerOptions.Parsed) -> Bool
        var testDescription: String { args.joined(separator: " ") }
    }

    static let cases: [Case] = [
        // Everything after the image passes through untouched.
        Case(args: ["--rm", "busybox", "sh", "-c", "echo -it --rm"]) { p in
            p.config.Image == "busybox" && p.config.Cmd?.values == ["sh", "-c", "echo -it --rm"] && p.host.AutoRemove == true
        },
        Case(args: ["-it", "busybox"]) { p in
            p.config.Tty == true && p.config.OpenStdin == true && p.config.AttachStdin == true && p.config.Cmd == nil
        },
        Case(args: ["busybox"]) { p in
            p.config.AttachStdin == false && p.config.AttachStdout == true && p.config.AttachStderr == true && p.config.Tty == false
        },
        Case(args: ["-a", "stderr", "busybox"]) { p in p.config.AttachStdout == false && p.config.AttachStderr == true },
        Case(args: ["-e", "A=1", "-e", "B", "-e", "C", "x"]) { p in p.config.Env == ["A=1", "B=from-env", "C"] },
        Case(args: ["-m", "512m", "x"]) { p in p.host.Memory == 512 * 1024 * 1024 },
        Case(args: ["--memory=1.5g", "x"]) { p in p.host.Memory == 1_610_612_736 },
        Case(args: ["--cpus", "1.5", "x"]) { p in p.host.NanoCpus == 1_500_000_000 },
        Case(args: ["--cpus", ".25", "x"]) { p in p.host.NanoCpus == 250_000_000 },
        Case(args: ["--ulimit", "nofile=1024:2048", "--ulimit", "nproc=10", "x"]) { p in
            p.host.Ulimits == [Ulimit(Name: "nofile", Soft: 1024, Hard: 2048), Ulimit(Name: "nproc", Soft: 10, Hard: 10)]
        },
        Case(args: ["--cap-add", "NET_ADMIN", "--cap-drop", "ALL", "x"]) { p in p.host.CapAdd == ["CAP_NET_ADMIN"] && p.host.CapDrop == ["ALL"] },
        Case(args: ["--restart", "on-failure:3", "x"]) { p in p.host.RestartPolicy == RestartPolicy(Name: "on-failure", MaximumRetryCount: 3) },
        Case(args: ["x"]) { p in p.host.RestartPolicy == RestartPolicy(Name: "no", MaximumRetryCount: 0) && p.host.NetworkMode == "default" },
        Case(args: ["--entrypoint", "", "x"]) { p in p.config.Entrypoint?.values == [""] },
        Case(args: ["--entrypoint", "/bin/sh", "x"]) { p in p.config.Entrypoint?.values == ["/bin/sh"] },
        Case(args: ["-l", "a=1", "--label", "b", "x"]) { p in p.config.Labels == ["a": "1", "b": ""] },
        Case(args: ["-h", "box", "-w", "/tmp", "-u", "1:2", "--network", "none", "x"]) { p in
            p.config.Hostname == "box" && p.config.WorkingDir == "/tmp" && p.config.User == "1:2" && p.host.NetworkMode == "none"
        },
        Case(args: ["--pids-limit", "10", "--stop-timeout", "3", "--stop-signal", "SIGUSR1", "--init", "x"]) { p in
            p.host.PidsLimit == 10 && p.config.StopTimeout == 3 && p.config.StopSignal == "SIGUSR1" && p.host.Init == true
        },
        Case(args: ["--read-only", "--privileged", "--security-opt", "no-new-privileges", "x"]) { p in
            p.host.ReadonlyRootfs == true && p.host.Privileged == true && p.host.SecurityOpt == ["no-new-privileges"]
        },
        Case(args: ["--rm", "-d", "x"]) { p in p.host.AutoRemove == true },
        Case(args: ["--name", "web", "--platform", "linux/amd64", "--pull", "never", "x"]) { p in
            p.name == "web" && p.platform == "linux/amd64" && p.pull == "never"
        },
    ]

    @Test(arguments: cases)
    func parses(_ c: Case) throws {
        #expect(c.check(try Self.parse(c.args, env: ["B": "from-env"])))
    }

    @Test func envFile() throws {
        let path = NSTemporaryDirectory() + "berth-envfile-\(getpid())"
        try "# comment\nA=1\n\n  B=two words\nHOME_X\nMISSING\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let p = try Self.parse(["--env-file", path, "-e", "C=3", "x"], env: ["HOME_X": "h"])
        #expect(p.config.Env == ["A=1", "B=two words", "HOME_X=h", "C=3"])
    }

    struct BadValue: Sendable, CustomTestStringConvertible {
        var args: [String]
        var flag: String
        var reason: String
        var testDescription: String { args.joined(separator: " ") }
    }

    @Test(arguments: [
        BadValue(args: ["-m", "x", "i"], flag: "memory", reason: "invalid size: 'x'"),
        BadValue(args: ["--cpus", "abc", "i"], flag: "cpus", reason: "failed to parse abc as a rational number"),
        BadValue(args: ["--ulimit", "nofile", "i"], flag: "ulimit", reason: "invalid ulimit argument: nofile"),
        BadValue(args: ["--ulimit", "foo=1", "i"], flag: "ulimit", reason: "invalid ulimit type: foo"),
        BadValue(args: ["-a", "bogus", "i"], flag: "attach", reason: "valid streams are STDIN, STDOUT and STDERR"),
    ])
    func badValues(_ c: BadValue) throws {
        do {
            _ = try Self.parse(c.args)
            Issue.record("expected an error")
        } catch let e as ContainerOptions.ValueError {
            #expect(e.flag == c.flag && e.reason == c.reason)
        }
    }

    @Test func createBodyJSON() throws {
        let p = try Self.parse(["-m", "512m", "--cpus", "1.5", "--restart", "on-failure:3", "busybox", "echo", "hi"])
        let body = try JSON.parse(ContainerOptions.encodeBody(p))
        #expect(body["Image"]?.stringValue == "busybox")
        #expect(body["Cmd"]?.stringArray == ["echo", "hi"])
        #expect(body["HostConfig"]?["Memory"]?.int64Value == 536_870_912)
        #expect(body["HostConfig"]?["NanoCpus"]?.int64Value == 1_500_000_000)
        #expect(body["HostConfig"]?["RestartPolicy"]?["Name"]?.stringValue == "on-failure")
        #expect(body["HostConfig"]?["RestartPolicy"]?["MaximumRetryCount"]?.int64Value == 3)
    }

    @Test(arguments: [("512m", Int64(536_870_912)), ("1024", 1024), ("1k", 1024), ("2GiB", 2_147_483_648), ("1.5MB", 1_572_864)])
    func ramInBytes(_ s: String, _ v: Int64) {
        #expect(ContainerOptions.ramInBytes(s) == v)
    }

    @Test(arguments: ["x", "", "-1", "1.2.3.", "m"])
    func ramInBytesInvalid(_ s: String) {
        #expect(ContainerOptions.ramInBytes(s) == nil)
    }

    @Test(arguments: [("ctrl-p,ctrl-q", [UInt8(16), 17]), ("a,ctrl-@", [97, 0]), ("ctrl-[,ctrl-_", [27, 31])])
    func detachKeys(_ s: String, _ bytes: [UInt8]) throws {
        #expect(try DetachKeys.parse(s) == bytes)
    }

    @Test(arguments: ["ctrl-", "ctrl-pp", "foo", "ctrl-1"])
    func detachKeysInvalid(_ s: String) {
        #expect(throws: CLIError.self) { try DetachKeys.parse(s) }
    }

    @Test func escapeProxy() {
        var p = EscapeProxy(keys: [16, 17])
        #expect(p.filter([65, 16, 66]) == ([65, 16, 66], false))
        #expect(p.filter([16]) == ([], false))
        #expect(p.filter([17, 67]) == ([], true))
        var q = EscapeProxy(keys: [16, 17])
        #expect(q.filter([16, 16, 17]) == ([16], true))
    }

    @Test(arguments: [
        ("Error response from daemon: failed to create task for container: exec: \"nope\": executable file not found in $PATH", Int32(127)),
        ("Error response from daemon: exec /x: no such file or directory", 127),
        ("Error response from daemon: exec /etc: permission denied", 126),
        ("Error response from daemon: something else", 125),
    ])
    func startErrorStatus(_ m: String, _ s: Int32) {
        #expect(ContainerRunCommand.startErrorStatus(m) == s)
    }
}

struct StdcopyTests {
    @Test func demuxesSplitFrames() {
        let bytes = StdcopyDemuxer.frame(.stdout, Array("hello\n".utf8)) + StdcopyDemuxer.frame(.stderr, Array("err".utf8))
            + StdcopyDemuxer.frame(.stdout, [])
        // Fed one byte at a time, then all at once: the same frames.
        var d = StdcopyDemuxer()
        var got: [(StdcopyDemuxer.Stream, [UInt8])] = []
        for b in bytes { got += d.feed([b]) }
        #expect(got.map(\.0) == [.stdout, .stderr, .stdout])
        #expect(got.map(\.1) == [Array("hello\n".utf8), Array("err".utf8), []])
        var d2 = StdcopyDemuxer()
        #expect(d2.feed(bytes).count == 3)
        #expect(d2.buf.isEmpty)
    }

    @Test func largeFrameSize() {
        let payload = [UInt8](repeating: 120, count: 70_000)
        var d = StdcopyDemuxer()
        let f = d.feed(StdcopyDemuxer.frame(.stderr, payload))
        #expect(f.count == 1 && f[0].1.count == 70_000 && f[0].0 == .stderr)
    }
}

struct ContainerPsTests {
    static func summary(_ json: String) throws -> TemplateValue { try JSON.parse(json) }

    static let item = """
    {"Id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","Names":["/web"],"Image":"busybox",
     "ImageID":"sha256:aaaa","Command":"sh -c 'echo started; exec sleep 600'","Created":1700000000,"Ports":[],
     "Labels":{"a":"1"},"State":"running","Status":"Up 2 seconds","HostConfig":{"NetworkMode":"default"},
     "NetworkSettings":{"Networks":{}},"Mounts":[]}
    """

    @Test func defaultTable() throws {
        let row = ContainerContext.row(try Self.summary(Self.item), trunc: true, now: 1_700_000_010)
        let out = try ListFormatter(format: ContainerListCommand.containerFormat("table", quiet: false, size: false),
                                    headers: ContainerContext.headers).render([row])
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines[0] == "CONTAINER ID   IMAGE     COMMAND                  CREATED          STATUS         PORTS     NAMES")
        #expect(lines[1] == "0123456789ab   busybox   \"sh -c 'echo started…\"   10 seconds ago   Up 2 seconds             web")
    }

    @Test(arguments: [
        ("{{.ID}}", "0123456789ab"),
        ("{{.Names}} {{.Status}}", "web Up 2 seconds"),
        ("{{.Command}}", "\"sh -c 'echo started…\""),
    ])
    func formats(_ fmt: String, _ expected: String) throws {
        let row = ContainerContext.row(try Self.summary(Self.item), trunc: true, now: 1_700_000_010)
        #expect(try ListFormatter(format: fmt, headers: ContainerContext.headers).render([row]) == expected + "\n")
    }

    @Test func quietAndQuery() {
        #expect(ContainerListCommand.containerFormat("table", quiet: true, size: false) == "{{.ID}}")
        #expect(ContainerListCommand.containerFormat("table", quiet: false, size: true).hasSuffix("\t{{.Size}}"))
        let q = ContainerListCommand.query(all: false, last: -1, latest: true, size: false, filters: [:])
        #expect(q.map { "\($0.0)=\($0.1)" } == ["all=1", "limit=1"])
        let q2 = ContainerListCommand.query(all: false, last: -1, latest: false, size: true, filters: ["status": ["exited"]])
        #expect(q2.map { "\($0.0)=\($0.1)" } == ["size=1", "filters={\"status\":{\"exited\":true}}"])
    }
}

/// Whole command lines (no daemon needed: these fail before any request).
struct ContainerCommandLineTests {
    static func run(_ args: [String]) -> (Int32, String, String) {
        let ctx = CLIContext(out: OutputStream(capturingAsTerminal: false), err: OutputStream(capturingAsTerminal: false),
                             stdin: InputStream(bytes: []), env: ["DOCKER_HOST": "unix:///nonexistent/berth.sock", "HOME": "/nonexistent"])
        let rc = BerthCLI.run(args, ctx: ctx)
        return (rc, ctx.out.capturedString, ctx.err.capturedString)
    }

    @Test(arguments: [
        (["run", "--foo", "x"], Int32(125), "unknown flag: --foo\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth run --help' for more information\n"),
        (["run", "-m", "x", "i"], 125, "invalid argument \"x\" for \"-m, --memory\" flag: invalid size: 'x'\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth run --help' for more information\n"),
        (["run"], 1, "berth: 'berth run' requires at least 1 argument\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nSee 'berth run --help' for more information\n"),
        (["run", "--pull", "sometimes", "i"], 125, "berth: invalid pull option: 'sometimes': must be one of \"always\", \"missing\" or \"never\"\n\nRun 'berth run --help' for more information\n"),
        (["run", "-d", "-a", "stdout", "i"], 125, "berth: Conflicting options: -a and -d\n\nRun 'berth run --help' for more information\n"),
        (["ps", "--foo"], 125, "unknown flag: --foo\n\nUsage:  berth ps [OPTIONS]\n\nRun 'berth ps --help' for more information\n"),
    ])
    func errors(_ args: [String], _ rc: Int32, _ err: String) {
        let (r, _, e) = Self.run(args)
        #expect(r == rc)
        #expect(e == err)
    }

    @Test func runWithoutDaemon() {
        let (r, _, e) = Self.run(["run", "busybox"])
        #expect(r == 125)
        #expect(e.hasPrefix("berth: Cannot connect to the Docker daemon at unix:///nonexistent/berth.sock"))
        #expect(e.hasSuffix("\n\nRun 'berth run --help' for more information\n"))
    }

    /// `run -h` is `--hostname`; `--help` still prints the usage.
    @Test func runHelpFlag() {
        let (r, out, _) = Self.run(["run", "-h", "box", "--help"])
        #expect(r == 0)
        #expect(out.hasPrefix("Usage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n"))
        #expect(out.contains("  -h, --hostname string "))
        #expect(out.contains("      --help                             Print usage\n"))
    }

    @Test func healthAndCaps() throws {
        let p = try ContainerRunOptionsTests.parse(["--health-cmd", "true", "--health-interval", "1m30s", "--health-retries", "2",
                                                    "--cap-add", "net_admin", "--cap-add", "CAP_SYS_TIME", "--cap-drop", "net_admin", "--cap-drop", "chown", "x"])
        #expect(p.host.CapAdd == ["CAP_NET_ADMIN", "CAP_SYS_TIME"])
        #expect(p.host.CapDrop == ["CAP_CHOWN"])
        guard case .object(let hc)? = p.config.Healthcheck else { Issue.record("no healthcheck"); return }
        #expect(hc["Interval"] == .number(90e9))
        #expect(hc["Retries"] == .number(2))
        #expect(hc["Test"] == .array([.string("CMD-SHELL"), .string("true")]))
    }

    @Test func containerGroupHasSubcommands() {
        let root = BerthCLI.makeRootCommand()
        let c = root.find("container")!
        for n in ["attach", "create", "exec", "inspect", "kill", "logs", "ls", "list", "ps", "pause", "prune", "rename", "restart",
                  "rm", "remove", "run", "start", "stop", "top", "unpause", "wait"] {
            #expect(c.find(n) != nil, "container \(n)")
        }
    }
}

struct ContainerStatsAndPortsTests {
    @Test func statsEntry() throws {
        let s = try JSON.parse("""
        {"id":"0123456789abcdef0123","name":"/web",
         "cpu_stats":{"cpu_usage":{"total_usage":300},"system_cpu_usage":2000,"online_cpus":2},
         "precpu_stats":{"cpu_usage":{"total_usage":100},"system_cpu_usage":1000},
         "memory_stats":{"usage":10485760,"limit":104857600,"stats":{"inactive_file":5242880}},
         "networks":{"eth0":{"rx_bytes":1500,"tx_bytes":648}},
         "blkio_stats":{"io_service_bytes_recursive":[{"op":"read","value":4096},{"op":"write","value":0}]},
         "pids_stats":{"current":3}}
        """)
        let row = ContainerStatsCommand.row(ContainerStatsCommand.entry(s, container: "web"), trunc: true)
        let out = try ListFormatter(format: "{{.ID}}|{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}",
                                    headers: ContainerStatsCommand.headers).render([row])
        #expect(out == "0123456789ab|web|40.00%|5MiB / 100MiB|5.00%|1.5kB / 648B|4.1kB / 0B|3\n")
    }

    struct PortCase: Sendable, CustomTestStringConvertible {
        var args: [String]
        var exposed: [String]
        var bindings: [String: [String]]
        var testDescription: String { args.joined(separator: " ") }
    }

    @Test(arguments: [
        PortCase(args: ["-p", "8080:80"], exposed: ["80/tcp"], bindings: ["80/tcp": [":8080"]]),
        PortCase(args: ["-p", "127.0.0.1::53/udp"], exposed: ["53/udp"], bindings: ["53/udp": ["127.0.0.1:"]]),
        PortCase(args: ["-p", "1000-1001:2000-2001"], exposed: ["2000/tcp", "2001/tcp"], bindings: ["2000/tcp": [":1000"], "2001/tcp": [":1001"]]),
        PortCase(args: ["--expose", "9000-9001"], exposed: ["9000/tcp", "9001/tcp"], bindings: [:]),
    ])
    func ports(_ c: PortCase) throws {
        let p = try ContainerRunOptionsTests.parse(c.args + ["img"])
        #expect((p.config.ExposedPorts ?? [:]).keys.sorted() == c.exposed)
        var got: [String: [String]] = [:]
        if case .object(let o)? = p.host.PortBindings {
            for (k, v) in o {
                if case .array(let a) = v {
                    got[k] = a.map { b in
                        if case .object(let m) = b, case .string(let ip)? = m["HostIp"], case .string(let hp)? = m["HostPort"] { return ip + ":" + hp }
                        return "?"
                    }
                }
            }
        }
        #expect(got == c.bindings)
    }
}
