#if canImport(Glibc)
import Glibc
#endif
import CLinuxFS
import Foundation
import OCI

/// One changed path of a container's file system (Docker's `archive.Change`).
public struct FileChange: Sendable, Hashable {
    public enum Kind: Int, Sendable {
        case modified = 0, added = 1, deleted = 2
    }
    /// Absolute path in the container (`/etc/passwd`).
    public var path: String
    public var kind: Kind

    public init(path: String, kind: Kind) {
        self.path = path
        self.kind = kind
    }
}

/// The changes an overlay's upper directory makes to its lower layers, classified as Docker's overlay2
/// driver reports them (its `Changes` is moby's "naive" tree comparison of the two mounted trees):
///
/// * a path only in the new tree is added (so is everything below an added directory);
/// * a path in both is modified when its type, mode, owner or device differs, or — for non-directories —
///   its size or mtime, or its `security.capability`;
/// * a path only in the old tree is deleted (a whiteout; or hidden by an opaque directory), its subtree
///   not listed;
/// * a directory with changes below it that is not itself added or modified is listed as modified.
///
/// Only the upper dir is walked; the old side of a path is looked up through the lower layers with
/// overlayfs' rules (whiteouts, opaque directories), so unchanged subtrees cost nothing.
public struct OverlayChanges: Sendable {
    public let upper: String
    public let lower: OverlayLowerView
    /// Paths (absolute) that count as present in the lower layers whatever they hold: Docker's
    /// init layer (`/etc/hosts`, `/dev/console`…), which berth does not have; the runtime creates
    /// these mount points in the upper dir instead.
    public let initPaths: Set<String>

    /// moby's `initLayer` entries (and their parents).
    public static let dockerInitPaths: Set<String> = [
        "/dev", "/dev/pts", "/dev/shm", "/dev/console", "/proc", "/sys", "/.dockerenv",
        "/etc", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab",
    ]

    /// - Parameters:
    ///   - upper: the overlay's upper directory.
    ///   - lowers: the lower directories, topmost first.
    public init(upper: String, lowers: [String], initPaths: Set<String> = OverlayChanges.dockerInitPaths) {
        self.upper = upper
        self.lower = OverlayLowerView(layers: lowers)
        self.initPaths = initPaths
    }

    /// Every change, parents before children.
    public func compute() throws -> [FileChange] {
        var out: [FileChange] = []
        try walk("", opaque: false, old: nil, into: &out)
        return out
    }

    /// Whether an upper-dir entry is only a mount point the runtime made where Docker's init layer
    /// would have had it (an empty file, a symlink, or a directory holding nothing but such stubs, at
    /// an init path the image lacks). Such entries are neither changes nor committed.
    public func isInitStub(_ relativePath: String, _ st: stat) -> Bool {
        guard initPaths.contains("/" + relativePath), lower.lookup(relativePath) == nil else { return false }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return st.st_size == 0
        case S_IFLNK: return true
        case S_IFDIR:
            guard let names = try? TreeWriter.sortedNames(upper + "/" + relativePath) else { return false }
            return names.allSatisfy { name in
                var child = stat()
                return lstat(upper + "/" + relativePath + "/" + name, &child) == 0 && isInitStub(relativePath + "/" + name, child)
            }
        default: return false
        }
    }

    private func walk(_ rel: String, opaque: Bool, old: OverlayLowerView.Entry?, into out: inout [FileChange]) throws {
        let dir = rel.isEmpty ? upper : upper + "/" + rel
        var seen = Set<String>()
        for name in try TreeWriter.sortedNames(dir) {
            seen.insert(name)
            let childRel = rel.isEmpty ? name : rel + "/" + name
            let full = upper + "/" + childRel
            var st = stat()
            if lstat(full, &st) != 0 {
                if errno == ENOENT { continue }
                throw FS.error("stat", full)
            }
            let oldEntry = lower.lookup(childRel)
            if OverlayLowerView.isWhiteout(st) {
                if oldEntry != nil { out.append(FileChange(path: "/" + childRel, kind: .deleted)) }
                continue
            }
            let start = out.count
            var reported = true
            if var oldStat = oldEntry?.st ?? (initPaths.contains("/" + childRel) ? st : nil) {
                if Self.statDifferent(&oldStat, st)
                    || (oldEntry.map { TreeWriter.xattr($0.path, "security.capability") } ?? nil) != TreeWriter.xattr(full, "security.capability") {
                    out.append(FileChange(path: "/" + childRel, kind: .modified))
                } else {
                    reported = false
                }
            } else {
                out.append(FileChange(path: "/" + childRel, kind: .added))
            }
            guard (st.st_mode & S_IFMT) == S_IFDIR else { continue }
            let childOpaque = opaque || TreeWriter.xattr(full, "trusted.overlay.opaque") == [UInt8(ascii: "y")]
            let oldDir = oldEntry.flatMap { ($0.st.st_mode & S_IFMT) == S_IFDIR ? $0 : nil }
            try walk(childRel, opaque: childOpaque, old: oldDir, into: &out)
            if !reported, out.count > start {
                out.insert(FileChange(path: "/" + childRel, kind: .modified), at: start)
            }
        }
        // Below an opaque directory the lower layers' entries are gone.
        if opaque, let old {
            for name in lower.visibleNames(old) where !seen.contains(name) {
                out.append(FileChange(path: "/" + (rel.isEmpty ? name : rel + "/" + name), kind: .deleted))
            }
        }
    }

    /// moby's `statDifferent` (directories: not size nor mtime) with `sameFsTimeSpec`.
    static func statDifferent(_ old: inout stat, _ new: stat) -> Bool {
        if old.st_mode != new.st_mode || old.st_uid != new.st_uid || old.st_gid != new.st_gid || old.st_rdev != new.st_rdev {
            return true
        }
        if (old.st_mode & S_IFMT) == S_IFDIR { return false }
        let a = old.st_mtim, b = new.st_mtim
        let sameTime = a.tv_sec == b.tv_sec && (a.tv_nsec == b.tv_nsec || a.tv_nsec == 0 || b.tv_nsec == 0)
        return !sameTime || old.st_size != new.st_size
    }
}

