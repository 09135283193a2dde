#if canImport(Glibc)
import Glibc
#endif
import CArchive
import Foundation
@testable import Storage

/// Builds layer tars in memory with libarchive's writer, for tests.
struct TarBuilder {
    enum Kind {
        case file(String)
        case bytes([UInt8])
        case dir
        case symlink(String)
        case hardlink(String)
        case charDevice(UInt32, UInt32)
        case blockDevice(UInt32, UInt32)
        case fifo
    }

    struct Entry {
        var path: String
        var kind: Kind
        var mode: UInt32 = 0o644
        var uid: Int64 = 0
        var gid: Int64 = 0
        var mtime: Int = 1_600_000_000
        var xattrs: [String: [UInt8]] = [:]
    }

    var entries: [Entry] = []

    mutating func file(_ path: String, _ content: String, mode: UInt32 = 0o644, uid: Int64 = 0, gid: Int64 = 0, mtime: Int = 1_600_000_000, xattrs: [String: [UInt8]] = [:]) {
        entries.append(Entry(path: path, kind: .file(content), mode: mode, uid: uid, gid: gid, mtime: mtime, xattrs: xattrs))
    }
    mutating func dir(_ path: String, mode: UInt32 = 0o755, uid: Int64 = 0, gid: Int64 = 0, mtime: Int = 1_600_000_000) {
        entries.append(Entry(path: path, kind: .dir, mode: mode, uid: uid, gid: gid, mtime: mtime))
    }
    mutating func symlink(_ path: String, to target: String) {
        entries.append(Entry(path: path, kind: .symlink(target), mode: 0o777))
    }
    mutating func hardlink(_ path: String, to target: String) {
        entries.append(Entry(path: path, kind: .hardlink(target)))
    }
    mutating func add(_ e: Entry) { entries.append(e) }

    enum Filter { case none, gzip, zstd }

    /// The tar, optionally compressed by libarchive.
    func build(_ filter: Filter = .none) throws -> [UInt8] {
        let a = archive_write_new()!
        defer { archive_write_free(a) }
        archive_write_set_format_pax_restricted(a)
        switch filter {
        case .none: archive_write_add_filter_none(a)
        case .gzip: archive_write_add_filter_gzip(a)
        case .zstd: archive_write_add_filter_zstd(a)
        }
        archive_write_set_bytes_in_last_block(a, 1)
        let capacity = 64 << 20
        let buf = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buf.deallocate() }
        var used = 0
        guard archive_write_open_memory(a, buf, capacity, &used) == ARCHIVE_OK else { throw err(a) }
        for e in entries {
            let entry = archive_entry_new()!
            defer { archive_entry_free(entry) }
            archive_entry_set_pathname(entry, e.path)
            archive_entry_set_uid(entry, e.uid)
            archive_entry_set_gid(entry, e.gid)
            archive_entry_set_mtime(entry, e.mtime, 0)
            var data: [UInt8] = []
            switch e.kind {
            case .file(let s):
                data = Array(s.utf8)
                archive_entry_set_filetype(entry, AEType.regular)
            case .bytes(let b):
                data = b
                archive_entry_set_filetype(entry, AEType.regular)
            case .dir: archive_entry_set_filetype(entry, AEType.dir)
            case .symlink(let t):
                archive_entry_set_filetype(entry, AEType.link)
                archive_entry_set_symlink(entry, t)
            case .hardlink(let t):
                archive_entry_set_filetype(entry, AEType.regular)
                archive_entry_set_hardlink(entry, t)
            case .charDevice(let ma, let mi):
                archive_entry_set_filetype(entry, AEType.char)
                archive_entry_set_rdevmajor(entry, dev_t(ma))
                archive_entry_set_rdevminor(entry, dev_t(mi))
            case .blockDevice(let ma, let mi):
                archive_entry_set_filetype(entry, AEType.block)
                archive_entry_set_rdevmajor(entry, dev_t(ma))
                archive_entry_set_rdevminor(entry, dev_t(mi))
            case .fifo: archive_entry_set_filetype(entry, AEType.fifo)
            }
            archive_entry_set_perm(entry, e.mode)
            archive_entry_set_size(entry, la_int64_t(data.count))
            for (k, v) in e.xattrs.sorted(by: { $0.key < $1.key }) {
                let bytes = v
                bytes.withUnsafeBytes { archive_entry_xattr_add_entry(entry, k, $0.baseAddress, bytes.count) }
            }
            guard archive_write_header(a, entry) >= ARCHIVE_WARN else { throw err(a) }
            if !data.isEmpty {
                let n = data.withUnsafeBytes { archive_write_data(a, $0.baseAddress, data.count) }
                guard n == data.count else { throw err(a) }
            }
        }
        guard archive_write_close(a) == ARCHIVE_OK else { throw err(a) }
        return Array(UnsafeRawBufferPointer(start: buf, count: used))
    }

    private func err(_ a: OpaquePointer) -> Error {
        TestError(archive_error_string(a).map { String(cString: $0) } ?? "libarchive error")
    }
}

