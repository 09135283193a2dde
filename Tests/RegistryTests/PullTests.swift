import Foundation
import NIOCore
import OCI
import TestSupport
import Testing
@testable import Registry

/// Pulls against a real, unauthenticated `docker-registry` over plain HTTP (loopback falls back from HTTPS).
@Suite struct PullTests {
    @Test func pingPullAndVerify() async throws {
        try await withRegistry { reg in
            try await withClient { client in
                let ref = try Reference.parse("\(reg.authority)/berth/app:v1")
                let img = try await pushImage(client, ref, layerSizes: [300_000, 10])

                let ep = try await client.endpoint(for: EndpointCandidate(authority: reg.authority, scheme: nil, pathPrefix: "", isMirror: false))
                #expect(ep.scheme == "http")
                #expect(ep.auth == .none)

                let r = try await client.resolve(ref, platform: .host, credential: nil)
                #expect(r.indexDigest == nil)
                #expect(r.manifestDescriptor.digest == img.manifestDigest)
                #expect(r.repoDigest == img.manifestDigest)
                #expect(r.manifestBytes == img.manifestBytes)
                #expect(r.manifest == img.manifest)
                #expect(r.manifestDescriptor.mediaType == MediaType.ociManifest)

                let config = try await client.fetchBlobBytes(ref, descriptor: r.manifest.config, credential: nil)
                #expect(config == img.configBytes)

                let c = Collector()
                try await client.fetchBlob(ref, descriptor: r.manifest.layers[0], credential: nil) { c.add($0) }
                #expect(c.bytes == img.layers[0])

                // By digest, and HEAD.
                var byDigest = ref
                byDigest.tag = nil
                byDigest.digest = img.manifestDigest
                let r2 = try await client.resolve(byDigest, platform: .host, credential: nil)
                #expect(r2.manifestBytes == img.manifestBytes)
                let head = try await client.headManifest(ref, credential: nil)
                #expect(head.digest == img.manifestDigest)
                #expect(head.size == Int64(img.manifestBytes.count))
                #expect(try await client.blobExists(ref, digest: r.manifest.layers[1].digest) == 10)
                #expect(try await client.blobExists(ref, digest: .sha256("nope")) == nil)
            }
        }
    }

    @Test func manifestListPlatformSelection() async throws {
        try await withRegistry { reg in
            try await withClient { client in
                let ref = try Reference.parse("\(reg.authority)/multi:latest")
                let amd = try await pushImage(client, ref.repository.withDigestless("amd"), platform: Platform(os: "linux", architecture: "amd64"), seed: 10)
                let arm = try await pushImage(client, ref.repository.withDigestless("arm"), platform: Platform(os: "linux", architecture: "arm64", variant: "v8"), seed: 20)
                let armv7 = try await pushImage(client, ref.repository.withDigestless("armv7"), platform: Platform(os: "linux", architecture: "arm", variant: "v7"), seed: 30)
                let entries = [
                    Descriptor(mediaType: MediaType.ociManifest, digest: amd.manifestDigest, size: Int64(amd.manifestBytes.count), platform: Platform(os: "linux", architecture: "amd64")),
                    Descriptor(mediaType: MediaType.ociManifest, digest: armv7.manifestDigest, size: Int64(armv7.manifestBytes.count), platform: Platform(os: "linux", architecture: "arm", variant: "v7")),
                    Descriptor(mediaType: MediaType.ociManifest, digest: arm.manifestDigest, size: Int64(arm.manifestBytes.count), platform: Platform(os: "linux", architecture: "arm64", variant: "v8")),
                ]
                let indexBytes = Array(try JSONEncoder().encode(Index(manifests: entries)))
                let indexDigest = try await client.putManifest(ref, mediaType: MediaType.ociIndex, bytes: indexBytes)

                let rArm = try await client.resolve(ref, platform: try Platform(parsing: "linux/arm64"), credential: nil)
                #expect(rArm.indexDigest == indexDigest)
                #expect(rArm.repoDigest == indexDigest)
                #expect(rArm.manifestDescriptor.digest == arm.manifestDigest)
                #expect(rArm.manifestDescriptor.platform?.architecture == "arm64")
                #expect(rArm.indexBytes == indexBytes)

                let rAmd = try await client.resolve(ref, platform: Platform(os: "linux", architecture: "amd64"), credential: nil)
                #expect(rAmd.manifestDescriptor.digest == amd.manifestDigest)
                let rArm7 = try await client.resolve(ref, platform: try Platform(parsing: "linux/arm/v7"), credential: nil)
                #expect(rArm7.manifestDescriptor.digest == armv7.manifestDigest)

                let e = await berthError { _ = try await client.resolve(ref, platform: Platform(os: "linux", architecture: "s390x"), credential: nil) }
                #expect(e?.code == .notFound)
                #expect(e?.message == "no matching manifest for linux/s390x in the manifest list entries")

                let (desc, bytes) = try await client.fetchManifestDocument(ref)
                #expect(desc.digest == indexDigest)
                #expect(desc.mediaType == MediaType.ociIndex)
                #expect(bytes == indexBytes)
            }
        }
    }

