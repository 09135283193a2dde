import Foundation

/// A tiny blocking client over a unix socket for exercising the server byte by byte. Use it through
/// `offPool` so blocking reads never occupy the cooperative thread pool the server's handlers need.
final class RawClient: @unchecked Sendable {
    struct Response {
        var statusLine: String
        var headers: [String: String]  // lower-cased names
        var body: Data
        var status: Int { Int(statusLine.split(separator: " ")[1]) ?? 0 }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    let fd: CInt
    private var pending = Data()

    init(unixPath: String, timeout: Int = 5) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(unixPath.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard ok == 0 else {
            // No close here: every stored property is set, so a throw runs `deinit`, which closes
            // `fd`. Closing it here too closed whatever descriptor reused the number meanwhile
            // (another test's NIO server socket: a crash on EBADF in a parallel run).
            throw Failure(description: "connect \(unixPath): \(String(cString: strerror(errno)))")
        }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ text: String) throws { try send(Data(text.utf8)) }

    func send(_ data: Data) throws {
        var rest = data[...]
        while !rest.isEmpty {
            let n = rest.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw Failure(description: "write: \(String(cString: strerror(errno)))") }
            rest = rest.dropFirst(n)
        }
    }

    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Reads more bytes into `pending`; false on EOF.
    private func fill() throws -> Bool {
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = read(fd, &buf, buf.count)
        if n < 0 { throw Failure(description: "read: \(String(cString: strerror(errno)))") }
        if n == 0 { return false }
        pending.append(contentsOf: buf[0..<n])
        return true
    }

    func readUntil(_ marker: String) throws -> Data {
        let m = Data(marker.utf8)
        while true {
            if let r = pending.range(of: m) {
                let out = pending[..<r.upperBound]
                pending = Data(pending[r.upperBound...])
                return Data(out)
            }
            guard try fill() else { throw Failure(description: "EOF before \(marker.debugDescription); got \(String(decoding: pending, as: UTF8.self).debugDescription)") }
        }
    }

    func readExactly(_ count: Int) throws -> Data {
        while pending.count < count {
            guard try fill() else { throw Failure(description: "EOF after \(pending.count) of \(count) bytes") }
        }
        let out = pending.prefix(count)
        pending = Data(pending.dropFirst(count))
        return Data(out)
    }

    /// Everything until the server closes.
    func readToEOF() throws -> Data {
        while try fill() {}
        defer { pending = Data() }
        return pending
    }

    /// Bytes already received beyond what was consumed (after a short wait).
    func drainAvailable(waitMillis: Int32 = 200) -> Data {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if poll(&p, 1, waitMillis) > 0 { _ = try? fill() }
        defer { pending = Data() }
        return pending
    }

    func readHead() throws -> (String, [String: String]) {
        let head = String(decoding: try readUntil("\r\n\r\n"), as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        let status = lines.removeFirst()
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (status, headers)
    }

    func readResponse(head isHead: Bool = false) throws -> Response {
        let (status, headers) = try readHead()
        var body = Data()
        if isHead {
            return Response(statusLine: status, headers: headers, body: body)
        }
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            while true {
                let sizeLine = String(decoding: try readUntil("\r\n"), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                let size = Int(sizeLine, radix: 16) ?? 0
                if size == 0 {
                    _ = try readUntil("\r\n")
                    break
                }
                body.append(try readExactly(size))
                _ = try readExactly(2)
            }
        } else if let length = headers["content-length"].flatMap(Int.init) {
            body = try readExactly(length)
        }
        return Response(statusLine: status, headers: headers, body: body)
    }

    func request(_ method: String, _ path: String, body: Data? = nil, headers: [String: String] = [:]) throws -> Response {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: berth\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        if let body { text += "Content-Length: \(body.count)\r\n" }
        text += "\r\n"
        var data = Data(text.utf8)
        if let body { data.append(body) }
        try send(data)
        return try readResponse(head: method == "HEAD")
    }
}

/// Runs blocking work on its own thread.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// A fresh short temp directory (unix socket paths must stay under 108 bytes).
func shortTempDir(_ prefix: String = "bt") -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
}
