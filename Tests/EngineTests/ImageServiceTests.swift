#if canImport(Glibc)
import Glibc
#endif
import APIModels
import Foundation
import Logging
import OCI
import Registry
import Storage
import TestSupport
import Testing
@testable import Engine

@Suite(.enabled(if: imageTestsAsRoot && FileManager.default.isExecutableFile(atPath: "/usr/bin/docker-registry"), "needs root and docker-registry"),
       .serialized)
struct ImageServiceTests {
    /// Runs `body` with a registry, a pushing client and a fresh service.
    func withSetup(_ settings: RegistrySettings = RegistrySettings(),
                   _ body: (TestRegistry, RegistryClient, ImageService, EventService, TempDir) async throws -> Void) async throws {
        let reg = try await TestRegistry.start(RegistryOptions(dirPrefix: "berth-engine-registry"))
        let client = RegistryClient(configuration: RegistryConfiguration(), logger: Logger(label: "push"))
        let root = try TempDir("berth-engine-root")
        let (service, events) = try await makeService(root.path, settings: settings)
        do {
            try await body(reg, client, service, events, root)
        } catch {
            await service.shutdown()
            try? await client.shutdown()
            reg.stop()
            root.remove()
            throw error
        }
        await service.shutdown()
        try? await client.shutdown()
        reg.stop()
        root.remove()
    }

