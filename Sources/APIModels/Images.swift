/// `GET /images/json` item. Field names are the API's.
public struct ImageSummary: Codable, Sendable, Hashable {
    public var Id: String
    public var ParentId: String
    public var RepoTags: [String]
    public var RepoDigests: [String]
    /// Unix seconds.
    public var Created: Int64
    public var Size: Int64
    public var SharedSize: Int64
    /// Only for API < 1.44.
    public var VirtualSize: Int64?
    public var Labels: [String: String]
    public var Containers: Int64

    public init(Id: String, ParentId: String = "", RepoTags: [String], RepoDigests: [String], Created: Int64, Size: Int64, SharedSize: Int64 = -1, VirtualSize: Int64? = nil, Labels: [String: String] = [:], Containers: Int64 = -1) {
        self.Id = Id
        self.ParentId = ParentId
        self.RepoTags = RepoTags
        self.RepoDigests = RepoDigests
        self.Created = Created
        self.Size = Size
        self.SharedSize = SharedSize
        self.VirtualSize = VirtualSize
        self.Labels = Labels
        self.Containers = Containers
    }
}

/// `GET /images/{name}/json`.
public struct ImageInspect: Codable, Sendable, Hashable {
    public struct GraphDriver: Codable, Sendable, Hashable {
        public var Name: String
        public var Data: [String: String]?
        public init(Name: String, Data: [String: String]?) {
            self.Name = Name
            self.Data = Data
        }
    }
    public struct RootFS: Codable, Sendable, Hashable {
        public var `Type`: String
        public var Layers: [String]
        public init(Type: String = "layers", Layers: [String]) {
            self.Type = Type
            self.Layers = Layers
        }
    }
    public struct Metadata: Codable, Sendable, Hashable {
        public var LastTagTime: String?
        public init(LastTagTime: String?) { self.LastTagTime = LastTagTime }
    }

    public var Id: String
    public var RepoTags: [String]
    public var RepoDigests: [String]
    public var Parent: String
    public var Comment: String
    /// RFC 3339 with nanoseconds.
    public var Created: String?
    public var DockerVersion: String
    public var Author: String
    public var Config: ImageContainerConfig?
    public var Architecture: String
    public var Variant: String?
    public var Os: String
    public var OsVersion: String?
    public var Size: Int64
    /// Only for API < 1.44.
    public var VirtualSize: Int64?
    public var GraphDriver: GraphDriver
    public var RootFS: RootFS
    public var Metadata: Metadata
    /// Only for API < 1.45.
    public var Container: String?
    public var ContainerConfig: ImageContainerConfig?
    public var Descriptor: DescriptorModel?

    public init(Id: String, RepoTags: [String], RepoDigests: [String], Parent: String = "", Comment: String = "", Created: String?, DockerVersion: String = "", Author: String = "", Config: ImageContainerConfig?, Architecture: String, Variant: String?, Os: String, OsVersion: String? = nil, Size: Int64, GraphDriver: GraphDriver, RootFS: RootFS, Metadata: Metadata) {
        self.Id = Id
        self.RepoTags = RepoTags
        self.RepoDigests = RepoDigests
        self.Parent = Parent
        self.Comment = Comment
        self.Created = Created
        self.DockerVersion = DockerVersion
        self.Author = Author
        self.Config = Config
        self.Architecture = Architecture
        self.Variant = Variant
        self.Os = Os
        self.OsVersion = OsVersion
        self.Size = Size
        self.GraphDriver = GraphDriver
        self.RootFS = RootFS
        self.Metadata = Metadata
    }
}

/// An OCI descriptor as the API shows it (`Descriptor` in image inspect, API ≥ 1.48).
public struct DescriptorModel: Codable, Sendable, Hashable {
    public var mediaType: String
    public var digest: String
    public var size: Int64
    public init(mediaType: String, digest: String, size: Int64) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
    }
}

/// The image's run defaults as the API shows them (Docker's `container.Config` subset for images).
public struct ImageContainerConfig: Codable, Sendable, Hashable {
    public var Hostname: String?
    public var Domainname: String?
    public var User: String?
    public var AttachStdin: Bool?
    public var AttachStdout: Bool?
    public var AttachStderr: Bool?
    public var ExposedPorts: [String: JSONValue]?
    public var Tty: Bool?
    public var OpenStdin: Bool?
    public var StdinOnce: Bool?
    public var Env: [String]?
    public var Cmd: [String]?
    public var Healthcheck: JSONValue?
    public var ArgsEscaped: Bool?
    public var Image: String?
    public var Volumes: [String: JSONValue]?
    public var WorkingDir: String?
    public var Entrypoint: [String]?
    public var OnBuild: [String]?
    public var Labels: [String: String]?
    public var StopSignal: String?
    public var Shell: [String]?
    public init() {}
}

/// `GET /images/{name}/history` item.
public struct HistoryItem: Codable, Sendable, Hashable {
    public var Id: String
    public var Created: Int64
    public var CreatedBy: String
    public var Tags: [String]?
    public var Size: Int64
    public var Comment: String
    public init(Id: String, Created: Int64, CreatedBy: String, Tags: [String]?, Size: Int64, Comment: String) {
        self.Id = Id
        self.Created = Created
        self.CreatedBy = CreatedBy
        self.Tags = Tags
        self.Size = Size
        self.Comment = Comment
    }
}

/// `DELETE /images/{name}` item: exactly one of the two is set.
public struct ImageDeleteResponseItem: Codable, Sendable, Hashable {
    public var Untagged: String?
    public var Deleted: String?
    public init(Untagged: String? = nil, Deleted: String? = nil) {
        self.Untagged = Untagged
        self.Deleted = Deleted
    }
}

/// `POST /images/prune`.
public struct ImagePruneResponse: Codable, Sendable, Hashable {
    public var ImagesDeleted: [ImageDeleteResponseItem]?
    public var SpaceReclaimed: Int64
    public init(ImagesDeleted: [ImageDeleteResponseItem]?, SpaceReclaimed: Int64) {
        self.ImagesDeleted = ImagesDeleted
        self.SpaceReclaimed = SpaceReclaimed
    }
}
