#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TarArchive

/// The shared libarchive plumbing: what a tree written by ``TarWriter`` reads back as through
/// ``TarReader``, the Go-shaped stream end, and the lexical name rules.
struct TarArchiveTests {
    @Test(arguments: [
        ("a/b", ["a", "b"] as [String]?), ("./a/./b/", ["a", "b"]), ("/rooted", ["rooted"]), ("/../x", ["x"]),
        ("a/../b", ["b"]), (".", []), ("./", []), ("../x", nil), ("a/../../x", nil), ("..", nil),
    ])
    func entryNamesStayBelowTheDestination(raw: String, want: [String]?) {
        #expect(TarPath.components(raw) == want)
    }

    @Test(arguments: [
        ("", "."), ("a//b/./c/", "a/b/c"), ("/../a", "/a"), ("../../a", "../../a"), ("a/../..", ".."), ("/", "/"),
    ])
    func cleanIsGoPathClean(raw: String, want: String) {
        #expect(TarPath.clean(raw) == want)
    }

    @Test func emptyArchiveIsTwoZeroBlocks() throws {
        var out: [UInt8] = []
        let w = try TarWriter { out += $0 }
        try w.finish()
        #expect(out == [UInt8](repeating: 0, count: 1024))
    }

    /// Files, a directory, a symlink, a hard link and a non-ASCII name survive a write/read round trip.
    @Test func roundTripFromStat() throws {
        let dir = NSTemporaryDirectory() + "tararchive-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("hello".utf8).write(to: URL(fileURLWithPath: dir + "/sub/f\u{e9}.txt"))
        #expect(link(dir + "/sub/f\u{e9}.txt", dir + "/sub/hard") == 0)
        #expect(symlink("f\u{e9}.txt", dir + "/sub/ln") == 0)

        var out: [UInt8] = []
        try withUTF8Locale {
            let w = try TarWriter(blockSize: 10240) { out += $0 }
            var links = TarHardLinks()
            for name in ["sub", "sub/f\u{e9}.txt", "sub/hard", "sub/ln"] {
                var st = stat()
                #expect(lstat(dir + "/" + name, &st) == 0)
                let e = try TarEntry(name: name, stat: st)
                if (st.st_mode & S_IFMT) == S_IFLNK { e.symlink = "f\u{e9}.txt" }
                links.link(e, st)
                try w.writeHeader(e)
                if e.size > 0 {
                    let fd = open(dir + "/" + name, O_RDONLY)
                    defer { close(fd) }
                    try w.writeData(from: fd, size: e.size)
                }
            }
            try w.finish()
            #expect(w.entries == 4)
        }
        #expect(out.count % 512 == 0)

        var seen: [(String, mode_t, String?, String?, String)] = []
        try withUTF8Locale { try out.withUnsafeBytes { all in
            var given = false
            let r = try TarReader {
                if given { return nil }
                given = true
                return all
            }
            while let e = try r.next() {
                var data: [UInt8] = []
                try r.readData { block, _ in data += block }
                #expect(e.mtime?.tv_nsec == 0)
                seen.append((e.name ?? "", e.type, e.hardlink, e.symlink, String(decoding: data, as: UTF8.self)))
            }
        } }
        #expect(seen.map(\.0) == ["sub/", "sub/f\u{e9}.txt", "sub/hard", "sub/ln"])
        // (libarchive reads a hard link entry without a file type: callers test `hardlink` first.)
        #expect([seen[0].1, seen[1].1, seen[3].1] == [TarEntry.FileType.directory, TarEntry.FileType.regular,
                                                      TarEntry.FileType.symlink])
        #expect(seen[2].2 == "sub/f\u{e9}.txt" && seen[2].4.isEmpty)
        #expect(seen[3].3 == "f\u{e9}.txt")
        #expect(seen[1].4 == "hello")
    }

    /// A damaged archive fails through `mapError`; a source's own error comes back unchanged.
    @Test func errorsAreMappedOrPassedThrough() throws {
        struct Mine: Error { var text: String }
        struct SourceFailed: Error {}
        let junk = [UInt8](repeating: 0x41, count: 4096)
        #expect(throws: Mine.self) {
            try junk.withUnsafeBytes { all in
                var given = false
                let r = try TarReader(mapError: { Mine(text: $0.detail) }) {
                    if given { return nil }
                    given = true
                    return all
                }
                while try r.next() != nil {}
            }
        }
        #expect(throws: SourceFailed.self) {
            _ = try TarReader(mapError: { Mine(text: $0.detail) }) { throw SourceFailed() }
        }
        #expect(throws: SourceFailed.self) {
            let w = try TarWriter(mapError: { Mine(text: $0.detail) }) { _ in throw SourceFailed() }
            try w.finish()
        }
    }
}
