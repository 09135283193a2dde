#if canImport(Glibc)
import Glibc
#endif
import Foundation
import OCI
import TarArchive

/// Unpacks a tar (plain or compressed) into a directory of a ``ContainerFS`` with the semantics of
/// moby's `archive.Untar` as `PUT /containers/{id}/archive` uses it: names are cleaned and joined to
/// the destination (a leading `/` is relative to it), `..` escapes and symlinks/hard links whose
/// target climbs out of the destination are refused, missing parents are made (0755, root), an
/// existing object is replaced unless both are directories (merged), `noOverwriteDirNonDir` refuses
/// replacing a directory by a non-directory and vice versa, owners come from the tar (or `owner`),
/// modes, xattrs and times are restored (directory times last).
///
/// Every entry is placed with the container-scoped resolver, so a symlink (from the image or from
/// the tar itself) is followed inside the container and can never reach the host. The archive is
/// read twice from a seekable file: ``validate(_:dest:)`` refuses a bad or hostile archive before
/// anything is written; ``extract(_:)`` removes what it created if it fails half-way.
final class ContainerTarExtractor {
    struct Options {
        var noOverwriteDirNonDir = false
        /// `copyUIDGID`: every entry gets the container user's IDs instead of the tar's.
        var owner: (uid: UInt32, gid: UInt32)?
    }

    let fs: ContainerFS
    /// The destination directory, resolved inside the container.
    let dest: [String]
    let options: Options
    var cache: (key: [String], dir: ContainerFS.Resolved)?
    var created: [[String]] = []
    var dirTimes: [([String], [timespec])] = []
    var entries = 0

    init(fs: ContainerFS, dest: [String], options: Options) {
        self.fs = fs
        self.dest = dest
        self.options = options
    }

    deinit { cache?.dir.close() }

    var destDisplay: String { ContainerFS.display(dest) }

    // MARK: - Names

    /// Lexically joins `link` to `base` (both below the destination); nil when it climbs out.
    static func join(_ base: [String], _ link: String) -> [String]? {
        var p = base
        for part in link.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if p.isEmpty { return nil }
                p.removeLast()
                continue
            }
            p.append(String(part))
        }
        return p
    }

    // MARK: - Reading

    /// Runs `body` over every header of the archive in `fd` (from its start).
    static func read(_ fd: Int32, _ body: (TarReader, TarEntry) throws -> Void) throws {
        guard lseek(fd, 0, SEEK_SET) == 0 else { throw BerthError(.internalError, "seek: \(ContainerFSError.text(errno))") }
        let tar = try TarReader(fd: fd, mapError: { BerthError(.internalError, "Error processing tar file: \($0.detail)") })
        while let e = try tar.next() { try body(tar, e) }
    }

    // MARK: - Pass 1

    /// Reads the whole archive and refuses it if it is damaged or any entry would land outside the
    /// destination (moby's breakout errors, with its messages).
    static func validate(_ fd: Int32, dest: [String]) throws {
        let destDisplay = ContainerFS.display(dest)
        try read(fd) { tar, e in
            guard let raw = e.name else { throw BerthError(.internalError, "Error processing tar file: entry without a name") }
            guard let comps = TarPath.components(raw) else {
                throw BerthError(.internalError, "\(GoQuote.quote(TarPath.clean(raw))) is outside of \(GoQuote.quote(destDisplay))")
            }
            let type = e.type
            if let link = e.hardlink {
                if join([], link) == nil {
                    let shown = ContainerFS.display(ContainerFS.components(destDisplay + "/" + link))
                    throw BerthError(.internalError, "invalid hardlink \(GoQuote.quote(shown)) -> \(GoQuote.quote(link))")
                }
            } else if type == TarEntry.FileType.symlink {
                let target = e.symlink ?? ""
                if join(Array(comps.dropLast()), target) == nil {
                    throw BerthError(.internalError, "invalid symlink \(GoQuote.quote(ContainerFS.display(dest + comps))) -> \(GoQuote.quote(target))")
                }
            } else if !Self.extractable.contains(type) {
                throw BerthError(.internalError, "unhandled tar header type \(type >> 12)")
            }
            // Read (not skip) the data: a truncated or damaged archive must fail here, not half-way.
            try tar.readData { _, _ in }
        }
    }

    /// The entry types moby's `createTarFile` handles (besides hard links and symlinks).
    static let extractable: [mode_t] = [TarEntry.FileType.regular, TarEntry.FileType.directory,
                                        TarEntry.FileType.character, TarEntry.FileType.block, TarEntry.FileType.fifo]
}