/// Compresses raw bytes with libarchive's "raw" format (one gzip/zstd member), for multi-member tests.
func compressRaw(_ bytes: [UInt8], _ filter: TarBuilder.Filter) throws -> [UInt8] {
    let a = archive_write_new()!
    defer { archive_write_free(a) }
    archive_write_set_format_raw(a)
    switch filter {
    case .none: archive_write_add_filter_none(a)
    case .gzip: archive_write_add_filter_gzip(a)
    case .zstd: archive_write_add_filter_zstd(a)
    }
    archive_write_set_bytes_in_last_block(a, 1)
    let capacity = bytes.count * 2 + 65536
    let buf = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    defer { buf.deallocate() }
    var used = 0
    guard archive_write_open_memory(a, buf, capacity, &used) == ARCHIVE_OK else { throw TestError("open") }
    let entry = archive_entry_new()!
    defer { archive_entry_free(entry) }
    archive_entry_set_pathname(entry, "data")
    archive_entry_set_filetype(entry, AEType.regular)
    archive_entry_set_size(entry, la_int64_t(bytes.count))
    guard archive_write_header(a, entry) >= ARCHIVE_WARN else { throw TestError("header") }
    _ = bytes.withUnsafeBytes { archive_write_data(a, $0.baseAddress, bytes.count) }
    guard archive_write_close(a) == ARCHIVE_OK else { throw TestError("close") }
    return Array(UnsafeRawBufferPointer(start: buf, count: used))
}

struct TestError: Error, CustomStringConvertible {
    let description: String
    init(_ s: String) { description = s }
}

/// A scratch directory removed at the end of a test.
final class TempDir {
    let path: String
    init(_ name: String = "berth-test") throws {
        var template = Array("/tmp/\(name)-XXXXXX".utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { throw TestError("mkdtemp") }
        path = String(cString: p)
    }
    deinit { try? FS.removeTree(path) }
    func sub(_ name: String) -> String { path + "/" + name }
}

func lstatOf(_ path: String) -> stat? {
    var st = stat()
    return lstat(path, &st) == 0 ? st : nil
}

func readText(_ path: String) -> String? {
    (try? FS.readFile(path)).map { String(decoding: $0, as: UTF8.self) }
}

func writeBytes(_ path: String, _ bytes: [UInt8]) throws {
    try FS.writeAtomically(path, bytes, durable: false)
}

var isRoot: Bool { getuid() == 0 }

/// Deterministic incompressible bytes.
func noise(_ count: Int, seed: UInt64 = 42) -> [UInt8] {
    var x = seed | 1
    return (0..<count).map { _ in
        x ^= x << 13; x ^= x >> 7; x ^= x << 17
        return UInt8(truncatingIfNeeded: x)
    }
}
