#if canImport(Glibc)
import Glibc
#endif
import CLinuxFS
import Foundation
import NIOCore
import OCI
import TarArchive

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
    private let tar: TarWriter
    private let fs: ContainerFS
    private let crossMounts: Bool
    private var links = TarHardLinks()
    /// Entries left out (vanished, unreadable); logged by the caller.
    private(set) var skipped: [String] = []

    init(fs: ContainerFS, crossMounts: Bool, sink: @escaping TarWriter.Sink) throws {
        tar = try TarWriter(mapError: { BerthError(.internalError, $0.description) }, sink: sink)
        self.fs = fs
        self.crossMounts = crossMounts
    }

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
        let e = try TarEntry(name: archiveName, stat: st)
        if type == S_IFLNK {
            guard let target = try? ContainerFS.readlink(dfd, nm) else { skipped.append(archiveName); return }
            e.symlink = target
        }
        links.link(e, st)
        if fileFD >= 0 { Self.addCapability(fileFD, e) }
        try tar.writeHeader(e)
        if e.size > 0 { try tar.writeData(from: fileFD, size: e.size) }
        guard type == S_IFDIR, let childPrefix else { return }
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
    func finish() throws { try tar.finish() }

    /// moby's `ReadSecurityXattrToTarHeader`: file capabilities travel as `SCHILY.xattr.security.capability`,
    /// a v3 (namespaced) capability turned into v2.
    private static func addCapability(_ fd: Int32, _ e: TarEntry) {
        var value = [UInt8](repeating: 0, count: 64)
        let n = value.withUnsafeMutableBytes { fgetxattr(fd, "security.capability", $0.baseAddress, 64) }
        guard n > 0 else { return }
        value = Array(value[0..<n])
        if value.count > 3 && value[3] == 3 {
            value[3] = 2
            value = Array(value.prefix(20))
        }
        e.addXattr("security.capability", value)
    }
}
