#if canImport(Glibc)
import Glibc
#endif
import CArchive
import Foundation
import NIOCore
import OCI
import TarArchive

extension LocalArchive {
    /// moby's `Untar(…, &TarOptions{NoLchown: true, NoOverwriteDirNonDir: true})` into `dest` (an
    /// existing directory): names cleaned and kept below `dest`, symlinks/hard links that climb out of
    /// it refused, missing parents made, existing objects replaced unless both are directories,
    /// modes, times and xattrs restored, owners not. libarchive writes each entry below the real
    /// path of `dest` and refuses to write through any symlink on the way (a stricter rule than
    /// moby's, which follows symlinks already on the disk).
    static func untar(dest rawDest: String, rebases: [Rebase], next: @escaping () throws -> ByteBuffer?) throws {
        let dest = GoPath.clean(rawDest)
        guard let real = realpath(dest, nil) else { throw CLIError("stat \(dest): \(errnoText())") }
        let root = String(cString: real)
        free(real)
        var current: ByteBuffer?
        let tar = try TarReader(mapError: { CLIError($0.detail) }) {
            current = try next()
            return current?.withUnsafeReadableBytes { $0 }
        }
        guard let w = archive_write_disk_new() else { throw CLIError("libarchive: cannot allocate a writer") }
        defer { archive_write_free(w) }
        archive_write_disk_set_options(w, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR
            | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS)
        func writeError() -> any Error {
            CLIError(archive_error_string(w).map { String(cString: $0) } ?? "error writing \(dest)")
        }
        while let e = try tar.next() {
            let rawName = e.name ?? ""
            let name = rebases.reduce(rawName) { $1.apply($0) }
            let clean = TarPath.clean(name)
            guard let comps = TarPath.components(clean) else {
                throw CLIError("\(GoQuote.quote(clean)) is outside of \(GoQuote.quote(dest))")
            }
            let dstPath = GoPath.join(dest, clean)
            let type = e.type
            var link: String?
            if let h = e.hardlink {
                let target = rebases.reduce(h) { $1.apply($0) }
                let joined = GoPath.join(dest, target)
                if !(joined == dest || joined.hasPrefix(dest == "/" ? "/" : dest + "/")) {
                    throw CLIError("invalid hardlink \(GoQuote.quote(joined)) -> \(GoQuote.quote(target))")
                }
                link = target
            } else if type == TarEntry.FileType.symlink {
                let target = e.symlink ?? ""
                e.symlink = target
                let joined = GoPath.join(GoPath.dir(dstPath), target)
                if !(joined == dest || joined.hasPrefix(dest == "/" ? "/" : dest + "/")) {
                    throw CLIError("invalid symlink \(GoQuote.quote(dstPath)) -> \(GoQuote.quote(target))")
                }
            }
            let full = root + (comps.isEmpty ? "" : "/" + comps.joined(separator: "/"))
            if type != TarEntry.FileType.directory || link != nil {
                try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                        withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            }
            var st = stat()
            if lstat(full, &st) == 0 {
                let exDir = (st.st_mode & S_IFMT) == S_IFDIR
                let isDir = type == TarEntry.FileType.directory && link == nil
                if exDir && !isDir {
                    throw CLIError("cannot overwrite directory \(GoQuote.quote(dstPath)) with non-directory \(GoQuote.quote(dest))")
                }
                if !exDir && isDir {
                    throw CLIError("cannot overwrite non-directory \(GoQuote.quote(dstPath)) with directory \(GoQuote.quote(dest))")
                }
                if exDir && comps.isEmpty { continue }
                if !(exDir && isDir) { try? FileManager.default.removeItem(atPath: full) }
            }
            e.name = full
            if let link {
                let tcomps = TarPath.clean(link).split(separator: "/").map(String.init).filter { $0 != "." }
                e.hardlink = root + "/" + tcomps.joined(separator: "/")
            }
            // moby: atime = the later of atime and mtime.
            if let m = e.mtime, e.atime.map({ ($0.tv_sec, $0.tv_nsec) < (m.tv_sec, m.tv_nsec) }) ?? true {
                e.atime = m
            }
            if archive_write_header(w, e.pointer) < ARCHIVE_WARN { throw writeError() }
            if e.hasSize, e.size > 0 {
                try tar.readData { block, offset in
                    if archive_write_data_block(w, block.baseAddress, block.count, offset) < 0 { throw writeError() }
                }
            }
            if archive_write_finish_entry(w) < ARCHIVE_WARN { throw writeError() }
        }
        if archive_write_close(w) < ARCHIVE_WARN { throw writeError() }
    }
}

/// Go's `path/filepath` on Unix, for the copy rules ported from moby's `archive/copy.go`.
enum GoPath {
    static func clean(_ p: String) -> String { TarPath.clean(p) }

    static func join(_ a: String, _ b: String) -> String {
        if a.isEmpty { return b.isEmpty ? "" : clean(b) }
        return clean(a + "/" + b)
    }

    static func dir(_ p: String) -> String {
        guard let i = p.lastIndex(of: "/") else { return "." }
        return clean(String(p[...i]))
    }

    static func base(_ p: String) -> String {
        if p.isEmpty { return "." }
        var s = Substring(p)
        while s.count > 1 && s.hasSuffix("/") { s = s.dropLast() }
        if s == "/" { return "/" }
        if let i = s.lastIndex(of: "/") { s = s[s.index(after: i)...] }
        return s.isEmpty ? "." : String(s)
    }

    /// `filepath.Split`: everything up to and including the last `/`, and the rest.
    static func split(_ p: String) -> (String, String) {
        guard let i = p.lastIndex(of: "/") else { return ("", p) }
        return (String(p[...i]), String(p[p.index(after: i)...]))
    }

    static func isAbs(_ p: String) -> Bool { p.hasPrefix("/") }

    static func specifiesCurrentDir(_ p: String) -> Bool { base(p) == "." }
    static func hasTrailingSeparator(_ p: String) -> Bool { p.hasSuffix("/") }

    static func splitPathDirEntry(_ p: String) -> (String, String) {
        var cleaned = clean(p)
        if specifiesCurrentDir(p) { cleaned += "/." }
        return (dir(cleaned), base(cleaned))
    }

    static func preserveTrailingDotOrSeparator(_ cleaned: String, _ original: String) -> String {
        var c = cleaned
        if !specifiesCurrentDir(c) && specifiesCurrentDir(original) {
            if !hasTrailingSeparator(c) { c += "/" }
            c += "."
        }
        if !hasTrailingSeparator(c) && hasTrailingSeparator(original) { c += "/" }
        return c
    }
}
