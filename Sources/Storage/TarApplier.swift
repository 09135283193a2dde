#if canImport(Glibc)
import Glibc
#endif
import CArchive
import CLinuxFS
import Foundation
import OCI
import TarArchive

/// Writes the entries of a layer tar into an (initially empty) snapshot directory with libarchive's
/// `archive_write_disk`, translating OCI whiteouts into overlayfs form:
///
/// - `dir/.wh.name` → character device 0:0 at `dir/name` (an overlay whiteout);
/// - `dir/.wh..wh..opq` → xattr `trusted.overlay.opaque=y` on `dir`;
/// - other `.wh..wh.*` (aufs bookkeeping) → skipped.
///
/// Safety: absolute paths and `..` components are refused; no entry may be written through a symlink
/// (every symlink the layer creates is tracked, and the snapshot directory starts empty and belongs to
/// this extraction alone, so the set is exact without per-component `lstat`s); hard link targets obey
/// the same rules. `trusted.overlay.*` xattrs from the tar are dropped. Owners, modes, mtimes, xattrs,
/// ACLs, devices, fifos, symlinks and hard links are kept.
final class TarApplier {
    /// Canonical absolute path of the snapshot's `fs` directory, as bytes without a trailing slash.
    private let root: [UInt8]
    private let writer: OpaquePointer
    private var symlinks = Set<[UInt8]>()
    private(set) var contentSize: Int64 = 0
    private(set) var entryCount = 0
    private(set) var warnings: [String] = []

    static let flags: Int32 = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME
        | ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_SECURE_NODOTDOT
    /// `archive_write_disk_new` briefly sets the process umask to 0 to read it; serialize our calls.
    private static let newLock = NSLock()

    init(root: String) throws {
        self.root = Array(root.utf8)
        Self.newLock.lock()
        let w = archive_write_disk_new()
        Self.newLock.unlock()
        guard let w else { throw BerthError(.internalError, "libarchive: cannot allocate a disk writer") }
        writer = w
        archive_write_disk_set_options(writer, Self.flags)
        // No archive_write_disk_set_standard_lookup: owners are numeric IDs from the image, never
        // names mapped through the host's /etc/passwd.
    }

    deinit {
        archive_write_free(writer)
    }

    /// Extracts every entry from `reader` (positioned before the first header) and closes the
    /// writer, which applies deferred directory modes and times.
    func apply(from reader: OpaquePointer) throws {
        var entry: OpaquePointer?
        while true {
            let r = archive_read_next_header(reader, &entry)
            if r == ARCHIVE_EOF { break }
            if r == ARCHIVE_RETRY { continue }
            if r < ARCHIVE_WARN { throw Self.archiveError(reader, "reading layer") }
            if r == ARCHIVE_WARN, let msg = archive_error_string(reader) { note(String(cString: msg)) }
            try handle(entry!, reader: reader)
            entryCount += 1
        }
        let r = archive_write_close(writer)
        if r < ARCHIVE_WARN || (r == ARCHIVE_WARN && Self.isResourceError(archive_errno(writer))) {
            throw Self.archiveError(writer, "finishing layer")
        }
    }

    private func note(_ warning: String) {
        if warnings.count < 20 { warnings.append(warning) }
    }

    // MARK: - Entries