    @Test func pullListInspectHistoryAndRemove() async throws {
        try await withSetup { reg, client, service, events, root in
            let ref = try Reference.parse("\(reg.authority)/test/app:v1")
            let pushed = try await pushTestImage(client, ref, layers: [
                TestLayer(["etc/hostname": "base\n", "bin/tool": String(repeating: "x", count: 300_000)]),
                TestLayer(["app/main": "hello"], whiteouts: ["etc/.wh.hostname"]),
            ], labels: ["org.example.team": "storage"])
            let lines = Lines()
            try await service.pull(fromImage: "\(reg.authority)/test/app", tag: "v1", platform: nil, auth: nil) { lines.add($0) }

            let msgs = lines.all
            #expect(msgs.first?.status == "Pulling from test/app" && msgs.first?.id == "v1")
            #expect(msgs.first?.progressDetail == nil)
            for d in pushed.layerDigests {
                let id = String(d.encoded.prefix(12))
                let s = lines.statuses(for: id)
                #expect(s.first == "Pulling fs layer")
                #expect(s.last == "Pull complete")
                #expect(s.contains("Downloading") && s.contains("Verifying Checksum") && s.contains("Download complete") && s.contains("Extracting"))
                let vi = s.firstIndex(of: "Verifying Checksum")!, dc = s.firstIndex(of: "Download complete")!, ex = s.firstIndex(of: "Extracting")!
                #expect(vi < dc && dc < ex)
                let dl = msgs.last { $0.id == id && $0.status == "Downloading" }
                #expect(dl?.progressDetail?.current == dl?.progressDetail?.total)
                #expect(dl?.progress?.hasPrefix("[==================================================>]") == true)
                #expect(msgs.first { $0.id == id && $0.status == "Pull complete" }?.progressDetail != nil)
            }
            #expect(lines.statuses.suffix(2) == ["Digest: \(pushed.manifestDigest)", "Status: Downloaded newer image for \(reg.authority)/test/app:v1"])

            // list
            let list = try await service.list(all: false, filters: [:], digests: false)
            try #require(list.count == 1)
            let img = list[0]
            #expect(img.Id == pushed.configDigest.description)
            #expect(img.RepoTags == ["\(reg.authority)/test/app:v1"])
            #expect(img.RepoDigests == ["\(reg.authority)/test/app@\(pushed.manifestDigest)"])
            #expect(img.Size == Int64(300_000 + 5 + 5))
            #expect(img.Created == 1_704_164_645)
            #expect(img.Labels == ["org.example.team": "storage"])

            // inspect by name, short ID, full ID, digest
            let byName = try await service.inspect("\(reg.authority)/test/app:v1")
            #expect(byName.Id == img.Id)
            #expect(byName.Created == "2024-01-02T03:04:05.123456789Z")
            #expect(byName.RootFS.Layers == pushed.diffIDs.map(\.description))
            #expect(byName.GraphDriver.Name == "overlay2")
            #expect(byName.GraphDriver.Data?["LowerDir"]?.isEmpty == false)
            #expect(byName.Config?.Cmd == ["/bin/sh"])
            #expect(byName.Comment == "")
            #expect(byName.Metadata.LastTagTime == nil)
            #expect(try await service.inspect(String(pushed.configDigest.encoded.prefix(10))).Id == img.Id)
            #expect(try await service.inspect(pushed.configDigest.description).Id == img.Id)
            #expect(try await service.inspect("\(reg.authority)/test/app@\(pushed.manifestDigest)").Id == img.Id)
            let missing = await #expect(throws: BerthError.self) { try await service.inspect("nothere") }
            #expect(missing?.code == .notFound && missing?.message == "No such image: nothere:latest")

            // the layers stack as overlay lower dirs, topmost first, with the whiteout translated
            let lowers = try await service.lowerDirs(forImage: img.Id)
            #expect(lowers.count == 2)
            var st = stat()
            #expect(lstat(lowers[0] + "/etc/hostname", &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR)
            #expect(FileManager.default.contents(atPath: lowers[1] + "/etc/hostname") == Data("base\n".utf8))

            // history: newest first, <missing> below the top
            let history = try await service.history(img.Id)
            #expect(history.count == 3)
            #expect(history[0].Id == img.Id && history[0].Tags == ["\(reg.authority)/test/app:v1"] && history[0].Size == 0)
            #expect(history[1].Id == "<missing>" && history[1].Size == 5 && history[1].CreatedBy == "RUN step 1")
            #expect(history[2].Size == 300_005 && history[2].Comment == "base layer" && history[2].Tags == nil)

            // pulling again: up to date, no layer work
            let again = Lines()
            try await service.pull(fromImage: "\(reg.authority)/test/app:v1", tag: nil, platform: nil, auth: nil) { again.add($0) }
            #expect(again.statuses == ["Pulling from test/app", "Digest: \(pushed.manifestDigest)", "Status: Image is up to date for \(reg.authority)/test/app:v1"])

            // tag, then delete semantics
            try await service.tag(img.Id, repo: "\(reg.authority)/other", tag: "v2")
            #expect(try await service.inspect("\(reg.authority)/other:v2").Metadata.LastTagTime != nil)
            let conflict = await #expect(throws: BerthError.self) { _ = try await service.remove(String(img.Id.dropFirst(7).prefix(12)), force: false, noPrune: false) }
            #expect(conflict?.code == .conflict)
            #expect(conflict?.message == "conflict: unable to delete \(img.Id.dropFirst(7).prefix(12)) (must be forced) - image is referenced in multiple repositories")
            let untag = try await service.remove("\(reg.authority)/other:v2", force: false, noPrune: false)
            #expect(untag == [ImageDeleteResponseItem(Untagged: "\(reg.authority)/other:v2")])
            let notFound = await #expect(throws: BerthError.self) { _ = try await service.remove("\(reg.authority)/other:v2", force: false, noPrune: false) }
            #expect(notFound?.message == "No such image: \(reg.authority)/other:v2")
            let deleted = try await service.remove("\(reg.authority)/test/app:v1", force: false, noPrune: false)
            let chain = Digest.chainIDs(diffIDs: pushed.diffIDs)
            #expect(deleted == [
                ImageDeleteResponseItem(Untagged: "\(reg.authority)/test/app:v1"),
                ImageDeleteResponseItem(Untagged: "\(reg.authority)/test/app@\(pushed.manifestDigest)"),
                ImageDeleteResponseItem(Deleted: img.Id),
                ImageDeleteResponseItem(Deleted: chain[1].description),
                ImageDeleteResponseItem(Deleted: chain[0].description),
            ])
            #expect(try await service.list(all: true, filters: [:], digests: true).isEmpty)
            #expect((try? FileManager.default.contentsOfDirectory(atPath: root.file("image/snapshots"))) == [])
            #expect((try? FileManager.default.contentsOfDirectory(atPath: root.file("image/content/blobs/sha256"))) == [])
            #expect(await service.imageCount() == 0)

