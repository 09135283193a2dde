#if canImport(Glibc)
import Glibc
#endif
import Foundation
import OCI

/// Linux's `O_PATH` (not exported by Swift's Glibc module).
let O_PATH_: Int32 = 0o10000000

/// A failed system call on a container path: Go's `*PathError` text once the caller adds the path.
struct ContainerFSError: Error, Sendable {
    let code: Int32
    let op: String

    init(_ code: Int32, _ op: String) {
        self.code = code
        self.op = op
    }

    /// `lstat /x: no such file or directory` (Go's lower-case errno texts).
    func message(_ path: String) -> String { "\(op) \(path): \(Self.text(code))" }

    static func text(_ code: Int32) -> String {
        var s = String(cString: strerror(code))
        if let f = s.first { s = f.lowercased() + s.dropFirst() }
        return s
    }
}

/// A container's files as `docker cp` sees them: the rootfs with the container's bind mounts (and its
/// `hosts`/`hostname`/`resolv.conf`) on top, every path resolved *inside* it, like moby's chrooted
/// `containerFSView`. Resolution walks one component at a time with `openat(O_PATH|O_NOFOLLOW)` and
/// follows symlinks itself, relative to the container root: an absolute link or `..` can never leave
/// the root, and a directory swapped for a symlink by a running container cannot redirect a walk
/// that already holds its file descriptors. tmpfs mounts are not part of the view (as in Docker).
final class ContainerFS: @unchecked Sendable {
    struct Mount: Sendable, Equatable {
        var destination: [String]
        var source: String
        var readOnly: Bool
        var isDirectory: Bool
    }

    /// Where a path landed.
    struct Resolved {
        /// `O_PATH` descriptor (owned) of the directory holding `name`, or of the object itself when
        /// `name` is `"."`.
        var fd: Int32
        var name: String
        /// The path inside the container after following symlinks.
        var path: [String]
        /// The bind mount the object is in (nil: the rootfs).
        var mount: Mount?
        /// The object is the root of a mount (or `/`): it can be merged into, never replaced.
        var isMountRoot: Bool
        var exists: Bool

        func close() { if fd >= 0 { _ = Glibc.close(fd) } }
    }

    private(set) var rootFD: Int32
    let mounts: [Mount]
    let readOnlyRoot: Bool

    init(rootfs: String, mounts: [Mount] = [], readOnlyRoot: Bool = false) throws {
        let fd = open(rootfs, O_PATH_ | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw BerthError(.internalError, "open \(rootfs): \(ContainerFSError.text(errno))")
        }
        rootFD = fd
        self.mounts = mounts
        self.readOnlyRoot = readOnlyRoot
    }

    deinit { close() }

    /// Closes the root early (before its mount is released); the view is unusable afterwards.
    func close() {
        if rootFD >= 0 { _ = Glibc.close(rootFD) }
        rootFD = -1
    }

