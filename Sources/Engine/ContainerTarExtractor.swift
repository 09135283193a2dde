#if canImport(Glibc)
import Glibc
#endif
import CArchive
import CLinuxFS
import Foundation
import OCI

/// Unpacks a tar (plain or compressed) into a directory of a ``ContainerFS`` with the semantics of
/// moby's `archive.Untar` as `PUT /containers/{id}/archive` uses it: names are cleaned and joined to
/// the destination (a leading `/` is relative to it), `..` escapes and symlinks/hard links whose
/// target climbs out of the destination are refused, missing parents are made (0755, root), an
/// existing object is replaced unless both are directories (merged), `noOverwriteDirNonDir` refuses
/// replacing a directory by a non-directory and vice versa, owners come from the tar (or `owner`),
/// modes, xattrs and times are restored (directory times last).
///
/// Every entry is placed with the container-scoped resolver, so a symlink (from the image or from
/// the tar itself) is followed inside the container and can never reach the host. The archive is
/// read twice from a seekable file: ``validate(_:dest:)`` refuses a bad or hostile archive before
/// anything is written; ``extract(_:)`` removes what it created if it fails half-way.
final class ContainerTarExtractor {
    struct Options {
        var noOverwriteDirNonDir = false
        /// `copyUIDGID`: every entry gets the container user's IDs instead of the tar's.
        var owner: (uid: UInt32, gid: UInt32)?
    }

    let fs: ContainerFS
    /// The destination directory, resolved inside the container.
    let dest: [String]
    let options: Options
    var cache: (key: [String], dir: ContainerFS.Resolved)?
    var created: [[String]] = []
    var dirTimes: [([String], [timespec])] = []
    var entries = 0

    init(fs: ContainerFS, dest: [String], options: Options) {
        self.fs = fs
        self.dest = dest
        self.options = options
    }

    deinit { cache?.dir.close() }

    var destDisplay: String { ContainerFS.display(dest) }

    // MARK: - Names

    /// The entry's components below the destination, or nil when `..` climbs out of it (Go's
    /// `path.Clean` then `filepath.Join(dest, name)`: a rooted name stays inside).
    static func components(_ raw: String) -> [String]? {
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

    /// Lexically joins `link` to `base` (both below the destination); nil when it climbs out.
    static func join(_ base: [String], _ link: String) -> [String]? {
        var p = base
        for part in link.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if p.isEmpty { return nil }
                p.removeLast()
                continue
            }
            p.append(String(part))
        }
        return p
    }

    /// Go's `path.Clean` (for messages).
    static func goClean(_ raw: String) -> String {
        let rooted = raw.hasPrefix("/")
        var out: [Substring] = []
        for part in raw.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == "..", let last = out.last, last != ".." { out.removeLast(); continue }
            if part == ".." && rooted { continue }
            out.append(part)
        }
        let s = out.joined(separator: "/")
        return rooted ? "/" + s : (s.isEmpty ? "." : s)
    }

    // MARK: - Reading

    /// Runs `body` over every header of the archive in `fd` (from its start).
    static func read(_ fd: Int32, _ body: (OpaquePointer, OpaquePointer) throws -> Void) throws {
        guard lseek(fd, 0, SEEK_SET) == 0 else { throw BerthError(.internalError, "seek: \(ContainerFSError.text(errno))") }
        guard let a = archive_read_new() else { throw BerthError(.internalError, "libarchive: cannot allocate a reader") }
        defer { archive_read_free(a) }
        archive_read_support_filter_all(a)
        archive_read_support_format_tar(a)
        archive_read_support_format_empty(a)
        guard archive_read_open_fd(a, fd, 64 << 10) == ARCHIVE_OK else { throw archiveError(a) }
        var entry: OpaquePointer?
        while true {
            let r = archive_read_next_header(a, &entry)
            if r == ARCHIVE_EOF { return }
            if r == ARCHIVE_RETRY { continue }
            if r < ARCHIVE_WARN { throw archiveError(a) }
            try body(a, entry!)
        }
    }

    static func archiveError(_ a: OpaquePointer) -> BerthError {
        let msg = archive_error_string(a).map { String(cString: $0) } ?? "unknown error"
        return BerthError(.internalError, "Error processing tar file: \(msg)")
    }

    static func name(_ e: OpaquePointer) -> String? {
        guard let p = archive_entry_pathname(e) ?? archive_entry_pathname_utf8(e) else { return nil }
        return String(cString: p)
    }

    static func hardlink(_ e: OpaquePointer) -> String? {
        guard let p = archive_entry_hardlink(e) ?? archive_entry_hardlink_utf8(e) else { return nil }
        return String(cString: p)
    }

    static func symlink(_ e: OpaquePointer) -> String? {
        guard let p = archive_entry_symlink(e) ?? archive_entry_symlink_utf8(e) else { return nil }
        return String(cString: p)
    }

    // MARK: - Pass 1

    /// Reads the whole archive and refuses it if it is damaged or any entry would land outside the
    /// destination (moby's breakout errors, with its messages).
    static func validate(_ fd: Int32, dest: [String]) throws {
        let destDisplay = ContainerFS.display(dest)
        try read(fd) { a, e in
            guard let raw = name(e) else { throw BerthError(.internalError, "Error processing tar file: entry without a name") }
            guard let comps = components(raw) else {
                throw BerthError(.internalError, "\(GoQuote.quote(goClean(raw))) is outside of \(GoQuote.quote(destDisplay))")
            }
            let type = archive_entry_filetype(e) & 0o170000
            if let link = hardlink(e) {
                if join([], link) == nil {
                    let shown = ContainerFS.display(ContainerFS.components(destDisplay + "/" + link))
                    throw BerthError(.internalError, "invalid hardlink \(GoQuote.quote(shown)) -> \(GoQuote.quote(link))")
                }
            } else if type == AE_IFLNK_ {
                let target = symlink(e) ?? ""
                if join(Array(comps.dropLast()), target) == nil {
                    throw BerthError(.internalError, "invalid symlink \(GoQuote.quote(ContainerFS.display(dest + comps))) -> \(GoQuote.quote(target))")
                }
            } else if ![AE_IFREG_, AE_IFDIR_, AE_IFCHR_, AE_IFBLK_, AE_IFIFO_].contains(type) {
                throw BerthError(.internalError, "unhandled tar header type \(type >> 12)")
            }
            // Read (not skip) the data: a truncated or damaged archive must fail here, not half-way.
            var buf: UnsafeRawPointer?
            var size = 0
            var offset: la_int64_t = 0
            while true {
                let r = archive_read_data_block(a, &buf, &size, &offset)
                if r == ARCHIVE_EOF { break }
                if r < ARCHIVE_WARN { throw archiveError(a) }
            }
        }
    }
}

/// Go's `%q` for the plain strings of error messages.
enum GoQuote {
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7f { out += String(format: "\\x%02x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
