#if canImport(Glibc)
import Glibc
#endif
import CLinuxFS
import Foundation
@testable import Storage

/// Builds directory trees in overlayfs form for the overlay tests (whiteouts and opaque markers need root).
struct OverlayTree {
    let root: String

    init(_ root: String) throws {
        self.root = root
        try FS.mkdirAll(root, mode: 0o755)
        chmod(root, 0o755)
    }

    @discardableResult
    func dir(_ path: String, mode: mode_t = 0o755, opaque: Bool = false) throws -> OverlayTree {
        var p = root
        for c in path.split(separator: "/") {
            p += "/" + c
            if mkdir(p, 0o755) != 0 && errno != EEXIST { throw TestError("mkdir \(p)") }
        }
        chmod(p, mode)
        if opaque {
            let r = lsetxattr(p, "trusted.overlay.opaque", "y", 1, 0)
            if r != 0 { throw TestError("setxattr \(p)") }
        }
        return self
    }

    @discardableResult
    func file(_ path: String, _ text: String, mode: mode_t = 0o644, mtime: Int = 1_600_000_000) throws -> OverlayTree {
        try parent(path)
        try writeBytes(root + "/" + path, Array(text.utf8))
        chmod(root + "/" + path, mode)
        setMtime(path, mtime)
        return self
    }

    @discardableResult
    func whiteout(_ path: String) throws -> OverlayTree {
        try parent(path)
        if mknod(root + "/" + path, S_IFCHR | 0o000, 0) != 0 { throw TestError("mknod \(path)") }
        return self
    }

    @discardableResult
    func symlink(_ path: String, to target: String, mtime: Int = 1_600_000_000) throws -> OverlayTree {
        try parent(path)
        if Glibc.symlink(target, root + "/" + path) != 0 { throw TestError("symlink \(path)") }
        setMtime(path, mtime)
        return self
    }

    @discardableResult
    func hardlink(_ path: String, to existing: String) throws -> OverlayTree {
        if link(root + "/" + existing, root + "/" + path) != 0 { throw TestError("link \(path)") }
        return self
    }

    func setMtime(_ path: String, _ seconds: Int) {
        var ts = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
        utimensat(AT_FDCWD, root + "/" + path, &ts, AT_SYMLINK_NOFOLLOW)
    }

    /// Creates missing parents (0755) without touching existing ones.
    private func parent(_ path: String) throws {
        var p = root
        for c in path.split(separator: "/").dropLast() {
            p += "/" + c
            if mkdir(p, 0o755) == 0 { chmod(p, 0o755) } else if errno != EEXIST { throw TestError("mkdir \(p)") }
        }
    }
}
