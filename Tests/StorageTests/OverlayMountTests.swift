#if canImport(Glibc)
import Glibc
#endif
import Foundation
import OCI
import Testing
@testable import Storage

@Suite(.enabled(if: isRoot, "mounting overlays needs root"))
struct OverlayMountTests {
    /// 80 lower dirs with long paths: their absolute names alone would be over 2 pages of mount data.
    @Test func manyLongLowerDirsMount() throws {
        let tmp = try TempDir()
        let long = String(repeating: "x", count: 100)
        var lowers: [String] = []
        for i in 0..<80 {
            let t = try OverlayTree(tmp.sub("\(long)-layer-\(i)"))
            try t.file("layer-\(i)", "\(i)").file("top", "\(i)")
            lowers.insert(t.root, at: 0) // topmost first: the last layer made is on top
        }
        #expect(lowers.joined(separator: ":").utf8.count > 2 * 4096)
        for d in ["upper", "work", "merged"] { try FS.mkdirAll(tmp.sub(d)) }
        try OverlayMount.mount(lowers: lowers, upper: tmp.sub("upper"), work: tmp.sub("work"), target: tmp.sub("merged"),
                               linkDir: tmp.sub("l"))
        defer { umount2(tmp.sub("merged"), Int32(MNT_DETACH)) }
        #expect(readText(tmp.sub("merged/top")) == "79")
        #expect(readText(tmp.sub("merged/layer-0")) == "0" && readText(tmp.sub("merged/layer-42")) == "42")
        #expect(FS.list(tmp.sub("merged")).count == 81)
        #expect(FS.list(tmp.sub("l")).count == 80)
        // The process' working directory is untouched (the mount ran on a thread of its own).
        #expect(FileManager.default.currentDirectoryPath != tmp.sub("l"))
        // Remounting after an unmount rebuilds the links.
        umount2(tmp.sub("merged"), 0)
        try OverlayMount.mount(lowers: Array(lowers.suffix(2)), upper: tmp.sub("upper"), work: tmp.sub("work"),
                               target: tmp.sub("merged"), linkDir: tmp.sub("l"))
        #expect(readText(tmp.sub("merged/top")) == "1" && FS.list(tmp.sub("l")).count == 2)
    }

    @Test func noLowerDirIsAnError() throws {
        let tmp = try TempDir()
        #expect(throws: BerthError.self) {
            try OverlayMount.mount(lowers: [], upper: tmp.sub("u"), work: tmp.sub("w"), target: tmp.sub("m"), linkDir: tmp.sub("l"))
        }
    }
}
