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

    /// The 8-byte multiplexed frame header (stdout 1, stderr 2) + payload.
    public func frame(timestamps: Bool, multiplexed: Bool) -> [UInt8] {
        let payload = timestamps ? Array((time + " ").utf8) + log : log
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
    }

    public static func parse(_ line: some Collection<UInt8>) -> ContainerLogEntry? {
        guard let l = try? JSONDecoder().decode(Line.self, from: Data(line)) else { return nil }
        let st = RFC3339.parseStamp(l.time)
        let nanos = st.map { $0.seconds * 1_000_000_000 + Int64($0.nanos) } ?? 0
        return ContainerLogEntry(stream: l.stream, log: Array(l.log.utf8), time: l.time, nanos: nanos)
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

    /// Follows a log file from an offset: complete new lines since the last call.
    public final class Follower: @unchecked Sendable {
        let path: String
        var offset: UInt64
        var inode: UInt64
        var partial: [UInt8] = []

        public init(path: String, atEnd: Bool = false) {
            self.path = path
            var st = stat()
            if stat(path, &st) == 0 {
                offset = atEnd ? UInt64(st.st_size) : 0
                inode = UInt64(st.st_ino)
            } else {
                offset = 0
                inode = 0
            }
        }

        public func poll() -> [ContainerLogEntry] {
            var st = stat()
            guard stat(path, &st) == 0 else { return [] }
            if UInt64(st.st_ino) != inode || UInt64(st.st_size) < offset {
                inode = UInt64(st.st_ino)
                offset = 0
                partial = []
            }
            guard UInt64(st.st_size) > offset, let h = FileHandle(forReadingAtPath: path) else { return [] }
            defer { try? h.close() }
            try? h.seek(toOffset: offset)
            let data = (try? h.readToEnd()) ?? Data()
            offset += UInt64(data.count)
            var bytes = partial + Array(data)
            var out: [ContainerLogEntry] = []
            while let nl = bytes.firstIndex(of: 0x0A) {
                if let e = ContainerLogs.parse(bytes[..<nl]) { out.append(e) }
                bytes.removeSubrange(...nl)
            }
            partial = bytes
            return out
        }
    }
}
