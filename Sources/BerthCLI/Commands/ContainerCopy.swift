#if canImport(Glibc)
import Glibc
#endif
import APIClient
import APIModels
import Foundation
import NIOCore
import OCI
import TarArchive

/// `berth cp` / `berth container cp`: docker CLI 28's `cp` with moby's copy rules
/// (`archive.CopyInfoSourcePath`, `CopyInfoDestinationPath`, `PrepareArchiveCopy`): trailing `/.`
/// copies a directory's contents, a missing destination takes the source's place, an existing
/// directory receives it. `-` streams a tar from stdin or to stdout. On a terminal (unless `-q`)
/// it ends with `Successfully copied <tar size> to <dest>` on stderr, as docker does.
enum ContainerCopyCommand {
    struct CopyInfo {
        var path: String
        var exists = false
        var isDir = false
        var rebaseName = ""
    }

    static func cp(bin: String) -> Command {
        Command("cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\t\(bin) cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
                "Copy files/folders between a container and the local filesystem",
                long: "Copy files/folders between a container and the local filesystem\n\nUse '-' as the source to read a tar archive from stdin\nand extract it to a directory destination in a container.\nUse '-' as the destination to stream a tar archive of a\ncontainer source to stdout.",
                aliasLine: "\(bin) container cp, \(bin) cp",
                flags: [
                    .bool("archive", "a", "Archive mode (copy all uid/gid information)"),
                    .bool("follow-link", "L", "Always follow symbol link in SRC_PATH"),
                    .bool("quiet", "q", "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached"),
                ],
                args: .exact(2)) { inv in
            if inv.args[0].isEmpty { throw CLIError("source can not be empty") }
            if inv.args[1].isEmpty { throw CLIError("destination can not be empty") }
            let quiet = inv.flags.isSet("quiet") ? inv.flags.bool("quiet") : !inv.out.isTerminal
            try withUTF8Locale { try run(inv, quiet: quiet) }
        }
    }

    static func run(_ inv: Invocation, quiet: Bool) throws {
        let src = splitCpArg(inv.args[0]), dst = splitCpArg(inv.args[1])
        switch (src.container, dst.container) {
        case (.some(let c), nil):
            try fromContainer(inv, c, src.path, dst.path, follow: inv.flags.bool("follow-link"), quiet: quiet)
        case (nil, .some(let c)):
            try toContainer(inv, c, src.path, dst.path, follow: inv.flags.bool("follow-link"),
                            copyUIDGID: inv.flags.bool("archive"), quiet: quiet)
        case (.some, .some):
            throw CLIError("copying between containers is not supported")
        case (nil, nil):
            throw CLIError("must specify at least one container source")
        }
    }

    /// docker's `splitCpArg`: an absolute path, or one without `:`, or starting with `.`, is local.
    static func splitCpArg(_ s: String) -> (container: String?, path: String) {
        if s.hasPrefix("/") { return (nil, s) }
        guard let i = s.firstIndex(of: ":") else { return (nil, s) }
        let c = String(s[..<i])
        if c.hasPrefix(".") { return (nil, s) }
        return (c, String(s[s.index(after: i)...]))
    }

    static func resolveLocalPath(_ p: String) -> String {
        let abs = p.hasPrefix("/") ? GoPath.clean(p) : GoPath.join(FileManager.default.currentDirectoryPath, p)
        return GoPath.preserveTrailingDotOrSeparator(abs, p)
    }

    static func summary(_ inv: Invocation, _ bytes: Int64, _ dest: String) {
        inv.err.writeLine("Successfully copied \(HumanUnits.humanSize(Double(bytes), precision: 3)) to \(dest)")
    }

    // MARK: - From a container

