import APIModels
import Foundation
import OCI

/// berth's build identity, reported by `/version`, `/info` and the `Server` header.
public enum BerthBuild {
    public static let version = "0.1.0"
    public static let gitCommit = ""
    /// Docker reports the Go toolchain here; berth reports the Swift one.
    public static var toolchain: String {
        #if compiler(>=6.3)
        return "swift6.3"
        #elseif compiler(>=6.2)
        return "swift6.2"
        #else
        return "swift6"
        #endif
    }
    public static let apiVersion = "1.50"
    public static let minAPIVersion = "1.24"
}

/// Host facts and daemon identity for `/version` and `/info`. Cheap to call: everything is read on
/// demand from the kernel and /proc (nothing is cached but the engine ID).
public struct SystemService: Sendable {
    public let config: DaemonConfig
    /// Stable per data root: a UUID kept in `<data-root>/engine-id`, like dockerd's.
    public let engineID: String

    /// Loads (or creates) the engine ID under the data root, which must exist.
    public init(config: DaemonConfig) throws {
        self.config = config
        self.engineID = try SystemService.loadEngineID(dataRoot: config.dataRoot)
    }

    public init(config: DaemonConfig, engineID: String) {
        self.config = config
        self.engineID = engineID
    }

    static func loadEngineID(dataRoot: String) throws -> String {
        let path = dataRoot + "/engine-id"
        if let data = FileManager.default.contents(atPath: path) {
            let id = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !id.isEmpty { return id }
        }
        let id = UUID().uuidString.lowercased()
        let tmp = path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(id.utf8), attributes: [.posixPermissions: 0o600]),
              rename(tmp, path) == 0 else {
            throw BerthError(.internalError, "failed to write \(path): \(String(cString: strerror(errno)))")
        }
        return id
    }

    // MARK: - /version

    public func version() -> SystemVersion {
        let kernel = HostFacts.kernelRelease()
        let details: [String: String] = [
            "ApiVersion": BerthBuild.apiVersion, "Arch": HostFacts.goArch, "BuildTime": "",
            "Experimental": "false", "GitCommit": BerthBuild.gitCommit, "GoVersion": BerthBuild.toolchain,
            "KernelVersion": kernel, "MinAPIVersion": BerthBuild.minAPIVersion, "Os": "linux",
        ]
        var v = SystemVersion(
            Platform: .init(Name: "berth"),
            Components: [.init(Name: "Engine", Version: BerthBuild.version, Details: details)],
            Version: BerthBuild.version, ApiVersion: BerthBuild.apiVersion, MinAPIVersion: BerthBuild.minAPIVersion,
            GitCommit: BerthBuild.gitCommit, GoVersion: BerthBuild.toolchain, Os: "linux", Arch: HostFacts.goArch,
            KernelVersion: kernel, BuildTime: nil)
        v.Experimental = false
        return v
    }

    // MARK: - /info

    /// Container counts for `/info` (zero until containers land).
    public struct ContainerCounts: Sendable {
        public var running = 0, paused = 0, stopped = 0
        public var total: Int { running + paused + stopped }
        public init(running: Int = 0, paused: Int = 0, stopped: Int = 0) {
            self.running = running
            self.paused = paused
            self.stopped = stopped
        }
    }

    public func info(images: Int, containers: ContainerCounts = .init(), eventListeners: Int, warnings: [String] = []) -> SystemInfo {
        let os = HostFacts.osRelease()
        let cgroupVersion = HostFacts.cgroupVersion()
        var security = ["name=seccomp,profile=builtin"]
        if cgroupVersion == "2" { security.append("name=cgroupns") }
        var indexConfigs: [String: SystemInfo.RegistryServiceConfig.IndexInfo] = [
            "docker.io": .init(Name: "docker.io", Mirrors: mirrors, Secure: true, Official: true),
        ]
        for host in config.insecureRegistryHosts {
            indexConfigs[host] = .init(Name: host, Mirrors: [], Secure: false, Official: false)
        }
        let runtimes = config.allRuntimes.mapValues { SystemInfo.Runtime(path: $0.path, runtimeArgs: $0.runtimeArgs) }
        var info = SystemInfo(
            ID: engineID, Containers: containers.total, ContainersRunning: containers.running,
            ContainersPaused: containers.paused, ContainersStopped: containers.stopped, Images: images,
            Driver: "overlay2",
            DriverStatus: [["Backing Filesystem", HostFacts.filesystemName(config.dataRoot)],
                           ["Supports d_type", "true"], ["Using metacopy", "false"], ["Native Overlay Diff", "true"],
                           ["userxattr", "false"]],
            Plugins: .init(Volume: ["local"], Network: ["bridge", "host", "none"], Authorization: nil, Log: ["json-file"]),
            MemoryLimit: true, SwapLimit: true, CpuCfsPeriod: true, CpuCfsQuota: true, CPUShares: true, CPUSet: true,
            PidsLimit: true, IPv4Forwarding: HostFacts.ipv4Forwarding(), Debug: config.debug,
            NFd: HostFacts.openFileCount(), OomKillDisable: cgroupVersion == "1", NGoroutines: HostFacts.threadCount(),
            SystemTime: HostFacts.rfc3339Now(), LoggingDriver: "json-file", CgroupDriver: "cgroupfs",
            CgroupVersion: cgroupVersion, NEventsListener: eventListeners, KernelVersion: HostFacts.kernelRelease(),
            OperatingSystem: os.prettyName, OSVersion: os.versionID, OSType: "linux", Architecture: HostFacts.machine(),
            IndexServerAddress: "https://index.docker.io/v1/",
            RegistryConfig: .init(InsecureRegistryCIDRs: config.insecureRegistryCIDRs, IndexConfigs: indexConfigs,
                                  Mirrors: mirrors),
            NCPU: HostFacts.cpuCount(), MemTotal: HostFacts.memTotal(), DockerRootDir: config.dataRoot,
            Name: HostFacts.hostname(), Labels: config.labels, ServerVersion: BerthBuild.version, Runtimes: runtimes,
            DefaultRuntime: config.defaultRuntime, LiveRestoreEnabled: config.liveRestore, SecurityOptions: security,
            Warnings: warnings.isEmpty ? nil : warnings)
        info.HttpProxy = ProcessInfo.processInfo.environment["HTTP_PROXY"] ?? ProcessInfo.processInfo.environment["http_proxy"] ?? ""
        info.HttpsProxy = ProcessInfo.processInfo.environment["HTTPS_PROXY"] ?? ProcessInfo.processInfo.environment["https_proxy"] ?? ""
        info.NoProxy = ProcessInfo.processInfo.environment["NO_PROXY"] ?? ProcessInfo.processInfo.environment["no_proxy"] ?? ""
        return info
    }

    private var mirrors: [String] {
        config.registryMirrors.compactMap { try? DaemonConfig.validateMirror($0) }
    }
}

