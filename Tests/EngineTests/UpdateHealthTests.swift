import APIModels
import Foundation
import OCI
import Testing
@testable import Engine

@Suite struct ContainerUpdateRulesTests {
    static let host = UpdateHostInfo(cpus: 2, cpusetCpus: "0-1", cpusetMems: "0", swapLimit: true, blkioWeight: true)
    static let mib: Int64 = 1 << 20

    static func hc(_ f: (inout ContainerHostConfig) -> Void) -> ContainerHostConfig {
        var h = ContainerHostConfig()
        f(&h)
        return h
    }

    // Request → the error dockerd gives before looking at the container (400), or nil.
    @Test(arguments: [
        (hc { $0.Memory = 1000 }, "Minimum memory limit allowed is 6MB"),
        (hc { $0.Memory = 100 * mib; $0.MemorySwap = 50 * mib }, "Minimum memoryswap limit should be larger than memory limit, see usage"),
        (hc { $0.MemoryReservation = 4_000_000 }, "Minimum memory reservation allowed is 6MB"),
        (hc { $0.Memory = 100 * mib; $0.MemoryReservation = 200 * mib },
         "Minimum memory limit can not be less than memory reservation limit, see usage"),
        (hc { $0.NanoCpus = 500_000_000; $0.CpuPeriod = 50_000 }, "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
        (hc { $0.NanoCpus = 500_000_000; $0.CpuQuota = 50_000 }, "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
        (hc { $0.NanoCpus = 9_000_000_000 }, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"),
        (hc { $0.CpuPeriod = 10 }, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1 second (i.e. 1000000)"),
        (hc { $0.CpuQuota = 10 }, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        (hc { $0.CpusetCpus = "x" }, "Invalid value x for cpuset cpus: invalid format: x"),
        (hc { $0.CpusetCpus = "7" }, "Requested CPUs are not available - requested 7, available: 0-1"),
        (hc { $0.CpusetMems = "3" }, "Requested memory nodes are not available - requested 3, available: 0"),
        (hc { $0.BlkioWeight = 5 }, "Range of blkio weight is from 10 to 1000"),
        (hc { $0.RestartPolicy = RestartPolicy(Name: "bogus") },
         "invalid restart policy: unknown policy 'bogus'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"),
        (hc { $0.RestartPolicy = RestartPolicy(Name: "always", MaximumRetryCount: 2) },
         "invalid restart policy: maximum retry count can only be used with 'on-failure'"),
        (hc { $0.RestartPolicy = RestartPolicy(Name: "on-failure", MaximumRetryCount: -1) },
         "invalid restart policy: maximum retry count cannot be negative"),
        (hc { $0.Memory = 100 * mib; $0.MemorySwap = -1; $0.NanoCpus = 1_500_000_000; $0.PidsLimit = 50; $0.CpusetCpus = "0,1" }, nil),
    ] as [(ContainerHostConfig, String?)])
    func validation(request: ContainerHostConfig, error: String?) {
        var u = request
        do {
            _ = try ContainerUpdateRules.validate(&u, host: Self.host)
            #expect(error == nil)
        } catch let e as BerthError {
            #expect(e.message == error)
            #expect(e.code == .invalidArgument)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func hostLimitsBecomeWarnings() throws {
        let weak = UpdateHostInfo(cpus: 2, cpusetCpus: "0-1", cpusetMems: "0", swapLimit: false, blkioWeight: false)
        var u = Self.hc { $0.BlkioWeight = 300; $0.Memory = 100 * Self.mib; $0.PidsLimit = -1 }
        let w = try ContainerUpdateRules.validate(&u, host: weak)
        #expect(w == ["Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.",
                      "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."])
        #expect(u.BlkioWeight == 0 && u.MemorySwap == -1 && u.PidsLimit == 0)
    }

    // (stored, request) → merged values or the conflict (409) message.
    @Test(arguments: [
        (hc { $0.NanoCpus = 500_000_000 }, hc { $0.CpuPeriod = 50_000 },
         "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set"),
        (hc { $0.NanoCpus = 500_000_000 }, hc { $0.CpuQuota = 50_000 },
         "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"),
        (hc { $0.CpuPeriod = 50_000 }, hc { $0.NanoCpus = 1 }, "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set"),
        (hc { $0.CpuQuota = 50_000 }, hc { $0.NanoCpus = 1 }, "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set"),
        (hc { $0.Memory = 0; $0.MemorySwap = 0 }, hc { $0.Memory = 100 * mib },
         "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"),
        (hc { $0.Memory = 100 * mib; $0.MemorySwap = 200 * mib }, hc { $0.Memory = 300 * mib },
         "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"),
        (hc { $0.AutoRemove = true }, hc { $0.RestartPolicy = RestartPolicy(Name: "always") },
         "Restart policy cannot be updated because AutoRemove is enabled for the container"),
    ] as [(ContainerHostConfig, ContainerHostConfig, String)])
    func conflicts(stored: ContainerHostConfig, request: ContainerHostConfig, error: String) {
        #expect(throws: BerthError.self) { try ContainerUpdateRules.merge(request, into: stored) }
        do { _ = try ContainerUpdateRules.merge(request, into: stored) } catch let e as BerthError {
            #expect(e.message == error && e.code == .conflict)
        } catch {}
    }

    @Test func mergeKeepsWhatIsNotGiven() throws {
        let stored = Self.hc {
            $0.Memory = 100 * Self.mib; $0.MemorySwap = 200 * Self.mib; $0.CpuShares = 512; $0.PidsLimit = 20
            $0.RestartPolicy = RestartPolicy(Name: "no", MaximumRetryCount: 0)
        }
        let req = Self.hc {
            $0.Memory = 150 * Self.mib; $0.NanoCpus = 500_000_000; $0.RestartPolicy = RestartPolicy(Name: "on-failure", MaximumRetryCount: 3)
        }
        let m = try ContainerUpdateRules.merge(req, into: stored)
        #expect(m.Memory == 150 * Self.mib && m.MemorySwap == 200 * Self.mib && m.CpuShares == 512 && m.PidsLimit == 20)
        #expect(m.NanoCpus == 500_000_000 && m.RestartPolicy == RestartPolicy(Name: "on-failure", MaximumRetryCount: 3))
        let unlimited = try ContainerUpdateRules.merge(Self.hc { $0.PidsLimit = 0 }, into: stored)
        #expect(unlimited.PidsLimit == 0)
    }

    @Test func runtimeResourcesAreTheRequestOnly() {
        let r = ContainerUpdateRules.resources(Self.hc { $0.NanoCpus = 500_000_000; $0.PidsLimit = 0; $0.Memory = 64 * Self.mib })
        #expect(r.cpu == Spec.CPU(quota: 50_000, period: 100_000))
        #expect(r.pids == Spec.Pids(limit: -1))
        #expect(r.memory == Spec.Memory(limit: 64 * Self.mib))
        #expect(r.blockIO == nil)
        let q = ContainerUpdateRules.resources(Self.hc { $0.CpuQuota = 20_000; $0.CpuShares = 256; $0.MemorySwap = -1 })
        #expect(q.cpu == Spec.CPU(shares: 256, quota: 20_000) && q.memory == nil)
        #expect(!ContainerUpdateRules.touchesCgroups(ContainerUpdateRules.resources(Self.hc { $0.RestartPolicy = RestartPolicy(Name: "always") })))
    }
}

@Suite struct HealthTests {
    static func result(_ code: Int) -> HealthcheckResult {
        HealthcheckResult(Start: "2026-01-01T00:00:00Z", End: "2026-01-01T00:00:01Z", ExitCode: code, Output: "")
    }

    // (status, streak, exit code, retries, start period, seconds since start) → (status, streak)
    @Test(arguments: [
        ("starting", 0, 0, 3, 0.0, 1.0, "healthy", 0),
        ("starting", 0, 1, 3, 0.0, 1.0, "starting", 1),
        ("starting", 2, 1, 3, 0.0, 1.0, "unhealthy", 3),
        ("starting", 0, 1, 1, 0.0, 1.0, "unhealthy", 1),
        ("starting", 0, 1, 1, 10.0, 1.0, "starting", 0),   // inside the start period: not counted
        ("starting", 0, 1, 1, 10.0, 11.0, "unhealthy", 1),
        ("healthy", 0, 1, 1, 10.0, 1.0, "unhealthy", 1),   // the start period only protects "starting"
        ("healthy", 0, 1, 3, 0.0, 1.0, "healthy", 1),
        ("unhealthy", 5, 0, 3, 0.0, 1.0, "healthy", 0),
        ("unhealthy", 5, -1, 3, 0.0, 1.0, "unhealthy", 6),
        ("starting", 2, 2, 0, 0.0, 1.0, "unhealthy", 3),   // retries 0 = the default 3
    ] as [(String, Int, Int, Int, Double, Double, String, Int)])
    func stateMachine(status: String, streak: Int, code: Int, retries: Int, startPeriod: Double, since: Double,
                      wantStatus: String, wantStreak: Int) {
        let h = HealthMachine.record(ContainerHealth(Status: status, FailingStreak: streak), result: Self.result(code),
                                     retries: retries, startPeriod: startPeriod, sinceStart: since)
        #expect(h.Status == wantStatus && h.FailingStreak == wantStreak)
    }

    @Test func logKeepsTheLastFive() {
        var h = ContainerHealth()
        for i in 0..<7 {
            h = HealthMachine.record(h, result: Self.result(i), retries: 3, startPeriod: 0, sinceStart: 1)
        }
        #expect(h.Log.map(\.ExitCode) == [2, 3, 4, 5, 6])
    }

    @Test func settingsDefaultsAndCommand() throws {
        let s = try #require(HealthSettings(.object(["Test": .array([.string("CMD-SHELL"), .string("curl x")])])))
        #expect(s.interval == 30 && s.timeout == 30 && s.startPeriod == 0 && s.startInterval == 5 && s.retries == 3)
        #expect(s.command(shell: nil) == ["/bin/sh", "-c", "curl x"])
        #expect(s.command(shell: ["/bin/bash", "-lc"]) == ["/bin/bash", "-lc", "curl x"])
        let c = try #require(HealthSettings(.object(["Test": .array([.string("CMD"), .string("true"), .string("x")]),
                                                     "Interval": .number(2e8), "Retries": .number(2)])))
        #expect(c.command(shell: nil) == ["true", "x"] && c.interval == 0.2 && c.retries == 2)
        #expect(HealthSettings(.object(["Test": .array([.string("NONE")])])) == nil)
        #expect(HealthSettings(.object(["Test": .array([])])) == nil)
        #expect(HealthSettings(nil) == nil)
    }