    static func fromContainer(_ inv: Invocation, _ container: String, _ srcPath0: String, _ dstPath0: String,
                              follow: Bool, quiet: Bool) throws {
        var srcPath = srcPath0, dstPath = dstPath0
        if dstPath != "-" { dstPath = resolveLocalPath(dstPath) }
        try validateOutputPath(dstPath)
        let client = try inv.client()
        var rebaseName = ""
        if follow, let st = try? client.statContainerPath(container, path: srcPath), st.isSymlink {
            var target = st.linkTarget
            if !GoPath.isAbs(target) { target = GoPath.join(GoPath.splitPathDirEntry(srcPath).0, target) }
            (target, rebaseName) = getRebaseName(srcPath, target)
            srcPath = target
        }
        let (stat, reader) = try client.copyFromContainer(container, path: srcPath)
        defer { reader.close() }
        if dstPath == "-" {
            let out = inv.out
            while let b = try reader.next() { out.write(b.readableBytesView) }
            out.flush()
            return
        }
        var copied: Int64 = 0
        let next: () throws -> ByteBuffer? = {
            let b = try reader.next()
            copied += Int64(b?.readableBytes ?? 0)
            return b
        }
        var rebases: [LocalArchive.Rebase] = []
        let srcInfo = CopyInfo(path: srcPath, exists: true, isDir: stat.isDir, rebaseName: rebaseName)
        if !rebaseName.isEmpty { rebases.append(.init(GoPath.splitPathDirEntry(srcPath).1, rebaseName)) }
        let dstInfo = try copyInfoDestinationPath(dstPath)
        let (dstDir, rebase) = try prepareArchiveCopy(srcInfo, dstInfo)
        if let rebase { rebases.append(rebase) }
        try LocalArchive.untar(dest: dstDir, rebases: rebases, next: next)
        if !quiet { summary(inv, copied, dstPath) }
    }

    /// docker's `command.ValidateOutputPath`.
    static func validateOutputPath(_ path: String) throws {
        let dir = GoPath.dir(GoPath.clean(path))
        var st = stat()
        if !dir.isEmpty && dir != "." && stat(dir, &st) != 0 && errno == ENOENT {
            throw CLIError("invalid output path: directory \(GoQuote.quote(dir)) does not exist")
        }
        if stat(path, &st) == 0 {
            let t = st.st_mode & S_IFMT
            if t == S_IFBLK || t == S_IFCHR {
                throw CLIError("invalid output path: \(GoQuote.quote(path)) must be a directory or a regular file: got a device")
            }
        }
    }

    // MARK: - To a container

    static func toContainer(_ inv: Invocation, _ container: String, _ srcPath0: String, _ dstPath: String,
                            follow: Bool, copyUIDGID: Bool, quiet: Bool) throws {
        var srcPath = srcPath0
        if srcPath != "-" { srcPath = resolveLocalPath(srcPath) }
        let client = try inv.client()
        var dstInfo = CopyInfo(path: dstPath)
        if var st = try? client.statContainerPath(container, path: dstPath) {
            var ok = true
            if st.isSymlink {
                var target = st.linkTarget
                if !GoPath.isAbs(target) { target = GoPath.join(GoPath.splitPathDirEntry(dstPath).0, target) }
                dstInfo.path = target
                if let s2 = try? client.statContainerPath(container, path: target) { st = s2 } else { ok = false }
            }
            if ok {
                if st.mode & (ContainerPathStat.modeDevice | ContainerPathStat.modeCharDevice) != 0 {
                    throw CLIError("destination \"\(container):\(dstPath)\" must be a directory or a regular file: got a device")
                }
                dstInfo.exists = true
                dstInfo.isDir = st.isDir
            }
        }
        var copied: Int64 = 0
        if srcPath == "-" {
            guard dstInfo.isDir else { throw CLIError("destination \"\(container):\(dstPath)\" must be a directory") }
            let stdin = inv.ctx.stdin
            try client.copyToContainer(container, path: dstInfo.path, copyUIDGID: copyUIDGID) { write in
                while let chunk = stdin.readChunk() {
                    try chunk.withUnsafeBytes { try write($0) }
                    copied += Int64(chunk.count)
                }
            }
        } else {
            let srcInfo = try copyInfoSourcePath(srcPath, follow: follow)
            let (dstDir, rebase) = try prepareArchiveCopy(srcInfo, dstInfo)
            let counter = ByteCounter()
            try client.copyToContainer(container, path: dstDir, copyUIDGID: copyUIDGID) { write in
                try withoutActuallyEscaping(write) { write in
                    try LocalArchive.tar(sourcePath: srcInfo.path, rebaseName: srcInfo.rebaseName,
                                         rebases: rebase.map { [$0] } ?? []) { bytes in
                        try write(bytes)
                        counter.n += Int64(bytes.count)
                    }
                }
            }
            copied = counter.n
        }
        if !quiet { summary(inv, copied, container + ":" + dstInfo.path) }
    }

    // MARK: - moby's archive/copy.go

