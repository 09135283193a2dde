#if canImport(Glibc)
import Glibc
#endif
import APIClient
import Foundation

/// `berth export` / `berth container export`: the container's filesystem as a tar, to stdout (never
/// a terminal) or atomically to `-o FILE` (a temporary file in the same directory, synced, made
/// 0600 and renamed; nothing is left behind on failure), as docker CLI 28 does.
enum ContainerExportCommand {
    static func export(bin: String) -> Command {
        Command("export [OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive",
                aliasLine: "\(bin) container export, \(bin) export",
                flags: [.string("output", "o", "Write to a file, instead of STDOUT")],
                args: .exact(1)) { inv in
            let output = inv.flags.string("output")
            if output.isEmpty && inv.out.isTerminal {
                throw CLIError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
            }
            if !output.isEmpty {
                if let problem = validateDestination(output) { throw CLIError("failed to export container: " + problem) }
            }
            let reader = try inv.client().exportContainer(inv.args[0])
            defer { reader.close() }
            if output.isEmpty {
                while let b = try reader.next() { inv.out.write(b.readableBytesView) }
                inv.out.flush()
                return
            }
            try writeAtomically(output) { fd in
                while var b = try reader.next() {
                    try b.readWithUnsafeReadableBytes { raw in
                        var off = 0
                        while off < raw.count {
                            let n = write(fd, raw.baseAddress! + off, raw.count - off)
                            if n < 0 {
                                if errno == EINTR { continue }
                                throw CLIError("write \(output): \(LocalArchive.errnoText())")
                            }
                            off += n
                        }
                        return raw.count
                    }
                }
            }
        }
    }

    /// moby/sys/atomicwriter's `validateDestination`, in its words; nil when `path` may be written.
    static func validateDestination(_ path: String) -> String? {
        let dir = GoPath.dir(path)
        var st = stat()
        if !dir.isEmpty && dir != "." {
            if stat(dir, &st) != 0 { return "invalid output path: stat \(dir): \(LocalArchive.errnoText())" }
            if (st.st_mode & S_IFMT) != S_IFDIR { return "invalid output path: stat \(dir): not a directory" }
        }
        guard lstat(path, &st) == 0 else {
            return errno == ENOENT ? nil : "failed to stat output path: lstat \(path): \(LocalArchive.errnoText())"
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "cannot write to a directory"
        case S_IFLNK: return "cannot write to a symbolic link directly"
        case S_IFIFO: return "cannot write to a named pipe (FIFO)"
        case S_IFSOCK: return "cannot write to a socket"
        case S_IFCHR: return "cannot write to a character device file"
        default: return "cannot write to a block device file"
        }
    }

    /// Writes `path` through a temporary sibling renamed over it once `body` succeeded.
    static func writeAtomically(_ path: String, _ body: (Int32) throws -> Void) throws {
        let dir = GoPath.dir(path)
        var template = Array((dir + "/.tmp-" + GoPath.base(path) + "XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw CLIError("open \(path): \(LocalArchive.errnoText())") }
        let tmp = String(cString: template)
        var open = true
        do {
            try body(fd)
            if fsync(fd) != 0 || fchmod(fd, 0o600) != 0 { throw CLIError("write \(path): \(LocalArchive.errnoText())") }
            close(fd)
            open = false
            if rename(tmp, path) != 0 { throw CLIError("rename \(tmp) \(path): \(LocalArchive.errnoText())") }
        } catch {
            if open { close(fd) }
            unlink(tmp)
            throw error
        }
    }
}
