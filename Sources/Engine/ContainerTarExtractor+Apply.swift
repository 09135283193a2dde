#if canImport(Glibc)
import Glibc
#endif
import CLinuxFS
import Foundation
import OCI
import TarArchive

extension ContainerTarExtractor {
    /// Pass 2: writes every entry (after ``validate(_:dest:)`` accepted the archive). On failure,
    /// what this call created is removed again before the error is thrown.
    func extract(_ fd: Int32) throws {
        do {
            try Self.read(fd) { tar, e in
                try apply(tar, e)
                entries += 1
            }
            for (path, times) in dirTimes {
                guard let r = try? fs.resolve(path, followLast: false) else { continue }
                _ = times.withUnsafeBufferPointer { utimensat(r.fd, r.name, $0.baseAddress, AT_SYMLINK_NOFOLLOW) }
                r.close()
            }
        } catch {
            rollback()
            throw error
        }
    }

    private func fail(_ e: ContainerFSError, _ path: String) -> BerthError {
        BerthError(e.code == ENOENT ? .notFound : .internalError, e.message(path))
    }

    private func rollback() {
        cache?.dir.close()
        cache = nil
        for path in created.reversed() {
            guard let r = try? fs.resolve(path, followLast: false) else { continue }
            if r.exists && !r.isMountRoot { try? ContainerFS.removeAll(r.fd, r.name) }
            r.close()
        }
        created = []
    }

    /// The directory holding an entry, made if missing; the last one is kept open for the next
    /// entries (most archives list a directory's files one after another).
    private func parent(_ rel: [String]) throws -> ContainerFS.Resolved {
        if let c = cache, c.key == rel { return c.dir }
        cache?.dir.close()
        cache = nil
        let dir = try fs.directory(dest + rel, create: { [unowned self] made in created.append(made.path) })
        cache = (rel, dir)
        return dir
    }

    private func apply(_ tar: TarReader, _ e: TarEntry) throws {
        let comps = TarPath.components(e.name ?? "") ?? []
        // "./": the destination itself, which exists as a directory; moby skips it.
        guard let base = comps.last else { return }
        let display = ContainerFS.display(dest + comps)
        let type = e.type
        let link = e.hardlink
        let dir: ContainerFS.Resolved
        do { dir = try parent(Array(comps.dropLast())) } catch let err as ContainerFSError { throw fail(err, display) }

        // The object's place: a bind mount's root stands in for its mount point.
        var target = (fd: dir.fd, name: base, mount: dir.mount, isMountRoot: false)
        var owned: ContainerFS.Resolved?
        defer { owned?.close() }
        let path = dir.path + [base]
        if fs.mount(at: path) != nil {
            let r = try fs.resolve(path, followLast: false)
            owned = r
            target = (r.fd, r.name, r.mount, true)
        }
        let existing = ContainerFS.lstat(target.fd, target.name)
        var present = existing != nil
        let isDir = type == TarEntry.FileType.directory && link == nil
        // A directory may be replaced (by a link, a file…): then resolve afresh for the next entry.
        var invalidate = !(type == TarEntry.FileType.regular || link != nil)
        defer {
            if invalidate {
                cache?.dir.close()
                cache = nil
            }
        }
        if let ex = existing {
            let exDir = (ex.st_mode & S_IFMT) == S_IFDIR
            if options.noOverwriteDirNonDir && exDir && !isDir {
                throw BerthError(.internalError, "cannot overwrite directory \(GoQuote.quote(display)) with non-directory \(GoQuote.quote(destDisplay))")
            }
            if options.noOverwriteDirNonDir && !exDir && isDir {
                throw BerthError(.internalError, "cannot overwrite non-directory \(GoQuote.quote(display)) with directory \(GoQuote.quote(destDisplay))")
            }
            if !(exDir && isDir) {
                if target.isMountRoot { throw fail(ContainerFSError(EBUSY, "unlinkat"), display) }
                if fs.isReadOnly(target.mount) { throw fail(ContainerFSError(EROFS, "unlinkat"), display) }
                if exDir { invalidate = true }
                do { try ContainerFS.removeAll(target.fd, target.name) } catch let err as ContainerFSError { throw fail(err, display) }
                present = false
            }
        }
        if fs.isReadOnly(target.mount) { throw fail(ContainerFSError(EROFS, "open"), display) }
        let owner = options.owner ?? (UInt32(truncatingIfNeeded: e.uid), UInt32(truncatingIfNeeded: e.gid))
        let perm = e.perm
        let times = Self.times(e)
        do {
            if let link {
                try hardlink(link, target.fd, target.name, display)
            } else {
                switch type {
                case TarEntry.FileType.directory:
                    if !present && mkdirat(target.fd, target.name, 0o700) != 0 { throw ContainerFSError(errno, "mkdir") }
                case TarEntry.FileType.symlink:
                    if symlinkat(e.symlink ?? "", target.fd, target.name) != 0 { throw ContainerFSError(errno, "symlink") }
                case TarEntry.FileType.character, TarEntry.FileType.block, TarEntry.FileType.fifo:
                    let dev = berth_makedev(e.device.major, e.device.minor)
                    if mknodat(target.fd, target.name, type | perm, type == TarEntry.FileType.fifo ? 0 : dev) != 0 { throw ContainerFSError(errno, "mknod") }
                default:
                    try writeFile(tar, e, target.fd, target.name, owner: owner, perm: perm, times: times)
                    if existing == nil { created.append(path) }
                    return
                }
            }
            if existing == nil { created.append(path) }
            if fchownat(target.fd, target.name, owner.0, owner.1, AT_SYMLINK_NOFOLLOW) != 0 { throw ContainerFSError(errno, "lchown") }
            try setXattrs(e, target.fd, target.name)
            let isLink = type == TarEntry.FileType.symlink || (link != nil && (ContainerFS.lstat(target.fd, target.name).map { ($0.st_mode & S_IFMT) == S_IFLNK } ?? false))
            if !isLink && fchmodat(target.fd, target.name, perm, AT_SYMLINK_NOFOLLOW) != 0 { throw ContainerFSError(errno, "chmod") }
            if isDir {
                dirTimes.append((path, times))
            } else if type == TarEntry.FileType.symlink || !isLink {
                _ = times.withUnsafeBufferPointer { utimensat(target.fd, target.name, $0.baseAddress, AT_SYMLINK_NOFOLLOW) }
            }
        } catch let err as ContainerFSError {
            throw fail(err, display)
        }
    }

