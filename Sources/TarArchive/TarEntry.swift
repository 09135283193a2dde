#if canImport(Glibc)
import Glibc
#endif
import CArchive

/// One tar header (a libarchive `archive_entry`): read from a ``TarReader`` (borrowed, valid until
/// the reader moves on) or built for a ``TarWriter`` (owned). Names are read in the thread's locale
/// when libarchive can convert them, else as the header's UTF-8, and set in the thread's locale
/// (see ``withUTF8Locale(_:)``).
public final class TarEntry {
    /// The libarchive entry, for the calls this type does not wrap.
    public let pointer: OpaquePointer
    private let owned: Bool

    /// File type bits (`st_mode & S_IFMT`), as in `archive_entry_filetype`. libarchive's `AE_IF*`
    /// macros carry casts Swift cannot import.
    public enum FileType {
        public static let mask: mode_t = 0o170000
        public static let regular: mode_t = 0o100000
        public static let symlink: mode_t = 0o120000
        public static let socket: mode_t = 0o140000
        public static let character: mode_t = 0o020000
        public static let block: mode_t = 0o060000
        public static let directory: mode_t = 0o040000
        public static let fifo: mode_t = 0o010000
    }

    /// An empty entry to fill and write.
    public init() throws {
        guard let e = archive_entry_new() else {
            throw TarArchiveError(operation: "", detail: "libarchive: out of memory", code: ENOMEM)
        }
        pointer = e
        owned = true
    }

    /// Wraps an entry libarchive owns (a reader's current header).
    public init(borrowing pointer: OpaquePointer) {
        self.pointer = pointer
        owned = false
    }

    deinit { if owned { archive_entry_free(pointer) } }

    /// A header for a file as moby's `FileInfoHeader` makes it from `lstat`: `name` (a directory's
    /// with a trailing `/`), permission bits, numeric owners, mtime truncated to seconds (no
    /// atime/ctime), type, device numbers, and the size of a regular file. A symlink's target, hard
    /// links (``TarHardLinks``) and xattrs are the caller's.
    public convenience init(name: String, stat st: stat) throws {
        try self.init()
        let type = st.st_mode & S_IFMT
        self.name = type == S_IFDIR && !name.hasSuffix("/") ? name + "/" : name
        perm = mode_t(st.st_mode & 0o7777)
        uid = Int64(st.st_uid)
        gid = Int64(st.st_gid)
        archive_entry_set_mtime(pointer, time_t(st.st_mtim.tv_sec), 0)
        self.type = type
        if type == S_IFCHR || type == S_IFBLK { archive_entry_set_rdev(pointer, st.st_rdev) }
        size = type == S_IFREG ? Int64(st.st_size) : 0
    }

    private static func text(_ mbs: UnsafePointer<CChar>?, _ utf8: UnsafePointer<CChar>?) -> String? {
        (mbs ?? utf8).map { String(cString: $0) }
    }

    /// The entry's path as stored in the header.
    public var name: String? {
        get { Self.text(archive_entry_pathname(pointer), archive_entry_pathname_utf8(pointer)) }
        set { archive_entry_copy_pathname(pointer, newValue) }
    }

    /// The target of a hard link entry (nil for other entries).
    public var hardlink: String? {
        get { Self.text(archive_entry_hardlink(pointer), archive_entry_hardlink_utf8(pointer)) }
        set { archive_entry_copy_hardlink(pointer, newValue) }
    }

    /// The target of a symlink entry.
    public var symlink: String? {
        get { Self.text(archive_entry_symlink(pointer), archive_entry_symlink_utf8(pointer)) }
        set { archive_entry_copy_symlink(pointer, newValue) }
    }

    /// File type bits (``FileType``).
    public var type: mode_t {
        get { archive_entry_filetype(pointer) & FileType.mask }
        set { archive_entry_set_filetype(pointer, newValue) }
    }

    /// Permission bits, setuid/setgid/sticky included.
    public var perm: mode_t {
        get { archive_entry_perm(pointer) & 0o7777 }
        set { archive_entry_set_perm(pointer, newValue) }
    }

    public var uid: Int64 {
        get { archive_entry_uid(pointer) }
        set { archive_entry_set_uid(pointer, newValue) }
    }

    public var gid: Int64 {
        get { archive_entry_gid(pointer) }
        set { archive_entry_set_gid(pointer, newValue) }
    }

    /// Bytes of data following the header (0 for links and special files).
    public var size: Int64 {
        get { archive_entry_size(pointer) }
        set { archive_entry_set_size(pointer, newValue) }
    }

    /// Whether the header carries a size at all.
    public var hasSize: Bool { archive_entry_size_is_set(pointer) != 0 }

    /// Modification time; nil when the header has none.
    public var mtime: timespec? {
        get { time(archive_entry_mtime_is_set, archive_entry_mtime, archive_entry_mtime_nsec) }
        set {
            if let t = newValue { archive_entry_set_mtime(pointer, t.tv_sec, t.tv_nsec) } else { archive_entry_unset_mtime(pointer) }
        }
    }

    /// Access time; nil when the header has none.
    public var atime: timespec? {
        get { time(archive_entry_atime_is_set, archive_entry_atime, archive_entry_atime_nsec) }
        set {
            if let t = newValue { archive_entry_set_atime(pointer, t.tv_sec, t.tv_nsec) } else { archive_entry_unset_atime(pointer) }
        }
    }

    private func time(_ isSet: (OpaquePointer?) -> Int32, _ sec: (OpaquePointer?) -> time_t,
                      _ nsec: (OpaquePointer?) -> Int) -> timespec? {
        isSet(pointer) != 0 ? timespec(tv_sec: sec(pointer), tv_nsec: nsec(pointer)) : nil
    }

    /// Device numbers of a character or block device entry.
    public var device: (major: UInt32, minor: UInt32) {
        (UInt32(truncatingIfNeeded: archive_entry_rdevmajor(pointer)), UInt32(truncatingIfNeeded: archive_entry_rdevminor(pointer)))
    }

    /// Adds an extended attribute (a `SCHILY.xattr.<name>` PAX record).
    public func addXattr(_ name: String, _ value: [UInt8]) {
        value.withUnsafeBytes { archive_entry_xattr_add_entry(pointer, name, $0.baseAddress, $0.count) }
    }

    /// Calls `body` with each extended attribute's name and raw value (pointers valid during the call).
    public func forEachXattr(_ body: (UnsafePointer<CChar>, UnsafeRawBufferPointer) throws -> Void) rethrows {
        guard archive_entry_xattr_reset(pointer) > 0 else { return }
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while archive_entry_xattr_next(pointer, &name, &value, &size) == ARCHIVE_OK {
            guard let name else { continue }
            try body(name, UnsafeRawBufferPointer(start: value, count: size))
        }
    }
}

/// moby's hard link detection for a tar of a tree: the first name written for each inode with more
/// than one link is remembered; later names of the same inode become hard links to it (no data).
public struct TarHardLinks {
    private struct Inode: Hashable {
        var dev: UInt64
        var ino: UInt64
    }

    private var seen: [Inode: String] = [:]

    public init() {}

    /// Turns `entry` (made from `st`, not a directory) into a hard link to the inode's first name if
    /// there was one; records `entry`'s name otherwise.
    public mutating func link(_ entry: TarEntry, _ st: stat) {
        guard (st.st_mode & S_IFMT) != S_IFDIR, st.st_nlink > 1, let name = entry.name else { return }
        let id = Inode(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
        if let first = seen[id] {
            entry.hardlink = first
            entry.size = 0
        } else {
            seen[id] = name
        }
    }
}
