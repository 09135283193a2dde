import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OCI

extension RegistryClient {
    /// Streams a blob to `consumer`, in order, one chunk at a time (the consumer's awaiting is the backpressure).
    ///
    /// Redirects to other hosts are followed without the registry's `Authorization`. A broken connection, a timeout
    /// or a 5xx is retried (up to `maxRetries` times in a row without progress, with backoff), resuming with
    /// `Range: bytes=N-` so the consumer sees one seamless stream; a server that ignores the range has the first N
    /// bytes skipped. Returns only once size and digest are verified; a mismatch throws `.dataCorrupted`
    /// (the consumer has then seen bad bytes and must discard them).
    public func fetchBlob(_ ref: Reference, descriptor: Descriptor, credential: RegistryCredential? = nil,
                          consumer: @escaping @Sendable (ByteBuffer) async throws -> Void) async throws {
        try await fetchBlob(ref, descriptor: descriptor, credential: credential, kind: "filesystem layer", consumer: consumer)
    }

    func fetchBlob(_ ref: Reference, descriptor: Descriptor, credential: RegistryCredential?, kind: String,
                   consumer: @escaping @Sendable (ByteBuffer) async throws -> Void) async throws {
        let auth = AuthContext(domain: ref.domain, explicit: credential, scopes: [Self.pullScope(ref)])
        let progress = BlobProgress(expected: descriptor, kind: kind)
        do {
            try await withEndpoints(domain: ref.domain) { ep in
                try await fetchBlob(ref, descriptor: descriptor, on: ep, auth: auth, progress: progress, consumer: consumer)
            }
        } catch let f as ConsumerFailure {
            throw f.error
        }
    }

    /// Fetches a small blob (an image config) whole, verified.
    public func fetchBlobBytes(_ ref: Reference, descriptor: Descriptor, credential: RegistryCredential? = nil) async throws -> [UInt8] {
        guard descriptor.size <= 64 << 20 else {
            throw BerthError(.invalidArgument, "blob \(descriptor.digest) is too large (\(descriptor.size) bytes) to fetch into memory")
        }
        let box = ByteBox()
        try await fetchBlob(ref, descriptor: descriptor, credential: credential, kind: "image config") { chunk in
            box.append(chunk)
        }
        return box.bytes
    }

    /// Bytes delivered so far and the running hash, kept across retries and endpoints.
    final class BlobProgress: @unchecked Sendable {
        let expected: Descriptor
        /// "filesystem layer" or "image config", for Docker's verification messages.
        let kind: String
        var hasher = DigestHasher()
        var offset: Int64 = 0
        init(expected: Descriptor, kind: String) {
            self.expected = expected
            self.kind = kind
        }
    }

    func fetchBlob(_ ref: Reference, descriptor: Descriptor, on ep: Endpoint, auth: AuthContext, progress: BlobProgress,
                   consumer: @escaping @Sendable (ByteBuffer) async throws -> Void) async throws {
        let path = "/v2/\(ref.path)/blobs/\(descriptor.digest)"
        var failures = 0
        var lastFailure = ""
        while true {
            let startOffset = progress.offset
            do {
                try await fetchBlobAttempt(path: path, ref: ref, on: ep, auth: auth, progress: progress, consumer: consumer)
                return try verify(progress)
            } catch let e as RetryableFailure {
                lastFailure = e.description
            }
            // Progress resets the count: only consecutive fruitless attempts are limited.
            if progress.offset > startOffset { failures = 0 }
            failures += 1
            guard failures <= ep.maxRetries else {
                throw BerthError(.unavailable, "failed to fetch blob \(descriptor.digest) from \(ref.familiarName) after \(failures) attempts: \(lastFailure)")
            }
            logger.info("blob download interrupted, resuming", metadata: [
                "digest": "\(descriptor.digest)", "offset": "\(progress.offset)", "error": "\(lastFailure)",
            ])
            try await Task.sleep(for: backoff(failures - 1))
        }
    }

    private func verify(_ p: BlobProgress) throws {
        let got = p.hasher.finalize()
        guard got == p.expected.digest else {
            logger.error("blob content does not match its digest", metadata: ["expected": "\(p.expected.digest)", "got": "\(got)"])
            throw BerthError(.dataCorrupted, "\(p.kind) verification failed for digest \(p.expected.digest)")
        }
    }

