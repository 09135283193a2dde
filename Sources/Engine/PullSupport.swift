import Foundation
import OCI
import Storage

/// A counting semaphore for async code (download slots shared by all pulls, FIFO).
final class AsyncSemaphore: @unchecked Sendable {
    private let lock = NSLock()
    private var available: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) { available = count }

    /// Takes a slot if one is free now.
    func tryAcquire() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if available > 0 {
            available -= 1
            return true
        }
        return false
    }

    func acquire() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            lock.lock()
            if available > 0 {
                available -= 1
                lock.unlock()
                c.resume()
            } else {
                waiters.append(c)
                lock.unlock()
            }
        }
    }

    func release() {
        lock.lock()
        if waiters.isEmpty {
            available += 1
            lock.unlock()
        } else {
            let w = waiters.removeFirst()
            lock.unlock()
            w.resume()
        }
    }
}

/// Layer unpacks in progress, by chain ID, so concurrent pulls of one layer share a single download
/// and extraction.
actor InFlightUnpacks {
    private var running: [Digest: Task<LayerRecord, any Error>] = [:]

    /// The running task for `chainID`, or a new one from `make`. `isNew` tells the caller whether it
    /// owns the work (and its progress lines).
    func join(_ chainID: Digest, make: @Sendable () -> Task<LayerRecord, any Error>) -> (task: Task<LayerRecord, any Error>, isNew: Bool) {
        if let t = running[chainID] { return (t, false) }
        let t = make()
        running[chainID] = t
        Task { [weak self] in
            _ = try? await t.value
            await self?.finished(chainID)
        }
        return (t, true)
    }

    private func finished(_ chainID: Digest) {
        running.removeValue(forKey: chainID)
    }
}

/// Per-download state touched only by the blob consumer, which the registry client calls in order.
final class DownloadState: @unchecked Sendable {
    var received: Int64 = 0
    var throttle = Throttle()
    /// The first error of the extraction side (reported as Docker's "failed to register layer").
    var extractionError: (any Error)?
}
