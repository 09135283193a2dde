#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TarArchive

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
        let w = try TarWriter(mapError: { CLIError($0.detail) }, sink: sink)
        var links = TarHardLinks()
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
            let e = try TarEntry(name: name(rel), stat: st)
            if type == S_IFLNK {
                var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlink(path, &buf, Int(PATH_MAX))
                guard n >= 0 else { return }
                e.symlink = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            links.link(e, st)
            try w.writeHeader(e)
            if e.size > 0 { try w.writeData(from: fd, size: e.size) }
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
}
