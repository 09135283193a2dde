import Foundation
import NIOCore
import OCI

/// A bounded, single-producer single-consumer queue of byte chunks between async code (a download)
/// and a plain thread (an extraction). The producer suspends (never blocks a thread) while the
/// queue holds `capacity` bytes; the consumer blocks on a condition variable.
final class ChunkPipe: @unchecked Sendable {
    private let cond = NSCondition()
    private var chunks = CircularBuffer<ByteBuffer>(initialCapacity: 64)
    private var buffered = 0
    private let capacity: Int
    private var closed = false
    private var producerError: (any Error)?
    private var consumerError: (any Error)?
    private var waitingProducer: CheckedContinuation<Void, any Error>?
    /// Bytes handed to the consumer so far (drives "Extracting" progress).
    private var taken: Int64 = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
    }

    /// Queues a chunk; waits while the queue is full. Throws the consumer's error once it failed.
    func send(_ chunk: ByteBuffer) async throws {
        guard chunk.readableBytes > 0 else { return }
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
            cond.lock()
            if let consumerError {
                cond.unlock()
                cont.resume(throwing: consumerError)
                return
            }
            precondition(!closed, "send after close")
            chunks.append(chunk)
            buffered += chunk.readableBytes
            cond.signal()
            if buffered < capacity {
                cond.unlock()
                cont.resume()
            } else {
                waitingProducer = cont
                cond.unlock()
            }
        }
    }

    /// End of input: `error` nil means the stream is complete.
    func close(error: (any Error)? = nil) {
        cond.lock()
        closed = true
        if producerError == nil { producerError = error }
        cond.signal()
        cond.unlock()
    }

    /// Next chunk, blocking; nil at the end of a complete stream; throws the producer's error.
    func receive() throws -> ByteBuffer? {
        cond.lock()
        while chunks.isEmpty && !closed && consumerError == nil { cond.wait() }
        if let consumerError {
            cond.unlock()
            throw consumerError
        }
        if let producerError {
            cond.unlock()
            throw producerError
        }
        guard let chunk = chunks.popFirst() else {
            cond.unlock()
            return nil
        }
        buffered -= chunk.readableBytes
        taken += Int64(chunk.readableBytes)
        var resume: CheckedContinuation<Void, any Error>?
        if buffered < capacity, let w = waitingProducer {
            waitingProducer = nil
            resume = w
        }
        cond.unlock()
        resume?.resume()
        return chunk
    }

    /// The consumer gave up: wakes and fails the producer, drops what is queued.
    func fail(_ error: any Error) {
        cond.lock()
        if consumerError == nil { consumerError = error }
        chunks.removeAll()
        buffered = 0
        let w = waitingProducer
        waitingProducer = nil
        cond.broadcast()
        cond.unlock()
        w?.resume(throwing: error)
    }

    var bytesTaken: Int64 {
        cond.lock()
        defer { cond.unlock() }
        return taken
    }
}

/// Raw tar blocks passed from the inflating thread to the untarring thread of one layer: a fixed set
/// of buffers circulates (free → filled → handed to libarchive → free), so nothing is allocated or
/// copied per block.
final class BlockRing: @unchecked Sendable {
    private let cond = NSCondition()
    private var free: [UnsafeMutableRawBufferPointer]
    private var full: [(UnsafeMutableRawBufferPointer, Int)] = []
    private var head = 0
    private var producerDone = false
    private var producerError: (any Error)?
    private var cancelled = false
    private let all: [UnsafeMutableRawBufferPointer]

    init(count: Int, size: Int) {
        all = (0..<max(count, 2)).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64) }
        free = all
    }

    deinit {
        for b in all { b.deallocate() }
    }

    /// Producer: a buffer to fill; nil once the consumer cancelled.
    func takeFree() -> UnsafeMutableRawBufferPointer? {
        cond.lock()
        defer { cond.unlock() }
        while free.isEmpty && !cancelled { cond.wait() }
        return cancelled ? nil : free.removeLast()
    }

    /// Producer: a filled buffer (`count` > 0).
    func putFull(_ buf: UnsafeMutableRawBufferPointer, _ count: Int) {
        cond.lock()
        full.append((buf, count))
        cond.broadcast()
        cond.unlock()
    }

    /// Producer: no more blocks (`error` nil: the stream ended normally).
    func finish(_ error: (any Error)?) {
        cond.lock()
        producerDone = true
        producerError = error
        cond.broadcast()
        cond.unlock()
    }

    /// Consumer: the next filled block, nil at the end; throws the producer's error.
    func takeFull() throws -> (UnsafeMutableRawBufferPointer, Int)? {
        cond.lock()
        defer { cond.unlock() }
        while head == full.count && !producerDone { cond.wait() }
        if head < full.count {
            let b = full[head]
            head += 1
            if head == full.count {
                full.removeAll(keepingCapacity: true)
                head = 0
            }
            return b
        }
        if let producerError { throw producerError }
        return nil
    }

    /// Consumer: a block libarchive no longer needs.
    func giveBack(_ buf: UnsafeMutableRawBufferPointer) {
        cond.lock()
        free.append(buf)
        cond.broadcast()
        cond.unlock()
    }

    /// Consumer: stop the producer.
    func cancel() {
        cond.lock()
        cancelled = true
        cond.broadcast()
        cond.unlock()
    }
}

/// A value set once by a thread and awaited by async code.
final class Completion<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<T, any Error>?
    private var waiters: [CheckedContinuation<T, any Error>] = []

    func complete(_ r: Result<T, any Error>) {
        lock.lock()
        guard result == nil else { lock.unlock(); return }
        result = r
        let w = waiters
        waiters = []
        lock.unlock()
        for c in w { c.resume(with: r) }
    }

    func wait() async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            lock.lock()
            if let result {
                lock.unlock()
                c.resume(with: result)
            } else {
                waiters.append(c)
                lock.unlock()
            }
        }
    }

    var isDone: Bool {
        lock.lock()
        defer { lock.unlock() }
        return result != nil
    }
}
