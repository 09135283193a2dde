#if canImport(Glibc)
import Glibc
#endif
import CLinuxFS
import Foundation
import NIOCore
import OCI
import Testing
@testable import Storage

/// Extracts `blob` by streaming it in chunks through ``LayerExtraction`` (the pull path).
func streamExtract(_ blob: [UInt8], into dir: String, _ options: LayerExtractionOptions, chunk: Int = 7919) async throws -> LayerExtractionResult {
    let x = LayerExtraction.start(into: dir, options: options)
    var offset = 0
    do {
        while offset < blob.count {
            let end = min(offset + chunk, blob.count)
            try await x.write(ByteBuffer(bytes: blob[offset..<end]))
            offset = end
        }
    } catch {
        await x.cancel(error)
        throw error
    }
    return try await x.finish()
}

func xattrBytes(_ path: String, _ name: String) -> [UInt8]? {
    var buf = [UInt8](repeating: 0, count: 256)
    let n = buf.withUnsafeMutableBytes { lgetxattr(path, name, $0.baseAddress, 256) }
    return n >= 0 ? Array(buf[0..<n]) : nil
}

func xattr(_ path: String, _ name: String) -> String? {
    xattrBytes(path, name).map { String(decoding: $0, as: UTF8.self) }
}

@Suite(.enabled(if: isRoot, "extraction keeps owners and creates devices: needs root"))
struct LayerExtractionTests {
    static func sampleLayer() -> TarBuilder {
        var t = TarBuilder()
        t.dir("etc", mode: 0o755)
        t.file("etc/hostname", "berth\n", mode: 0o640, uid: 1000, gid: 1001, mtime: 1_500_000_000)
        t.file("bin/tool", "#!/bin/sh\necho hi\n", mode: 0o4755, xattrs: ["user.berth": Array("yes".utf8), "security.capability": Self.capNetRaw])
        t.hardlink("bin/tool-link", to: "bin/tool")
        t.symlink("bin/sh", to: "/usr/bin/busybox")
        t.symlink("lib", to: "usr/lib")
        t.add(.init(path: "dev/null", kind: .charDevice(1, 3), mode: 0o666))
        t.add(.init(path: "dev/loop9", kind: .blockDevice(7, 9), mode: 0o660, gid: 6))
        t.add(.init(path: "run/fifo", kind: .fifo, mode: 0o600))
        t.dir("locked", mode: 0o500, mtime: 1_400_000_000)
        t.file("locked/inside", "x")
        t.file("unicodé/naïve.txt", "ü")
        return t
    }

    /// vfs_cap_data revision 2 with CAP_NET_RAW permitted.
    static let capNetRaw: [UInt8] = [0x00, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00] + [UInt8](repeating: 0, count: 12)

