#if canImport(Glibc)
import Glibc
#endif
import APIModels
import Foundation
import Testing
@testable import Engine

/// Path scoping of `docker cp`: every path resolves inside the container root (absolute links and
/// `..` included), bind mounts are crossed, and what a tar entry may name is refused as moby does.
struct ContainerFSTests {
    /// A small rootfs with hostile symlinks, and a host directory bind-mounted at /data.
    final class Tree {
        let base: String
        let root: String
        let volume: String
        let fs: ContainerFS

        init() throws {
            base = NSTemporaryDirectory() + "berth-cfs-\(UUID().uuidString.prefix(8))"
            root = base + "/rootfs"
            volume = base + "/vol"
            let fm = FileManager.default
            for d in ["etc", "bin", "usr/lib", "dir/sub"] { try fm.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true) }
            try fm.createDirectory(atPath: volume, withIntermediateDirectories: true)
            try fm.createDirectory(atPath: base + "/etc", withIntermediateDirectories: true)
            for f in ["etc/passwd", "bin/busybox", "usr/lib/x"] { fm.createFile(atPath: root + "/" + f, contents: Data(f.utf8)) }
            fm.createFile(atPath: volume + "/inside", contents: Data("vol".utf8))
            fm.createFile(atPath: base + "/etc/passwd", contents: Data("HOST".utf8))
            for (link, target) in [("bin/sh", "busybox"), ("abs", "/etc"), ("up", "../../../../../.."), ("escape", "/"),
                                   ("lib", "usr/lib"), ("loop1", "loop2"), ("loop2", "loop1"), ("dangling", "/nowhere/x"),
                                   ("dir/sub/back", "../../etc"), ("dir/hostish", base + "/etc"), ("tovol", "/data")] {
                try fm.createSymbolicLink(atPath: root + "/" + link, withDestinationPath: target)
            }
            fs = try ContainerFS(rootfs: root, mounts: [.init(destination: ["data"], source: volume, readOnly: true, isDirectory: true)])
        }

        deinit { try? FileManager.default.removeItem(atPath: base) }

