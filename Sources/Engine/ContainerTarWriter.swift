#if canImport(Glibc)
import Glibc
#endif
import CArchive
import CLinuxFS
import Foundation
import NIOCore
import OCI

/// Bytes handed from a producing thread (the tar writer) to an async consumer (the HTTP response),
/// bounded so a slow client holds the walk instead of memory. The consumer calls ``cancel()`` when
/// it stops early; the producer's next ``push(_:)`` then throws.
public final class ArchiveStream: AsyncSequence, @unchecked Sendable {
    public typealias Element = ByteBuffer

    private let cond = NSCondition()
    private var queue = CircularBuffer<ByteBuffer>(initialCapacity: 8)
    private var finished = false
    private var failure: (any Error)?
    private var cancelled = false
    private var waiter: CheckedContinuation<Void, Never>?
    private let maxQueued: Int

    init(maxQueued: Int = 8) { self.maxQueued = maxQueued }

    /// Queues a chunk; blocks the producing thread while the queue is full.
    func push(_ buffer: ByteBuffer) throws {
        cond.lock()
        while queue.count >= maxQueued && !cancelled { cond.wait() }
        if cancelled {
            cond.unlock()
            throw CancellationError()
        }
        queue.append(buffer)
        let w = waiter
        waiter = nil
        cond.unlock()
        w?.resume()
    }

    /// End of the stream; with an error the consumer's next read throws it.
    func finish(_ error: (any Error)? = nil) {
        cond.lock()
        finished = true
        if failure == nil { failure = error }
        let w = waiter
        waiter = nil
        cond.unlock()
        w?.resume()
    }

    /// The consumer gives up: the producer stops at its next push.
    public func cancel() {
        cond.lock()
        cancelled = true
        queue.removeAll()
        cond.broadcast()
        cond.unlock()
    }

    /// The next chunk; nil at the end.
    public func next() async throws -> ByteBuffer? {
        while true {
            switch poll() {
            case .chunk(let b): return b
            case .end(let e):
                if let e { throw e }
                return nil
            case .empty:
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in park(c) }
            }
        }
    }

    private enum Poll {
        case chunk(ByteBuffer)
        case end((any Error)?)
        case empty
    }

    private func poll() -> Poll {
        cond.lock()
        defer { cond.unlock() }
        if let b = queue.popFirst() {
            cond.signal()
            return .chunk(b)
        }
        return finished ? .end(failure) : .empty
    }

    /// Waits for the producer unless something arrived meanwhile.
    private func park(_ c: CheckedContinuation<Void, Never>) {
        cond.lock()
        if !queue.isEmpty || finished {
            cond.unlock()
            c.resume()
            return
        }
        waiter = c
        cond.unlock()
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let stream: ArchiveStream
        public mutating func next() async throws -> ByteBuffer? { try await stream.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(stream: self) }
}

/// Writes a tree of a ``ContainerFS`` as a tar stream the way moby's `Tarballer` does: PAX format
/// (ustar headers unless a field needs more), lexical order, directories with a trailing `/`,
/// numeric owners without names, mtimes truncated to seconds, no atime/ctime, hard links for files
/// seen before, `security.capability` kept, sockets skipped, files that vanish meanwhile skipped.
/// Bind mounts inside the tree are followed when `crossMounts` (`docker cp`), not for `export`.
final class ContainerTarWriter {
    private final class Sink {
        let write: (UnsafeRawBufferPointer) throws -> Void
        var error: (any Error)?
        init(_ write: @escaping (UnsafeRawBufferPointer) throws -> Void) { self.write = write }
    }

    private struct FileID: Hashable {
        var dev: UInt64
        var ino: UInt64
    }

    private let archive: OpaquePointer
    private let sink: Sink
    private let fs: ContainerFS
    private let crossMounts: Bool
    private var seen: [FileID: String] = [:]
    private var buffer = [UInt8](repeating: 0, count: 256 << 10)
    private(set) var entries = 0
    /// Entries left out (vanished, unreadable); logged by the caller.
    private(set) var skipped: [String] = []