    @Test(arguments: [TarBuilder.Filter.none, .gzip, .zstd])
    func roundTripKeepsMetadata(_ filter: TarBuilder.Filter) async throws {
        let tmp = try TempDir()
        let tar = Self.sampleLayer()
        let raw = try tar.build(.none)
        let blob = try tar.build(filter)
        let diffID = Digest.sha256(raw)
        let compression: LayerCompression = filter == .gzip ? .gzip : filter == .zstd ? .zstd : .none
        let dest = tmp.sub("fs")
        try FS.mkdirAll(dest)
        let r = try await streamExtract(blob, into: dest, .init(compression: compression, expectedDiffID: diffID, expectedBlobDigest: Digest.sha256(blob)))
        #expect(r.diffID == diffID)
        #expect(r.rawBytes == Int64(raw.count))
        #expect(r.compressedBytes == Int64(blob.count))
        #expect(r.blobDigest == Digest.sha256(blob))
        #expect(r.size == Int64("berth\n".utf8.count + "#!/bin/sh\necho hi\n".utf8.count + 1 + "ü".utf8.count))

        let host = try #require(lstatOf(dest + "/etc/hostname"))
        #expect(host.st_mode & 0o7777 == 0o640)
        #expect(host.st_uid == 1000 && host.st_gid == 1001)
        #expect(host.st_mtim.tv_sec == 1_500_000_000)
        #expect(readText(dest + "/etc/hostname") == "berth\n")

        let tool = try #require(lstatOf(dest + "/bin/tool"))
        #expect(tool.st_mode & 0o7777 == 0o4755)
        let link = try #require(lstatOf(dest + "/bin/tool-link"))
        #expect(link.st_ino == tool.st_ino)
        #expect(tool.st_nlink == 2)
        #expect(xattr(dest + "/bin/tool", "user.berth") == "yes")
        #expect(xattrBytes(dest + "/bin/tool", "security.capability") == Self.capNetRaw)

        #expect((try #require(lstatOf(dest + "/bin/sh"))).st_mode & S_IFMT == S_IFLNK)
        var target = [CChar](repeating: 0, count: 256)
        let n = readlink(dest + "/bin/sh", &target, 255)
        #expect(String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) == "/usr/bin/busybox")

        let null = try #require(lstatOf(dest + "/dev/null"))
        #expect(null.st_mode & S_IFMT == S_IFCHR)
        #expect(berth_major(null.st_rdev) == 1 && berth_minor(null.st_rdev) == 3)
        #expect(null.st_mode & 0o777 == 0o666)
        let loop = try #require(lstatOf(dest + "/dev/loop9"))
        #expect(loop.st_mode & S_IFMT == S_IFBLK)
        #expect(berth_major(loop.st_rdev) == 7 && berth_minor(loop.st_rdev) == 9 && loop.st_gid == 6)
        #expect((try #require(lstatOf(dest + "/run/fifo"))).st_mode & S_IFMT == S_IFIFO)

        let locked = try #require(lstatOf(dest + "/locked"))
        #expect(locked.st_mode & 0o7777 == 0o500)
        #expect(locked.st_mtim.tv_sec == 1_400_000_000)
        #expect(readText(dest + "/locked/inside") == "x")
        #expect(readText(dest + "/unicodé/naïve.txt") == "ü")
    }

    @Test func whiteoutsBecomeOverlayWhiteouts() async throws {
        let tmp = try TempDir()
        var t = TarBuilder()
        t.dir("etc")
        t.add(.init(path: "etc/.wh.passwd", kind: .file(""), uid: 5, gid: 6))
        t.dir("var/cache", mode: 0o700)
        t.file("var/cache/.wh..wh..opq", "")
        t.file("var/cache/new", "fresh")
        t.file(".wh..wh.plnk/123", "aufs internals")
        t.file("opq-first/.wh..wh..opq", "") // marker before its directory entry
        t.dir("opq-first", mode: 0o711)
        let dest = tmp.sub("fs")
        try FS.mkdirAll(dest)
        _ = try await streamExtract(try t.build(.gzip), into: dest, .init(compression: .gzip))

        let wh = try #require(lstatOf(dest + "/etc/passwd"))
        #expect(wh.st_mode & S_IFMT == S_IFCHR)
        #expect(wh.st_rdev == 0)
        #expect(wh.st_uid == 5 && wh.st_gid == 6)
        #expect(lstatOf(dest + "/etc/.wh.passwd") == nil)
        #expect(xattr(dest + "/var/cache", "trusted.overlay.opaque") == "y")
        #expect(lstatOf(dest + "/var/cache/.wh..wh..opq") == nil)
        #expect(readText(dest + "/var/cache/new") == "fresh")
        #expect(lstatOf(dest + "/.wh..wh.plnk") == nil)
        #expect(xattr(dest + "/opq-first", "trusted.overlay.opaque") == "y")
        #expect((try #require(lstatOf(dest + "/opq-first"))).st_mode & 0o7777 == 0o711)
        #expect(xattr(dest + "/etc", "trusted.overlay.opaque") == nil)
    }

