import Foundation

/// Docker's `StrSlice`: a JSON string or an array of strings (`Cmd`, `Entrypoint`); encoded as an array.
public struct StrSlice: Codable, Hashable, Sendable, ExpressibleByArrayLiteral {
    public var values: [String]
    public init(_ values: [String]) { self.values = values }
    public init(arrayLiteral elements: String...) { values = elements }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) { values = [s] } else { values = try c.decode([String].self) }
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(values)
    }
}

/// A container's `Config` (create body top level, inspect `Config`). Wire field names.
public struct ContainerAPIConfig: Codable, Hashable, Sendable {
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
    public var Cmd: StrSlice?
    public var Healthcheck: JSONValue?
    public var ArgsEscaped: Bool?
    public var Image: String?
    public var Volumes: [String: JSONValue]?
    public var WorkingDir: String?
    public var Entrypoint: StrSlice?
    public var NetworkDisabled: Bool?
    public var MacAddress: String?
    public var OnBuild: [String]?
    public var Labels: [String: String]?
    public var StopSignal: String?
    public var StopTimeout: Int?
    public var Shell: [String]?
    public init() {}
}

public struct RestartPolicy: Codable, Hashable, Sendable {
    public var Name: String?
    public var MaximumRetryCount: Int?
    public init(Name: String? = nil, MaximumRetryCount: Int? = nil) {
        self.Name = Name
        self.MaximumRetryCount = MaximumRetryCount
    }
}

public struct Ulimit: Codable, Hashable, Sendable {
    public var Name: String
    public var Soft: Int64
    public var Hard: Int64
    public init(Name: String, Soft: Int64, Hard: Int64) {
        self.Name = Name
        self.Soft = Soft
        self.Hard = Hard
    }
}

public struct LogConfig: Codable, Hashable, Sendable {
    public var `Type`: String?
    public var Config: [String: String]?
    public init(Type: String? = nil, Config: [String: String]? = nil) {
        self.Type = Type
        self.Config = Config
    }
}

/// `HostConfig` (create body, inspect). Fields berth does not act on are still kept and shown.
public struct ContainerHostConfig: Codable, Hashable, Sendable {
    public var Binds: [String]?
    public var ContainerIDFile: String?
    public var LogConfig: LogConfig?
    public var NetworkMode: String?
    public var PortBindings: JSONValue?
    public var RestartPolicy: RestartPolicy?
    public var AutoRemove: Bool?
    public var VolumeDriver: String?
    public var VolumesFrom: [String]?
    public var ConsoleSize: [Int]?
    public var Annotations: [String: String]?
    public var CapAdd: [String]?
    public var CapDrop: [String]?
    public var CgroupnsMode: String?
    public var Dns: [String]?
    public var DnsOptions: [String]?
    public var DnsSearch: [String]?
    public var ExtraHosts: [String]?
    public var GroupAdd: [String]?
    public var IpcMode: String?
    public var Cgroup: String?
    public var Links: [String]?
    public var OomScoreAdj: Int?
    public var PidMode: String?
    public var Privileged: Bool?
    public var PublishAllPorts: Bool?
    public var ReadonlyRootfs: Bool?
    public var SecurityOpt: [String]?
    public var StorageOpt: [String: String]?
    public var Tmpfs: [String: String]?
    public var UTSMode: String?
    public var UsernsMode: String?
    public var ShmSize: Int64?
    public var Sysctls: [String: String]?
    public var Runtime: String?
    public var Isolation: String?
    public var CpuShares: Int64?
    public var Memory: Int64?
    public var NanoCpus: Int64?
    public var CgroupParent: String?
    public var BlkioWeight: Int?
    public var CpuPeriod: Int64?
    public var CpuQuota: Int64?
    public var CpuRealtimePeriod: Int64?
    public var CpuRealtimeRuntime: Int64?
    public var CpusetCpus: String?
    public var CpusetMems: String?
    public var Devices: JSONValue?
    public var DeviceCgroupRules: [String]?
    public var MemoryReservation: Int64?
    public var MemorySwap: Int64?
    public var MemorySwappiness: Int64?
    public var OomKillDisable: Bool?
    public var PidsLimit: Int64?
    public var Ulimits: [Ulimit]?
    public var Init: Bool?
    public var Mounts: JSONValue?
    public var MaskedPaths: [String]?
    public var ReadonlyPaths: [String]?
    public init() {}
}

/// `POST /containers/create` body: the config fields at the top level plus `HostConfig` and `NetworkingConfig`.
public struct ContainerCreateBody: Decodable, Sendable {
    public var config: ContainerAPIConfig
    public var hostConfig: ContainerHostConfig?
    public var networkingConfig: JSONValue?

