#if canImport(Glibc)
import Glibc
#endif
import APIModels
import CArchive
import Foundation
import Logging
import OCI
import Registry
import TestSupport
@testable import Engine

/// A layer: files (path → content) as a gzip tar built with libarchive.
struct TestLayer {
    var files: [(String, [UInt8])]
    var whiteouts: [String] = []

    init(_ files: [String: String], whiteouts: [String] = []) {
        self.files = files.sorted { $0.key < $1.key }.map { ($0.key, Array($0.value.utf8)) }
        self.whiteouts = whiteouts
    }

    init(bytes files: [(String, [UInt8])]) { self.files = files }

    func tar(gzip: Bool) throws -> [UInt8] {
        let a = archive_write_new()!
        defer { archive_write_free(a) }
        archive_write_set_format_pax_restricted(a)
        if gzip { archive_write_add_filter_gzip(a) } else { archive_write_add_filter_none(a) }
        archive_write_set_bytes_in_last_block(a, 1)
        let cap = files.reduce(1 << 20) { $0 + $1.1.count * 2 + 1024 }
        let buf = UnsafeMutableRawPointer.allocate(byteCount: cap, alignment: 16)
        defer { buf.deallocate() }
        var used = 0
        guard archive_write_open_memory(a, buf, cap, &used) == ARCHIVE_OK else { throw TestFailure("archive open") }
        for (path, data) in files + whiteouts.map { ($0, [UInt8]()) } {
            let e = archive_entry_new()!
            defer { archive_entry_free(e) }
            archive_entry_set_pathname(e, path)
            archive_entry_set_filetype(e, 0o100000)
            archive_entry_set_perm(e, 0o644)
            archive_entry_set_mtime(e, 1_600_000_000, 0)
            archive_entry_set_size(e, la_int64_t(data.count))
            guard archive_write_header(a, e) == ARCHIVE_OK else { throw TestFailure("archive header") }
            if !data.isEmpty { _ = data.withUnsafeBytes { archive_write_data(a, $0.baseAddress, data.count) } }
        }
        guard archive_write_close(a) == ARCHIVE_OK else { throw TestFailure("archive close") }
        return Array(UnsafeRawBufferPointer(start: buf, count: used))
    }
}

struct PushedTestImage {
    var ref: Reference
    var manifestDigest: Digest
    var configDigest: Digest
    var layerDigests: [Digest]
    var diffIDs: [Digest]
}

/// Pushes an image (gzip layers, a config with labels and history) and returns its digests.
func pushTestImage(_ client: RegistryClient, _ ref: Reference, layers: [TestLayer], labels: [String: String] = [:],
                   created: String = "2024-01-02T03:04:05.123456789Z", gzip: Bool = true) async throws -> PushedTestImage {
    var descs: [Descriptor] = []
    var diffIDs: [Digest] = []
    for l in layers {
        let raw = try l.tar(gzip: false)
        diffIDs.append(Digest.sha256(raw))
        let blob = gzip ? try l.tar(gzip: true) : raw
        let d = try await client.uploadBlob(ref, bytes: blob)
        descs.append(Descriptor(mediaType: gzip ? MediaType.ociLayerGzip : MediaType.ociLayer, digest: d.digest, size: d.size))
    }
    var cc = ContainerConfig()
    cc.Env = ["PATH=/usr/bin:/bin"]
    cc.Cmd = ["/bin/sh"]
    cc.Labels = labels.isEmpty ? nil : labels
    var history: [ImageConfig.History] = [.init(created: created, createdBy: "/bin/sh -c #(nop) base", comment: "base layer")]
    for i in 1..<max(layers.count, 1) { history.append(.init(created: created, createdBy: "RUN step \(i)")) }
    history.append(.init(created: created, createdBy: "/bin/sh -c #(nop)  CMD [\"/bin/sh\"]", emptyLayer: true))
    let config = ImageConfig(architecture: Platform.host.architecture, os: "linux", config: cc, diffIDs: diffIDs, history: history, created: created)
    let configBytes = Array(try JSONEncoder().encode(config))
    let cd = try await client.uploadBlob(ref, bytes: configBytes)
    let manifest = Manifest(mediaType: MediaType.ociManifest, config: Descriptor(mediaType: MediaType.ociConfig, digest: cd.digest, size: cd.size), layers: descs)
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    let mbytes = Array(try enc.encode(manifest))
    let md = try await client.putManifest(ref, mediaType: MediaType.ociManifest, bytes: mbytes)
    return PushedTestImage(ref: ref, manifestDigest: md, configDigest: cd.digest, layerDigests: descs.map(\.digest), diffIDs: diffIDs)
}

/// Collects progress lines.
final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [JSONMessage] = []
    func add(_ m: JSONMessage) {
        lock.lock()
        items.append(m)
        lock.unlock()
    }
    var all: [JSONMessage] {
        lock.lock()
        defer { lock.unlock() }
        return items
    }
    var statuses: [String] { all.compactMap(\.status) }
    func statuses(for id: String) -> [String] { all.filter { $0.id == id }.compactMap(\.status) }
}

/// An ImageService on a fresh data root talking to `registry`.
func makeService(_ root: String, settings: RegistrySettings = RegistrySettings()) async throws -> (ImageService, EventService) {
    let events = EventService()
    let service = try await ImageService(root: root, registry: settings, events: events, logger: Logger(label: "berth.engine.tests"))
    return (service, events)
}

var imageTestsAsRoot: Bool { getuid() == 0 }
