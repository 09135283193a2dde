#if canImport(Glibc)
import Glibc
#endif
import CArchive
import Foundation
import OCI
import Testing
@testable import Storage

/// One tar entry as read back with libarchive.
struct ReadEntry: Equatable, CustomStringConvertible {
    var path: String
    var type: UInt32
    var mode: UInt32
    var size: Int64
    var link: String?
    var description: String { "\(path) \(String(type, radix: 8)) \(String(mode, radix: 8)) \(size) \(link ?? "")" }
}

func readTar(_ bytes: [UInt8]) throws -> [ReadEntry] {
    guard let a = archive_read_new() else { throw TestError("archive_read_new") }
    defer { archive_read_free(a) }
    archive_read_support_format_tar(a)
    archive_read_support_format_empty(a)
    archive_read_support_filter_gzip(a)
    var out: [ReadEntry] = []
    try bytes.withUnsafeBytes { raw in
        guard archive_read_open_memory(a, raw.baseAddress, raw.count) == ARCHIVE_OK else { throw TestError("open") }
        var e: OpaquePointer?
        while archive_read_next_header(a, &e) == ARCHIVE_OK {
            let link = archive_entry_hardlink(e).map { String(cString: $0) } ?? archive_entry_symlink(e).map { String(cString: $0) }
            out.append(ReadEntry(path: String(cString: archive_entry_pathname(e)), type: UInt32(archive_entry_filetype(e)),
                                 mode: UInt32(archive_entry_perm(e)), size: archive_entry_size(e), link: link))
        }
    }
    return out
}

func writeLayer(_ dir: String, _ compression: LayerCompression, exclude: LayerWriter.Filter? = nil) throws -> (LayerWriterResult, [UInt8]) {
    var bytes: [UInt8] = []
    let r = try LayerWriter.write(directory: dir, compression: compression, exclude: exclude) { bytes += $0 }
    return (r, bytes)
}

@Suite(.enabled(if: isRoot, "whiteouts and trusted.overlay xattrs need root"))
struct LayerWriterTests {
    static func upper(_ tmp: TempDir) throws -> OverlayTree {
        let t = try OverlayTree(tmp.sub("upper"))
        try t.file("a", "hello", mode: 0o640).hardlink("a2", to: "a").dir("d", mode: 0o750, opaque: true)
            .file("d/x", "x").whiteout("d/old").whiteout("gone").symlink("ln", to: "a")
        return t
    }

    @Test func whiteoutsBecomeOCIMarkers() throws {
        let tmp = try TempDir()
        let t = try Self.upper(tmp)
        let (r, bytes) = try writeLayer(t.root, .none)
        let entries = try readTar(bytes)
        let reg = AEType.regular, dir = AEType.dir, lnk = AEType.link
        #expect(entries == [
            ReadEntry(path: "a", type: reg, mode: 0o640, size: 5, link: nil),
            ReadEntry(path: "a2", type: 0, mode: 0o640, size: 0, link: "a"), // libarchive reads hard links untyped
            ReadEntry(path: "d/", type: dir, mode: 0o750, size: 0, link: nil),
            ReadEntry(path: "d/.wh..wh..opq", type: reg, mode: 0o750, size: 0, link: nil),
            ReadEntry(path: "d/.wh.old", type: reg, mode: 0o600, size: 0, link: nil),
            ReadEntry(path: "d/x", type: reg, mode: 0o644, size: 1, link: nil),
            ReadEntry(path: ".wh.gone", type: reg, mode: 0o600, size: 0, link: nil),
            ReadEntry(path: "ln", type: lnk, mode: 0o777, size: 0, link: "a"),
        ])
        #expect(r.diffID == Digest.sha256(bytes) && r.blobDigest == r.diffID)
        #expect(r.rawSize == Int64(bytes.count) && r.entries == 8 && r.contentSize == 6)
        #expect(!r.isEmpty)
    }

    @Test func gzipLayerRoundTripsThroughTheApplier() throws {
        let tmp = try TempDir()
        let t = try Self.upper(tmp)
        let (r, gz) = try writeLayer(t.root, .gzip)
        #expect(gz.starts(with: [0x1f, 0x8b]) && r.blobDigest == Digest.sha256(gz) && r.blobSize == Int64(gz.count))
        #expect(try writeLayer(t.root, .gzip).1 == gz) // no timestamp: the same tree, the same blob
        let (raw, tar) = try writeLayer(t.root, .none)
        #expect(raw.diffID == r.diffID && Digest.sha256(tar) == r.diffID)
        try writeBytes(tmp.sub("layer.tgz"), gz)
        try FS.mkdirAll(tmp.sub("out"))
        let x = try LayerExtraction.extract(file: tmp.sub("layer.tgz"), into: tmp.sub("out"),
                                            options: .init(compression: .gzip, expectedDiffID: r.diffID))
        #expect(x.diffID == r.diffID && x.size == 6)
        let wh = try #require(lstatOf(tmp.sub("out/gone")))
        #expect(OverlayLowerView.isWhiteout(wh))
        #expect(OverlayLowerView.isWhiteout(try #require(lstatOf(tmp.sub("out/d/old")))))
        #expect(xattr(tmp.sub("out/d"), "trusted.overlay.opaque") == "y")
        #expect(readText(tmp.sub("out/d/x")) == "x")
        #expect(lstatOf(tmp.sub("out/a"))?.st_ino == lstatOf(tmp.sub("out/a2"))?.st_ino)
    }

    @Test func emptyDirectoryIsTheEmptyLayer() throws {
        let tmp = try TempDir()
        try FS.mkdirAll(tmp.sub("empty"))
        let (r, bytes) = try writeLayer(tmp.sub("empty"), .none)
        #expect(bytes == [UInt8](repeating: 0, count: 1024))
        #expect(r.isEmpty && r.diffID.description == "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef")
        #expect(try writeLayer(tmp.sub("empty"), .gzip).0.isEmpty)
    }

    @Test func excludedPathsAreLeftOut() throws {
        let tmp = try TempDir()
        let t = try Self.upper(tmp)
        let (_, bytes) = try writeLayer(t.root, .none) { rel, _ in rel == "d" || rel == "ln" }
        #expect(try readTar(bytes).map(\.path) == ["a", "a2", ".wh.gone"])
    }
}
