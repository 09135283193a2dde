import Foundation
import Logging
import NIOCore
import OCI
@testable import Registry

/// Client settings for tests: no host config, fast retries.
func testConfiguration(_ modify: (inout RegistryConfiguration) -> Void = { _ in }) -> RegistryConfiguration {
    var c = RegistryConfiguration(certsDirectories: [], dockerConfigPath: "/nonexistent/berth-test-config.json",
                                  maxRetries: 3, retryBaseDelay: .milliseconds(20), readTimeout: .seconds(10))
    modify(&c)
    return c
}

/// Runs `body` with a client, shutting it down afterwards.
func withClient<T>(_ configuration: RegistryConfiguration = testConfiguration(), _ body: (RegistryClient) async throws -> T) async throws -> T {
    var logger = Logger(label: "berth.registry.test")
    logger.logLevel = ProcessInfo.processInfo.environment["BERTH_TEST_DEBUG"] != nil ? .trace : .warning
    let client = RegistryClient(configuration: configuration, logger: logger)
    do {
        let r = try await body(client)
        try await client.shutdown()
        return r
    } catch {
        try? await client.shutdown()
        throw error
    }
}

/// Deterministic pseudo-random bytes.
func testBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var x = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    var out = [UInt8](repeating: 0, count: count)
    out.withUnsafeMutableBytes { buf in
        var i = 0
        while i < count {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            withUnsafeBytes(of: x) { w in
                for b in w where i < count { buf[i] = b; i += 1 }
            }
        }
    }
    return out
}

struct PushedImage {
    var ref: Reference
    var manifest: Manifest
    var manifestBytes: [UInt8]
    var manifestDigest: Digest
    var configBytes: [UInt8]
    var layers: [[UInt8]]
}

/// Pushes a small image (random layers, a real config) with berth's own push primitives.
func pushImage(_ client: RegistryClient, _ ref: Reference, platform: Platform = .host, layerSizes: [Int] = [4096],
               seed: UInt64 = 1, credential: RegistryCredential? = nil, mediaType: String = MediaType.ociManifest) async throws -> PushedImage {
    var layers: [[UInt8]] = []
    var layerDescs: [Descriptor] = []
    for (i, size) in layerSizes.enumerated() {
        let bytes = testBytes(size, seed: seed &* 31 &+ UInt64(i))
        let d = try await client.uploadBlob(ref, bytes: bytes, credential: credential)
        layers.append(bytes)
        layerDescs.append(Descriptor(mediaType: MediaType.ociLayerGzip, digest: d.digest, size: d.size))
    }
    var config = ImageConfig(architecture: platform.architecture, os: platform.os, diffIDs: layerDescs.map(\.digest))
    config.variant = platform.variant
    let configBytes = Array(try JSONEncoder().encode(config))
    let cd = try await client.uploadBlob(ref, bytes: configBytes, credential: credential)
    let configType = mediaType == MediaType.dockerManifest ? MediaType.dockerConfig : MediaType.ociConfig
    let manifest = Manifest(mediaType: mediaType, config: Descriptor(mediaType: configType, digest: cd.digest, size: cd.size), layers: layerDescs)
    let manifestBytes = Array(try JSONEncoder().encode(manifest))
    let digest = try await client.putManifest(ref, mediaType: mediaType, bytes: manifestBytes, credential: credential)
    return PushedImage(ref: ref, manifest: manifest, manifestBytes: manifestBytes, manifestDigest: digest, configBytes: configBytes, layers: layers)
}

/// Collects a streamed blob in order.
final class Collector: @unchecked Sendable {
    private let lock = NSLock()
    private var data: [UInt8] = []
    private(set) var chunks = 0
    func add(_ b: ByteBuffer) {
        lock.lock()
        data.append(contentsOf: b.readableBytesView)
        chunks += 1
        lock.unlock()
    }
    var bytes: [UInt8] { lock.lock(); defer { lock.unlock() }; return data }
}

/// The BerthError a throwing call produced.
func berthError(_ body: () async throws -> Void) async -> BerthError? {
    do {
        try await body()
        return nil
    } catch let e as BerthError {
        return e
    } catch {
        return BerthError(.internalError, "non-BerthError: \(error)")
    }
}
