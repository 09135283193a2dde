#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Storage

/// One entry of a `json-file` log.
public struct ContainerLogEntry: Sendable, Equatable {
    public var stream: String
    public var log: [UInt8]
    /// As written (`2026-…T…​.123456789Z`).
    public var time: String
    public var nanos: Int64
    /// The entry's `attrs` (labels/env log opts), shown by `logs --details`.
    public var attrs: [String: String]? = nil

    /// The 8-byte multiplexed frame header (stdout 1, stderr 2) + payload. `details` prefixes the
    /// attrs as moby does (`k=v,k2=v2 `, query-escaped, sorted; a lone space without attrs).
    public func frame(timestamps: Bool, multiplexed: Bool, details: Bool = false) -> [UInt8] {
        var payload = log
        if details { payload = Array((ContainerLogs.detailsPrefix(attrs) + " ").utf8) + payload }
        if timestamps { payload = Array((time + " ").utf8) + payload }
        guard multiplexed else { return payload }
        let n = UInt32(payload.count)
        let id: UInt8 = stream == "stderr" ? 2 : 1
        return [id, 0, 0, 0, UInt8(n >> 24), UInt8((n >> 16) & 0xff), UInt8((n >> 8) & 0xff), UInt8(n & 0xff)] + payload
    }
}

/// Reading Docker's `json-file` logs (written by berth-monitor).
public enum ContainerLogs {
    private struct Line: Decodable {
        var log: String
        var stream: String
        var time: String
        var attrs: [String: String]?
    }

    /// moby's `attrsByteSlice`: sorted `url.QueryEscape(k)=url.QueryEscape(v)` joined by commas.
    static func detailsPrefix(_ attrs: [String: String]?) -> String {
        func esc(_ s: String) -> String {
            var out = ""
            for b in s.utf8 {
                switch b {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                     UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                    out.unicodeScalars.append(UnicodeScalar(b))
                case UInt8(ascii: " "): out += "+"
                default: out += String(format: "%%%02X", b)
                }
            }
            return out
        }
        return (attrs ?? [:]).sorted { $0.key < $1.key }.map { esc($0.key) + "=" + esc($0.value) }.joined(separator: ",")
    }

    public static func parse(_ line: some Collection<UInt8>) -> ContainerLogEntry? {
        guard let l = try? JSONDecoder().decode(Line.self, from: Data(line)) else { return nil }
        let st = RFC3339.parseStamp(l.time)
        let nanos = st.map { $0.seconds * 1_000_000_000 + Int64($0.nanos) } ?? 0
        return ContainerLogEntry(stream: l.stream, log: Array(l.log.utf8), time: l.time, nanos: nanos, attrs: l.attrs)
    }

    /// Every entry of the log's rotated files (oldest first), not the current file.
    public static func readRotated(_ path: String) -> [ContainerLogEntry] {
        var files: [String] = []
        var i = 1
        while FileManager.default.fileExists(atPath: "\(path).\(i)") { files.insert("\(path).\(i)", at: 0); i += 1 }
        var out: [ContainerLogEntry] = []
        for f in files {
            guard let data = FileManager.default.contents(atPath: f) else { continue }
            for line in data.split(separator: 0x0A) { if let e = parse(line) { out.append(e) } }
        }
        return out
    }

    /// Follows a log file from an offset: complete new lines since the last call. The file is kept
    /// open (as Docker's reader does), so what was written before the container was removed, or
    /// before a rotation, is still read; a rotation (new inode at `path`) switches to the new file
    /// once the old one is drained.
    public final class Follower: @unchecked Sendable {
        let path: String
        var fd: Int32 = -1
        var offset: UInt64 = 0
        var inode: UInt64 = 0
        var partial: [UInt8] = []

        public init(path: String, atEnd: Bool = false) {
            self.path = path
            if open() {
                var st = stat()
                if atEnd && fstat(fd, &st) == 0 { offset = UInt64(st.st_size) }
            }
        }

        deinit { if fd >= 0 { close(fd) } }

        private func open() -> Bool {
            let f = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard f >= 0 else { return false }
            var st = stat()
            guard fstat(f, &st) == 0 else { close(f); return false }
            if fd >= 0 { close(fd) }
            fd = f
            inode = UInt64(st.st_ino)
            offset = 0
            partial = []
            return true
        }

        public func poll() -> [ContainerLogEntry] {
            if fd < 0 && !open() { return [] }
            var out = drain()
            var st = stat()
            if stat(path, &st) == 0 && UInt64(st.st_ino) != inode && open() {
                out += drain()
            } else if fstat(fd, &st) == 0 && UInt64(st.st_size) < offset {
                offset = 0  // truncated in place (max-file 1)
                partial = []
                out += drain()
            }
            return out
        }

        /// Complete lines from `offset` to the end of the open file.
        private func drain() -> [ContainerLogEntry] {
            var data: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 65536, off_t(offset)) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                data += buf[0..<n]
                offset += UInt64(n)
            }
            guard !data.isEmpty else { return [] }
            var bytes = partial + data
            var out: [ContainerLogEntry] = []
            var start = bytes.startIndex
            while let nl = bytes[start...].firstIndex(of: 0x0A) {
                if let e = ContainerLogs.parse(bytes[start..<nl]) { out.append(e) }
                start = nl + 1
            }
            bytes.removeSubrange(..<start)
            partial = bytes
            return out
        }
    }
}