    /// One GET of the blob from the current offset; throws `RetryableFailure` when it should be tried again.
    private func fetchBlobAttempt(path: String, ref: Reference, on ep: Endpoint, auth: AuthContext, progress: BlobProgress,
                                  consumer: @escaping @Sendable (ByteBuffer) async throws -> Void) async throws {
        let size = progress.expected.size
        var req = Request(path: path)
        req.followRedirects = true
        if progress.offset > 0 {
            req.headers.add(name: "Range", value: "bytes=\(progress.offset)-")
        }
        let resp = try await send(req, on: ep, auth: auth)
        let code = Int(resp.status.code)
        var skip: Int64 = 0
        switch code {
        case 200:
            skip = progress.offset
        case 206:
            let start = Self.contentRangeStart(resp.headers.first(name: "Content-Range"))
            guard let start, start <= progress.offset else {
                await Self.drain(resp)
                throw BerthError(.unavailable, "registry answered a range request for blob \(progress.expected.digest) with an unusable Content-Range \(resp.headers.first(name: "Content-Range") ?? "(none)")")
            }
            skip = progress.offset - start
        case 416 where size >= 0 && progress.offset >= size:
            await Self.drain(resp)
            return
        case 416:
            // The registry holds fewer bytes than the descriptor promises: the blob is damaged, not the connection.
            await Self.drain(resp)
            throw BerthError(.dataCorrupted, "\(progress.kind) verification failed for digest \(progress.expected.digest)")
        case 429, 500...599:
            let e = await responseError(resp)
            throw RetryableFailure(description: "Get \"\(url(path, on: ep))\": \(e.description)")
        default:
            let e = await responseError(resp)
            if e.firstCode == "BLOB_UNKNOWN" || code == 404 {
                throw BerthError(.notFound, "blob \(progress.expected.digest) not found in \(ref.familiarName): \(e.description)")
            }
            throw e.pullError(ref)
        }
        do {
            for try await var chunk in resp.body {
                if skip > 0 {
                    let n = min(Int64(chunk.readableBytes), skip)
                    chunk.moveReaderIndex(forwardBy: Int(n))
                    skip -= n
                    if chunk.readableBytes == 0 { continue }
                }
                if size >= 0 && progress.offset + Int64(chunk.readableBytes) > size {
                    throw BerthError(.dataCorrupted, "\(progress.kind) verification failed for digest \(progress.expected.digest)")
                }
                chunk.withUnsafeReadableBytes { progress.hasher.update($0) }
                progress.offset += Int64(chunk.readableBytes)
                do {
                    try await consumer(chunk)
                } catch {
                    throw ConsumerFailure(error: error)
                }
            }
        } catch let e as BerthError {
            throw e
        } catch let e as ConsumerFailure {
            throw e
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw RetryableFailure(description: "reading blob \(progress.expected.digest): \(Self.describe(error))")
        }
        if size >= 0 && progress.offset < size {
            throw RetryableFailure(description: "reading blob \(progress.expected.digest): unexpected EOF after \(progress.offset) of \(size) bytes")
        }
    }

    /// The first byte position of `Content-Range: bytes START-END/TOTAL`.
    static func contentRangeStart(_ value: String?) -> Int64? {
        guard let value else { return nil }
        var v = Substring(value).trimmingCharacters(in: .whitespaces)[...]
        guard v.hasPrefix("bytes") else { return nil }
        v = v.dropFirst(5).drop(while: { $0 == " " || $0 == "=" })
        guard let dash = v.firstIndex(of: "-") else { return nil }
        return Int64(v[..<dash])
    }

    /// HEADs a blob: whether the repository has it (and its size).
    public func blobExists(_ ref: Reference, digest: Digest, credential: RegistryCredential? = nil, forPush: Bool = false) async throws -> Int64? {
        let auth = AuthContext(domain: ref.domain, explicit: credential, scopes: [forPush ? Self.pushScope(ref) : Self.pullScope(ref)])
        let candidates = forPush ? hosts.candidates(forDomain: ref.domain).filter { !$0.isMirror } : nil
        let body: (Endpoint) async throws -> Int64? = { ep in
            var req = Request(method: .HEAD, path: "/v2/\(ref.path)/blobs/\(digest)")
            req.followRedirects = true
            let resp = try await self.sendRetrying(req, on: ep, auth: auth)
            await Self.drain(resp)
            switch resp.status {
            case .ok: return resp.headers.first(name: "Content-Length").flatMap(Int64.init) ?? -1
            case .notFound: return nil
            default:
                throw RegistryAPIError.from(status: Int(resp.status.code), headers: resp.headers, body: [])
                    .berthError()
            }
        }
        if let c = candidates?.first { return try await body(try await endpoint(for: c)) }
        return try await withEndpoints(domain: ref.domain, body)
    }
}

/// Collects chunks from a sequential consumer.
final class ByteBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [UInt8] = []
    func append(_ b: ByteBuffer) {
        lock.lock()
        storage.append(contentsOf: b.readableBytesView)
        lock.unlock()
    }
    var bytes: [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        return storage
    }
}
