/// Lexical rules for tar entry names (Go's `path` package as moby's `archive.Untar` applies it).
public enum TarPath {
    /// Go's `path.Clean`: `.` and empty components dropped, `..` folded (kept at the front of a
    /// relative path, dropped at the root), `"."` for nothing.
    public static func clean(_ p: String) -> String {
        if p.isEmpty { return "." }
        let rooted = p.hasPrefix("/")
        var out: [Substring] = []
        for part in p.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if let last = out.last, last != ".." { out.removeLast(); continue }
                if rooted { continue }
            }
            out.append(part)
        }
        let s = out.joined(separator: "/")
        return rooted ? "/" + s : (s.isEmpty ? "." : s)
    }

    /// An entry name's components below the extraction directory, or nil when `..` climbs out of
    /// it (Go's `path.Clean` then `filepath.Join(dest, name)`: a rooted name stays inside).
    public static func components(_ raw: String) -> [String]? {
        let rooted = raw.hasPrefix("/")
        var out: [String] = []
        for part in raw.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if out.isEmpty {
                    if rooted { continue }
                    return nil
                }
                out.removeLast()
                continue
            }
            out.append(String(part))
        }
        return out
    }
}
