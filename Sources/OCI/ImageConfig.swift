/// An image configuration blob (OCI `image.config.v1`, Docker `container.image.v1`).
///
/// The raw bytes are what the image ID hashes, so callers keep them; this type is the parsed view.
public struct ImageConfig: Codable, Hashable, Sendable {
    public var created: String?
    public var author: String?
    public var architecture: String
    public var os: String
    public var osVersion: String?
    public var osFeatures: [String]?
    public var variant: String?
    public var config: ContainerConfig?
    public var rootfs: RootFS
    public var history: [History]?
    /// Docker-only fields, kept so inspect can show them.
    public var dockerVersion: String?
    public var comment: String?
    public var container: String?
    public var containerConfig: ContainerConfig?

    enum CodingKeys: String, CodingKey {
        case created, author, architecture, os, variant, config, rootfs, history, comment, container
        case osVersion = "os.version"
        case osFeatures = "os.features"
        case dockerVersion = "docker_version"
        case containerConfig = "container_config"
    }

    public init(architecture: String = Platform.host.architecture, os: String = "linux", config: ContainerConfig? = nil, diffIDs: [Digest], history: [History]? = nil, created: String? = nil) {
        self.architecture = architecture
        self.os = os
        self.config = config
        self.rootfs = RootFS(type: "layers", diffIDs: diffIDs)
        self.history = history
        self.created = created
    }

    public var platform: Platform {
        var p = Platform(os: os, architecture: architecture, variant: variant)
        p.osVersion = osVersion
        return p
    }

    public struct RootFS: Codable, Hashable, Sendable {
        public var type: String
        public var diffIDs: [Digest]
        enum CodingKeys: String, CodingKey {
            case type
            case diffIDs = "diff_ids"
        }
        public init(type: String, diffIDs: [Digest]) {
            self.type = type
            self.diffIDs = diffIDs
        }
    }

    public struct History: Codable, Hashable, Sendable {
        public var created: String?
        public var createdBy: String?
        public var author: String?
        public var comment: String?
        public var emptyLayer: Bool?
        enum CodingKeys: String, CodingKey {
            case created, author, comment
            case createdBy = "created_by"
            case emptyLayer = "empty_layer"
        }
        public init(created: String? = nil, createdBy: String? = nil, comment: String? = nil, emptyLayer: Bool? = nil) {
            self.created = created
            self.createdBy = createdBy
            self.comment = comment
            self.emptyLayer = emptyLayer
        }
    }
}

/// The run defaults of an image (`config` in the image config). Field names are Docker's, as on the wire.
public struct ContainerConfig: Codable, Hashable, Sendable {
    public var Hostname: String?
    public var Domainname: String?
    public var User: String?
    public var AttachStdin: Bool?
    public var AttachStdout: Bool?
    public var AttachStderr: Bool?
    public var ExposedPorts: [String: EmptyObject]?
    public var Tty: Bool?
    public var OpenStdin: Bool?
    public var StdinOnce: Bool?
    public var Env: [String]?
    public var Cmd: [String]?
    public var Healthcheck: HealthConfig?
    public var ArgsEscaped: Bool?
    public var Image: String?
    public var Volumes: [String: EmptyObject]?
    public var WorkingDir: String?
    public var Entrypoint: [String]?
    public var NetworkDisabled: Bool?
    public var MacAddress: String?
    public var OnBuild: [String]?
    public var Labels: [String: String]?
    public var StopSignal: String?
    public var StopTimeout: Int?
    public var Shell: [String]?

    public init() {}
}

/// A health check (`HEALTHCHECK` in a Dockerfile). Durations are nanoseconds, as in Docker's JSON.
public struct HealthConfig: Codable, Hashable, Sendable {
    public var Test: [String]?
    public var Interval: Int64?
    public var Timeout: Int64?
    public var Retries: Int?
    public var StartPeriod: Int64?
    public var StartInterval: Int64?
    public init() {}
}

/// Docker encodes sets as objects whose values are `{}`.
public struct EmptyObject: Codable, Hashable, Sendable {
    public init() {}
    public init(from decoder: any Decoder) throws {}
    public func encode(to encoder: any Encoder) throws {
        _ = encoder.container(keyedBy: NoKeys.self)
    }
    private enum NoKeys: CodingKey {}
}