    @Test func overlayXattrsFromTheTarAreDropped() async throws {
        let tmp = try TempDir()
        var t = TarBuilder()
        t.add(.init(path: "d", kind: .dir, mode: 0o755, xattrs: ["trusted.overlay.redirect": Array("/etc".utf8), "user.keep": Array("1".utf8)]))
        let dest = tmp.sub("fs")
        try FS.mkdirAll(dest)
        _ = try await streamExtract(try t.build(), into: dest, .init(compression: .none))
        #expect(xattr(dest + "/d", "trusted.overlay.redirect") == nil)
        #expect(xattr(dest + "/d", "user.keep") == "1")
    }

    enum Malice: String, CaseIterable, Sendable {
        case dotdot, absolute, symlinkDir, symlinkParentOfDir, hardlinkDotDot, hardlinkAbsolute, hardlinkThroughSymlink, nestedDotDot, whiteoutThroughSymlink, opaqueThroughSymlink
    }

    @Test(arguments: Malice.allCases)
    func maliciousLayersAreRefused(_ kind: Malice) async throws {
        let tmp = try TempDir()
        let outside = tmp.sub("outside")
        try FS.mkdirAll(outside)
        try writeBytes(outside + "/secret", Array("untouched".utf8))
        let dest = tmp.sub("snap/fs")
        try FS.mkdirAll(dest)
        var t = TarBuilder()
        switch kind {
        case .dotdot: t.file("../../outside/pwned", "x")
        case .nestedDotDot: t.file("a/b/../../../outside/pwned", "x")
        case .absolute: t.file(outside + "/pwned", "x")
        case .symlinkDir:
            t.symlink("escape", to: outside)
            t.file("escape/pwned", "x")
        case .symlinkParentOfDir:
            t.symlink("escape", to: "../../outside")
            t.dir("escape/sub")
        case .hardlinkDotDot: t.hardlink("hl", to: "../../outside/secret")
        case .hardlinkAbsolute: t.hardlink("hl", to: outside + "/secret")
        case .hardlinkThroughSymlink:
            t.symlink("escape", to: outside)
            t.hardlink("hl", to: "escape/secret")
        case .whiteoutThroughSymlink:
            t.symlink("escape", to: outside)
            t.file("escape/.wh.secret", "")
        case .opaqueThroughSymlink:
            t.symlink("escape", to: outside)
            t.file("escape/.wh..wh..opq", "")
        }
        let blob = try t.build(.gzip)
        let error = await #expect(throws: BerthError.self) {
            _ = try await streamExtract(blob, into: dest, .init(compression: .gzip))
        }
        #expect(error?.code == .invalidArgument)
        #expect(FS.list(outside).sorted() == ["secret"])
        #expect(readText(outside + "/secret") == "untouched")
        #expect(xattr(outside, "trusted.overlay.opaque") == nil)
        #expect(lstatOf(outside + "/secret")?.st_nlink == 1)
        #expect(FS.list(tmp.path).sorted() == ["outside", "snap"])
    }

    @Test func symlinkReplacedByDirectoryIsSafe() async throws {
        let tmp = try TempDir()
        let outside = tmp.sub("outside")
        try FS.mkdirAll(outside)
        let dest = tmp.sub("fs")
        try FS.mkdirAll(dest)
        var t = TarBuilder()
        t.symlink("d", to: outside)
        t.dir("d", mode: 0o700)
        t.file("d/f", "inside")
        _ = try await streamExtract(try t.build(), into: dest, .init(compression: .none))
        #expect((lstatOf(dest + "/d")?.st_mode ?? 0) & S_IFMT == S_IFDIR)
        #expect(readText(dest + "/d/f") == "inside")
        #expect(FS.list(outside).isEmpty)
    }

    @Test func diffIDMismatchFails() async throws {
        let tmp = try TempDir()
        var t = TarBuilder()
        t.file("a", "b")
        let error = await #expect(throws: BerthError.self) {
            _ = try await streamExtract(try t.build(.gzip), into: tmp.path, .init(compression: .gzip, expectedDiffID: Digest.sha256("nope")))
        }
        #expect(error?.code == .dataCorrupted)
    }

    @Test(arguments: [TarBuilder.Filter.gzip, .zstd])
    func truncatedBlobFails(_ filter: TarBuilder.Filter) async throws {
        let tmp = try TempDir()
        var t = TarBuilder()
        t.file("big", String(repeating: "0123456789abcdef", count: 50_000))
        let blob = try t.build(filter)
        let cut = Array(blob[0..<(blob.count * 2 / 3)])
        let error = await #expect(throws: BerthError.self) {
            _ = try await streamExtract(cut, into: tmp.path, .init(compression: filter == .gzip ? .gzip : .zstd))
        }
        #expect(error?.code == .dataCorrupted || error?.code == .invalidArgument)
    }

    @Test func corruptGzipFails() async throws {
        let tmp = try TempDir()
        var t = TarBuilder()
        t.file("f", String(repeating: "abc", count: 10_000))
        var blob = try t.build(.gzip)
        blob[blob.count - 6] ^= 0xff // inside the CRC32 trailer
        await #expect(throws: BerthError.self) {
            _ = try await streamExtract(blob, into: tmp.path, .init(compression: .gzip))
        }
    }

    @Test(arguments: [TarBuilder.Filter.gzip, .zstd])
    func multiMemberStreams(_ filter: TarBuilder.Filter) async throws {
        let tmp = try TempDir()
        var t = TarBuilder()
        t.file("one", String(repeating: "1", count: 70_000))
        t.file("two", String(repeating: "2", count: 70_000))
        let raw = try t.build()
        let half = raw.count / 2
        let blob = try compressRaw(Array(raw[0..<half]), filter) + compressRaw(Array(raw[half...]), filter)
        let r = try await streamExtract(blob, into: tmp.path, .init(compression: filter == .gzip ? .gzip : .zstd, expectedDiffID: Digest.sha256(raw)), chunk: 1000)
        #expect(r.diffID == Digest.sha256(raw))
        #expect(readText(tmp.path + "/two")?.count == 70_000)
    }

    @Test func notATarFails() async throws {
        let tmp = try TempDir()
        let blob = try compressRaw(Array(String(repeating: "not a tar ", count: 200).utf8), .gzip)
        let error = await #expect(throws: BerthError.self) {
            _ = try await streamExtract(blob, into: tmp.path, .init(compression: .gzip))
        }
        #expect(error?.code == .invalidArgument)
    }

    @Test func teeStoresTheCompressedBlob() async throws {
        let tmp = try TempDir()
        let content = try ContentStore(root: tmp.sub("content"))
        var t = TarBuilder()
        t.file("x", String(repeating: "x", count: 100_000))
        let blob = try t.build(.gzip)
        let digest = Digest.sha256(blob)
        let ingest = try content.beginIngest(expected: digest, expectedSize: Int64(blob.count), hashing: false, durable: false)
        try FS.mkdirAll(tmp.sub("fs"))
        _ = try await streamExtract(blob, into: tmp.sub("fs"), .init(compression: .gzip, tee: ingest))
        try ingest.commit()
        #expect(try content.read(digest) == blob)
    }

    @Test func cancelStopsTheThread() async throws {
        let tmp = try TempDir()
        var t = TarBuilder()
        t.add(.init(path: "x", kind: .bytes(noise(1_000_000))))
        let blob = try t.build(.gzip)
        let x = LayerExtraction.start(into: tmp.path, options: .init(compression: .gzip, pipeCapacity: 1024))
        try await x.write(ByteBuffer(bytes: blob[0..<1000]))
        await x.cancel(BerthError(.unavailable, "connection reset"))
        await #expect(throws: BerthError.self) { try await x.write(ByteBuffer(bytes: blob[1000..<2000])) }
    }

    @Test func extractFromFile() throws {
        let tmp = try TempDir()
        var t = TarBuilder()
        t.file("hello", "world")
        let blob = try t.build(.zstd)
        try writeBytes(tmp.sub("blob"), blob)
        try FS.mkdirAll(tmp.sub("fs"))
        let r = try LayerExtraction.extract(file: tmp.sub("blob"), into: tmp.sub("fs"), options: .init(compression: .zstd))
        #expect(r.entries == 1)
        #expect(readText(tmp.sub("fs/hello")) == "world")
    }
}
