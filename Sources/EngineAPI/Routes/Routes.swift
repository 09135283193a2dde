import Engine
import NIOHTTP1

/// The engine services route handlers call.
public struct APIServices: Sendable {
    public let images: ImageService
    public let events: EventService
    public let system: SystemService
    public let config: DaemonConfig
    /// Shown by `/info` (`Warnings`), e.g. an unencrypted TCP listener.
    public let warnings: [String]
    /// Containers (nil in tests that only need images/system).
    public let containers: ContainerService?

    public init(images: ImageService, events: EventService, system: SystemService, config: DaemonConfig,
                warnings: [String] = [], containers: ContainerService? = nil) {
        self.containers = containers
        self.images = images
        self.events = events
        self.system = system
        self.config = config
        self.warnings = warnings
    }
}

/// berthd's routing table, one function per API area (`Routes+System.swift`, `Routes+Images.swift`,
/// `Routes+Events.swift`). Add an area by writing `static func containers(_:) -> [Route]` in its own
/// file and listing it in `all`. Patterns use moby's syntax: `{id}` for one segment, `{name:.*}` for a
/// name that may contain slashes; the first matching (method, pattern) wins.
public enum APIRoutes {
    public static func all(_ services: APIServices) -> [Route] {
        system(services) + events(services) + images(services) + containers(services) + execs(services) + updates(services)
            + commit(services) + archive(services)
    }

    public static func router(_ services: APIServices) -> Router { Router(all(services)) }
}