    // (start period, status, seconds since start) → next interval with interval 10, start interval 1
    @Test(arguments: [(0.0, "starting", 0.5, 10.0), (5.0, "starting", 0.5, 1.0), (5.0, "healthy", 0.5, 10.0),
                      (5.0, "starting", 6.0, 10.0)])
    func intervals(startPeriod: Double, status: String, since: Double, want: Double) throws {
        var s = try #require(HealthSettings(.object(["Test": .array([.string("CMD"), .string("true")])])))
        s.interval = 10
        s.startInterval = 1
        s.startPeriod = startPeriod
        #expect(HealthMachine.nextInterval(s, status: status, sinceStart: since) == want)
    }

    @Test(arguments: [(Int64(200_000_000), "200ms"), (1_000_000_000, "1s"), (1_500_000_000, "1.5s"), (90_000_000_000, "1m30s"),
                      (3_600_000_000_000, "1h0m0s"), (1500, "1.5µs"), (0, "0s"), (30_000_000_000, "30s")])
    func goDurations(ns: Int64, text: String) {
        #expect(HealthMachine.goDuration(ns) == text)
    }

    @Test func mergeWithImage() {
        var img = OCI.HealthConfig()
        img.Test = ["CMD", "true"]
        img.Interval = 5_000_000_000
        img.Retries = 4
        let merged = HealthcheckRules.merge(user: .object(["Interval": .number(1e9)]), image: img)
        #expect(merged == .object(["Test": .array([.string("CMD"), .string("true")]), "Interval": .number(1e9),
                                   "Retries": .number(4)]))
        #expect(HealthcheckRules.merge(user: nil, image: img)?["Interval"] == .number(5e9))
        #expect(HealthcheckRules.merge(user: .object(["Test": .array([.string("NONE")])]), image: img)?["Test"]
            == .array([.string("NONE")]))
    }

    @Test(arguments: [("Interval", 500_000.0, "Interval in Healthcheck cannot be less than 1ms"),
                      ("Timeout", -1.0, "Timeout in Healthcheck cannot be less than 1ms"),
                      ("Retries", -1.0, "Retries in Healthcheck cannot be negative")])
    func validation(key: String, value: Double, message: String) {
        #expect(throws: BerthError.self) { try HealthcheckRules.validate(.object([key: .number(value)])) }
        do { try HealthcheckRules.validate(.object([key: .number(value)])) } catch let e as BerthError {
            #expect(e.message == message)
        } catch {}
    }
}