            // events
            let (past, _, token) = await events.subscribe(sinceNanos: 0)
            await events.unsubscribe(token)
            let actions = past.map(\.Action)
            #expect(actions.first == "pull")
            #expect(past.first?.Actor.ID == "\(reg.authority)/test/app:v1")
            #expect(past.first?.Actor.Attributes["name"] == "\(reg.authority)/test/app")
            #expect(past.first?.Actor.Attributes["org.example.team"] == "storage")
            #expect(actions.contains("tag") && actions.contains("untag") && actions.last == "delete")
            #expect(past.first { $0.Action == "tag" }?.Actor.Attributes["name"] == "\(reg.authority)/other:v2")
        }
    }

    @Test func sharedLayersAlreadyExistAndDigestPulls() async throws {
        try await withSetup { reg, client, service, _, _ in
            let base = TestLayer(["base": "b"])
            let a = try await pushTestImage(client, try Reference.parse("\(reg.authority)/shared/a:latest"), layers: [base, TestLayer(["a": "a"])])
            let b = try await pushTestImage(client, try Reference.parse("\(reg.authority)/shared/b:latest"), layers: [base, TestLayer(["b": "b"])])
            try await service.pull(fromImage: "\(reg.authority)/shared/a", tag: nil, platform: nil, auth: nil) { _ in }
            let lines = Lines()
            try await service.pull(fromImage: "\(reg.authority)/shared/b@\(b.manifestDigest)", tag: nil, platform: nil, auth: nil) { lines.add($0) }
            #expect(lines.all.first?.id == b.manifestDigest.description)
            #expect(lines.statuses(for: String(b.layerDigests[0].encoded.prefix(12))) == ["Already exists"])
            #expect(lines.statuses.last == "Status: Downloaded newer image for \(reg.authority)/shared/b@\(b.manifestDigest)")
            let list = try await service.list(all: false, filters: [:], digests: true)
            #expect(list.count == 2)
            let bImg = list.first { $0.Id == b.configDigest.description }
            #expect(bImg?.RepoTags == [])
            #expect(bImg?.RepoDigests == ["\(reg.authority)/shared/b@\(b.manifestDigest)"])

            // filters
            let refFiltered = try await service.list(all: false, filters: ["reference": ["*/shared/a"]], digests: true)
            #expect(refFiltered.map(\.Id) == [a.configDigest.description])
            let dangling = try await service.list(all: false, filters: ["dangling": ["true"]], digests: true)
            #expect(dangling.map(\.Id) == [b.configDigest.description])
            await #expect(throws: BerthError.self) { _ = try await service.list(all: false, filters: ["bogus": ["1"]], digests: true) }

            // df shares the base layer
            let df = try await service.diskUsage()
            #expect(df.Images.allSatisfy { $0.SharedSize == 1 })
            #expect(df.LayersSize == 3)

            // prune: b has no tag (only a digest) so it is dangling; a is kept
            let pruned = try await service.prune(filters: [:])
            #expect(pruned.ImagesDeleted?.contains(ImageDeleteResponseItem(Deleted: b.configDigest.description)) == true)
            #expect(pruned.SpaceReclaimed == 1)
            #expect(try await service.list(all: false, filters: [:], digests: true).map(\.Id) == [a.configDigest.description])
            // all unused images with dangling=false
            let all = try await service.prune(filters: ["dangling": ["false"]])
            #expect(all.SpaceReclaimed == 2)
            #expect(await service.imageCount() == 0)
        }
    }

    @Test func pullAllTagsAndConcurrentPullsShareWork() async throws {
        try await withSetup { reg, client, service, _, root in
            let big = TestLayer(bytes: [("data", (0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) })])
            for t in ["t1", "t2"] {
                _ = try await pushTestImage(client, try Reference.parse("\(reg.authority)/multi:\(t)"), layers: [big, TestLayer(["tag": t])])
            }
            let l1 = Lines(), l2 = Lines()
            async let p1: Void = service.pull(fromImage: "\(reg.authority)/multi", tag: "t1", platform: nil, auth: nil) { l1.add($0) }
            async let p2: Void = service.pull(fromImage: "\(reg.authority)/multi", tag: "t1", platform: nil, auth: nil) { l2.add($0) }
            _ = try await (p1, p2)
            #expect(try await service.list(all: false, filters: [:], digests: true).count == 1)
            #expect((try FileManager.default.contentsOfDirectory(atPath: root.file("image/snapshots"))).count == 2)

            let lines = Lines()
            try await service.pull(fromImage: "\(reg.authority)/multi", tag: "", platform: nil, auth: nil) { lines.add($0) }
            #expect(lines.all.filter { $0.status == "Pulling from multi" }.map(\.id) == ["t1", "t2"])
            #expect(lines.statuses.last == "Status: Downloaded newer image for \(reg.authority)/multi")
            let tags = try await service.list(all: false, filters: [:], digests: true).flatMap(\.RepoTags).sorted()
            #expect(tags == ["\(reg.authority)/multi:t1", "\(reg.authority)/multi:t2"])
        }
    }

    @Test func failedPullsLeaveNothingBehind() async throws {
        try await withSetup { reg, client, service, _, root in
            // Unknown tag: an error before any progress.
            let unknown = await #expect(throws: BerthError.self) {
                try await service.pull(fromImage: "\(reg.authority)/nope:missing", tag: nil, platform: nil, auth: nil) { _ in }
            }
            #expect(unknown?.code == .notFound)

            // A layer whose bytes in the registry are damaged: the digest check fails, nothing is kept.
            let img = try await pushTestImage(client, try Reference.parse("\(reg.authority)/broken:v1"),
                                              layers: [TestLayer(["ok": "fine"]), TestLayer(bytes: [("f", Array(repeating: 7, count: 500_000))])])
            let path = reg.blobDataPath(img.layerDigests[1])
            var data = try Data(contentsOf: URL(fileURLWithPath: path))
            data[data.count / 2] ^= 0xff
            try data.write(to: URL(fileURLWithPath: path))
            let lines = Lines()
            await #expect(throws: BerthError.self) {
                try await service.pull(fromImage: "\(reg.authority)/broken:v1", tag: nil, platform: nil, auth: nil) { lines.add($0) }
            }
            #expect(try await service.list(all: true, filters: [:], digests: true).isEmpty)
            #expect((try FileManager.default.contentsOfDirectory(atPath: root.file("image/tmp"))).isEmpty)
            #expect((try FileManager.default.contentsOfDirectory(atPath: root.file("image/content/ingest"))).isEmpty)
            // A restart collects what the failed pull committed (the good layer) since no image uses it.
            let (again, _) = try await makeService(root.path)
            #expect((try FileManager.default.contentsOfDirectory(atPath: root.file("image/snapshots"))).isEmpty)
            await again.shutdown()
        }
    }

    @Test func cancelledPullIsCleanAfterRestart() async throws {
        try await withSetup { reg, client, service, _, root in
            let layers = (0..<3).map { i in TestLayer(bytes: [("blob\(i)", (0..<3_000_000).map { UInt8(truncatingIfNeeded: ($0 &* 7919 &+ i) >> 3) })]) }
            _ = try await pushTestImage(client, try Reference.parse("\(reg.authority)/slow:v1"), layers: layers)
            let started = Lines()
            let task = Task {
                try await service.pull(fromImage: "\(reg.authority)/slow:v1", tag: nil, platform: nil, auth: nil) { started.add($0) }
            }
            while !started.statuses.contains("Downloading") { try await Task.sleep(for: .milliseconds(1)) }
            task.cancel()
            _ = try? await task.value
            await service.shutdown()
            // What a killed daemon would leave is cleaned at the next start; no image is listed half-made.
            let (again, _) = try await makeService(root.path)
            let list = try await again.list(all: true, filters: [:], digests: true)
            if let img = list.first {
                // The pull may have finished before the cancel landed: then it must be whole.
                #expect(try await again.lowerDirs(forImage: img.Id).count == 3)
            }
            #expect((try FileManager.default.contentsOfDirectory(atPath: root.file("image/tmp"))).isEmpty)
            await again.shutdown()
        }
    }

    @Test func loginAgainstAnOpenRegistry() async throws {
        try await withSetup { reg, _, service, _, _ in
            var auth = AuthConfig(username: "u", password: "p", serveraddress: reg.authority)
            auth.email = nil
            let r = try await service.login(auth)
            #expect(r.Status == "Login Succeeded")
        }
    }
}

