#if canImport(Glibc)
import Glibc
#endif
import APIModels
import Foundation
import NIOCore
import OCI
import TarArchive

extension ContainerService {
    /// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`: extracts a tar (plain
    /// or compressed) into the directory `path`. Checked before the body is read, as dockerd does:
    /// the path exists (404), is a directory (400), is writable (400 for a read-only volume or rootfs).
    /// The body is spooled to an unlinked file on the data root, validated as a whole (a damaged or
    /// escaping archive is refused with nothing written), then extracted.
    public nonisolated func extractToDir<Body: AsyncSequence & Sendable>(
        _ ref: String, path: String, noOverwriteDirNonDir: Bool, copyUIDGID: Bool, body: Body
    ) async throws where Body.Element == ByteBuffer {
        let view = try await openArchiveView(ref, mounts: true)
        let id = view.record.ID
        var spool: Int32 = -1
        defer {
            if spool >= 0 { close(spool) }
        }
        do {
            let user = view.record.Config.User ?? ""
            let checked = await ContainerSystem.blocking {
                Result { try Self.extractionPoint(view.fs, path: path, user: copyUIDGID ? user : "") }
            }
            let (dest, owner): ([String], (uid: UInt32, gid: UInt32)?)
            do { (dest, owner) = try checked.get() } catch {
                throw Self.pathError(error, path: path, absPath: Self.absPath(path), container: ref)
            }
            spool = try Self.spoolFile(in: view.spoolDir)
            for try await var chunk in body {
                try chunk.readWithUnsafeReadableBytes { raw in
                    var off = 0
                    while off < raw.count {
                        let n = write(spool, raw.baseAddress! + off, raw.count - off)
                        if n < 0 {
                            if errno == EINTR { continue }
                            throw BerthError(.internalError, "spooling the archive: \(ContainerFSError.text(errno))")
                        }
                        off += n
                    }
                    return raw.count
                }
            }
            let fd = spool
            let done = await ContainerSystem.blocking {
                Result {
                    try withUTF8Locale {
                        try ContainerTarExtractor.validate(fd, dest: dest)
                        let x = ContainerTarExtractor(fs: view.fs, dest: dest,
                                                      options: .init(noOverwriteDirNonDir: noOverwriteDirNonDir, owner: owner))
                        try x.extract(fd)
                    }
                }
            }
            try done.get()
        } catch {
            view.fs.close()
            await closeArchiveView(id)
            // dockerd reports any "does not exist" of the extraction as the destination not found.
            if let e = error as? BerthError, e.code == .notFound {
                throw BerthError(.notFound, "Could not find the file \(path) in container \(ref)")
            }
            throw error
        }
        view.fs.close()
        await closeArchiveView(id)
        await publish("extract-to-dir", view.record)
    }

    /// The destination directory (symlinks followed, the last one too) and, for `copyUIDGID` with a
    /// configured user, the owner to give every entry.
    nonisolated static func extractionPoint(_ fs: ContainerFS, path: String, user: String) throws -> ([String], (uid: UInt32, gid: UInt32)?) {
        let r = try fs.resolve(ContainerFS.components(path), followLast: true)
        defer { r.close() }
        guard r.exists else { throw ContainerFSError(ENOENT, "lstat") }
        guard r.name == "." else { throw BerthError(.invalidArgument, "extraction point is not a directory") }
        if let m = r.mount {
            if m.readOnly { throw BerthError(.invalidArgument, "mounted volume is marked read-only") }
        } else if fs.readOnlyRoot {
            throw BerthError(.invalidArgument, "container rootfs is marked read-only")
        }
        var owner: (uid: UInt32, gid: UInt32)?
        if !user.isEmpty {
            let u = try ContainerSpecBuilder.resolveUser(user, passwd: fs.readText("/etc/passwd"), group: fs.readText("/etc/group"))
            owner = (u.uid, u.gid)
        }
        return (r.path, owner)
    }

    /// An anonymous read-write file on the data root (unlinked at once: nothing is left after a crash).
    nonisolated static func spoolFile(in dir: String) throws -> Int32 {
        let path = dir + "/.archive-\(UUID().uuidString.prefix(8))"
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw BerthError(.internalError, "creating a spool file in \(dir): \(ContainerFSError.text(errno))")
        }
        unlink(path)
        return fd
    }
}
