#if canImport(Glibc)
import Glibc
#endif
import CArchive
import Foundation
import NIOCore

extension LocalArchive {
    final class Source {
        let next: () throws -> ByteBuffer?
        var current: ByteBuffer?
        var error: (any Error)?
        init(_ next: @escaping () throws -> ByteBuffer?) { self.next = next }
    }

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
        guard let r = archive_read_new() else { throw CLIError("libarchive: cannot allocate a reader") }
        defer { archive_read_free(r) }
        archive_read_support_filter_all(r)
        archive_read_support_format_tar(r)
        archive_read_support_format_empty(r)
        let source = Source(next)
        let opened = archive_read_open(r, Unmanaged.passUnretained(source).toOpaque(), nil, { _, ctx, out in
            let s = Unmanaged<Source>.fromOpaque(ctx!).takeUnretainedValue()
            do {
                guard let b = try s.next() else { return 0 }
                s.current = b
                return s.current!.withUnsafeReadableBytes { raw in
                    out?.pointee = raw.baseAddress
                    return raw.count
                }
            } catch {
                s.error = error
                return -1
            }
        }, nil)
        func readError() -> any Error {
            source.error ?? CLIError(archive_error_string(r).map { String(cString: $0) } ?? "error reading the archive")
        }
        guard opened == ARCHIVE_OK else { throw readError() }
        guard let w = archive_write_disk_new() else { throw CLIError("libarchive: cannot allocate a writer") }
        defer { archive_write_free(w) }
        archive_write_disk_set_options(w, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR
            | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS)
        func writeError() -> any Error {
            CLIError(archive_error_string(w).map { String(cString: $0) } ?? "error writing \(dest)")
        }
        var entry: OpaquePointer?
        while true {
            let rc = archive_read_next_header(r, &entry)
            if rc == ARCHIVE_EOF { break }
            if rc == ARCHIVE_RETRY { continue }
            if rc < ARCHIVE_WARN { throw readError() }
            let e = entry!
            // In the C locale libarchive cannot give UTF-8 PAX names as multibyte strings: use the UTF-8 form.
            func text(_ mbs: UnsafePointer<CChar>?, _ utf8: UnsafePointer<CChar>?) -> String? { (mbs ?? utf8).map { String(cString: $0) } }
            let rawName = text(archive_entry_pathname(e), archive_entry_pathname_utf8(e)) ?? ""
            let name = rebases.reduce(rawName) { $1.apply($0) }
            let clean = GoPath.clean(name)
            let comps = clean.split(separator: "/").map(String.init).filter { $0 != "." }
            if clean == ".." || clean.hasPrefix("../") {
                throw CLIError("\(GoPath.quote(clean)) is outside of \(GoPath.quote(dest))")
            }
            let dstPath = GoPath.join(dest, clean)
            let type = archive_entry_filetype(e) & 0o170000
            var link: String?
            if let h = text(archive_entry_hardlink(e), archive_entry_hardlink_utf8(e)) {
                let target = rebases.reduce(h) { $1.apply($0) }
                let joined = GoPath.join(dest, target)
                if !(joined == dest || joined.hasPrefix(dest == "/" ? "/" : dest + "/")) {
                    throw CLIError("invalid hardlink \(GoPath.quote(joined)) -> \(GoPath.quote(target))")
                }
                link = target
            } else if type == 0o120000 {
                let target = text(archive_entry_symlink(e), archive_entry_symlink_utf8(e)) ?? ""
                archive_entry_copy_symlink(e, target)
                let joined = GoPath.join(GoPath.dir(dstPath), target)
                if !(joined == dest || joined.hasPrefix(dest == "/" ? "/" : dest + "/")) {
                    throw CLIError("invalid symlink \(GoPath.quote(dstPath)) -> \(GoPath.quote(target))")
                }
            }
            let full = root + (comps.isEmpty ? "" : "/" + comps.joined(separator: "/"))
            if type != 0o040000 || link != nil {
                try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                        withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            }
            var st = stat()
            if lstat(full, &st) == 0 {
                let exDir = (st.st_mode & S_IFMT) == S_IFDIR
                let isDir = type == 0o040000 && link == nil
                if exDir && !isDir {
                    throw CLIError("cannot overwrite directory \(GoPath.quote(dstPath)) with non-directory \(GoPath.quote(dest))")
                }
                if !exDir && isDir {
                    throw CLIError("cannot overwrite non-directory \(GoPath.quote(dstPath)) with directory \(GoPath.quote(dest))")
                }
                if exDir && comps.isEmpty { continue }
                if !(exDir && isDir) { try? FileManager.default.removeItem(atPath: full) }
            }
            archive_entry_copy_pathname(e, full)
            if let link {
                let tcomps = GoPath.clean(link).split(separator: "/").map(String.init).filter { $0 != "." }
                archive_entry_copy_hardlink(e, root + "/" + tcomps.joined(separator: "/"))
            }
            // moby: atime = the later of atime and mtime.
            if archive_entry_mtime_is_set(e) != 0 {
                let (ms, mn) = (archive_entry_mtime(e), archive_entry_mtime_nsec(e))
                if archive_entry_atime_is_set(e) == 0 || (archive_entry_atime(e), archive_entry_atime_nsec(e)) < (ms, mn) {
                    archive_entry_set_atime(e, ms, mn)
                }
            }
            if archive_write_header(w, e) < ARCHIVE_WARN { throw writeError() }
            if archive_entry_size_is_set(e) != 0, archive_entry_size(e) > 0 {
                var buf: UnsafeRawPointer?
                var size = 0
                var offset: la_int64_t = 0
                while true {
                    let d = archive_read_data_block(r, &buf, &size, &offset)
                    if d == ARCHIVE_EOF { break }
                    if d < ARCHIVE_WARN { throw readError() }
                    if archive_write_data_block(w, buf, size, offset) < 0 { throw writeError() }
                }
            }
            if archive_write_finish_entry(w) < ARCHIVE_WARN { throw writeError() }
        }
        if archive_write_close(w) < ARCHIVE_WARN { throw writeError() }
    }
}

/// Go's `path/filepath` on Unix, for the copy rules ported from moby's `archive/copy.go`.
enum GoPath {
    static func clean(_ p: String) -> String {
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

    static func quote(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "\""
    }
}
