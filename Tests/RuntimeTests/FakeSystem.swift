import Foundation
import OCI
@testable import Runtime

/// An in-memory file system for cgroup logic tests (no root needed).
final class FakeSystem: SystemInterface, @unchecked Sendable {
    private let lock = NSLock()
    var files: [String: String] = [:]
    var dirs: Set<String> = ["/"]
    var writes: [(String, String)] = []
    var fsTypes: [String: Int] = [:]

    func readFile(_ path: String) throws -> String {
        try lock.withLock {
            guard let f = files[path] else { throw BerthError(.notFound, "read \(path)") }
            return f
        }
    }
    func writeFile(_ path: String, _ contents: String) throws {
        try lock.withLock {
            let parent = String(path[..<path.lastIndex(of: "/")!])
            guard dirs.contains(parent) else { throw BerthError(.notFound, "open \(path)") }
            files[path] = contents
            writes.append((path, contents))
        }
    }
    func mkdirAll(_ path: String, mode: mode_t) throws {
        lock.withLock {
            var p = ""
            for c in path.split(separator: "/") { p += "/" + c; dirs.insert(p) }
        }
    }
    func removeDirectory(_ path: String) throws { _ = lock.withLock { dirs.remove(path) } }
    func exists(_ path: String) -> Bool { lock.withLock { dirs.contains(path) || files[path] != nil } }
    func fileSystemType(_ path: String) -> Int? { lock.withLock { fsTypes[path] } }
    func listDirectory(_ path: String) throws -> [String] { [] }
}