    @Test func unknownTagAndRepository() async throws {
        try await withRegistry { reg in
            try await withClient { client in
                let ref = try Reference.parse("\(reg.authority)/known")
                _ = try await pushImage(client, ref.withDigestless("v1"))
                let unknownTag = try Reference.parse("\(reg.authority)/known:nope")
                let e1 = await berthError { _ = try await client.resolve(unknownTag, platform: .host, credential: nil) }
                #expect(e1?.code == .notFound)
                #expect(e1?.message == "manifest for \(reg.authority)/known:nope not found: manifest unknown: manifest unknown")

                let unknownRepo = try Reference.parse("\(reg.authority)/does/not/exist:latest")
                let e2 = await berthError { _ = try await client.resolve(unknownRepo, platform: .host, credential: nil) }
                #expect(e2?.code == .notFound)
                // distribution 2.8 reports an unknown repository's manifest as MANIFEST_UNKNOWN, as Docker shows it.
                #expect(e2?.message == "manifest for \(reg.authority)/does/not/exist:latest not found: manifest unknown: manifest unknown")

                let e3 = await berthError { _ = try await client.headManifest(unknownTag) }
                #expect(e3?.code == .notFound)
                #expect(e3?.message == "manifest for \(reg.authority)/known:nope not found: manifest unknown: manifest unknown")

                let missingBlob = Descriptor(mediaType: MediaType.ociLayerGzip, digest: .sha256("missing"), size: 7)
                let e4 = await berthError { try await client.fetchBlob(ref, descriptor: missingBlob, credential: nil) { _ in } }
                #expect(e4?.code == .notFound)
            }
        }
    }

    @Test func corruptedBlobIsDetected() async throws {
        try await withRegistry { reg in
            try await withClient { client in
                let ref = try Reference.parse("\(reg.authority)/corrupt:v1")
                let img = try await pushImage(client, ref, layerSizes: [50_000])
                let layer = img.manifest.layers[0]
                // Same size, different content, written into the registry's storage.
                try Data(testBytes(50_000, seed: 999)).write(to: URL(fileURLWithPath: reg.blobDataPath(layer.digest)))
                let e = await berthError { try await client.fetchBlob(ref, descriptor: layer, credential: nil) { _ in } }
                #expect(e?.code == .dataCorrupted)
                #expect(e?.message.contains("verification failed for digest \(layer.digest)") == true)

                // A descriptor claiming fewer bytes than the registry sends.
                var short = img.manifest.config
                short.size -= 1
                let e2 = await berthError { _ = try await client.fetchBlobBytes(ref, descriptor: short, credential: nil) }
                #expect(e2?.code == .dataCorrupted)

                // A manifest whose bytes do not hash to the digest asked for.
                let bogus = Reference(domain: ref.domain, path: ref.path, digest: .sha256("other"))
                let e3 = await berthError { _ = try await client.resolve(bogus, platform: .host, credential: nil) }
                #expect(e3?.code == .notFound)
            }
        }
    }

