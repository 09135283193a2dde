import Foundation
import OCI

/// Which cgroup hierarchy layout the host has.
public enum CgroupLayout: Equatable, Sendable {
    /// cgroup v1 (or hybrid): one mount per hierarchy. `hierarchies` maps each mount point to the
    /// controllers (super options) mounted there, e.g. "/sys/fs/cgroup/cpu" → ["cpu"].
    case v1(hierarchies: [Hierarchy])
    /// cgroup v2 only ("unified" mode): one tree at `root`.
    case unified(root: String)

    public struct Hierarchy: Equatable, Sendable {
        public var mountPoint: String
        public var controllers: [String]
        /// The options to mount it with inside a container ("cpu,cpuacct", "name=systemd").
        public var options: String { controllers.joined(separator: ",") }
        public var name: String { String(mountPoint.split(separator: "/").last ?? "") }
    }

    static let cgroup2Magic = 0x6367_7270

    /// Detects the host's layout: unified when /sys/fs/cgroup itself is cgroup2, else the v1
    /// hierarchies listed in /proc/self/mountinfo.
    public static func detect(_ sys: any SystemInterface, root: String = "/sys/fs/cgroup") throws -> CgroupLayout {
        if sys.fileSystemType(root) == cgroup2Magic { return .unified(root: root) }
        let info = try sys.readFile("/proc/self/mountinfo")
        return .v1(hierarchies: parseV1(mountinfo: info))
    }

    /// The cgroup v1 hierarchies of a mountinfo text.
    public static func parseV1(mountinfo: String) -> [Hierarchy] {
        // Plain splits, no Foundation `range(of:)` or Set literal: this runs on every container start.
        let skip = ["rw", "ro", "clone_children", "noprefix", "xattr", "cpuset_v2_mode"]
        var out: [Hierarchy] = []
        for line in mountinfo.utf8.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "))
            // Optional fields end at "-"; then fs type, source, super options.
            guard let dash = fields.firstIndex(where: { $0.count == 1 && $0.first == UInt8(ascii: "-") }),
                  dash >= 5, fields.count >= dash + 4,
                  fields[dash + 1].elementsEqual("cgroup".utf8) else { continue }
            var opts: [String] = []
            for o in fields[dash + 3].split(separator: UInt8(ascii: ",")) {
                let s = String(decoding: o, as: UTF8.self)
                if skip.contains(s) || s.hasPrefix("release_agent") { continue }
                opts.append(s)
            }
            guard !opts.isEmpty else { continue }
            let mp = String(decoding: fields[4], as: UTF8.self)
            if !out.contains(where: { $0.mountPoint == mp }) {
                out.append(Hierarchy(mountPoint: mp, controllers: opts))
            }
        }
        return out
    }
}

/// Memory, CPU and pids figures of a container's cgroup (what `docker stats` shows).
public struct CgroupStats: Codable, Equatable, Sendable {
    public var cpuUsageNanos: UInt64 = 0
    public var cpuUserNanos: UInt64 = 0
    public var cpuSystemNanos: UInt64 = 0
    public var perCPUNanos: [UInt64] = []
    public var memoryUsage: UInt64 = 0
    public var memoryMaxUsage: UInt64 = 0
    /// The limit (the host's memory when unlimited, as docker stats shows).
    public var memoryLimit: UInt64 = 0
    public var memoryFailCount: UInt64 = 0
    public var memoryStat: [String: UInt64] = [:]
    public var oomEvents: UInt64 = 0
    public var oomKills: UInt64 = 0
    public var pidsCurrent: UInt64 = 0
    public var pidsLimit: UInt64 = 0
    public init() {}
}

/// A container's cgroup (cgroupfs manager, v1 and v2): creation, limits, membership, freezer,
/// stats and removal. All file access goes through `SystemInterface`.
public struct CgroupManager: Sendable {
    public let sys: any SystemInterface
    public let layout: CgroupLayout
    /// The cgroup path, absolute from the hierarchy root ("/berth/<id>").
    public let path: String

    public init(sys: any SystemInterface = LinuxSystem(), layout: CgroupLayout, path: String) {
        self.sys = sys
        self.layout = layout
        self.path = path
    }

    /// Normalizes an OCI `cgroupsPath`: "/a/b" stays, "a/b" is taken from the root, and the systemd
    /// form "slice:prefix:name" becomes "/slice/prefix-name.scope". Empty → "/berth/<id>".
    public static func normalize(cgroupsPath: String?, id: String) throws -> String {
        guard let p = cgroupsPath, !p.isEmpty else { return "/berth/\(id)" }
        var path = p
        let parts = p.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 3 && !p.hasPrefix("/") {
            let slice = parts[0].isEmpty ? "system.slice" : String(parts[0])
            path = "/\(slice)/\(parts[1])-\(parts[2]).scope"
        }
        if !path.hasPrefix("/") { path = "/" + path }
        // No `[Substring].joined`: unspecialized generic code, ~0.2 ms of first-use type lookups.
        var out = ""
        for comp in path.split(separator: "/") {
            if comp == ".." || comp == "." { throw BerthError(.invalidArgument, "invalid cgroupsPath \(p)") }
            out += "/"
            out += comp
        }
        return out.isEmpty ? "/" : out
    }

    /// Host directories of this cgroup, one per v1 hierarchy (or the single v2 one).
    public var directories: [String] {
        switch layout {
        case .v1(let hs): return hs.map { $0.mountPoint + path }
        case .unified(let root): return [root + path]
        }
    }

