#if canImport(Glibc)
import Glibc
#endif
import APIModels
import CArchive
import Foundation
import Logging
import OCI
import Registry
@testable import Engine

/// A scratch directory removed at the end of a test.
final class ImageTestDir: @unchecked Sendable {
    let path: String
    init(_ prefix: String = "berth-enginetest") throws {
        path = NSTemporaryDirectory() + "/\(prefix)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

struct ImageTestError: Error, CustomStringConvertible {
    let description: String
    init(_ s: String) { description = s }
}

/// Debian's `docker-registry` on 127.0.0.1 with storage in a temp dir; stopped by pid.
final class LocalRegistry: @unchecked Sendable {
    let dir: ImageTestDir
    let port: Int
    let process: Process
    var authority: String { "127.0.0.1:\(port)" }

    init() async throws {
        dir = try ImageTestDir("berth-engine-registry")
        port = try Self.freePort()
        let yaml = """
        version: 0.1
        log:
          level: error
          accesslog:
            disabled: true
        storage:
          filesystem:
            rootdirectory: \(dir.file("storage"))
          delete:
            enabled: true
        http:
          addr: 127.0.0.1:\(port)

        """
        try yaml.write(toFile: dir.file("config.yml"), atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/docker-registry")
        process.arguments = ["serve", dir.file("config.yml")]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while !Self.canConnect(port) {
            guard process.isRunning, Date() < deadline else {
                stop()
                throw ImageTestError("docker-registry did not start")
            }
            try await Task.sleep(for: .milliseconds(25))
        }
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        dir.remove()
    }

    func blobDataPath(_ d: Digest) -> String {
        dir.file("storage") + "/docker/registry/v2/blobs/sha256/\(d.encoded.prefix(2))/\(d.encoded)/data"
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw ImageTestError("no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func canConnect(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

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
        guard archive_write_open_memory(a, buf, cap, &used) == ARCHIVE_OK else { throw ImageTestError("archive open") }
        for (path, data) in files + whiteouts.map { ($0, [UInt8]()) } {
            let e = archive_entry_new()!
            defer { archive_entry_free(e) }
            archive_entry_set_pathname(e, path)
            archive_entry_set_filetype(e, 0o100000)
            archive_entry_set_perm(e, 0o644)
            archive_entry_set_mtime(e, 1_600_000_000, 0)
            archive_entry_set_size(e, la_int64_t(data.count))
            guard archive_write_header(a, e) == ARCHIVE_OK else { throw ImageTestError("archive header") }
            if !data.isEmpty { _ = data.withUnsafeBytes { archive_write_data(a, $0.baseAddress, data.count) } }
        }
        guard archive_write_close(a) == ARCHIVE_OK else { throw ImageTestError("archive close") }
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