    init(fs: ContainerFS, crossMounts: Bool, sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let a = archive_write_new() else { throw BerthError(.internalError, "libarchive: cannot allocate a writer") }
        archive = a
        self.sink = Sink(sink)
        self.fs = fs
        self.crossMounts = crossMounts
        archive_write_set_format_pax_restricted(a)
        // No padding of the last block: the stream ends with the two zero blocks, as Go's tar writer.
        archive_write_set_bytes_per_block(a, 64 << 10)
        archive_write_set_bytes_in_last_block(a, 1)
        let ctx = Unmanaged.passUnretained(self.sink).toOpaque()
        let r = archive_write_open2(a, ctx, nil, { _, ctx, buf, len in
            let sink = Unmanaged<Sink>.fromOpaque(ctx!).takeUnretainedValue()
            do {
                try sink.write(UnsafeRawBufferPointer(start: buf, count: len))
                return la_ssize_t(len)
            } catch {
                sink.error = error
                return -1
            }
        }, nil, nil)
        guard r == ARCHIVE_OK else {
            archive_write_free(a)
            throw BerthError(.internalError, "libarchive: cannot open the tar writer")
        }
    }

    deinit { archive_write_free(archive) }

    /// Adds `name` in `dirFD` (the directory itself when `"."`) as `archiveName`, a directory with its
    /// contents named `childPrefix + child`. `path` is its container path (to find bind mounts).
    func add(dirFD: Int32, name: String, path: [String], archiveName: String, childPrefix: String?) throws {
        var dfd = dirFD, nm = name, owned: Int32 = -1
        if crossMounts, !path.isEmpty, let m = fs.mount(at: path) {
            owned = open(m.isDirectory ? m.source : (m.source as NSString).deletingLastPathComponent,
                         O_PATH_ | O_DIRECTORY | O_CLOEXEC)
            guard owned >= 0 else { skipped.append(archiveName); return }
            dfd = owned
            nm = m.isDirectory ? "." : (m.source as NSString).lastPathComponent
        }
        defer { if owned >= 0 { close(owned) } }
        guard var st = ContainerFS.lstat(dfd, nm) else { skipped.append(archiveName); return }
        let type = st.st_mode & S_IFMT
        if type == S_IFSOCK { return }
        var fileFD: Int32 = -1
        defer { if fileFD >= 0 { close(fileFD) } }
        if type == S_IFREG {
            fileFD = ContainerFS.openRegular(dfd, nm)
            guard fileFD >= 0, fstat(fileFD, &st) == 0 else {
                skipped.append(archiveName)
                return
            }
        }
        guard let e = archive_entry_new() else { throw BerthError(.internalError, "libarchive: out of memory") }
        defer { archive_entry_free(e) }
        let isDir = type == S_IFDIR
        let entryName = isDir && !archiveName.hasSuffix("/") ? archiveName + "/" : archiveName
        archive_entry_copy_pathname(e, entryName)
        archive_entry_set_perm(e, mode_t(st.st_mode & 0o7777))
        archive_entry_set_uid(e, la_int64_t(st.st_uid))
        archive_entry_set_gid(e, la_int64_t(st.st_gid))
        archive_entry_set_mtime(e, time_t(st.st_mtim.tv_sec), 0)
        var dataSize: Int64 = 0
        switch type {
        case S_IFDIR: archive_entry_set_filetype(e, AE_IFDIR_)
        case S_IFLNK:
            archive_entry_set_filetype(e, AE_IFLNK_)
            guard let target = try? ContainerFS.readlink(dfd, nm) else { skipped.append(archiveName); return }
            archive_entry_copy_symlink(e, target)
        case S_IFCHR, S_IFBLK:
            archive_entry_set_filetype(e, type == S_IFCHR ? AE_IFCHR_ : AE_IFBLK_)
            archive_entry_set_rdevmajor(e, dev_t(berth_major(st.st_rdev)))
            archive_entry_set_rdevminor(e, dev_t(berth_minor(st.st_rdev)))
        case S_IFIFO: archive_entry_set_filetype(e, AE_IFIFO_)
        default:
            archive_entry_set_filetype(e, AE_IFREG_)
            dataSize = Int64(st.st_size)
        }
        if !isDir && st.st_nlink > 1 {
            let id = FileID(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
            if let first = seen[id] {
                archive_entry_copy_hardlink(e, first)
                dataSize = 0
            } else {
                seen[id] = entryName
            }
        }
        archive_entry_set_size(e, la_int64_t(dataSize))
        if fileFD >= 0 { Self.addCapability(fileFD, e) }
        try check(archive_write_header(archive, e))
        entries += 1
        if dataSize > 0 { try copyData(fileFD, size: dataSize) }
        guard isDir, let childPrefix else { return }
        let dir = openat(dfd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard dir >= 0 else { skipped.append(archiveName); return }
        defer { close(dir) }
        guard var children = try? ContainerFS.listDirectory(dir) else { skipped.append(archiveName); return }
        if crossMounts {
            // Mount points the rootfs lacks (created at start, as dockerd creates them for the copy).
            let extra = fs.mounts.filter { $0.destination.count == path.count + 1 && Array($0.destination.dropLast()) == path }
                .map { $0.destination.last! }.filter { !children.contains($0) }
            if !extra.isEmpty { children = Set(children + extra).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) } }
        }
        for child in children {
            try add(dirFD: dir, name: child, path: path + [child], archiveName: childPrefix + child,
                    childPrefix: childPrefix + child + "/")
        }
    }

