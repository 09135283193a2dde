/// `GET /version`.
public struct SystemVersion: Codable, Sendable, Hashable {
    public struct PlatformName: Codable, Sendable, Hashable {
        public var Name: String
        public init(Name: String) { self.Name = Name }
    }
    public struct Component: Codable, Sendable, Hashable {
        public var Name: String
        public var Version: String
        public var Details: [String: String]?
        public init(Name: String, Version: String, Details: [String: String]?) {
            self.Name = Name
            self.Version = Version
            self.Details = Details
        }
    }
    public var Platform: PlatformName
    public var Components: [Component]
    public var Version: String
    public var ApiVersion: String
    public var MinAPIVersion: String
    public var GitCommit: String
    public var GoVersion: String
    public var Os: String
    public var Arch: String
    public var KernelVersion: String
    public var Experimental: Bool?
    public var BuildTime: String?

    public init(Platform: PlatformName, Components: [Component], Version: String, ApiVersion: String, MinAPIVersion: String, GitCommit: String, GoVersion: String, Os: String, Arch: String, KernelVersion: String, BuildTime: String?) {
        self.Platform = Platform
        self.Components = Components
        self.Version = Version
        self.ApiVersion = ApiVersion
        self.MinAPIVersion = MinAPIVersion
        self.GitCommit = GitCommit
        self.GoVersion = GoVersion
        self.Os = Os
        self.Arch = Arch
        self.KernelVersion = KernelVersion
        self.BuildTime = BuildTime
    }
}

/// `GET /info`. Only the fields berth can fill truthfully are typed; the docker CLI tolerates the rest missing.
public struct SystemInfo: Codable, Sendable, Hashable {
    public struct RegistryServiceConfig: Codable, Sendable, Hashable {
        public struct IndexInfo: Codable, Sendable, Hashable {
            public var Name: String
            public var Mirrors: [String]
            public var Secure: Bool
            public var Official: Bool
            public init(Name: String, Mirrors: [String], Secure: Bool, Official: Bool) {
                self.Name = Name
                self.Mirrors = Mirrors
                self.Secure = Secure
                self.Official = Official
            }
        }
        public var InsecureRegistryCIDRs: [String]
        public var IndexConfigs: [String: IndexInfo]
        public var Mirrors: [String]
        public init(InsecureRegistryCIDRs: [String], IndexConfigs: [String: IndexInfo], Mirrors: [String]) {
            self.InsecureRegistryCIDRs = InsecureRegistryCIDRs
            self.IndexConfigs = IndexConfigs
            self.Mirrors = Mirrors
        }
    }
    public struct PluginsInfo: Codable, Sendable, Hashable {
        public var Volume: [String]
        public var Network: [String]
        public var Authorization: [String]?
        public var Log: [String]
        public init(Volume: [String], Network: [String], Authorization: [String]?, Log: [String]) {
            self.Volume = Volume
            self.Network = Network
            self.Authorization = Authorization
            self.Log = Log
        }
    }
    public struct SwarmInfo: Codable, Sendable, Hashable {
        public var NodeID: String
        public var NodeAddr: String
        public var LocalNodeState: String
        public var ControlAvailable: Bool
        public var Error: String
        public var RemoteManagers: [JSONValue]?
        public init() {
            NodeID = ""
            NodeAddr = ""
            LocalNodeState = "inactive"
            ControlAvailable = false
            Error = ""
            RemoteManagers = nil
        }
    }
    public struct Runtime: Codable, Sendable, Hashable {
        public var path: String
        public var runtimeArgs: [String]?
        public init(path: String, runtimeArgs: [String]? = nil) {
            self.path = path
            self.runtimeArgs = runtimeArgs
        }
    }

    public var ID: String
    public var Containers: Int
    public var ContainersRunning: Int
    public var ContainersPaused: Int
    public var ContainersStopped: Int
    public var Images: Int
    public var Driver: String
    public var DriverStatus: [[String]]
    public var Plugins: PluginsInfo
    public var MemoryLimit: Bool
    public var SwapLimit: Bool
    public var KernelMemoryTCP: Bool?
    public var CpuCfsPeriod: Bool
    public var CpuCfsQuota: Bool
    public var CPUShares: Bool
    public var CPUSet: Bool
    public var PidsLimit: Bool
    public var IPv4Forwarding: Bool
    public var Debug: Bool
    public var NFd: Int
    public var OomKillDisable: Bool
    public var NGoroutines: Int
    public var SystemTime: String
    public var LoggingDriver: String
    public var CgroupDriver: String
    public var CgroupVersion: String
    public var NEventsListener: Int
    public var KernelVersion: String
    public var OperatingSystem: String
    public var OSVersion: String
    public var OSType: String
    public var Architecture: String
    public var IndexServerAddress: String
    public var RegistryConfig: RegistryServiceConfig
    public var NCPU: Int
    public var MemTotal: Int64
    public var GenericResources: [JSONValue]?
    public var DockerRootDir: String
    public var HttpProxy: String
    public var HttpsProxy: String
    public var NoProxy: String
    public var Name: String
    public var Labels: [String]
    public var ExperimentalBuild: Bool
    public var ServerVersion: String
    public var Runtimes: [String: Runtime]
    public var DefaultRuntime: String
    public var Swarm: SwarmInfo
    public var LiveRestoreEnabled: Bool
    public var Isolation: String
    public var InitBinary: String
    public var SecurityOptions: [String]
    public var Warnings: [String]?