    private func handle(_ entry: OpaquePointer, reader: OpaquePointer) throws {
        let rawPath = Self.pathBytes(archive_entry_pathname(entry), archive_entry_pathname_utf8(entry))
        guard let rawPath else { throw BerthError(.invalidArgument, "layer entry without a name") }
        let comps = try Self.clean(rawPath, what: "path")
        let type = archive_entry_filetype(entry)
        let hardlinkRaw = Self.pathBytes(archive_entry_hardlink(entry), archive_entry_hardlink_utf8(entry))

        if comps.isEmpty {
            // The layer's root directory ("./"): its metadata applies to the snapshot root.
            guard type == AEType.dir, hardlinkRaw == nil else {
                throw BerthError(.invalidArgument, "invalid layer: the root entry \(Self.show(rawPath)) is not a directory")
            }
            try write(entry, full: root, reader: reader)
            return
        }

        if comps[0].starts(with: Self.whMeta) && comps != [Self.whOpaque] {
            return // aufs metadata at the layer root (.wh..wh.plnk, .wh..wh.aufs, ...): not image content
        }
        let base = comps[comps.count - 1]
        if base.starts(with: Self.whPrefix) {
            let parent = Array(comps.dropLast())
            try checkNoSymlinks(parent, includingLast: true, rawPath)
            if base == Self.whOpaque {
                try markOpaque(parent, rawPath)
            } else if base.starts(with: Self.whMeta) {
                return // other aufs metadata
            } else {
                let name = Array(base.dropFirst(Self.whPrefix.count))
                guard !name.isEmpty, name != [46], name != [46, 46] else {
                    throw BerthError(.invalidArgument, "invalid whiteout in layer: \(Self.show(rawPath))")
                }
                try writeWhiteout(parent + [name], like: entry)
            }
            return
        }

        try checkNoSymlinks(comps, includingLast: false, rawPath)
        let rel = Self.join(comps)
        var hardlinkTarget: [UInt8]?
        if let hardlinkRaw {
            let target = try Self.clean(hardlinkRaw, what: "hard link target")
            guard !target.isEmpty else {
                throw BerthError(.invalidArgument, "invalid layer: hard link \(Self.show(rawPath)) points at the layer root")
            }
            try checkNoSymlinks(target, includingLast: false, hardlinkRaw)
            hardlinkTarget = Self.join(target)
            Self.withCString(root + [47] + hardlinkTarget!) { archive_entry_set_hardlink(entry, $0) }
        }
        let full = root + [47] + rel
        if type == AEType.dir, symlinks.contains(rel) {
            // A directory replacing a symlink: remove the link first so nothing is created through it.
            _ = Self.withCString(full) { unlink($0) }
            symlinks.remove(rel)
        }
        if type == AEType.link, archive_entry_symlink(entry) == nil, let t = archive_entry_symlink_utf8(entry) {
            archive_entry_set_symlink(entry, t) // keep the target's bytes even if the locale cannot show them
        }
        try filterXattrs(entry)
        try write(entry, full: full, reader: reader)

        if hardlinkTarget == nil && type == AEType.link {
            symlinks.insert(rel)
        } else if let t = hardlinkTarget, symlinks.contains(t) {
            symlinks.insert(rel) // a hard link to a symlink is a symlink
        } else {
            symlinks.remove(rel)
        }
    }

    private func write(_ entry: OpaquePointer, full: [UInt8], reader: OpaquePointer) throws {
        guard full.count < Int(PATH_MAX) - 1 else {
            throw BerthError(.invalidArgument, "invalid layer: path too long: \(Self.show(full))")
        }
        Self.withCString(full) { archive_entry_set_pathname(entry, $0) }
        var r = archive_write_header(writer, entry)
        if r < ARCHIVE_WARN || (r == ARCHIVE_WARN && Self.isResourceError(archive_errno(writer))) {
            throw Self.archiveError(writer, "extracting \(Self.show(full))")
        }
        if r == ARCHIVE_WARN, let m = archive_error_string(writer) { note(String(cString: m)) }
        if archive_entry_size_is_set(entry) != 0, archive_entry_size(entry) > 0 {
            var buf: UnsafeRawPointer?
            var size = 0
            var offset: la_int64_t = 0
            while true {
                r = archive_read_data_block(reader, &buf, &size, &offset)
                if r == ARCHIVE_EOF { break }
                if r < ARCHIVE_WARN { throw Self.archiveError(reader, "reading \(Self.show(full))") }
                // libarchive reports a failed write(2) (ENOSPC, EIO…) as ARCHIVE_WARN: any negative result fails.
                let w = archive_write_data_block(writer, buf, size, offset)
                if w < 0 { throw Self.archiveError(writer, "writing \(Self.show(full))") }
            }
            contentSize += archive_entry_size(entry)
        }
        r = archive_write_finish_entry(writer)
        if r < ARCHIVE_WARN || (r == ARCHIVE_WARN && Self.isResourceError(archive_errno(writer))) {
            throw Self.archiveError(writer, "extracting \(Self.show(full))")
        }
        if r == ARCHIVE_WARN, let m = archive_error_string(writer) { note(String(cString: m)) }
    }