/// Lower layers (topmost first) seen as one tree, resolved as overlayfs does: the topmost entry wins,
/// a whiteout hides the layers below, an opaque directory stops the merge, a non-directory ends it.
public struct OverlayLowerView: Sendable {
    public let layers: [String]

    public init(layers: [String]) { self.layers = layers }

    /// A visible entry: its `lstat`, the real path of its topmost copy and, for a directory, the
    /// layers (indices) whose directories merge into it.
    public struct Entry {
        public var st: stat
        public var path: String
        var merged: [Int]
    }

    /// Looks up a relative path (`etc/passwd`); nil when no layer shows it.
    public func lookup(_ relativePath: String) -> Entry? {
        var candidates = rootLayers()
        var prefix = ""
        let comps = relativePath.split(separator: "/", omittingEmptySubsequences: true)
        guard !comps.isEmpty else { return nil }
        for (i, c) in comps.enumerated() {
            prefix = prefix.isEmpty ? String(c) : prefix + "/" + c
            var found: Entry?
            var next: [Int] = []
            for li in candidates {
                let p = layers[li] + "/" + prefix
                var st = stat()
                if lstat(p, &st) != 0 { continue }
                if Self.isWhiteout(st) { break }
                let isDir = (st.st_mode & S_IFMT) == S_IFDIR
                if found == nil {
                    found = Entry(st: st, path: p, merged: [])
                    if !isDir { break }
                } else if !isDir {
                    break
                }
                next.append(li)
                if TreeWriter.xattr(p, "trusted.overlay.opaque") == [UInt8(ascii: "y")] { break }
            }
            guard var entry = found else { return nil }
            let isDir = (entry.st.st_mode & S_IFMT) == S_IFDIR
            if i == comps.count - 1 {
                entry.merged = isDir ? next : []
                return entry
            }
            guard isDir else { return nil }
            candidates = next
        }
        return nil
    }

    /// Names visible in a directory entry (its merged layers' entries minus whiteouts).
    public func visibleNames(_ dir: Entry) -> [String] {
        var decided: [String: Bool] = [:]
        let rel = dir.path.dropFirst(layers[dir.merged.first ?? 0].count)
        for li in dir.merged {
            let path = layers[li] + rel
            for name in (try? TreeWriter.sortedNames(path)) ?? [] where decided[name] == nil {
                var st = stat()
                decided[name] = lstat(path + "/" + name, &st) == 0 && !Self.isWhiteout(st)
            }
        }
        return decided.filter(\.value).keys.sorted()
    }

    /// The layers whose root directories merge (down to the first opaque root).
    private func rootLayers() -> [Int] {
        var out: [Int] = []
        for (i, l) in layers.enumerated() {
            out.append(i)
            if TreeWriter.xattr(l, "trusted.overlay.opaque") == [UInt8(ascii: "y")] { break }
        }
        return out
    }

    /// An overlay whiteout: a character device 0:0.
    public static func isWhiteout(_ st: stat) -> Bool {
        (st.st_mode & S_IFMT) == S_IFCHR && st.st_rdev == 0
    }
}
