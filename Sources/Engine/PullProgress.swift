import APIModels
import Foundation
import OCI

/// Docker's JSON progress lines for pulls (moby `pkg/progress`, `pkg/streamformatter`, `jsonmessage`).
enum PullMessages {
    /// `progress.Message`: a plain status line (`Pulling from …`, `Digest: …`, `Status: …`).
    static func message(_ status: String, id: String? = nil) -> JSONMessage {
        JSONMessage(status: status, id: id)
    }

    /// `progress.Update`: a per-layer status with an empty `progressDetail` (`Pulling fs layer`, `Waiting`, …).
    static func update(_ status: String, id: String) -> JSONMessage {
        JSONMessage(status: status, id: id, progressDetail: .init())
    }

    /// A `Downloading` / `Extracting` line with counters and the rendered bar.
    static func progress(_ action: String, id: String, current: Int64, total: Int64) -> JSONMessage {
        JSONMessage(status: action, id: id, progressDetail: .init(current: current, total: total),
                    progress: bar(current: current, total: total))
    }

    /// `JSONProgress.String()` as the daemon renders it (no terminal: width 200, so the bar is drawn).
    static func bar(current: Int64, total: Int64) -> String? {
        if current <= 0 && total <= 0 { return nil }
        if total <= 0 { return pad(humanSize(current), 8) }
        var percentage = Int(Double(current) / Double(total) * 100) / 2
        if percentage > 50 { percentage = 50 }
        let box = "[" + String(repeating: "=", count: percentage) + ">" + String(repeating: " ", count: max(50 - percentage, 0)) + "] "
        let numbers = current > total ? pad(humanSize(current), 8) : pad(humanSize(current), 8) + "/" + humanSize(total)
        return box + numbers
    }

    /// go-units `HumanSize`: decimal units, four significant digits (`%.4g`).
    static func humanSize(_ n: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
        var size = Double(n)
        var i = 0
        while size >= 1000 && i < units.count - 1 {
            size /= 1000
            i += 1
        }
        return String(format: "%.4g", size) + units[i]
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }

    /// Docker's short layer ID in progress lines (`stringid.TruncateID`).
    static func shortID(_ d: Digest) -> String { String(d.encoded.prefix(12)) }
}

/// Funnels progress lines from concurrent layer tasks to the client one at a time, in order, without
/// making a layer wait for a slow client (lines are throttled, so the queue stays short).
final class ProgressSink: Sendable {
    private let continuation: AsyncStream<JSONMessage>.Continuation
    private let drain: Task<Void, Never>

    init(_ deliver: @escaping @Sendable (JSONMessage) async -> Void) {
        let (stream, continuation) = AsyncStream<JSONMessage>.makeStream()
        self.continuation = continuation
        drain = Task {
            for await m in stream { await deliver(m) }
        }
    }

    func send(_ m: JSONMessage) { continuation.yield(m) }

    /// Delivers what is queued, then stops.
    func finish() async {
        continuation.finish()
        await drain.value
    }
}

/// At most one progress line per layer per 100 ms (moby's progress reader rate limit), always the last.
struct Throttle {
    private var last: ContinuousClock.Instant?
    let interval: Duration

    init(interval: Duration = .milliseconds(100)) { self.interval = interval }

    mutating func allow(final: Bool = false) -> Bool {
        let now = ContinuousClock.now
        if final || last == nil || now - last! >= interval {
            last = now
            return true
        }
        return false
    }
}
