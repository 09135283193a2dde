#if canImport(Glibc)
import Glibc
#endif
import APIModels
import Foundation
import NIOCore
import OCI
import TarArchive

/// Counts the archive operations using each container rootfs mount, so the last one out unmounts a
/// mount it had to make for a stopped container (and never one a running container uses).
final class RootfsLeases: @unchecked Sendable {
    static let shared = RootfsLeases()
    private let lock = NSLock()
    private var counts: [String: Int] = [:]

    func acquire(_ key: String) {
        lock.lock()
        counts[key, default: 0] += 1
        lock.unlock()
    }

    /// Leases left on `key`.
    func release(_ key: String) -> Int {
        lock.lock()
        defer { lock.unlock() }
        let n = max(0, (counts[key] ?? 1) - 1)
        counts[key] = n == 0 ? nil : n
        return n
    }
}

/// `docker cp` and `docker export`: `HEAD`/`GET`/`PUT /containers/{id}/archive`, `GET …/export`.
/// They work on running and stopped containers: a stopped container's overlay is mounted for the
/// time of the operation. Paths are resolved inside the container (``ContainerFS``), bind mounts and
/// the network files included as Docker does; `export` is the rootfs alone.
extension ContainerService {
    /// An open view of one container for an archive operation; `close` releases its mount.
    struct ArchiveView: Sendable {
        let record: ContainerRecord
        let fs: ContainerFS
        /// Where a `PUT` body is spooled (the container's directory, on the data root).
        let spoolDir: String
    }

    func openArchiveView(_ ref: String, mounts: Bool) throws -> ArchiveView {
        let r = try resolve(ref)
        let merged = mergedDir(r.ID)
        RootfsLeases.shared.acquire(merged)
        do {
            if !ContainerSystem.isMountPoint(merged) {
                try CFS.mkdirAll(merged)
                try ContainerSystem.mountOverlay(lower: r.LowerDirs, upper: layerDir(r.ID) + "/diff",
                                                 work: layerDir(r.ID) + "/work", target: merged)
            }
            let fs = try ContainerFS(rootfs: merged, mounts: mounts ? archiveMounts(r) : [],
                                     readOnlyRoot: r.HostConfig.ReadonlyRootfs == true)
            return ArchiveView(record: r, fs: fs, spoolDir: containerDir(r.ID))
        } catch {
            closeArchiveView(r.ID)
            throw error
        }
    }

    func closeArchiveView(_ id: String) {
        let merged = mergedDir(id)
        if RootfsLeases.shared.release(merged) == 0, containers[id]?.State.Running != true, !starting.contains(id) {
            ContainerSystem.unmount(merged)
        }
    }

    /// What moby's `openContainerFS` mounts over the rootfs: the bind mounts and the network files.
    func archiveMounts(_ r: ContainerRecord) -> [ContainerFS.Mount] {
        var out: [ContainerFS.Mount] = []
        let dir = containerDir(r.ID)
        for (dest, file) in [("/etc/resolv.conf", "resolv.conf"), ("/etc/hostname", "hostname"), ("/etc/hosts", "hosts")] {
            var st = stat()
            if stat(dir + "/" + file, &st) == 0 {
                out.append(.init(destination: ContainerFS.components(dest), source: dir + "/" + file, readOnly: false, isDirectory: false))
            }
        }
        for m in (try? ContainerMount.parse(r.HostConfig)) ?? [] where m.type == "bind" {
            var st = stat()
            guard stat(m.source, &st) == 0 else { continue }
            out.append(.init(destination: ContainerFS.components(m.destination), source: m.source, readOnly: m.readOnly,
                             isDirectory: (st.st_mode & S_IFMT) == S_IFDIR))
        }
        return out
    }

    /// Docker's errors for a path: a missing file is a 404 naming the path and container as given.
    nonisolated static func pathError(_ error: any Error, path: String, absPath: String, container: String) -> any Error {
        guard let e = error as? ContainerFSError else { return error }
        if e.code == ENOENT { return BerthError(.notFound, "Could not find the file \(path) in container \(container)") }
        return BerthError(.internalError, e.message(absPath))
    }

    /// moby's `PreserveTrailingDotOrSeparator(filepath.Join("/", path), path)`.
    nonisolated static func absPath(_ path: String) -> String {
        var s = ContainerFS.display(ContainerFS.components(path))
        let dot = path == "." || path.hasSuffix("/.")
        if dot { s += s.hasSuffix("/") ? "." : "/." } else if path.hasSuffix("/") && !s.hasSuffix("/") { s += "/" }
        return s
    }

    /// `HEAD /containers/{id}/archive`: the path's stat (not following a last symlink unless the path
    /// ends in `/` or `/.`).
    public nonisolated func statPath(_ ref: String, path: String) async throws -> ContainerPathStat {
        let view = try await openArchiveView(ref, mounts: true)
        let result = await ContainerSystem.blocking { Result { try Self.pathStat(view.fs, path: path) } }
        await closeArchiveView(view.record.ID)
        do { return try result.get().0 } catch {
            throw Self.pathError(error, path: path, absPath: Self.absPath(path), container: ref)
        }
    }