    public init(ID: String, Containers: Int, ContainersRunning: Int, ContainersPaused: Int, ContainersStopped: Int, Images: Int, Driver: String, DriverStatus: [[String]], Plugins: PluginsInfo, MemoryLimit: Bool, SwapLimit: Bool, CpuCfsPeriod: Bool, CpuCfsQuota: Bool, CPUShares: Bool, CPUSet: Bool, PidsLimit: Bool, IPv4Forwarding: Bool, Debug: Bool, NFd: Int, OomKillDisable: Bool, NGoroutines: Int, SystemTime: String, LoggingDriver: String, CgroupDriver: String, CgroupVersion: String, NEventsListener: Int, KernelVersion: String, OperatingSystem: String, OSVersion: String, OSType: String, Architecture: String, IndexServerAddress: String, RegistryConfig: RegistryServiceConfig, NCPU: Int, MemTotal: Int64, DockerRootDir: String, Name: String, Labels: [String], ServerVersion: String, Runtimes: [String: Runtime], DefaultRuntime: String, LiveRestoreEnabled: Bool, SecurityOptions: [String], Warnings: [String]?) {
        self.ID = ID
        self.Containers = Containers
        self.ContainersRunning = ContainersRunning
        self.ContainersPaused = ContainersPaused
        self.ContainersStopped = ContainersStopped
        self.Images = Images
        self.Driver = Driver
        self.DriverStatus = DriverStatus
        self.Plugins = Plugins
        self.MemoryLimit = MemoryLimit
        self.SwapLimit = SwapLimit
        self.CpuCfsPeriod = CpuCfsPeriod
        self.CpuCfsQuota = CpuCfsQuota
        self.CPUShares = CPUShares
        self.CPUSet = CPUSet
        self.PidsLimit = PidsLimit
        self.IPv4Forwarding = IPv4Forwarding
        self.Debug = Debug
        self.NFd = NFd
        self.OomKillDisable = OomKillDisable
        self.NGoroutines = NGoroutines
        self.SystemTime = SystemTime
        self.LoggingDriver = LoggingDriver
        self.CgroupDriver = CgroupDriver
        self.CgroupVersion = CgroupVersion
        self.NEventsListener = NEventsListener
        self.KernelVersion = KernelVersion
        self.OperatingSystem = OperatingSystem
        self.OSVersion = OSVersion
        self.OSType = OSType
        self.Architecture = Architecture
        self.IndexServerAddress = IndexServerAddress
        self.RegistryConfig = RegistryConfig
        self.NCPU = NCPU
        self.MemTotal = MemTotal
        self.DockerRootDir = DockerRootDir
        self.HttpProxy = ""
        self.HttpsProxy = ""
        self.NoProxy = ""
        self.Name = Name
        self.Labels = Labels
        self.ExperimentalBuild = false
        self.ServerVersion = ServerVersion
        self.Runtimes = Runtimes
        self.DefaultRuntime = DefaultRuntime
        self.Swarm = SwarmInfo()
        self.LiveRestoreEnabled = LiveRestoreEnabled
        self.Isolation = ""
        self.InitBinary = ""
        self.SecurityOptions = SecurityOptions
        self.Warnings = Warnings
    }
}

/// `POST /auth` request body (also the decoded `X-Registry-Auth` header).
public struct AuthConfig: Codable, Sendable, Hashable {
    public var username: String?
    public var password: String?
    public var auth: String?
    public var email: String?
    public var serveraddress: String?
    public var identitytoken: String?
    public var registrytoken: String?
    public init(username: String? = nil, password: String? = nil, serveraddress: String? = nil) {
        self.username = username
        self.password = password
        self.serveraddress = serveraddress
    }
}

/// `POST /auth` response.
public struct AuthResponse: Codable, Sendable, Hashable {
    public var Status: String
    public var IdentityToken: String?
    public init(Status: String, IdentityToken: String? = nil) {
        self.Status = Status
        self.IdentityToken = IdentityToken
    }
}

/// `GET /events` item.
public struct EventMessage: Codable, Sendable, Hashable {
    public struct Actor: Codable, Sendable, Hashable {
        public var ID: String
        public var Attributes: [String: String]
        public init(ID: String, Attributes: [String: String]) {
            self.ID = ID
            self.Attributes = Attributes
        }
    }
    public var `Type`: String
    public var Action: String
    public var Actor: Actor
    public var scope: String
    public var time: Int64
    public var timeNano: Int64
    /// Deprecated mirrors kept for old clients (docker-py reads them).
    public var status: String?
    public var id: String?
    public var from: String?

    public init(Type: String, Action: String, Actor: Actor, scope: String = "local", time: Int64, timeNano: Int64) {
        self.Type = Type
        self.Action = Action
        self.Actor = Actor
        self.scope = scope
        self.time = time
        self.timeNano = timeNano
    }
}

/// `GET /system/df`.
public struct SystemDataUsage: Codable, Sendable, Hashable {
    public var LayersSize: Int64
    public var Images: [ImageSummary]
    public var Containers: [JSONValue]
    public var Volumes: [JSONValue]
    public var BuildCache: [JSONValue]
    public init(LayersSize: Int64, Images: [ImageSummary], Containers: [JSONValue] = [], Volumes: [JSONValue] = [], BuildCache: [JSONValue] = []) {
        self.LayersSize = LayersSize
        self.Images = Images
        self.Containers = Containers
        self.Volumes = Volumes
        self.BuildCache = BuildCache
    }
}
