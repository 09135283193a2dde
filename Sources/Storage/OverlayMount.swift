#if canImport(Glibc)
import Glibc
#endif
import CLinuxFS
import Foundation
import OCI

/// Mounts overlays whose lower dirs would not fit in mount(2)'s one page of options.
///
/// With absolute snapshot paths (~110 bytes each) a rootfs of more than ~35 layers overflows the
/// page and the mount fails. As Docker's overlay2 does with its `l/` directory, each lower dir gets a
/// short symlink (`<linkDir>/0`, `1`, …, topmost first) and the mount runs with `linkDir` as its
/// working directory, naming the lowers relatively (`lowerdir=0:1:2…`): ~3 bytes per layer, so
/// overlayfs' own limit (500 layers) is reached long before the page is full. The working directory
/// is changed on a dedicated thread with its own file-system attributes (never the process').
public enum OverlayMount {
    /// Mounts `lowers` (topmost first) + `upper`/`work` at `target`, (re)creating the links in `linkDir`.
    /// Asks for `redirect_dir=off,metacopy=off` (retrying without on kernels that do not know them), so
    /// the upper dir always holds whole files and real directories: commits and diffs read it directly.
    ///
    /// `volatile`: no syncs of the upper file system, also not at unmount (which otherwise syncs the
    /// whole upper file system: ~100 ms on a busy disk). Only for upper dirs that are thrown away
    /// afterwards (`--rm` containers, as Podman does); tried first, then without on older kernels.
    public static func mount(lowers: [String], upper: String, work: String, target: String, linkDir: String,
                             volatile: Bool = false) throws {
        guard !lowers.isEmpty else { throw BerthError(.invalidArgument, "an overlay needs at least one lower directory") }
        try makeLinks(lowers, in: linkDir)
        let base = "lowerdir=" + lowers.indices.map(String.init).joined(separator: ":") + ",upperdir=\(upper),workdir=\(work)"
        var lastError: Int32 = 0
        let attempts = [base + ",redirect_dir=off,metacopy=off", base]
        for data in (volatile ? attempts.map { $0 + ",volatile" } : []) + attempts {
            guard data.utf8.count < Int(getpagesize()) else {
                throw BerthError(.invalidArgument, "too many layers for an overlay mount (\(lowers.count))")
            }
            if berth_mount_in_dir(linkDir, "overlay", target, "overlay", 0, data) == 0 { return }
            lastError = errno
            if lastError != EINVAL { break }
        }
        throw BerthError(.internalError, "error mounting overlay at \(target): \(String(cString: strerror(lastError)))")
    }

    /// `linkDir` holding exactly `0 -> lowers[0]`, `1 -> lowers[1]`, ….
    static func makeLinks(_ lowers: [String], in linkDir: String) throws {
        if FS.exists(linkDir) { try FS.removeTree(linkDir) }
        if mkdir(linkDir, 0o700) != 0 { throw FS.error("mkdir", linkDir) }
        for (i, dir) in lowers.enumerated() where symlink(dir, linkDir + "/\(i)") != 0 {
            throw FS.error("symlink", linkDir + "/\(i)")
        }
    }
}