    enum Keys: String, CodingKey { case HostConfig, NetworkingConfig }

    public init(config: ContainerAPIConfig, hostConfig: ContainerHostConfig? = nil) {
        self.config = config
        self.hostConfig = hostConfig
    }

    public init(from decoder: any Decoder) throws {
        config = try ContainerAPIConfig(from: decoder)
        let c = try decoder.container(keyedBy: Keys.self)
        hostConfig = try c.decodeIfPresent(ContainerHostConfig.self, forKey: .HostConfig)
        networkingConfig = try c.decodeIfPresent(JSONValue.self, forKey: .NetworkingConfig)
    }
}

public struct ContainerCreateResponse: Codable, Sendable {
    public var Id: String
    public var Warnings: [String]
    public init(Id: String, Warnings: [String] = []) {
        self.Id = Id
        self.Warnings = Warnings
    }
}

public struct ContainerWaitResponse: Codable, Sendable {
    public struct WaitError: Codable, Sendable {
        public var Message: String
    }
    public var StatusCode: Int
    public var Error: WaitError?
    public init(StatusCode: Int, error: String? = nil) {
        self.StatusCode = StatusCode
        self.Error = error.map { WaitError(Message: $0) }
    }
    enum CodingKeys: String, CodingKey { case StatusCode, Error }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(StatusCode, forKey: .StatusCode)
        if let e = Error { try c.encode(e, forKey: .Error) } else { try c.encodeNil(forKey: .Error) }
    }
}

/// `State` in container inspect.
public struct ContainerState: Codable, Hashable, Sendable {
    public var Status: String
    public var Running: Bool
    public var Paused: Bool
    public var Restarting: Bool
    public var OOMKilled: Bool
    public var Dead: Bool
    public var Pid: Int
    public var ExitCode: Int
    public var Error: String
    public var StartedAt: String
    public var FinishedAt: String
    /// Only for containers with a healthcheck (see `Health.swift`).
    public var Health: ContainerHealth?
    public init(Status: String = "created", Running: Bool = false, Paused: Bool = false, Restarting: Bool = false,
                OOMKilled: Bool = false, Dead: Bool = false, Pid: Int = 0, ExitCode: Int = 0, Error: String = "",
                StartedAt: String = "0001-01-01T00:00:00Z", FinishedAt: String = "0001-01-01T00:00:00Z") {
        self.Status = Status
        self.Running = Running
        self.Paused = Paused
        self.Restarting = Restarting
        self.OOMKilled = OOMKilled
        self.Dead = Dead
        self.Pid = Pid
        self.ExitCode = ExitCode
        self.Error = Error
        self.StartedAt = StartedAt
        self.FinishedAt = FinishedAt
    }
}

public struct GraphDriverData: Codable, Hashable, Sendable {
    public var Name: String
    public var Data: [String: String]?
    public init(Name: String, Data: [String: String]?) {
        self.Name = Name
        self.Data = Data
    }
}

public struct NetworkSettingsAPI: Codable, Hashable, Sendable {
    public var Bridge: String = ""
    public var SandboxID: String = ""
    public var SandboxKey: String = ""
    public var Ports: [String: JSONValue] = [:]
    public var Networks: [String: JSONValue] = [:]
    public init(Networks: [String: JSONValue] = [:]) { self.Networks = Networks }
}

/// `GET /containers/{id}/json`.
public struct ContainerInspect: Codable, Sendable {
    public var Id: String
    public var Created: String
    public var Path: String
    public var Args: [String]
    public var State: ContainerState
    public var Image: String
    public var ResolvConfPath: String
    public var HostnamePath: String
    public var HostsPath: String
    public var LogPath: String
    public var Name: String
    public var RestartCount: Int
    public var Driver: String
    public var Platform: String
    public var MountLabel: String
    public var ProcessLabel: String
    public var AppArmorProfile: String
    public var ExecIDs: [String]?
    public var HostConfig: ContainerHostConfig
    public var GraphDriver: GraphDriverData
    public var Mounts: [JSONValue]
    public var Config: ContainerAPIConfig
    public var NetworkSettings: NetworkSettingsAPI
    public init(Id: String, Created: String, Path: String, Args: [String], State: ContainerState, Image: String,
                ResolvConfPath: String, HostnamePath: String, HostsPath: String, LogPath: String, Name: String,
                RestartCount: Int, Driver: String = "overlay2", Platform: String = "linux", ExecIDs: [String]? = nil,
                HostConfig: ContainerHostConfig, GraphDriver: GraphDriverData, Mounts: [JSONValue] = [],
                Config: ContainerAPIConfig, NetworkSettings: NetworkSettingsAPI) {
        self.Id = Id
        self.Created = Created
        self.Path = Path
        self.Args = Args
        self.State = State
        self.Image = Image
        self.ResolvConfPath = ResolvConfPath
        self.HostnamePath = HostnamePath
        self.HostsPath = HostsPath
        self.LogPath = LogPath
        self.Name = Name
        self.RestartCount = RestartCount
        self.Driver = Driver
        self.Platform = Platform
        self.MountLabel = ""
        self.ProcessLabel = ""
        self.AppArmorProfile = ""
        self.ExecIDs = ExecIDs
        self.HostConfig = HostConfig
        self.GraphDriver = GraphDriver
        self.Mounts = Mounts
        self.Config = Config
        self.NetworkSettings = NetworkSettings
    }
}

