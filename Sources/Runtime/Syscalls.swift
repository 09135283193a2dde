import CBerthShim
import Foundation
import OCI

/// The file-system and process syscalls the runtime's logic needs, behind a protocol so that logic
/// (cgroup paths and values, state handling) can be tested without root against a fake.
public protocol SystemInterface: Sendable {
    func readFile(_ path: String) throws -> String
    func writeFile(_ path: String, _ contents: String) throws
    func mkdirAll(_ path: String, mode: mode_t) throws
    func removeDirectory(_ path: String) throws
    func exists(_ path: String) -> Bool
    /// `f_type` of the file system holding `path` (statfs), nil if it cannot be stat'ed.
    func fileSystemType(_ path: String) -> Int?
    func listDirectory(_ path: String) throws -> [String]
    /// Loads a cgroup device eBPF program and attaches it to the cgroup v2 directory `dir`.
    func attachDeviceFilter(_ program: [UInt8], cgroup dir: String) throws
}

extension SystemInterface {
    /// Fakes have nothing to attach to.
    public func attachDeviceFilter(_ program: [UInt8], cgroup dir: String) throws {}
}

/// The real thing.
public struct LinuxSystem: SystemInterface {
    public init() {}
    public func readFile(_ path: String) throws -> String {
        guard let b = FileIO.readBytes(path) else {
            throw BerthError(errno == ENOENT ? .notFound : .internalError, "read \(path): \(FileIO.errorString(errno))")
        }
        return String(decoding: b, as: UTF8.self)
    }
    public func writeFile(_ path: String, _ contents: String) throws { try FileIO.write(path, contents) }
    public func mkdirAll(_ path: String, mode: mode_t) throws { try FileIO.mkdirAll(path, mode: mode) }
    public func removeDirectory(_ path: String) throws {
        if rmdir(path) != 0 && errno != ENOENT {
            throw BerthError(.internalError, "rmdir \(path): \(FileIO.errorString(errno))")
        }
    }
    public func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
    public func fileSystemType(_ path: String) -> Int? {
        let t = berth_fs_type(path)
        return t < 0 ? nil : Int(t)
    }
    public func attachDeviceFilter(_ program: [UInt8], cgroup dir: String) throws {
        try DeviceFilter.attach(program, cgroup: dir)
    }
    public func listDirectory(_ path: String) throws -> [String] {
        guard let d = opendir(path) else { throw BerthError(.notFound, "open directory \(path): \(FileIO.errorString(errno))") }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: &e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

/// Small, fast file helpers on raw syscalls (the runtime's hot path avoids Foundation file APIs).
public enum FileIO {
    /// Go-style error text for an errno ("no such file or directory").
    public static func errorString(_ e: Int32) -> String {
        var s = String(cString: strerror(e))
        if let f = s.first, f.isUppercase, s.dropFirst().first?.isUppercase != true {
            s = f.lowercased() + s.dropFirst()
        }
        return s
    }

    public static func readBytes(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // Sized from fstat (proc and cgroup files report 0: start small): a fixed 64 KiB buffer
        // cost a dozen page faults per read on the container-start path.
        var st = stat()
        var size = fstat(fd, &st) == 0 && st.st_size > 0 ? Int(st.st_size) + 1 : 4096
        var out = [UInt8](repeating: 0, count: size)
        var used = 0
        while true {
            if used == size {
                size *= 2
                out.append(contentsOf: repeatElement(0, count: size - used))
            }
            let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + used, size - used) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            used += n
        }
        out.removeSubrange(used...)
        return out
    }

    public static func readString(_ path: String) -> String? {
        readBytes(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Writes (truncating, creating with `mode`) in one write(2) — what cgroup and proc files need.
    public static func write(_ path: String, _ contents: String, mode: mode_t = 0o644, create: Bool = false) throws {
        let flags = O_WRONLY | O_CLOEXEC | (create ? (O_CREAT | O_TRUNC) : 0)
        let fd = open(path, flags, mode)
        guard fd >= 0 else {
            let e = errno
            throw BerthError(e == ENOENT ? .notFound : .internalError, "open \(path): \(errorString(e))")
        }
        defer { close(fd) }
        var c = contents
        let r = c.withUTF8 { Glibc.write(fd, $0.baseAddress, $0.count) }
        if r < 0 {
            let e = errno
            throw BerthError(.internalError, "write \(path): \(errorString(e))", cause: SendableErrorBox(POSIXErrorBox(code: e)))
        }
    }

    public static func writeAtomically(_ path: String, bytes: [UInt8], mode: mode_t = 0o600) throws {
        let tmp = path + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw BerthError(.internalError, "create \(tmp): \(errorString(errno))") }
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard n == bytes.count, rename(tmp, path) == 0 else {
            unlink(tmp)
            throw BerthError(.internalError, "write \(path): \(errorString(errno))")
        }
    }

    public static func mkdirAll(_ path: String, mode: mode_t) throws {
        if mkdir(path, mode) == 0 || errno == EEXIST { return }
        guard errno == ENOENT else { throw BerthError(.internalError, "mkdir \(path): \(errorString(errno))") }
        var parent = path
        while parent.count > 1 && parent.hasSuffix("/") { parent.removeLast() }
        if let slash = parent.lastIndex(of: "/"), slash != parent.startIndex {
            try mkdirAll(String(parent[..<slash]), mode: mode)
        }
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw BerthError(.internalError, "mkdir \(path): \(errorString(errno))")
        }
    }

    /// Removes a directory tree (no symlink following).
    public static func removeAll(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            if let names = try? LinuxSystem().listDirectory(path) {
                for n in names { removeAll(path + "/" + n) }
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    public static func isDirectory(_ path: String) -> Bool? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }
}

/// An errno as an Error.
public struct POSIXErrorBox: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var description: String { FileIO.errorString(code) }
}