@Suite struct ImageServiceUnitTests {
    @Test(arguments: [
        (Int64(0), "0B"), (512, "512B"), (1000, "1kB"), (49_152, "49.15kB"), (113_798, "113.8kB"),
        (821_033, "821kB"), (4_335_400, "4.335MB"), (11_107_850, "11.11MB"), (95_564_011, "95.56MB"), (2_000_000_000, "2GB"),
    ])
    func humanSize(_ n: Int64, _ s: String) {
        #expect(PullMessages.humanSize(n) == s)
    }

    @Test func progressBar() {
        #expect(PullMessages.bar(current: 49_152, total: 4_335_400) == "[>                                                  ]  49.15kB/4.335MB")
        #expect(PullMessages.bar(current: 1_378_626, total: 4_335_400) == "[===============>                                   ]  1.379MB/4.335MB")
        #expect(PullMessages.bar(current: 821_033, total: 11_107_850) == "[===>                                               ]    821kB/11.11MB")
        #expect(PullMessages.bar(current: 10, total: 10) == "[==================================================>]      10B/10B")
    }

    @Test func progressLinesEncodeLikeDocker() throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        #expect(String(decoding: try enc.encode(PullMessages.update("Pulling fs layer", id: "abc")), as: UTF8.self)
                == #"{"id":"abc","progressDetail":{},"status":"Pulling fs layer"}"#)
        #expect(String(decoding: try enc.encode(PullMessages.message("Pulling from library/busybox", id: "latest")), as: UTF8.self)
                == #"{"id":"latest","status":"Pulling from library\/busybox"}"#)
    }

    @Test(arguments: [
        ("*", "busybox", true), ("busy*", "busybox", true), ("b?sybox", "busybox", true), ("*", "a/b", false),
        ("*/*", "a/b", true), ("[a-c]usybox", "busybox", true), ("[^a-c]usybox", "busybox", false), ("busybox:*", "busybox:latest", true),
        ("a\\*b", "a*b", true), ("*x", "abx", true), ("*x", "abxy", false),
    ])
    func pathMatch(_ pattern: String, _ name: String, _ expected: Bool) throws {
        #expect(try PathMatch.match(pattern, name) == expected)
    }

    @Test func referenceFilterMatchesFamiliarNames() throws {
        let r = try Reference.parse("busybox:latest")
        #expect(try PathMatch.familiarMatch("busybox", r))
        #expect(try PathMatch.familiarMatch("busybox:lat*", r))
        #expect(try !PathMatch.familiarMatch("library/busybox", r))
    }

    @Test func durationsAndTimestamps() {
        #expect(Timestamps.goDuration("1h30m") == 5400)
        #expect(Timestamps.goDuration("10m") == 600)
        #expect(Timestamps.goDuration("300ms") == 0.3)
        #expect(Timestamps.goDuration("10") == nil)
        let now = Date(timeIntervalSince1970: 1_000_000)
        #expect(Timestamps.parse("10m", now: now)?.seconds == 999_400)
        #expect(Timestamps.parse("1700000000", now: now)?.seconds == 1_700_000_000)
        #expect(Timestamps.parse("1700000000.5", now: now)?.nanos == 500_000_000)
        #expect(Timestamps.parse("2024-01-02", now: now)?.seconds == 1_704_153_600)
        #expect(Timestamps.parse("2024-01-02T03:04:05Z", now: now)?.seconds == 1_704_164_645)
    }

    @Test func singleReferenceRule() throws {
        let t1 = try Reference.parse("a:1"), t2 = try Reference.parse("a:2")
        let d = try Reference.parse("a@sha256:" + String(repeating: "a", count: 64))
        let other = try Reference.parse("b@sha256:" + String(repeating: "b", count: 64))
        #expect(ImageService.isSingleReference([t1]))
        #expect(!ImageService.isSingleReference([t1, t2]))
        #expect(ImageService.isSingleReference([t1, d]))
        #expect(!ImageService.isSingleReference([t1, other]))
        #expect(!ImageService.isSingleReference([]))
    }

    @Test func credentialsFromAuthConfig() {
        var a = AuthConfig()
        a.auth = Data("user:pa:ss".utf8).base64EncodedString()
        let c = ImageService.credential(from: a)
        #expect(c?.username == "user" && c?.password == "pa:ss")
        #expect(ImageService.credential(from: AuthConfig()) == nil)
        var t = AuthConfig()
        t.identitytoken = "tok"
        #expect(ImageService.credential(from: t)?.identityToken == "tok")
    }

    @Test func rfc3339() {
        #expect(RFC3339.normalize("2024-01-02T03:04:05.120000000Z") == "2024-01-02T03:04:05.12Z")
        #expect(RFC3339.normalize("2024-01-02T03:04:05+02:00") == "2024-01-02T03:04:05+02:00")
        #expect(RFC3339.parseStamp("2024-01-02T03:04:05+02:00")?.seconds == 1_704_157_445)
        #expect(RFC3339.normalize("garbage") == nil)
    }
}