        /// The host file a resolution landed on (by inode), as a path below `base`.
        func host(_ r: ContainerFS.Resolved) -> String? {
            guard let st = ContainerFS.lstat(r.fd, r.name) else { return nil }
            // A walk that never follows symlinks (some point at / on purpose).
            func find(_ rel: String) -> String? {
                var s = stat()
                guard lstat(base + "/" + rel, &s) == 0 else { return nil }
                if s.st_ino == st.st_ino && s.st_dev == st.st_dev { return rel }
                guard (s.st_mode & S_IFMT) == S_IFDIR else { return nil }
                for c in (try? FileManager.default.contentsOfDirectory(atPath: base + "/" + rel)) ?? [] {
                    if let hit = find(rel.isEmpty ? c : rel + "/" + c) { return hit }
                }
                return nil
            }
            return find("")
        }
    }

    enum Want: Equatable {
        case at(String, host: String?)
        case missing(String)
        case errno(Int32)
    }

    @Test(arguments: [
        ("/etc/passwd", false, Want.at("/etc/passwd", host: "rootfs/etc/passwd")),
        ("etc/passwd", false, .at("/etc/passwd", host: "rootfs/etc/passwd")),
        ("/abs/passwd", false, .at("/etc/passwd", host: "rootfs/etc/passwd")),
        ("/up/etc/passwd", false, .at("/etc/passwd", host: "rootfs/etc/passwd")),
        ("/escape/etc/passwd", false, .at("/etc/passwd", host: "rootfs/etc/passwd")),
        ("/dir/sub/back/passwd", false, .at("/etc/passwd", host: "rootfs/etc/passwd")),
        ("/../../etc/passwd", false, .at("/etc/passwd", host: "rootfs/etc/passwd")),
        ("/bin/sh", false, .at("/bin/sh", host: "rootfs/bin/sh")),
        ("/bin/sh", true, .at("/bin/busybox", host: "rootfs/bin/busybox")),
        ("/lib/x", false, .at("/usr/lib/x", host: "rootfs/usr/lib/x")),
        ("/dir/hostish/passwd", false, .missing("/tmp")),
        ("/data/inside", false, .at("/data/inside", host: "vol/inside")),
        ("/tovol/inside", false, .at("/data/inside", host: "vol/inside")),
        ("/data/../etc/passwd", false, .at("/etc/passwd", host: "rootfs/etc/passwd")),
        ("/nonexistent", false, .missing("/nonexistent")),
        ("/dangling", true, .errno(ENOENT)),
        ("/nonexistent/x", false, .errno(ENOENT)),
        ("/etc/passwd/x", false, .errno(ENOTDIR)),
        ("/loop1", true, .errno(ELOOP)),
        ("/loop1/x", false, .errno(ELOOP)),
    ])
    func resolvesInsideTheRoot(path: String, followLast: Bool, want: Want) throws {
        let t = try Tree()
        do {
            let r = try t.fs.resolve(ContainerFS.components(path), followLast: followLast)
            defer { r.close() }
            if !r.exists {
                // `/dir/hostish` points at the host's BASE/etc: inside the root that is a missing /tmp/….
                if case .missing(let p) = want { #expect(ContainerFS.display(r.path).hasPrefix(p) || ContainerFS.display(r.path) == p) } else { Issue.record("\(path): missing") }
                return
            }
            #expect(want == .at(ContainerFS.display(r.path), host: t.host(r)), "\(path)")
        } catch let e as ContainerFSError {
            if case .missing = want, e.code == ENOENT { return }
            #expect(want == .errno(e.code), "\(path): errno \(e.code)")
        }
    }

    @Test func linkTargetsAreResolvedLexicallyWhenBroken() throws {
        let t = try Tree()
        let r = try t.fs.resolve(ContainerFS.components("/dangling"), followLast: true, lexical: true)
        #expect(ContainerFS.display(r.path) == "/nowhere/x")
        let s = try t.fs.resolve(ContainerFS.components("/bin/sh"), followLast: true, lexical: true)
        defer { s.close() }
        #expect(ContainerFS.display(s.path) == "/bin/busybox")
    }

    @Test func creationNeverFollowsALinkToAMissingPlace() throws {
        let t = try Tree()
        // A missing directory of the path itself is made …
        let d = try t.fs.directory(ContainerFS.components("/dir/new/deeper"), create: { _ in })
        d.close()
        #expect(FileManager.default.fileExists(atPath: t.root + "/dir/new/deeper"))
        // … but not the missing target of a symlink (moby's MkdirAll fails there too).
        #expect(throws: ContainerFSError.self) { try t.fs.directory(ContainerFS.components("/dangling/sub"), create: { _ in }) }
        #expect(!FileManager.default.fileExists(atPath: t.root + "/nowhere"))
        // A read-only mount refuses new directories.
        #expect(throws: ContainerFSError.self) { try t.fs.directory(ContainerFS.components("/data/newdir"), create: { _ in }) }
    }

    @Test(arguments: [
        ([String](), "x", ["x"] as [String]?), (["a"], "../b", ["b"]), (["a"], "/etc", ["a", "etc"]),
        ([], "../x", nil), (["a", "b"], "../../..", nil), (["a"], "./c/../d", ["a", "d"]),
    ])
    func linkTargetsStayBelowTheDestination(base: [String], link: String, want: [String]?) {
        #expect(ContainerTarExtractor.join(base, link) == want)
    }

    @Test(arguments: [
        ("/etc", "/etc"), ("etc/", "/etc/"), ("/etc/.", "/etc/."), ("/", "/"), (".", "/."), ("/x/../y//", "/y/"),
    ])
    func absPathKeepsTrailingDotOrSlash(path: String, want: String) {
        #expect(ContainerService.absPath(path) == want)
    }

    @Test func statHeaderIsGoShaped() {
        #expect(ContainerPathStat.goTime(seconds: 1_700_000_000, nanoseconds: 0) == "2023-11-14T22:13:20Z")
        #expect(ContainerPathStat.goTime(seconds: 0, nanoseconds: 120_000_000) == "1970-01-01T00:00:00.12Z")
        #expect(ContainerPathStat.goMode(posix: 0o040755) == (1 << 31) | 0o755)
        #expect(ContainerPathStat.goMode(posix: 0o041777) == (1 << 31) | (1 << 20) | 0o777)
        #expect(ContainerPathStat.goMode(posix: 0o120777) == (1 << 27) | 0o777)
        #expect(ContainerPathStat.goMode(posix: 0o104755) == (1 << 23) | 0o755)
        let s = ContainerPathStat(name: "a\"b", size: 3, mode: 420, mtime: "2023-11-14T22:13:20Z", linkTarget: "/x/y")
        #expect(s.json == #"{"name":"a\"b","size":3,"mode":420,"mtime":"2023-11-14T22:13:20Z","linkTarget":"/x/y"}"#)
        #expect(ContainerPathStat(headerValue: s.headerValue) == s)
    }
}
