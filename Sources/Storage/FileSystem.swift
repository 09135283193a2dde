#if canImport(Glibc)
import Glibc
#endif
import Foundation
import OCI

/// Small POSIX helpers for the store: errors with paths, atomic file replacement, and
/// tree removal that never follows symlinks.
enum FS {
    /// A `BerthError` for a failed system call; ENOSPC and EROFS keep their plain meaning.
    static func error(_ op: String, _ path: String, _ code: Int32 = errno) -> BerthError {
        let text = String(cString: strerror(code))
        return BerthError(.internalError, "\(op) \(path): \(text)")
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// `mkdir -p` with `mode` for directories it creates.
    static func mkdirAll(_ path: String, mode: mode_t = 0o700) throws {
        if isDirectory(path) { return }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path, parent != "/" { try mkdirAll(parent, mode: mode) }
        if mkdir(path, mode) != 0, errno != EEXIST { throw error("mkdir", path) }
    }

    /// Writes `bytes` to `path` through a temporary file in the same directory and a rename,
    /// so readers see the old or the new content, never a mix. With `durable`, the file and the
    /// directory are fsynced (survives power loss, not only a killed process).
    static func writeAtomically(_ path: String, _ bytes: some Collection<UInt8>, durable: Bool = true) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = dir + "/.tmp-" + UUID().uuidString
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw error("create", tmp) }
        do {
            let array = Array(bytes)
            try array.withUnsafeBytes { try writeAll(fd, $0, path: tmp) }
            if durable, fsync(fd) != 0 { throw error("fsync", tmp) }
            close(fd)
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        if rename(tmp, path) != 0 {
            let e = FS.error("rename", path)
            unlink(tmp)
            throw e
        }
        if durable { fsyncDirectory(dir) }
    }

    static func writeAll(_ fd: Int32, _ buf: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < buf.count {
            let n = write(fd, buf.baseAddress! + offset, buf.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw error("write", path)
            }
            offset += n
        }
    }

    static func fsyncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw BerthError(.notFound, "\(path): no such file") }
            throw error("open", path)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw error("stat", path) }
        var out = [UInt8](repeating: 0, count: Int(st.st_size))
        var offset = 0
        try out.withUnsafeMutableBytes { buf in
            while offset < buf.count {
                let n = read(fd, buf.baseAddress! + offset, buf.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw error("read", path)
                }
                if n == 0 { break }
                offset += n
            }
        }
        if offset < out.count { out.removeLast(out.count - offset) }
        return out
    }

    /// Names in a directory (without `.` and `..`); empty if it does not exist.
    static func list(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let ent = readdir(dir) {
            let name = direntName(ent)
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func direntName(_ ent: UnsafeMutablePointer<dirent>) -> String {
        withUnsafePointer(to: &ent.pointee.d_name) {
            String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
        }
    }

    /// `rm -rf` that never follows symlinks (walks with openat/O_NOFOLLOW and unlinkat).
    static func removeTree(_ path: String) throws {
        var st = stat()
        if lstat(path, &st) != 0 {
            if errno == ENOENT { return }
            throw error("stat", path)
        }
        if (st.st_mode & S_IFMT) != S_IFDIR {
            if unlink(path) != 0, errno != ENOENT { throw error("unlink", path) }
            return
        }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw error("open", path) }
        do {
            try removeContents(fd, path: path)
            close(fd)
        } catch {
            close(fd)
            throw error
        }
        if rmdir(path) != 0, errno != ENOENT { throw error("rmdir", path) }
    }

    private static func removeContents(_ fd: Int32, path: String) throws {
        let dupfd = dup(fd)
        guard dupfd >= 0, let dir = fdopendir(dupfd) else { throw error("opendir", path) }
        var entries: [(String, UInt8)] = []
        while let ent = readdir(dir) {
            let name = direntName(ent)
            if name == "." || name == ".." { continue }
            entries.append((name, ent.pointee.d_type))
        }
        closedir(dir)
        for (name, type) in entries {
            var isDir = type == UInt8(DT_DIR)
            if type == UInt8(DT_UNKNOWN) {
                var st = stat()
                if fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 { isDir = (st.st_mode & S_IFMT) == S_IFDIR }
            }
            if isDir {
                let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard child >= 0 else { throw error("open", path + "/" + name) }
                do {
                    try removeContents(child, path: path + "/" + name)
                    close(child)
                } catch {
                    close(child)
                    throw error
                }
                if unlinkat(fd, name, AT_REMOVEDIR) != 0, errno != ENOENT { throw error("rmdir", path + "/" + name) }
            } else if unlinkat(fd, name, 0) != 0, errno != ENOENT {
                throw error("unlink", path + "/" + name)
            }
        }
    }

    /// The canonical absolute path (symlinks resolved), for roots that must contain no symlinks.
    static func canonical(_ path: String) throws -> String {
        guard let p = realpath(path, nil) else { throw error("realpath", path) }
        defer { free(p) }
        return String(cString: p)
    }
}