    private func writeWhiteout(_ comps: [[UInt8]], like original: OpaquePointer) throws {
        let rel = Self.join(comps)
        guard let e = archive_entry_new() else { throw BerthError(.internalError, "libarchive: out of memory") }
        defer { archive_entry_free(e) }
        archive_entry_set_filetype(e, AEType.char)
        archive_entry_set_perm(e, 0)
        archive_entry_set_rdev(e, 0)
        archive_entry_set_uid(e, archive_entry_uid(original))
        archive_entry_set_gid(e, archive_entry_gid(original))
        if archive_entry_mtime_is_set(original) != 0 {
            archive_entry_set_mtime(e, archive_entry_mtime(original), archive_entry_mtime_nsec(original))
        }
        let full = root + [47] + rel
        if symlinks.contains(rel) {
            _ = Self.withCString(full) { unlink($0) }
            symlinks.remove(rel)
        }
        guard full.count < Int(PATH_MAX) - 1 else {
            throw BerthError(.invalidArgument, "invalid layer: path too long: \(Self.show(full))")
        }
        Self.withCString(full) { archive_entry_set_pathname(e, $0) }
        if archive_write_header(writer, e) < ARCHIVE_WARN || archive_write_finish_entry(writer) < ARCHIVE_WARN {
            throw Self.archiveError(writer, "creating whiteout \(Self.show(full))")
        }
    }

    private func markOpaque(_ dir: [[UInt8]], _ rawPath: [UInt8]) throws {
        let full = dir.isEmpty ? root : root + [47] + Self.join(dir)
        try Self.withCString(full) { path in
            var st = stat()
            if lstat(path, &st) != 0 {
                guard errno == ENOENT else { throw FS.error("stat", Self.show(full)) }
                // The marker came before its directory: create it (its own entry may follow).
                var prefix = root
                for c in dir {
                    prefix += [47] + c
                    let made = Self.withCString(prefix) { mkdir($0, 0o755) }
                    if made != 0 && errno != EEXIST { throw FS.error("mkdir", Self.show(prefix)) }
                }
            } else if (st.st_mode & S_IFMT) != S_IFDIR {
                throw BerthError(.invalidArgument, "invalid layer: opaque marker \(Self.show(rawPath)) is not in a directory")
            }
            let value: [UInt8] = [121] // "y"
            let r = value.withUnsafeBytes { lsetxattr(path, "trusted.overlay.opaque", $0.baseAddress, 1, 0) }
            if r != 0 { throw FS.error("setxattr trusted.overlay.opaque on", Self.show(full)) }
        }
    }

    /// Drops `trusted.overlay.*` xattrs an image might carry: they would steer overlayfs itself.
    private func filterXattrs(_ entry: OpaquePointer) throws {
        guard archive_entry_xattr_reset(entry) > 0 else { return }
        var kept: [(String, [UInt8])] = []
        var dropped = false
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK {
            guard let name else { continue }
            let n = String(cString: name)
            if n.hasPrefix("trusted.overlay.") {
                dropped = true
                continue
            }
            let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
            kept.append((n, bytes))
        }
        guard dropped else { return }
        archive_entry_xattr_clear(entry)
        for (n, v) in kept {
            v.withUnsafeBytes { archive_entry_xattr_add_entry(entry, n, $0.baseAddress, v.count) }
        }
    }