@Suite struct LogAttrsTests {
    static let labels = ["com.example.a": "1", "b": "x<y>&\"z\"", "other": "o"]
    static let env = ["PATH=/bin", "FOO=bar", "EMPTY=", "NOVALUE"]
    static let tag = ContainerLogAttrs.TagInfo(id: String(repeating: "ab", count: 32), name: "web", imageName: "busybox:1",
                                               imageID: "sha256:" + String(repeating: "cd", count: 32))

    // log opts → the attrs object (nil: no attrs written)
    @Test(arguments: [
        ([String: String](), nil),
        (["max-size": "10m"], nil),
        (["labels": "b,com.example.a,missing"], #"{"b":"x\u003cy\u003e\u0026\"z\"","com.example.a":"1"}"#),
        (["labels-regex": "^com\\."], #"{"com.example.a":"1"}"#),
        (["env": "FOO,EMPTY,NOVALUE"], #"{"EMPTY":"","FOO":"bar"}"#),
        (["env-regex": "^P"], #"{"PATH":"/bin"}"#),
        (["labels": "other", "env": "FOO", "tag": "{{.Name}}/{{.ID}}/{{.ImageID}}"],
         #"{"FOO":"bar","other":"o","tag":"web/abababababab/cdcdcdcdcdcd"}"#),
    ] as [([String: String], String?)])
    func attrs(opts: [String: String], want: String?) throws {
        #expect(try ContainerLogAttrs.json(opts: opts, labels: Self.labels, env: Self.env, tag: Self.tag) == want)
    }

    @Test func badRegex() {
        #expect(throws: BerthError.self) {
            try ContainerLogAttrs.json(opts: ["env-regex": "("], labels: [:], env: ["A=1"], tag: nil)
        }
    }
}
