import APIModels
import Foundation

/// Fans daemon events (`/events`) out to subscribers and keeps a short history for `since`.
public actor EventService {
    private var subscribers: [UUID: AsyncStream<EventMessage>.Continuation] = [:]
    private var history: [EventMessage] = []
    private let historyLimit: Int

    public init(historyLimit: Int = 1000) {
        self.historyLimit = historyLimit
    }

    /// Number of live `/events` listeners (shown by `info` as NEventsListener).
    public var listenerCount: Int { subscribers.count }

    /// Records an event and delivers it to every subscriber.
    public func publish(type: String, action: String, id: String, attributes: [String: String] = [:]) {
        let now = Date()
        let nanos = Int64(now.timeIntervalSince1970 * 1_000_000_000)
        var event = EventMessage(
            Type: type, Action: action,
            Actor: .init(ID: id, Attributes: attributes),
            time: nanos / 1_000_000_000, timeNano: nanos)
        if type == "container" || type == "image" {
            // Deprecated fields that old clients (and docker-py) still read.
            event.status = action
            event.id = id
            if type == "container" { event.from = attributes["image"] }
        }
        history.append(event)
        if history.count > historyLimit { history.removeFirst(history.count - historyLimit) }
        for continuation in subscribers.values { continuation.yield(event) }
    }

    /// Past events within `[since, until]` (nanoseconds since the epoch), then a live stream.
    public func subscribe(sinceNanos: Int64?) -> (past: [EventMessage], live: AsyncStream<EventMessage>, token: UUID) {
        let past = sinceNanos.map { since in history.filter { $0.timeNano >= since } } ?? []
        let token = UUID()
        let (stream, continuation) = AsyncStream<EventMessage>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        subscribers[token] = continuation
        return (past, stream, token)
    }

    public func unsubscribe(_ token: UUID) {
        subscribers.removeValue(forKey: token)?.finish()
    }

    /// Ends every stream (daemon shutdown).
    public func finishAll() {
        for c in subscribers.values { c.finish() }
        subscribers.removeAll()
    }
}