    /// Refuses a path whose directories (and, with `includingLast`, the path itself) include a
    /// symlink this layer created: writing there would land outside the snapshot.
    private func checkNoSymlinks(_ comps: [[UInt8]], includingLast: Bool, _ rawPath: [UInt8]) throws {
        guard !symlinks.isEmpty else { return }
        var prefix: [UInt8] = []
        let n = includingLast ? comps.count : comps.count - 1
        guard n > 0 else { return }
        for i in 0..<n {
            if i > 0 { prefix.append(47) }
            prefix += comps[i]
            if symlinks.contains(prefix) {
                throw BerthError(.invalidArgument, "invalid layer: \(Self.show(rawPath)) would be written through the symlink \(Self.show(prefix))")
            }
        }
    }

    // MARK: - Paths

    static let whPrefix = Array(".wh.".utf8)
    static let whMeta = Array(".wh..wh.".utf8)
    static let whOpaque = Array(".wh..wh..opq".utf8)

    /// Splits a tar path into components, dropping `.` and empty ones; refuses absolute paths and `..`.
    static func clean(_ raw: [UInt8], what: String) throws -> [[UInt8]] {
        if raw.first == 47 {
            throw BerthError(.invalidArgument, "invalid layer: absolute \(what) \(show(raw)) is not allowed")
        }
        var comps: [[UInt8]] = []
        for part in raw.split(separator: 47, omittingEmptySubsequences: true) {
            if part.count == 1 && part.first == 46 { continue }
            if part.count == 2 && part.first == 46 && part.last == 46 {
                throw BerthError(.invalidArgument, "invalid layer: \(what) \(show(raw)) escapes the layer root")
            }
            if part.contains(0) { throw BerthError(.invalidArgument, "invalid layer: \(what) contains NUL") }
            comps.append(Array(part))
        }
        return comps
    }

    static func join(_ comps: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        for (i, c) in comps.enumerated() {
            if i > 0 { out.append(47) }
            out += c
        }
        return out
    }

    static func pathBytes(_ mbs: UnsafePointer<CChar>?, _ utf8: UnsafePointer<CChar>?) -> [UInt8]? {
        guard let p = mbs ?? utf8 else { return nil }
        return Array(UnsafeRawBufferPointer(start: p, count: strlen(p)))
    }

    static func show(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @discardableResult
    static func withCString<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        var z = bytes
        z.append(0)
        return try z.withUnsafeBufferPointer { try $0.baseAddress!.withMemoryRebound(to: CChar.self, capacity: z.count) { try body($0) } }
    }

    /// Failures that are about the disk, never about the layer: they must not pass as warnings.
    static func isResourceError(_ e: Int32) -> Bool {
        e == ENOSPC || e == EDQUOT || e == EIO || e == EROFS || e == ENOMEM
    }

    static func archiveError(_ a: OpaquePointer, _ context: String) -> BerthError {
        archiveError(TarArchiveError(a, operation: context), context)
    }

    static func archiveError(_ e: TarArchiveError, _ context: String) -> BerthError {
        switch e.code {
        case ENOSPC, EDQUOT: return BerthError(.internalError, "\(context): no space left on device")
        case EIO, EROFS, ENOMEM, EMFILE, ENFILE: return BerthError(.internalError, "\(context): \(e.detail)")
        default: return BerthError(.invalidArgument, "\(context): \(e.detail)")
        }
    }
}

/// libarchive's file types (its `AE_IF*` macros carry casts Swift cannot import).
enum AEType {
    static let mask: UInt32 = 0o170000
    static let regular: UInt32 = 0o100000
    static let link: UInt32 = 0o120000
    static let socket: UInt32 = 0o140000
    static let char: UInt32 = 0o020000
    static let block: UInt32 = 0o060000
    static let dir: UInt32 = 0o040000
    static let fifo: UInt32 = 0o010000
}
