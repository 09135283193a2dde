import APIModels
import Engine
import Foundation
import NIOHTTP1
import OCI

extension APIRoutes {
    /// Filter keys `/events` accepts (dockerd's list).
    static let eventFilterKeys: Set<String> = [
        "config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope",
        "secret", "service", "type", "volume",
    ]

    /// `GET /events?since=&until=&filters=`: past events from `since`, then live ones; with `until` in
    /// the past only the past ones, with `until` in the future the stream ends then. Each event is one
    /// JSON document, flushed at once.
    public static func events(_ s: APIServices) -> [Route] { events(s.events) }

    static func events(_ events: EventService) -> [Route] {
        [
            Route(.GET, "/events") { req in
                let sinceRaw = req.query["since"] ?? "", untilRaw = req.query["until"] ?? ""
                let since = try EventTime.parse(sinceRaw, name: "since")
                let until = try EventTime.parse(untilRaw, name: "until")
                if let since, let until, until < since {
                    throw BerthError(.invalidArgument,
                                     "`since` time (\(sinceRaw)) cannot be after `until` time (\(untilRaw))")
                }
                let filters = try req.query.filters()
                try filters.validate(accepted: eventFilterKeys)
                return .jsonStream { stream in
                    try await stream.start()
                    try await streamEvents(events, stream: stream, since: since, until: until, filters: filters)
                }
            },
        ]
    }

    static func streamEvents(_ events: EventService, stream: ResponseStream, since: Int64?, until: Int64?,
                             filters: Filters) async throws {
        let subscription = await events.subscribe(sinceNanos: since ?? (until != nil ? 0 : nil))
        do {
            for event in subscription.past where until.map({ event.timeNano <= $0 }) ?? true {
                if EventFilter.matches(event, filters) { try await stream.writeJSON(event) }
            }
            let now = EventTime.now()
            if let until, until <= now {
                await events.unsubscribe(subscription.token)
                return
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await event in subscription.live {
                        if let until, event.timeNano > until { break }
                        if EventFilter.matches(event, filters) { try await stream.writeJSON(event) }
                    }
                }
                if let until {
                    group.addTask { try await Task.sleep(nanoseconds: UInt64(until - now)) }
                }
                _ = try await group.next()
                group.cancelAll()
            }
        } catch {
            await events.unsubscribe(subscription.token)
            throw error
        }
        await events.unsubscribe(subscription.token)
    }
}

/// `since`/`until` as the clients send them: `seconds[.nanoseconds]` (the docker CLI converts
/// durations and dates to that form itself).
enum EventTime {
    static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// Nanoseconds since the epoch; nil for an empty value.
    static func parse(_ raw: String, name: String) throws -> Int64? {
        let value = raw.trimmingCharacters(in: .whitespaces)
        if value.isEmpty { return nil }
        let parts = value.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let seconds = Int64(parts[0]) else {
            throw BerthError(.invalidArgument, "invalid value for \(name): strconv.ParseInt: parsing \"\(parts[0])\": invalid syntax")
        }
        var nanos: Int64 = 0
        if parts.count == 2 {
            let digits = String(parts[1].prefix(9))
            guard !digits.isEmpty, digits.allSatisfy(\.isNumber), let n = Int64(digits.padding(toLength: 9, withPad: "0", startingAt: 0)) else {
                throw BerthError(.invalidArgument, "invalid value for \(name): strconv.ParseInt: parsing \"\(parts[1])\": invalid syntax")
            }
            nanos = n
        }
        return seconds * 1_000_000_000 + (seconds < 0 ? -nanos : nanos)
    }
}

/// dockerd's `events.Filter.Include`.
enum EventFilter {
    static func matches(_ ev: EventMessage, _ f: Filters) -> Bool {
        if f.isEmpty { return true }
        let attrs = ev.Actor.Attributes
        let fuzzyEvents: Set<String> = ["health_status", "exec_create", "exec_start"]
        let eventOK = f.values("event").contains(where: fuzzyEvents.contains)
            ? f.fuzzyMatch("event", ev.Action) : f.exactMatch("event", ev.Action)
        return eventOK
            && f.exactMatch("type", ev.Type)
            && f.exactMatch("scope", ev.scope)
            && ["daemon", "container", "plugin", "volume", "network", "node", "service", "secret", "config"]
                .allSatisfy { fuzzyName(ev, $0, f) }
            && matchImage(ev, f)
            && f.matchKVList("label", attrs)
    }

    /// dockerd's `fuzzyMatchName`: the actor's ID or `name` attribute starts with a filter value.
    private static func fuzzyName(_ ev: EventMessage, _ key: String, _ f: Filters) -> Bool {
        f.fuzzyMatch(key, ev.Actor.ID) || f.fuzzyMatch(key, ev.Actor.Attributes["name"] ?? "")
    }

    private static func matchImage(_ ev: EventMessage, _ f: Filters) -> Bool {
        guard f.contains("image") else { return true }
        let name = ev.Actor.Attributes[ev.Type == "image" ? "name" : "image"] ?? ""
        return f.exactMatch("image", ev.Actor.ID) || f.exactMatch("image", name)
            || f.exactMatch("image", stripTag(ev.Actor.ID)) || f.exactMatch("image", stripTag(name))
    }

    /// `repo:tag` → `repo` (a `:` inside a registry host:port is kept).
    static func stripTag(_ s: String) -> String {
        guard let colon = s.lastIndex(of: ":"), !s[colon...].contains("/") else { return s }
        if let at = s.firstIndex(of: "@") { return String(s[..<at]) }
        return String(s[..<colon])
    }
}