    /// The stat and the resolved object (`name` `"."`: a directory entered) of `path`.
    nonisolated static func pathStat(_ fs: ContainerFS, path: String) throws -> (ContainerPathStat, ContainerFS.Resolved) {
        let abs = absPath(path)
        let comps = ContainerFS.components(path)
        let follow = abs.hasSuffix("/") || abs.hasSuffix("/.")
        let r = try fs.resolve(comps, followLast: follow)
        do {
            guard r.exists else { throw ContainerFSError(ENOENT, "lstat") }
            if follow && r.name != "." && !comps.isEmpty { throw ContainerFSError(ENOTDIR, "lstat") }
            guard let st = ContainerFS.lstat(r.fd, r.name) else { throw ContainerFSError(errno, "lstat") }
            var link = ""
            if (st.st_mode & S_IFMT) == S_IFLNK {
                let t = try fs.resolve(comps, followLast: true, lexical: true)
                t.close()
                link = ContainerFS.display(t.path)
            }
            let name = abs == "/" ? "/" : (abs.hasSuffix("/.") ? "." : (comps.last ?? "/"))
            let stat = ContainerPathStat(name: name, size: Int64(st.st_size), mode: ContainerPathStat.goMode(posix: UInt32(st.st_mode)),
                                         mtime: ContainerPathStat.goTime(seconds: Int64(st.st_mtim.tv_sec), nanoseconds: Int64(st.st_mtim.tv_nsec)),
                                         linkTarget: link)
            return (stat, r)
        } catch {
            r.close()
            throw error
        }
    }

    // MARK: - GET archive / export

    /// `GET /containers/{id}/archive`: the path's stat and a tar stream of it (a directory's entries
    /// are named after the path's last element, `.` for `dir/.`).
    public nonisolated func archivePath(_ ref: String, path: String) async throws -> (ContainerPathStat, ArchiveStream) {
        let view = try await openArchiveView(ref, mounts: true)
        let found = await ContainerSystem.blocking { Result { try Self.pathStat(view.fs, path: path) } }
        let stat: ContainerPathStat, root: ContainerFS.Resolved
        do { (stat, root) = try found.get() } catch {
            await closeArchiveView(view.record.ID)
            throw Self.pathError(error, path: path, absPath: Self.absPath(path), container: ref)
        }
        let base = stat.name == "/" ? "" : stat.name
        let stream = startTar(view, label: "archive \(path)") { w in
            defer { root.close() }
            try w.add(dirFD: root.fd, name: root.name, path: root.path, archiveName: base,
                      childPrefix: stat.isDir ? base + "/" : nil)
        }
        await publish("archive-path", view.record)
        return (stat, stream)
    }

    /// `GET /containers/{id}/export`: the rootfs (without bind mounts) as a tar, entries relative.
    public nonisolated func export(_ ref: String) async throws -> ArchiveStream {
        let view = try await openArchiveView(ref, mounts: false)
        let stream = startTar(view, label: "export") { w in
            let root = try view.fs.resolve([], followLast: true)
            defer { root.close() }
            let dir = openat(root.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard dir >= 0 else { throw ContainerFSError(errno, "open") }
            defer { close(dir) }
            for child in try ContainerFS.listDirectory(dir) {
                try w.add(dirFD: dir, name: child, path: [child], archiveName: child, childPrefix: child + "/")
            }
        }
        await publish("export", view.record)
        return stream
    }

    /// Runs a tar writer on its own thread into a bounded stream; releases the view when done.
    private nonisolated func startTar(_ view: ArchiveView, label: String,
                                      _ body: @escaping @Sendable (ContainerTarWriter) throws -> Void) -> ArchiveStream {
        let stream = ArchiveStream()
        let id = view.record.ID
        let log = logger
        let thread = Thread { [self] in
            var failure: (any Error)?
            do {
                let w = try ContainerTarWriter(fs: view.fs, crossMounts: true) { bytes in
                    try stream.push(ByteBuffer(bytes: bytes))
                }
                try withUTF8Locale {
                    try body(w)
                    try w.finish()
                }
                if !w.skipped.isEmpty { log.warning("\(label) of \(id.prefix(12)): skipped \(w.skipped.prefix(5))") }
            } catch {
                failure = error
                if !(error is CancellationError) { log.warning("\(label) of \(id.prefix(12)) failed: \(error)") }
            }
            view.fs.close()
            stream.finish(failure)
            Task { await self.closeArchiveView(id) }
        }
        thread.name = "berth-tar"
        thread.stackSize = 4 << 20
        thread.start()
        return stream
    }
}