    static func copyInfoSourcePath(_ path: String, follow: Bool) throws -> CopyInfo {
        var resolved: String, rebaseName = ""
        if follow {
            resolved = try evalSymlinks(path)
            (resolved, rebaseName) = getRebaseName(path, resolved)
        } else {
            let (dirPath, basePath) = GoPath.split(path)
            let rdir = try evalSymlinks(dirPath.isEmpty ? "." : dirPath)
            resolved = (rdir == "/" ? "" : rdir) + "/" + basePath
            if GoPath.hasTrailingSeparator(path) && GoPath.base(path) != GoPath.base(resolved) {
                rebaseName = GoPath.base(path)
            }
        }
        var st = stat()
        guard lstat(resolved, &st) == 0 else { throw CLIError("lstat \(resolved): \(LocalArchive.errnoText())") }
        return CopyInfo(path: resolved, exists: true, isDir: (st.st_mode & S_IFMT) == S_IFDIR, rebaseName: rebaseName)
    }

    static func evalSymlinks(_ path: String) throws -> String {
        guard let p = realpath(path, nil) else { throw CLIError("lstat \(GoPath.clean(path)): \(LocalArchive.errnoText())") }
        defer { free(p) }
        return String(cString: p)
    }

    static func getRebaseName(_ path: String, _ resolved0: String) -> (String, String) {
        var resolved = resolved0, rebaseName = ""
        if GoPath.specifiesCurrentDir(path) && !GoPath.specifiesCurrentDir(resolved) { resolved += "/." }
        if GoPath.hasTrailingSeparator(path) && !GoPath.hasTrailingSeparator(resolved) { resolved += "/" }
        if GoPath.base(path) != GoPath.base(resolved) { rebaseName = GoPath.base(path) }
        return (resolved, rebaseName)
    }

    static func copyInfoDestinationPath(_ path0: String) throws -> CopyInfo {
        var path = path0
        var st = stat()
        var rc = lstat(path, &st)
        if rc == 0 && (st.st_mode & S_IFMT) != S_IFLNK {
            return CopyInfo(path: path, exists: true, isDir: (st.st_mode & S_IFMT) == S_IFDIR)
        }
        var n = 0
        while rc == 0 && (st.st_mode & S_IFMT) == S_IFLNK {
            if n > 10 { throw CLIError("too many symlinks in \(path0)") }
            n += 1
            var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let len = readlink(path, &buf, Int(PATH_MAX))
            guard len >= 0 else { throw CLIError("readlink \(path): \(LocalArchive.errnoText())") }
            var target = String(decoding: buf[0..<len].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !GoPath.isAbs(target) { target = GoPath.join(GoPath.splitPathDirEntry(path).0, target) }
            path = target
            rc = lstat(path, &st)
        }
        if rc != 0 {
            guard errno == ENOENT else { throw CLIError("lstat \(path): \(LocalArchive.errnoText())") }
            let parent = GoPath.splitPathDirEntry(path).0
            var pst = stat()
            guard stat(parent, &pst) == 0 else { throw CLIError("stat \(parent): \(LocalArchive.errnoText())") }
            guard (pst.st_mode & S_IFMT) == S_IFDIR else { throw CLIError("not a directory") }
            return CopyInfo(path: path)
        }
        return CopyInfo(path: path, exists: true, isDir: (st.st_mode & S_IFMT) == S_IFDIR)
    }

    /// The directory to extract into and how to rename the archive's entries.
    static func prepareArchiveCopy(_ src: CopyInfo, _ dst: CopyInfo) throws -> (String, LocalArchive.Rebase?) {
        let (dstDir, dstBase) = GoPath.splitPathDirEntry(dst.path)
        var srcBase = GoPath.splitPathDirEntry(src.path).1
        if !src.rebaseName.isEmpty { srcBase = src.rebaseName }
        if dst.exists && dst.isDir { return (dst.path, nil) }
        if dst.exists && src.isDir { throw CLIError("cannot copy directory") }
        if dst.exists || src.isDir { return (dstDir, LocalArchive.Rebase(srcBase, dstBase)) }
        if GoPath.hasTrailingSeparator(dst.path) || GoPath.specifiesCurrentDir(dst.path) { throw CLIError("no such directory") }
        return (dstDir, LocalArchive.Rebase(srcBase, dstBase))
    }
}

final class ByteCounter {
    var n: Int64 = 0
}

extension InputStream {
    /// The next chunk of input (at most `max` bytes); nil at EOF.
    func readChunk(max: Int = 256 << 10) -> [UInt8]? {
        if let d = data {
            guard !d.isEmpty else { return nil }
            let n = Swift.min(max, d.count)
            data = Array(d[n...])
            return Array(d[..<n])
        }
        var buf = [UInt8](repeating: 0, count: max)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, max) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            return Array(buf[0..<n])
        }
    }
}
