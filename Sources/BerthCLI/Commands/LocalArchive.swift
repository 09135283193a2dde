#if canImport(Glibc)
import Glibc
#endif
import CArchive
import Foundation

/// The local side of `cp`: moby's `archive.TarResourceRebase` (tar a local file or directory) and
/// `archive.Untar` with `NoLchown`/`NoOverwriteDirNonDir` (unpack into a local directory), on
/// libarchive, with the name rewriting of `RebaseArchiveEntries`.
enum LocalArchive {
    /// `strings.Replace(name, old, new, 1)` on entry names (and hard link targets).
    struct Rebase {
        var old: String
        var new: String
        init(_ old: String, _ new: String) {
            self.old = old == "/" ? "" : old
            self.new = new
        }
        func apply(_ s: String) -> String {
            if old.isEmpty { return new + s }
            guard let r = s.range(of: old) else { return s }
            return s.replacingCharacters(in: r, with: new)
        }
    }

    /// Runs `body` in the C.UTF-8 locale (this thread only): libarchive converts names between the
    /// locale and PAX's UTF-8, which fails for non-ASCII names in the C locale the CLI runs in.
    static func withUTF8Locale<T>(_ body: () throws -> T) rethrows -> T {
        guard let utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", nil) else { return try body() }
        let old = uselocale(utf8)
        defer {
            uselocale(old)
            freelocale(utf8)
        }
        return try body()
    }

    static func errnoText(_ e: Int32 = errno) -> String {
        var s = String(cString: strerror(e))
        if let f = s.first { s = f.lowercased() + s.dropFirst() }
        return s
    }

    // MARK: - Tar

    /// Tars `sourcePath` (a file or a directory tree, symlinks not followed) like the docker CLI:
    /// PAX, lexical order, numeric owners, mtimes in seconds, hard links, sockets skipped.
    static func tar(sourcePath: String, rebaseName: String, rebases: [Rebase],
                    sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        var st = stat()
        guard lstat(sourcePath, &st) == 0 else { throw CLIError("lstat \(sourcePath): \(errnoText())") }
        let (dir, base) = GoPath.splitPathDirEntry(sourcePath)
        var all = rebases
        if !rebaseName.isEmpty { all.insert(Rebase(base, rebaseName == "/" ? "" : rebaseName), at: 0) }
        let w = try TarSink(sink)
        var seen: [String: String] = [:]
        func name(_ rel: String) -> String { all.reduce(rel) { $1.apply($0) } }
        func add(_ path: String, _ rel: String) throws {
            var st = stat()
            guard lstat(path, &st) == 0 else { return }
            let type = st.st_mode & S_IFMT
            if type == S_IFSOCK { return }
            var fd: Int32 = -1
            defer { if fd >= 0 { close(fd) } }
            if type == S_IFREG {
                fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
                guard fd >= 0 else { return }
            }
            guard let e = archive_entry_new() else { throw CLIError("libarchive: out of memory") }
            defer { archive_entry_free(e) }
            var entryName = name(rel)
            if type == S_IFDIR && !entryName.hasSuffix("/") { entryName += "/" }
            archive_entry_copy_pathname(e, entryName)
            archive_entry_set_perm(e, mode_t(st.st_mode & 0o7777))
            archive_entry_set_uid(e, la_int64_t(st.st_uid))
            archive_entry_set_gid(e, la_int64_t(st.st_gid))
            archive_entry_set_mtime(e, time_t(st.st_mtim.tv_sec), 0)
            archive_entry_set_filetype(e, UInt32(type))
            var size: Int64 = 0
            switch type {
            case S_IFLNK:
                var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlink(path, &buf, Int(PATH_MAX))
                guard n >= 0 else { return }
                archive_entry_copy_symlink(e, String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))
            case S_IFCHR, S_IFBLK:
                archive_entry_set_rdev(e, st.st_rdev)
            case S_IFREG:
                size = Int64(st.st_size)
            default: break
            }
            if type != S_IFDIR && st.st_nlink > 1 {
                let key = "\(st.st_dev):\(st.st_ino)"
                if let first = seen[key] {
                    archive_entry_copy_hardlink(e, first)
                    size = 0
                } else {
                    seen[key] = entryName
                }
            }
            archive_entry_set_size(e, la_int64_t(size))
            try w.header(e)
            if size > 0 { try w.data(fd, size: size) }
            if type == S_IFDIR {
                for child in listDirectory(path) { try add(path + "/" + child, rel + "/" + child) }
            }
        }
        try add(dir == "/" ? "/" + base : dir + "/" + base, base)
        try w.finish()
    }

    static func listDirectory(_ path: String) -> [String] {
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var names: [[UInt8]] = []
        while let ent = readdir(d) {
            let bytes = withUnsafePointer(to: &ent.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { Array(String(cString: $0).utf8) }
            }
            if bytes == [46] || bytes == [46, 46] { continue }
            names.append(bytes)
        }
        names.sort { $0.lexicographicallyPrecedes($1) }
        return names.map { String(decoding: $0, as: UTF8.self) }
    }

    /// A libarchive PAX writer into a byte sink (no padding after the end-of-archive blocks).
    final class TarSink {
        final class Box {
            let write: (UnsafeRawBufferPointer) throws -> Void
            var error: (any Error)?
            init(_ w: @escaping (UnsafeRawBufferPointer) throws -> Void) { write = w }
        }
        let a: OpaquePointer
        let box: Box
        var buffer = [UInt8](repeating: 0, count: 256 << 10)

        init(_ sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
            guard let a = archive_write_new() else { throw CLIError("libarchive: cannot allocate a writer") }
            self.a = a
            box = Box(sink)
            archive_write_set_format_pax_restricted(a)
            archive_write_set_bytes_per_block(a, 64 << 10)
            archive_write_set_bytes_in_last_block(a, 1)
            let r = archive_write_open2(a, Unmanaged.passUnretained(box).toOpaque(), nil, { _, ctx, buf, len in
                let box = Unmanaged<Box>.fromOpaque(ctx!).takeUnretainedValue()
                do {
                    try box.write(UnsafeRawBufferPointer(start: buf, count: len))
                    return la_ssize_t(len)
                } catch {
                    box.error = error
                    return -1
                }
            }, nil, nil)
            guard r == ARCHIVE_OK else { throw CLIError("libarchive: cannot open the tar writer") }
        }

        deinit { archive_write_free(a) }

        func fail() -> any Error {
            box.error ?? CLIError(archive_error_string(a).map { String(cString: $0) } ?? "error writing the archive")
        }

        func header(_ e: OpaquePointer) throws {
            if archive_write_header(a, e) < ARCHIVE_WARN { throw fail() }
        }

        func data(_ fd: Int32, size: Int64) throws {
            var left = size
            while left > 0 {
                let want = Int(min(Int64(buffer.count), left))
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, want) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                if buffer.withUnsafeBytes({ archive_write_data(a, $0.baseAddress, n) }) < 0 { throw fail() }
                left -= Int64(n)
            }
        }

        func finish() throws {
            if archive_write_close(a) != ARCHIVE_OK { throw fail() }
        }
    }
}