    @Test func concurrentBlobDownloadsAndTags() async throws {
        try await withRegistry { reg in
            try await withClient { client in
                let ref = try Reference.parse("\(reg.authority)/many:t0")
                let img = try await pushImage(client, ref, layerSizes: [200_000, 150_000, 100_000, 50_000, 1])
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (i, layer) in img.manifest.layers.enumerated() {
                        group.addTask {
                            let c = Collector()
                            try await client.fetchBlob(ref, descriptor: layer, credential: nil) { b in
                                try await Task.sleep(for: .microseconds(100))
                                c.add(b)
                            }
                            #expect(c.bytes == img.layers[i])
                        }
                    }
                    try await group.waitForAll()
                }
                for t in ["t1", "t2", "t3", "t4"] {
                    _ = try await client.putManifest(ref.withDigestless(t), mediaType: MediaType.ociManifest, bytes: img.manifestBytes)
                }
                let tags = try await client.listTags(ref, credential: nil)
                #expect(tags.sorted() == ["t0", "t1", "t2", "t3", "t4"])
                let paged = try await client.listTags(ref, credential: nil, pageSize: 2)
                #expect(paged.sorted() == ["t0", "t1", "t2", "t3", "t4"])
            }
        }
    }

    @Test func streamedUploadAndMount() async throws {
        try await withRegistry { reg in
            try await withClient { client in
                let a = try Reference.parse("\(reg.authority)/up/a")
                let b = try Reference.parse("\(reg.authority)/up/b")
                let data = testBytes(700_000, seed: 5)
                let digest = Digest.sha256(data)
                let chunks = AsyncStream<ByteBuffer> { cont in
                    var i = 0
                    while i < data.count {
                        cont.yield(ByteBuffer(bytes: data[i..<min(i + 65536, data.count)]))
                        i += 65536
                    }
                    cont.finish()
                }
                try await client.uploadBlob(a, digest: digest, size: Int64(data.count), chunks: chunks)
                #expect(try await client.blobExists(a, digest: digest) == Int64(data.count))
                #expect(try await client.blobExists(b, digest: digest) == nil)
                #expect(try await client.mountBlob(b, digest: digest, from: a) == .mounted)
                #expect(try await client.blobExists(b, digest: digest) == Int64(data.count))
                #expect(try await client.mountBlob(b, digest: .sha256("absent"), from: a) == .notMounted)
            }
        }
    }

    @Test func dockerHubMirrors() async throws {
        try await withRegistry { reg in
            // Seed the "mirror" with library/busybox as Docker Hub would serve it.
            let img = try await withClient { client in
                try await pushImage(client, try Reference.parse("\(reg.authority)/library/busybox:latest"), layerSizes: [1000])
            }
            let dead = try TestSupport.freePort()
            let config = testConfiguration { $0.mirrors = ["http://127.0.0.1:\(dead)", "http://\(reg.authority)/"] }
            try await withClient(config) { client in
                let ref = try Reference.parse("busybox")
                let r = try await client.resolve(ref, platform: .host, credential: nil)
                #expect(r.manifestDescriptor.digest == img.manifestDigest)
                let c = Collector()
                try await client.fetchBlob(ref, descriptor: r.manifest.layers[0], credential: nil) { c.add($0) }
                #expect(c.bytes == img.layers[0])
                #expect(try await client.listTags(ref, credential: nil) == ["latest"])
            }
        }
    }

    @Test func unreachableRegistry() async throws {
        let port = try TestSupport.freePort()
        try await withClient { client in
            let ref = try Reference.parse("127.0.0.1:\(port)/x:1")
            let e = await berthError { _ = try await client.resolve(ref, platform: .host, credential: nil) }
            #expect(e?.code == .unavailable)
            #expect(e?.message.hasPrefix("Get \"http://127.0.0.1:\(port)/v2/\": ") == true)
        }
    }
}

extension Reference {
    /// Same repository, another tag.
    func withDigestless(_ tag: String) -> Reference { Reference(domain: domain, path: path, tag: tag) }
}