    private func hardlink(_ link: String, _ fd: Int32, _ name: String, _ display: String) throws {
        guard let tcomps = Self.join([], link), let tname = tcomps.last else {
            throw ContainerFSError(EPERM, "link")
        }
        let tdir: ContainerFS.Resolved
        do { tdir = try fs.directory(dest + tcomps.dropLast()) } catch let err as ContainerFSError {
            throw BerthError(err.code == ENOENT ? .notFound : .internalError,
                             "link \(ContainerFS.display(dest + tcomps)) \(display): \(ContainerFSError.text(err.code))")
        }
        defer { tdir.close() }
        if linkat(tdir.fd, tname, fd, name, 0) != 0 {
            let code = errno
            throw BerthError(code == ENOENT ? .notFound : .internalError,
                             "link \(ContainerFS.display(dest + tcomps)) \(display): \(ContainerFSError.text(code))")
        }
    }

    private func writeFile(_ tar: TarReader, _ e: TarEntry, _ dirFD: Int32, _ name: String,
                           owner: (UInt32, UInt32), perm: mode_t, times: [timespec]) throws {
        let f = openat(dirFD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard f >= 0 else { throw ContainerFSError(errno, "open") }
        defer { close(f) }
        try tar.readData { block, offset in
            var done = 0
            while done < block.count {
                let n = pwrite(f, block.baseAddress! + done, block.count - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ContainerFSError(errno, "write")
                }
                done += n
            }
        }
        // Sparse entries may end in a hole.
        let total = e.size
        var st = stat()
        if fstat(f, &st) == 0, Int64(st.st_size) < total, ftruncate(f, off_t(total)) != 0 {
            throw ContainerFSError(errno, "truncate")
        }
        if fchown(f, owner.0, owner.1) != 0 { throw ContainerFSError(errno, "lchown") }
        try setXattrs(e, dirFD, name)
        if fchmod(f, perm) != 0 { throw ContainerFSError(errno, "chmod") }
        _ = times.withUnsafeBufferPointer { futimens(f, $0.baseAddress) }
    }

    /// `SCHILY.xattr.*` records; EPERM (e.g. `trusted.*` on overlayfs) is ignored as moby does.
    private func setXattrs(_ e: TarEntry, _ dirFD: Int32, _ name: String) throws {
        // The kernel resolves the held directory, then `name` without following it.
        let path = "/proc/self/fd/\(dirFD)/\(name)"
        try e.forEachXattr { xname, value in
            if lsetxattr(path, xname, value.baseAddress, value.count, 0) != 0 && errno != EPERM {
                throw ContainerFSError(errno, "lsetxattr")
            }
        }
    }

    /// moby's `chtimes` arguments: atime = the later of atime and mtime.
    static func times(_ e: TarEntry) -> [timespec] {
        var m = e.mtime ?? timespec(tv_sec: 0, tv_nsec: 0)
        var at = m
        if let t = e.atime, (t.tv_sec, t.tv_nsec) > (m.tv_sec, m.tv_nsec) { at = t }
        if m.tv_sec < 0 { m = timespec(tv_sec: 0, tv_nsec: 0) }
        if at.tv_sec < 0 { at = timespec(tv_sec: 0, tv_nsec: 0) }
        return [at, m]
    }
}