    /// Writes the end-of-archive blocks.
    func finish() throws {
        if archive_write_close(archive) != ARCHIVE_OK { throw failure("finishing the archive") }
    }

    private func copyData(_ fd: Int32, size: Int64) throws {
        var left = size
        while left > 0 {
            let want = Int(min(Int64(buffer.count), left))
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, want) }
            if n < 0 && errno == EINTR { continue }
            // A file that shrank meanwhile: libarchive pads the entry with zeros.
            if n <= 0 { break }
            let w = buffer.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, n) }
            if w < 0 { throw failure("writing the archive") }
            left -= Int64(n)
        }
    }

    private func check(_ r: Int32) throws {
        if r < ARCHIVE_WARN { throw failure("writing the archive") }
    }

    private func failure(_ context: String) -> any Error {
        if let e = sink.error { return e }
        let msg = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
        return BerthError(.internalError, "\(context): \(msg)")
    }

    /// moby's `ReadSecurityXattrToTarHeader`: file capabilities travel as `SCHILY.xattr.security.capability`,
    /// a v3 (namespaced) capability turned into v2.
    private static func addCapability(_ fd: Int32, _ e: OpaquePointer) {
        var value = [UInt8](repeating: 0, count: 64)
        let n = value.withUnsafeMutableBytes { fgetxattr(fd, "security.capability", $0.baseAddress, 64) }
        guard n > 0 else { return }
        value = Array(value[0..<n])
        if value.count > 3 && value[3] == 3 {
            value[3] = 2
            value = Array(value.prefix(20))
        }
        value.withUnsafeBytes { archive_entry_xattr_add_entry(e, "security.capability", $0.baseAddress, $0.count) }
    }
}

// libarchive's `AE_IF*` macros carry casts Swift cannot import.
let AE_IFREG_: mode_t = 0o100000
let AE_IFLNK_: mode_t = 0o120000
let AE_IFCHR_: mode_t = 0o020000
let AE_IFBLK_: mode_t = 0o060000
let AE_IFDIR_: mode_t = 0o040000
let AE_IFIFO_: mode_t = 0o010000