/// One item of `GET /containers/json`.
public struct ContainerSummary: Codable, Sendable {
    public struct HostConfigSummary: Codable, Sendable {
        public var NetworkMode: String
    }
    public struct NetworkSummary: Codable, Sendable {
        public var Networks: [String: JSONValue]
    }
    public var Id: String
    public var Names: [String]
    public var Image: String
    public var ImageID: String
    public var Command: String
    public var Created: Int64
    public var Ports: [JSONValue]
    public var SizeRw: Int64?
    public var SizeRootFs: Int64?
    public var Labels: [String: String]
    public var State: String
    public var Status: String
    public var HostConfig: HostConfigSummary
    public var NetworkSettings: NetworkSummary
    public var Mounts: [JSONValue]
    public init(Id: String, Names: [String], Image: String, ImageID: String, Command: String, Created: Int64,
                Labels: [String: String], State: String, Status: String, NetworkMode: String) {
        self.Id = Id
        self.Names = Names
        self.Image = Image
        self.ImageID = ImageID
        self.Command = Command
        self.Created = Created
        self.Ports = []
        self.Labels = Labels
        self.State = State
        self.Status = Status
        self.HostConfig = HostConfigSummary(NetworkMode: NetworkMode)
        self.NetworkSettings = NetworkSummary(Networks: [:])
        self.Mounts = []
    }
}

/// `POST /containers/{id}/exec` body.
public struct ExecCreateBody: Codable, Sendable {
    public var AttachStdin: Bool?
    public var AttachStdout: Bool?
    public var AttachStderr: Bool?
    public var ConsoleSize: [Int]?
    public var DetachKeys: String?
    public var Tty: Bool?
    public var Env: [String]?
    public var Cmd: [String]?
    public var Privileged: Bool?
    public var User: String?
    public var WorkingDir: String?
    public init() {}
}

/// `POST /exec/{id}/start` body.
public struct ExecStartBody: Codable, Sendable {
    public var Detach: Bool?
    public var Tty: Bool?
    public var ConsoleSize: [Int]?
    public init() {}
}

public struct IDResponse: Codable, Sendable {
    public var Id: String
    public init(Id: String) { self.Id = Id }
}

/// `GET /exec/{id}/json`.
public struct ExecInspect: Codable, Sendable {
    public struct ProcessConfig: Codable, Sendable {
        public var arguments: [String]
        public var entrypoint: String
        public var privileged: Bool
        public var tty: Bool
        public var user: String
        public init(arguments: [String], entrypoint: String, privileged: Bool, tty: Bool, user: String) {
            self.arguments = arguments
            self.entrypoint = entrypoint
            self.privileged = privileged
            self.tty = tty
            self.user = user
        }
    }
    public var CanRemove: Bool
    public var ContainerID: String
    public var DetachKeys: String
    public var ExitCode: Int?
    public var ID: String
    public var OpenStderr: Bool
    public var OpenStdin: Bool
    public var OpenStdout: Bool
    public var ProcessConfig: ProcessConfig
    public var Running: Bool
    public var Pid: Int
    public init(ContainerID: String, ExitCode: Int?, ID: String, OpenStderr: Bool, OpenStdin: Bool, OpenStdout: Bool,
                ProcessConfig: ProcessConfig, Running: Bool, Pid: Int) {
        self.CanRemove = false
        self.ContainerID = ContainerID
        self.DetachKeys = ""
        self.ExitCode = ExitCode
        self.ID = ID
        self.OpenStderr = OpenStderr
        self.OpenStdin = OpenStdin
        self.OpenStdout = OpenStdout
        self.ProcessConfig = ProcessConfig
        self.Running = Running
        self.Pid = Pid
    }
}
