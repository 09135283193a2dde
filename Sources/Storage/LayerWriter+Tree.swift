#if canImport(Glibc)
import Glibc
#endif
import CArchive
import CLinuxFS
import Foundation
import OCI

/// Walks a directory in lexical order (parents first) and writes each entry into a libarchive tar
/// writer, converting overlay whiteouts and opaque markers to the OCI form.
final class TreeWriter {
    let root: String
    let writer: OpaquePointer
    let exclude: LayerWriter.Filter?
    private(set) var entries = 0
    private(set) var contentSize: Int64 = 0
    /// First path seen for each multiply linked inode, to write the others as hard links.
    private var links: [Inode: String] = [:]
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)

    private struct Inode: Hashable {
        var dev: UInt64
        var ino: UInt64
    }

    init(root: String, writer: OpaquePointer, exclude: LayerWriter.Filter?) {
        self.root = root
        self.writer = writer
        self.exclude = exclude
    }

    deinit { buffer.deallocate() }

    func writeTree() throws {
        var st = stat()
        guard lstat(root, &st) == 0 else { throw FS.error("stat", root) }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw BerthError(.invalidArgument, "\(root) is not a directory") }
        try writeChildren(of: "")
    }

    /// Names in a directory, sorted bytewise (Go's `filepath.Walk` order).
    static func sortedNames(_ path: String) throws -> [String] {
        guard let d = opendir(path) else { throw FS.error("open directory", path) }
        defer { closedir(d) }
        var names: [String] = []
        while let ent = readdir(d) {
            let name = FS.direntName(ent)
            if name == "." || name == ".." { continue }
            names.append(name)
        }
        return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    private func writeChildren(of rel: String) throws {
        let dir = rel.isEmpty ? root : root + "/" + rel
        for name in try Self.sortedNames(dir) {
            let childRel = rel.isEmpty ? name : rel + "/" + name
            let full = root + "/" + childRel
            var st = stat()
            if lstat(full, &st) != 0 {
                if errno == ENOENT { continue } // removed while we walk (a running container)
                throw FS.error("stat", full)
            }
            if let exclude, exclude(childRel, st) { continue }
            try writeEntry(childRel, full: full, st: st)
            if (st.st_mode & S_IFMT) == S_IFDIR { try writeChildren(of: childRel) }
        }
    }

    private func writeEntry(_ rel: String, full: String, st: stat) throws {
        let type = st.st_mode & S_IFMT
        if type == S_IFSOCK { return } // moby: "archive: skipping … since it is a socket"
        if type == S_IFCHR && st.st_rdev == 0 {
            try writeMarker(Self.whiteoutName(rel), mode: 0o600, like: st)
            return
        }
        guard let e = archive_entry_new() else { throw BerthError(.internalError, "libarchive: out of memory") }
        defer { archive_entry_free(e) }
        var s = st
        archive_entry_copy_stat(e, &s)
        archive_entry_unset_atime(e)
        archive_entry_unset_ctime(e)
        archive_entry_unset_birthtime(e)
        archive_entry_set_mtime(e, st.st_mtim.tv_sec, 0)
        archive_entry_set_pathname_utf8(e, rel)
        if let cap = Self.xattr(full, "security.capability") {
            cap.withUnsafeBytes { archive_entry_xattr_add_entry(e, "security.capability", $0.baseAddress, cap.count) }
        }
        var isHardLink = false
        switch type {
        case S_IFLNK:
            archive_entry_set_size(e, 0)
            archive_entry_set_symlink_utf8(e, try Self.readLink(full))
        case S_IFDIR:
            archive_entry_set_size(e, 0)
        case S_IFREG:
            if st.st_nlink > 1 {
                let key = Inode(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
                if let first = links[key] {
                    archive_entry_set_hardlink_utf8(e, first)
                    archive_entry_set_size(e, 0)
                    isHardLink = true
                } else {
                    links[key] = rel
                }
            }
        default:
            archive_entry_set_size(e, 0)
        }
        try header(e, rel)
        if type == S_IFREG && !isHardLink && st.st_size > 0 {
            try copyData(full, size: Int64(st.st_size))
            contentSize += Int64(st.st_size)
        }
        try finishEntry(rel)
        if type == S_IFDIR, Self.xattr(full, "trusted.overlay.opaque") == [UInt8(ascii: "y")] {
            try writeMarker(rel + "/.wh..wh..opq", mode: UInt32(st.st_mode) & 0o777, like: st)
        }
    }

    /// An empty regular file standing for a whiteout or an opaque directory (moby's converter).
    private func writeMarker(_ rel: String, mode: UInt32, like st: stat) throws {
        guard let e = archive_entry_new() else { throw BerthError(.internalError, "libarchive: out of memory") }
        defer { archive_entry_free(e) }
        archive_entry_set_pathname_utf8(e, rel)
        archive_entry_set_filetype(e, AEType.regular)
        archive_entry_set_perm(e, mode_t(mode))
        archive_entry_set_size(e, 0)
        archive_entry_set_uid(e, la_int64_t(st.st_uid))
        archive_entry_set_gid(e, la_int64_t(st.st_gid))
        archive_entry_set_mtime(e, st.st_mtim.tv_sec, 0)
        try header(e, rel)
        try finishEntry(rel)
    }

    private func header(_ e: OpaquePointer, _ rel: String) throws {
        let r = archive_write_header(writer, e)
        if r < ARCHIVE_WARN { throw LayerWriterError.archive(writer, "writing \(rel)") }
        entries += 1
    }

    private func finishEntry(_ rel: String) throws {
        if archive_write_finish_entry(writer) < ARCHIVE_WARN { throw LayerWriterError.archive(writer, "writing \(rel)") }
    }

    /// Copies at most `size` bytes (the size in the header); a file that shrank meanwhile is padded
    /// by libarchive, one that grew is cut: the tar stays well-formed either way.
    private func copyData(_ path: String, size: Int64) throws {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 && errno == ENOENT { return } // deleted since its header was written: stays zero-filled
        guard fd >= 0 else { throw FS.error("open", path) }
        defer { close(fd) }
        var left = size
        while left > 0 {
            let n = read(fd, buffer.baseAddress, min(buffer.count, Int(left)))
            if n < 0 {
                if errno == EINTR { continue }
                throw FS.error("read", path)
            }
            if n == 0 { break }
            var off = 0
            while off < n {
                let w = archive_write_data(writer, buffer.baseAddress! + off, n - off)
                if w <= 0 { throw LayerWriterError.archive(writer, "writing \(path)") }
                off += w
            }
            left -= Int64(n)
        }
    }

    // MARK: - Helpers

    /// `dir/name` → `dir/.wh.name`.
    static func whiteoutName(_ rel: String) -> String {
        guard let slash = rel.lastIndex(of: "/") else { return ".wh." + rel }
        return String(rel[...slash]) + ".wh." + String(rel[rel.index(after: slash)...])
    }

    static func readLink(_ path: String) throws -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buf, buf.count - 1)
        guard n >= 0 else { throw FS.error("readlink", path) }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// An extended attribute's value, nil when absent (or unsupported).
    static func xattr(_ path: String, _ name: String) -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: 256)
        while true {
            let n = buf.withUnsafeMutableBytes { lgetxattr(path, name, $0.baseAddress, $0.count) }
            if n >= 0 { return Array(buf[0..<n]) }
            if errno == ERANGE, buf.count < 1 << 16 {
                buf = [UInt8](repeating: 0, count: buf.count * 16)
                continue
            }
            return nil
        }
    }
}