    /// The directory holding `controller`'s files.
    public func directory(for controller: String) -> String? {
        switch layout {
        case .v1(let hs):
            return hs.first(where: { $0.controllers.contains(controller) }).map { $0.mountPoint + path }
        case .unified(let root):
            return root + path
        }
    }

    /// Creates the cgroup (and its ancestors). In v1 cpuset, new groups inherit the parent's cpus/mems.
    public func create() throws {
        switch layout {
        case .v1(let hs):
            for h in hs {
                if h.controllers.contains("cpuset") {
                    try createCpuset(root: h.mountPoint)
                } else {
                    try sys.mkdirAll(h.mountPoint + path, mode: 0o755)
                }
            }
        case .unified(let root):
            // Enable the controllers down the tree so the leaf gets their files.
            let wanted = (try? sys.readFile(root + "/cgroup.controllers"))?.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init) ?? []
            let enable = wanted.filter { ["cpu", "cpuset", "io", "memory", "pids", "hugetlb"].contains($0) }
            var dir = root
            for comp in path.split(separator: "/") {
                if !enable.isEmpty {
                    try? sys.writeFile(dir + "/cgroup.subtree_control", enable.map { "+" + $0 }.joined(separator: " "))
                }
                dir += "/" + comp
                try sys.mkdirAll(dir, mode: 0o755)
            }
        }
    }

    private func createCpuset(root: String) throws {
        var dir = root
        for comp in path.split(separator: "/") {
            let parent = dir
            dir += "/" + comp
            if sys.exists(dir) { continue }
            try sys.mkdirAll(dir, mode: 0o755)
            for f in ["cpuset.cpus", "cpuset.mems"] {
                let v = (try? sys.readFile(parent + "/" + f))?.trimmedWhitespace ?? ""
                if !v.isEmpty { try? sys.writeFile(dir + "/" + f, v) }
            }
        }
    }

    /// Puts process `pid` into the cgroup.
    public func join(pid: Int32) throws {
        for dir in directories {
            try sys.writeFile(dir + "/cgroup.procs", String(pid))
        }
    }

    /// Applies `resources`, file by file.
    public func apply(_ resources: Spec.Resources?) throws {
        guard let resources else { return }
        for (file, value) in try Self.writes(for: resources, layout: layout) {
            let controller = String(file.prefix(while: { $0 != "." }))
            guard let dir = directory(for: controller) else {
                throw BerthError(.unsupported, "cgroup controller \(controller) is not available")
            }
            do {
                try sys.writeFile(dir + "/" + file, value)
            } catch let e as BerthError {
                if file == "memory.memsw.limit_in_bytes" && e.code == .notFound {
                    throw BerthError(.unsupported, "swap limit is not supported by the kernel (no memory.memsw.limit_in_bytes)")
                }
                if file.hasPrefix("devices.") && !sys.exists(dir + "/" + file) { continue }
                throw BerthError(.internalError, "setting cgroup \(file) to \(value)", cause: e)
            }
        }
        if case .unified(let root) = layout, let devices = resources.devices {
            // v2 has no devices.allow/deny: the same rules as an eBPF program (see DeviceFilter).
            let program = try DeviceFilter.program(for: devices + Self.runcAllowedDevices)
            try sys.attachDeviceFilter(program, cgroup: root + path)
        }
    }

    /// Removes the cgroup directories (retrying briefly while the kernel still holds them).
    public func destroy() throws {
        var lastError: (any Error)?
        for dir in directories.reversed() {
            for attempt in 0..<50 {
                do {
                    try sys.removeDirectory(dir)
                    lastError = nil
                    break
                } catch {
                    lastError = error
                    if attempt < 49 { usleep(attempt < 10 ? 1000 : 10_000) }
                }
            }
        }
        if let lastError { throw BerthError.wrap(lastError, "removing cgroup \(path)") }
    }

    /// The pids in the cgroup.
    public func processes() -> [Int32] {
        let dir = directory(for: "pids") ?? directory(for: "freezer") ?? directories.first
        guard let dir, let text = try? sys.readFile(dir + "/cgroup.procs") else { return [] }
        return text.split(separator: "\n").compactMap { Int32($0) }
    }

    /// Freezes (pause) or thaws (resume) every process of the cgroup, waiting until it took effect.
    public func setFrozen(_ frozen: Bool) throws {
        switch layout {
        case .v1:
            guard let dir = directory(for: "freezer") else { throw BerthError(.unsupported, "freezer cgroup is not available") }
            let want = frozen ? "FROZEN" : "THAWED"
            for _ in 0..<1000 {
                try sys.writeFile(dir + "/freezer.state", want)
                let state = (try? sys.readFile(dir + "/freezer.state"))?.trimmingCharacters(in: .whitespacesAndNewlines)
                if state == want { return }
                usleep(1000)
            }
            throw BerthError(.internalError, "timed out setting freezer.state to \(want)")
        case .unified(let root):
            let dir = root + path
            try sys.writeFile(dir + "/cgroup.freeze", frozen ? "1" : "0")
            for _ in 0..<1000 {
                let events = (try? sys.readFile(dir + "/cgroup.events")) ?? ""
                if events.contains("frozen \(frozen ? 1 : 0)") { return }
                usleep(1000)
            }
            throw BerthError(.internalError, "timed out waiting for cgroup.freeze")
        }
    }

    /// Whether the cgroup is frozen.
    public func isFrozen() -> Bool {
        switch layout {
        case .v1:
            guard let dir = directory(for: "freezer") else { return false }
            return (try? sys.readFile(dir + "/freezer.state"))?.hasPrefix("FROZEN") ?? false
        case .unified(let root):
            return (try? sys.readFile(root + path + "/cgroup.events"))?.contains("frozen 1") ?? false
        }
    }
}
