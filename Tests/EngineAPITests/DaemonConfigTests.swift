import APIModels
import Engine
import Foundation
import OCI
import Testing
@testable import EngineAPI

/// Writes `json` to a temp daemon.json and returns its path.
func tempConfigFile(_ json: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("berth-cfg-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let path = dir.appendingPathComponent("daemon.json").path
    try Data(json.utf8).write(to: URL(fileURLWithPath: path))
    return path
}

func errorMessage(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let e as BerthError {
        return e.message
    } catch {
        return "\(error)"
    }
}

@Suite struct DaemonFlagsParsingTests {
    @Test func dockerdStyleFlags() throws {
        let f = try DaemonFlags.parse([
            "-H", "unix:///tmp/a.sock", "--host=tcp://127.0.0.1:2375", "-Hfd://", "--data-root", "/d", "--exec-root=/e",
            "-p", "/p.pid", "-D", "--tls=false", "--insecure-registry", "r1:5000", "--insecure-registry=r2",
            "--label", "a=1", "-G", "wheel", "--add-runtime", "crun=/usr/bin/crun", "--live-restore", "-l", "warn",
        ])
        #expect(f.values["host"] == ["unix:///tmp/a.sock", "tcp://127.0.0.1:2375", "fd://"])
        #expect(f.string("data-root") == "/d" && f.string("exec-root") == "/e" && f.string("pidfile") == "/p.pid")
        #expect(f.bool("debug") && !f.bool("tls") && f.isSet("tls") && f.bool("live-restore"))
        #expect(f.values["insecure-registry"] == ["r1:5000", "r2"])
        #expect(f.string("group") == "wheel" && f.string("log-level") == "warn")
    }

    @Test func combinedShortFlags() throws {
        let f = try DaemonFlags.parse(["-DH", "unix:///x.sock", "-D=false"])
        #expect(f.values["host"] == ["unix:///x.sock"])
        #expect(!f.bool("debug"))
    }

    @Test(arguments: [
        (["--nope"], "unknown flag: --nope"),
        (["-x"], "unknown shorthand flag: 'x' in -x"),
        (["--data-root"], "flag needs an argument: --data-root"),
        (["-H"], "flag needs an argument: 'H' in -H"),
        (["--tls=maybe"], #"invalid argument "maybe" for "--tls" flag: strconv.ParseBool: parsing "maybe": invalid syntax"#),
        (["serve"], #""berthd" accepts no arguments."#),
        (["--max-concurrent-downloads=lots"],
         #"invalid argument "lots" for "--max-concurrent-downloads" flag: strconv.ParseInt: parsing "lots": invalid syntax"#),
    ])
    func badCommandLines(args: [String], message: String) {
        #expect(errorMessage { _ = try DaemonFlags.parse(args) } == message)
    }

    @Test func usageListsFlags() {
        for name in ["--host", "--data-root", "--tlsverify", "--add-runtime", "--validate"] {
            #expect(DaemonFlags.usage.contains(name))
        }
    }
}

@Suite struct DaemonConfigMergeTests {
    @Test func defaults() throws {
        let flags = try DaemonFlags.parse([])
        #expect(flags.configFile == "/etc/berth/daemon.json")
        let c = DaemonConfig()
        #expect(c.dataRoot == "/var/lib/berth" && c.execRoot == "/run/berth" && c.pidfile == "/run/berth/berthd.pid")
        #expect(try c.parsedHosts() == [.unix(path: "/run/berth/berth.sock")])
        #expect(c.defaultRuntime == "runc" && c.group == "docker" && !c.tlsEnabled)
    }

    @Test func fileValuesApply() throws {
        let path = try tempConfigFile("""
            {"data-root": "/srv/berth", "debug": true, "hosts": ["unix:///tmp/f.sock"],
             "insecure-registries": ["10.0.0.0/8", "reg:5000"], "registry-mirrors": ["https://m.example.com"],
             "labels": ["a=1", "a=1"], "live-restore": true, "log-level": "debug",
             "runtimes": {"crun": {"path": "/usr/bin/crun", "runtimeArgs": ["--x"]}}, "default-runtime": "crun",
             "proxies": {"http-proxy": "http://p:3128"}, "storage-driver": "overlay2"}
            """)
        let c = try DaemonFlags.parse(["--config-file", path, "--add-runtime", "youki=/bin/youki"]).resolve()
        #expect(c.dataRoot == "/srv/berth" && c.debug && c.liveRestore && c.logLevel == "debug")
        #expect(c.hosts == ["unix:///tmp/f.sock"])
        #expect(c.insecureRegistryCIDRs == ["::1/128", "127.0.0.0/8", "10.0.0.0/8"])
        #expect(c.insecureRegistryHosts == ["reg:5000"])
        #expect(c.labels == ["a=1"])
        #expect(c.runtimes["crun"] == RuntimeConfig(path: "/usr/bin/crun", runtimeArgs: ["--x"]))
        #expect(c.runtimes["youki"]?.path == "/bin/youki")   // runtimes merge (dockerd's skipDuplicates)
        #expect(c.defaultRuntime == "crun")
        #expect(c.ignoredKeys.sorted() == ["http-proxy", "storage-driver"])
    }

    @Test(arguments: [
        (["--debug"], #"{"debug": false}"#,
         "the following directives are specified both as a flag and in the configuration file: debug: (from flag: true, from file: false)"),
        (["-H", "unix:///a.sock"], #"{"hosts": ["unix:///b.sock"]}"#,
         "the following directives are specified both as a flag and in the configuration file: hosts: (from flag: [unix:///a.sock], from file: [unix:///b.sock])"),
        (["--data-root", "/x", "--label", "a=1"], #"{"data-root": "/y", "labels": ["b=2"]}"#,
         "the following directives are specified both as a flag and in the configuration file: data-root: (from flag: /x, from file: /y), labels: (from flag: [a=1], from file: [b=2])"),
        ([], #"{"foo": 1, "bar": true}"#, "the following directives don't match any configuration option: bar, foo"),
        ([], #"{"debug": "yes"}"#, "json: cannot unmarshal string into Go struct field Config.debug of type bool"),
        ([], #"{"hosts": "unix:///x"}"#, "json: cannot unmarshal string into Go struct field Config.hosts of type []string"),
        ([], #"[1]"#, "json: cannot unmarshal array into Go value of type config.Config"),
    ] as [([String], String, String)])
    func fileErrors(args: [String], json: String, message: String) throws {
        let path = try tempConfigFile(json)
        let got = errorMessage { _ = try DaemonFlags.parse(args + ["--config-file", path]).resolve() }
        #expect(got == "unable to configure the berth daemon with file \(path): \(message)")
    }

    @Test func invalidJSONFile() throws {
        let path = try tempConfigFile("{nope")
        let got = errorMessage { _ = try DaemonFlags.parse(["--config-file", path]).resolve() } ?? ""
        #expect(got.hasPrefix("unable to configure the berth daemon with file \(path): invalid JSON"))
    }

    @Test func emptyFileIsFine() throws {
        let path = try tempConfigFile("  \n")
        _ = try DaemonFlags.parse(["--config-file", path]).resolve()
    }

    @Test func missingExplicitFileIsAnError() {
        let got = errorMessage { _ = try DaemonFlags.parse(["--config-file", "/nonexistent/x.json"]).resolve() } ?? ""
        #expect(got.contains("/nonexistent/x.json") && got.contains("No such file or directory"))
    }

    @Test(arguments: [
        (["--log-level", "loud"], "invalid logging level: loud"),
        (["--label", "novalue"], "invalid label 'novalue': label must be in the form key=value"),
        (["--label", "a=1", "--label", "a=2"], "conflict labels for a=2 and a=1"),
        (["-H", "ssh://x"], "Invalid bind address format: ssh://x"),
        (["-H", "tcp://1.2.3.4:99999"], #"invalid bind address (tcp://1.2.3.4:99999): invalid port "99999""#),
        (["--registry-mirror", "ftp://m"], #"invalid mirror: unsupported scheme "ftp" in "ftp://m""#),
        (["--insecure-registry", "http://r:5000"], "insecure registry http://r:5000 should not contain '://'"),
        (["--add-runtime", "runc=/x"], "runtime name 'runc' is reserved"),
        (["--add-runtime", "bad"], "invalid runtime argument: bad"),
        (["--default-runtime", "nope"], "specified default runtime 'nope' does not exist"),
    ])
    func validation(args: [String], message: String) {
        let got = errorMessage {
            _ = try DaemonFlags.parse(args + ["--config-file", "/dev/null"]).resolve()
        }
        #expect(got == message)
    }

    @Test func tlsImpliedAndDefaults() throws {
        let c = try DaemonFlags.parse(["--tlsverify", "--config-file", "/dev/null"]).resolve(environment: ["HOME": "/home/u"])
        #expect(c.tlsEnabled && c.tlsVerifyClients && c.tls == true)
        #expect(c.tlsCACert == "/home/u/.docker/ca.pem" && c.tlsCert == "/home/u/.docker/cert.pem")
        #expect(try c.parsedHosts() == [.tcp(host: "localhost", port: 2376)])
        let noVerify = try DaemonFlags.parse(["--tlsverify=false", "--config-file", "/dev/null"]).resolve(environment: ["DOCKER_CERT_PATH": "/certs"])
        #expect(noVerify.tlsEnabled && !noVerify.tlsVerifyClients && noVerify.tlsKey == "/certs/key.pem")
        let plain = try DaemonFlags.parse(["--tls=false", "--config-file", "/dev/null"]).resolve()
        #expect(!plain.tlsEnabled && plain.tls == false)
    }

    @Test func validateFlag() throws {
        #expect(try DaemonFlags.parse(["--validate"]).validateOnly)
    }
}

@Suite struct DaemonHostTests {
    @Test(arguments: [
        ("unix:///run/x.sock", DaemonHost.unix(path: "/run/x.sock")),
        ("unix://", .unix(path: "/run/berth/berth.sock")),
        ("", .unix(path: "/run/berth/berth.sock")),
        ("tcp://127.0.0.1:2375", .tcp(host: "127.0.0.1", port: 2375)),
        ("tcp://0.0.0.0", .tcp(host: "0.0.0.0", port: 2375)),
        ("tcp://:2376", .tcp(host: "localhost", port: 2376)),
        ("tcp://[::1]:2375", .tcp(host: "::1", port: 2375)),
        ("127.0.0.1:4243", .tcp(host: "127.0.0.1", port: 4243)),
        ("tcp://h:1/", .tcp(host: "h", port: 1)),
        ("fd://", .fd("")),
        ("fd://3", .fd("3")),
    ])
    func parses(raw: String, host: DaemonHost) throws {
        #expect(try DaemonHost.parse(raw) == host)
    }

    @Test(arguments: ["npipe:////./pipe/x", "tcp://h:1/path", "tcp://h:port", "http://x"])
    func rejects(raw: String) {
        #expect(throws: BerthError.self) { try DaemonHost.parse(raw) }
    }
}

@Suite struct ListenerPlanTests {
    @Test func plainTCPNeedsExplicitOptOut() throws {
        var c = DaemonConfig()
        c.hosts = ["tcp://127.0.0.1:0"]
        let refused = errorMessage { _ = try ListenerPlan.make(config: c, systemdFDs: [], logger: .init(label: "t")) } ?? ""
        #expect(refused.contains("--tls=false"))
        c.tls = false
        let plan = try ListenerPlan.make(config: c, systemdFDs: [], logger: .init(label: "t"))
        #expect(plan.entries.count == 1 && plan.entries[0].tls == nil)
        #expect(plan.warnings.first?.contains("without encryption") == true)
    }

    @Test func systemdSockets() throws {
        var c = DaemonConfig()
        c.hosts = ["fd://"]
        #expect(errorMessage { _ = try ListenerPlan.make(config: c, systemdFDs: [], logger: .init(label: "t")) }
                == "no sockets found via socket activation: make sure the service was started by systemd")
        let all = try ListenerPlan.make(config: c, systemdFDs: [3, nil, 5], logger: .init(label: "t"))
        #expect(all.entries.map(\.address.description) == ["fd://3 (fd 3)", "fd://5 (fd 5)"])
        c.hosts = ["fd://5"]
        #expect(try ListenerPlan.make(config: c, systemdFDs: [3, nil, 5], logger: .init(label: "t")).entries.count == 1)
        c.hosts = ["fd://4"]
        #expect(errorMessage { _ = try ListenerPlan.make(config: c, systemdFDs: [3, nil, 5], logger: .init(label: "t")) }
                == "failed to listen on systemd activated file: fd 4")
        c.hosts = ["fd://9"]
        #expect(errorMessage { _ = try ListenerPlan.make(config: c, systemdFDs: [3], logger: .init(label: "t")) }
                == "too few socket activated files passed in by systemd")
    }

    @Test func explicitMissingGroupIsAnError() {
        var c = DaemonConfig()
        c.group = "no-such-group-berth"
        #expect(errorMessage { _ = try ListenerPlan.make(config: c, systemdFDs: [], logger: .init(label: "t")) }
                == "group no-such-group-berth not found")
    }
}
