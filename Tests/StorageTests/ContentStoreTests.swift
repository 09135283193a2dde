import Foundation
import OCI
import Testing
@testable import Storage

@Suite struct ContentStoreTests {
    @Test func ingestIsAtomicAndVerified() throws {
        let tmp = try TempDir()
        let store = try ContentStore(root: tmp.sub("content"))
        let bytes = Array("hello berth".utf8)
        let d = try store.write(bytes)
        #expect(d == Digest.sha256(bytes))
        #expect(store.contains(d))
        #expect(try store.read(d) == bytes)
        #expect(store.size(of: d) == Int64(bytes.count))
        #expect(FS.list(tmp.sub("content/ingest")).isEmpty)
    }

    @Test func digestMismatchStoresNothing() throws {
        let tmp = try TempDir()
        let store = try ContentStore(root: tmp.sub("content"))
        let wrong = Digest.sha256("something else")
        #expect(throws: BerthError.self) { try store.write(Array("data".utf8), expected: wrong) }
        #expect(!store.contains(wrong))
        #expect(store.list().isEmpty)

        let ingest = try store.beginIngest(expected: wrong)
        try Array("data".utf8).withUnsafeBytes { try ingest.write($0) }
        let error = #expect(throws: BerthError.self) { try ingest.commit() }
        #expect(error?.code == .dataCorrupted)
        #expect(store.list().isEmpty)
        #expect(FS.list(tmp.sub("content/ingest")).isEmpty)
    }

    @Test func sizeMismatchStoresNothing() throws {
        let tmp = try TempDir()
        let store = try ContentStore(root: tmp.sub("content"))
        let bytes = Array("data".utf8)
        let ingest = try store.beginIngest(expected: Digest.sha256(bytes), expectedSize: 99)
        try bytes.withUnsafeBytes { try ingest.write($0) }
        #expect(throws: BerthError.self) { try ingest.commit() }
        #expect(store.list().isEmpty)
    }

    @Test func abortedIngestLeavesNothing() throws {
        let tmp = try TempDir()
        let store = try ContentStore(root: tmp.sub("content"))
        let ingest = try store.beginIngest(expected: nil)
        try Array("partial".utf8).withUnsafeBytes { try ingest.write($0) }
        ingest.abort()
        #expect(FS.list(tmp.sub("content/ingest")).isEmpty)
        #expect(store.list().isEmpty)
    }

    @Test func concurrentIngestOfOneDigest() async throws {
        let tmp = try TempDir()
        let store = try ContentStore(root: tmp.sub("content"))
        let bytes = [UInt8](repeating: 7, count: 3 << 20)
        let digests = try await withThrowingTaskGroup(of: Digest.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    let ingest = try store.beginIngest(expected: Digest.sha256(bytes), expectedSize: Int64(bytes.count))
                    for chunk in stride(from: 0, to: bytes.count, by: 65536) {
                        try bytes[chunk..<min(chunk + 65536, bytes.count)].withUnsafeBytes { try ingest.write($0) }
                    }
                    return try ingest.commit()
                }
            }
            var out: [Digest] = []
            for try await d in group { out.append(d) }
            return out
        }
        try #require(digests.count == 8)
        #expect(Set(digests).count == 1)
        #expect(store.list().count == 1)
        #expect(try store.read(digests[0]) == bytes)
        #expect(FS.list(tmp.sub("content/ingest")).isEmpty)
    }

    @Test func staleIngestsAreRemoved() throws {
        let tmp = try TempDir()
        let store = try ContentStore(root: tmp.sub("content"))
        try writeBytes(tmp.sub("content/ingest/leftover"), Array("x".utf8))
        #expect(store.removeStaleIngests() == 1)
        #expect(FS.list(tmp.sub("content/ingest")).isEmpty)
    }

    @Test func damagedBlobIsDetectedOnRead() throws {
        let tmp = try TempDir()
        let store = try ContentStore(root: tmp.sub("content"))
        let d = try store.write(Array("original".utf8))
        try writeBytes(store.path(d), Array("tampered".utf8))
        let error = #expect(throws: BerthError.self) { try store.read(d) }
        #expect(error?.code == .dataCorrupted)
    }
}