/// Small readers of host facts (uname, /proc, /etc/os-release, statfs).
public enum HostFacts {
    /// `GOARCH`-style architecture name (`/version`'s `Arch`).
    public static var goArch: String {
        #if arch(x86_64)
        return "amd64"
        #elseif arch(arm64)
        return "arm64"
        #else
        return machine()
        #endif
    }

    private static func uts(_ body: (inout utsname) -> String) -> String {
        var u = utsname()
        guard uname(&u) == 0 else { return "" }
        return body(&u)
    }

    private static func cString<T>(_ field: inout T) -> String {
        withUnsafeBytes(of: &field) { raw in String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }

    /// `uname -r`.
    public static func kernelRelease() -> String { uts { cString(&$0.release) } }
    /// `uname -m` (`/info`'s `Architecture`, e.g. `x86_64`).
    public static func machine() -> String { uts { cString(&$0.machine) } }

    public static func hostname() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count) == 0 else { return "" }
        return buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    public static func cpuCount() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// `MemTotal` from /proc/meminfo, in bytes.
    public static func memTotal() -> Int64 {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("MemTotal:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kb = Int64(fields[1]) { return kb * 1024 }
        }
        return 0
    }

    /// `PRETTY_NAME` and `VERSION_ID` from /etc/os-release (or /usr/lib/os-release).
    public static func osRelease() -> (prettyName: String, versionID: String) {
        let text = (try? String(contentsOfFile: "/etc/os-release", encoding: .utf8))
            ?? (try? String(contentsOfFile: "/usr/lib/os-release", encoding: .utf8)) ?? ""
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            var value = String(line[line.index(after: eq)...])
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            fields[String(line[..<eq])] = value
        }
        return (fields["PRETTY_NAME"] ?? "Linux", fields["VERSION_ID"] ?? "")
    }

    /// "2" when /sys/fs/cgroup is a cgroup2 mount, else "1".
    public static func cgroupVersion(path: String = "/sys/fs/cgroup") -> String {
        mountFSType(containing: path, exact: true) == "cgroup2" ? "2" : "1"
    }

    /// The filesystem under `path` as dockerd names it (`extfs`, `xfs`, `tmpfs`, …).
    public static func filesystemName(_ path: String) -> String {
        switch mountFSType(containing: path, exact: false) {
        case "ext2", "ext3", "ext4": return "extfs"
        case "overlay": return "overlayfs"
        case let type?: return type
        case nil: return "<unknown>"
        }
    }

    /// The type of the mount at (`exact`) or containing `path`, from /proc/self/mountinfo.
    static func mountFSType(containing path: String, exact: Bool) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        var best: (length: Int, type: String)?
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 7, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { continue }
            let mountPoint = unescapeMountPath(String(fields[4]))
            let matches = exact ? mountPoint == path
                : path == mountPoint || mountPoint == "/" || path.hasPrefix(mountPoint + "/")
            if matches, mountPoint.count >= (best?.length ?? -1) {
                best = (mountPoint.count, String(fields[dash + 1]))
            }
        }
        return best?.type
    }

    private static func unescapeMountPath(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = "", chars = Array(s), i = 0
        while i < chars.count {
            if chars[i] == "\\", i + 3 < chars.count, let v = UInt8(String(chars[(i + 1)...(i + 3)]), radix: 8) {
                out.append(Character(UnicodeScalar(v)))
                i += 4
            } else {
                out.append(chars[i])
                i += 1
            }
        }
        return out
    }

    public static func ipv4Forwarding() -> Bool {
        (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_forward", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) == "1"
    }

    public static func openFileCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
    }

    /// Threads of this process (berth's stand-in for Docker's goroutine count).
    public static func threadCount() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("Threads:") {
            return Int(line.dropFirst("Threads:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return 0
    }

    /// Now, in RFC 3339 with nanoseconds and the local offset (Go's `time.RFC3339Nano`).
    public static func rfc3339Now() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tm = tm()
        localtime_r(&t, &tm)
        let offset = tm.tm_gmtoff
        var s = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec)
        var frac = String(format: "%09ld", ts.tv_nsec)
        while frac.hasSuffix("0") { frac.removeLast() }
        if !frac.isEmpty { s += "." + frac }
        if offset == 0 { return s + "Z" }
        let a = abs(offset)
        return s + (offset < 0 ? "-" : "+") + String(format: "%02ld:%02ld", a / 3600, (a % 3600) / 60)
    }
}