    /// Go's `filepath.Clean(filepath.Join("/", path))` as components (`..` stops at the root).
    static func components(_ path: String) -> [String] {
        var out: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if !out.isEmpty { out.removeLast() }
                continue
            }
            out.append(String(part))
        }
        return out
    }

    static func display(_ comps: [String]) -> String { "/" + comps.joined(separator: "/") }

    /// The mount whose destination is exactly `path` (the last one wins, as in the OCI mount order).
    func mount(at path: [String]) -> Mount? {
        mounts.last { $0.destination == path }
    }

    /// Whether writes into `mount` (nil: the rootfs) are refused.
    func isReadOnly(_ mount: Mount?) -> Bool { mount?.readOnly ?? readOnlyRoot }

    // MARK: - Resolution

    private struct Frame {
        var fd: Int32
        var name: String
        var mount: Mount?
    }

    /// Resolves `comps` (already lexically clean) inside the container. Symlinks in the middle are
    /// always followed, the last one only with `followLast` (which also enters a final directory, so
    /// `name` is `"."`). A missing last component is not an error (`exists` is false). With
    /// `create`, missing directories on the way are made (0755, root-owned, as Docker's implied
    /// directories) and reported to it. With `lexical`, a missing directory ends the walk and the
    /// rest is appended as text (moby's `FollowSymlinkInScope`; `fd` is then -1).
    func resolve(_ comps: [String], followLast: Bool, create: ((ContainerFS.Resolved) -> Void)? = nil,
                 lexical: Bool = false) throws -> Resolved {
        let root = dup(rootFD)
        guard root >= 0 else { throw ContainerFSError(errno, "dup") }
        var stack = [Frame(fd: root, name: "", mount: nil)]
        defer { for f in stack { Glibc.close(f.fd) } }
        // (component, reached through a symlink): directories are only made for the path's own
        // components, never at a symlink's missing target (moby's MkdirAll fails there too).
        var todo = comps.reversed().map { ($0, false) }
        var links = 0
        func path() -> [String] { stack.dropFirst().map(\.name) }
        func dupTop() throws -> Int32 {
            let fd = dup(stack[stack.count - 1].fd)
            guard fd >= 0 else { throw ContainerFSError(errno, "dup") }
            return fd
        }
        while let (c, viaLink) = todo.popLast() {
            if c.isEmpty || c == "." { continue }
            if c == ".." {
                if stack.count > 1 { Glibc.close(stack.removeLast().fd) }
                continue
            }
            let isLast = todo.isEmpty
            let top = stack[stack.count - 1]
            let child = path() + [c]
            if let m = mount(at: child) {
                if m.isDirectory {
                    let fd = open(m.source, O_PATH_ | O_DIRECTORY | O_CLOEXEC)
                    guard fd >= 0 else { throw ContainerFSError(errno, "open") }
                    stack.append(Frame(fd: fd, name: c, mount: m))
                    continue
                }
                guard isLast else { throw ContainerFSError(ENOTDIR, "lstat") }
                let parent = open((m.source as NSString).deletingLastPathComponent, O_PATH_ | O_DIRECTORY | O_CLOEXEC)
                guard parent >= 0 else { throw ContainerFSError(errno, "open") }
                return Resolved(fd: parent, name: (m.source as NSString).lastPathComponent, path: child, mount: m,
                                isMountRoot: true, exists: true)
            }
            var st = stat()
            if fstatat(top.fd, c, &st, AT_SYMLINK_NOFOLLOW) != 0 {
                let e = errno
                guard e == ENOENT else { throw ContainerFSError(e, "lstat") }
                if isLast {
                    if create != nil && viaLink { throw ContainerFSError(ENOENT, "lstat") }
                    return Resolved(fd: try dupTop(), name: c, path: child, mount: top.mount, isMountRoot: false, exists: false)
                }
                if lexical {
                    var p = child
                    while let (r, _) = todo.popLast() {
                        if r == ".." { if !p.isEmpty { p.removeLast() } } else if !r.isEmpty && r != "." { p.append(r) }
                    }
                    return Resolved(fd: -1, name: "", path: p, mount: top.mount, isMountRoot: false, exists: false)
                }
                guard let create, !viaLink else { throw ContainerFSError(ENOENT, "lstat") }
                if isReadOnly(top.mount) { throw ContainerFSError(EROFS, "mkdir") }
                if mkdirat(top.fd, c, 0o755) != 0 && errno != EEXIST { throw ContainerFSError(errno, "mkdir") }
                fchownat(top.fd, c, 0, 0, AT_SYMLINK_NOFOLLOW)
                guard fstatat(top.fd, c, &st, AT_SYMLINK_NOFOLLOW) == 0 else { throw ContainerFSError(errno, "lstat") }
                create(Resolved(fd: -1, name: c, path: child, mount: top.mount, isMountRoot: false, exists: true))
            }
            let type = st.st_mode & S_IFMT
            if type == S_IFLNK && (!isLast || followLast) {
                links += 1
                if links > 255 { throw ContainerFSError(ELOOP, "lstat") }
                let target = try Self.readlink(top.fd, c)
                if target.hasPrefix("/") {
                    while stack.count > 1 { Glibc.close(stack.removeLast().fd) }
                }
                for part in target.split(separator: "/").reversed() where part != "." { todo.append((String(part), true)) }
                continue
            }
            if type == S_IFDIR && (!isLast || followLast) {
                let fd = openat(top.fd, c, O_PATH_ | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { throw ContainerFSError(errno, "open") }
                stack.append(Frame(fd: fd, name: c, mount: top.mount))
                continue
            }
            guard isLast else { throw ContainerFSError(ENOTDIR, "lstat") }
            return Resolved(fd: try dupTop(), name: c, path: child, mount: top.mount, isMountRoot: false, exists: true)
        }
        let top = stack[stack.count - 1]
        let p = path()
        return Resolved(fd: try dupTop(), name: ".", path: p, mount: top.mount,
                        isMountRoot: p.isEmpty || top.mount?.destination == p, exists: true)
    }

    /// A directory to work in: `comps` resolved with every symlink followed; it must be a directory.
    func directory(_ comps: [String], create: ((ContainerFS.Resolved) -> Void)? = nil) throws -> Resolved {
        let r = try resolve(comps, followLast: true, create: create)
        if r.name == "." { return r }
        defer { r.close() }
        if !r.exists {
            guard let create else { throw ContainerFSError(ENOENT, "lstat") }
            if isReadOnly(r.mount) { throw ContainerFSError(EROFS, "mkdir") }
            if mkdirat(r.fd, r.name, 0o755) != 0 && errno != EEXIST { throw ContainerFSError(errno, "mkdir") }
            fchownat(r.fd, r.name, 0, 0, AT_SYMLINK_NOFOLLOW)
            create(Resolved(fd: -1, name: r.name, path: r.path, mount: r.mount, isMountRoot: false, exists: true))
        }
        let fd = openat(r.fd, r.name, O_PATH_ | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw ContainerFSError(errno == ELOOP ? ENOTDIR : errno, "open") }
        return Resolved(fd: fd, name: ".", path: r.path, mount: r.mount, isMountRoot: r.isMountRoot, exists: true)
    }

    /// A small text file inside the container (`/etc/passwd` for `copyUIDGID`); nil if unreadable.
    func readText(_ path: String, limit: Int = 4 << 20) -> String? {
        guard let r = try? resolve(Self.components(path), followLast: true) else { return nil }
        defer { r.close() }
        let fd = Self.openRegular(r.fd, r.name)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while out.count < limit {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - Primitives

    static func lstat(_ fd: Int32, _ name: String) -> stat? {
        var st = stat()
        return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st : nil
    }

    /// Opens `name` for reading only if it is a regular file: the object is pinned with `O_PATH`
    /// and checked first, so a device or FIFO a container put there is never opened. -1 otherwise.
    static func openRegular(_ dirFD: Int32, _ name: String) -> Int32 {
        let pin = openat(dirFD, name, O_PATH_ | O_NOFOLLOW | O_CLOEXEC)
        guard pin >= 0 else { return -1 }
        defer { Glibc.close(pin) }
        var st = stat()
        guard fstat(pin, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return -1 }
        return open("/proc/self/fd/\(pin)", O_RDONLY | O_CLOEXEC)
    }

    static func readlink(_ fd: Int32, _ name: String) throws -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(fd, name, &buf, Int(PATH_MAX))
        guard n >= 0 else { throw ContainerFSError(errno, "readlink") }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `os.RemoveAll` of `name` in `dirFD`, never following a symlink.
    static func removeAll(_ dirFD: Int32, _ name: String) throws {
        guard let st = lstat(dirFD, name) else {
            if errno == ENOENT { return }
            throw ContainerFSError(errno, "lstat")
        }
        if (st.st_mode & S_IFMT) != S_IFDIR {
            if unlinkat(dirFD, name, 0) != 0 && errno != ENOENT { throw ContainerFSError(errno, "unlinkat") }
            return
        }
        let fd = openat(dirFD, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw ContainerFSError(errno, "open") }
        do {
            for child in try listDirectory(fd) { try removeAll(fd, child) }
            Glibc.close(fd)
        } catch {
            Glibc.close(fd)
            throw error
        }
        if unlinkat(dirFD, name, AT_REMOVEDIR) != 0 && errno != ENOENT { throw ContainerFSError(errno, "unlinkat") }
    }

    /// Names in an open directory (not `.`/`..`), sorted by bytes like Go's `os.ReadDir`.
    static func listDirectory(_ fd: Int32) throws -> [String] {
        let copy = dup(fd)
        guard copy >= 0, let dir = fdopendir(copy) else {
            if copy >= 0 { Glibc.close(copy) }
            throw ContainerFSError(errno, "open")
        }
        defer { closedir(dir) }
        rewinddir(dir)
        var names: [[UInt8]] = []
        while let ent = readdir(dir) {
            let bytes = withUnsafePointer(to: &ent.pointee.d_name) {
                $0.withMemoryRebound(to: UInt8.self, capacity: 256) { Array(UnsafeBufferPointer(start: $0, count: strlen(UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)))) }
            }
            if bytes == [46] || bytes == [46, 46] { continue }
            names.append(bytes)
        }
        names.sort { $0.lexicographicallyPrecedes($1) }
        return names.map { String(decoding: $0, as: UTF8.self) }
    }
}
