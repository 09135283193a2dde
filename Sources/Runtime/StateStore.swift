import Foundation
import OCI

/// Container status as the OCI runtime spec names it.
public enum ContainerStatus: String, Codable, Sendable {
    case creating, created, running, paused, stopped
}

/// What berth keeps about a container in `<root>/<id>/state.json`.
public struct StoredState: Codable, Sendable {
    public var id: String
    public var pid: Int32
    /// Start time of `pid` (field 22 of /proc/<pid>/stat), to tell a reused pid apart.
    public var pidStartTime: UInt64
    public var bundle: String
    public var rootfs: String
    public var created: String
    public var owner: String
    public var annotations: [String: String]?
    public var cgroupPath: String
    public var namespaces: [String]
    public var useInit: Bool?
    /// The cgroup layout at creation: v2 root, or v1 hierarchies as [mount point, controllers...].
    public var cgroupUnifiedRoot: String?
    public var cgroupHierarchies: [[String]]?
    /// poststop hooks, kept so `delete` need not re-read the spec.
    public var poststop: [Spec.Hook]?

    var cgroupLayout: CgroupLayout? {
        if let root = cgroupUnifiedRoot { return .unified(root: root) }
        guard let hs = cgroupHierarchies else { return nil }
        return .v1(hierarchies: hs.compactMap { h in
            h.isEmpty ? nil : CgroupLayout.Hierarchy(mountPoint: h[0], controllers: Array(h.dropFirst()))
        })
    }

    mutating func record(_ layout: CgroupLayout) {
        switch layout {
        case .unified(let root): cgroupUnifiedRoot = root
        case .v1(let hs): cgroupHierarchies = hs.map { [$0.mountPoint] + $0.controllers }
        }
    }
}

/// A container's state as reported to callers.
public struct ContainerState: Sendable, Equatable {
    public var id: String
    public var pid: Int32
    public var status: ContainerStatus
    public var bundle: String
    public var rootfs: String
    public var created: String
    public var owner: String
    public var annotations: [String: String]?

    /// The OCI/runc `state` JSON.
    public var json: ContainerStateJSON {
        ContainerStateJSON(id: id, pid: status == .stopped ? 0 : pid, status: status.rawValue, bundle: bundle, rootfs: rootfs,
                           created: created, owner: owner, annotations: annotations)
    }
}

/// The on-disk state directory (`--root`, default /run/berth-runtime).
public struct StateStore {
    let root: String

    func dir(_ id: String) -> String { root + "/" + id }
    func fifo(_ id: String) -> String { dir(id) + "/exec.fifo" }
    func configCopy(_ id: String) -> String { dir(id) + "/config.json" }

    static func validate(id: String) throws {
        guard !id.isEmpty, id.count <= 1024,
              id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_+-.".contains($0)) }),
              id != ".", id != ".." else {
            throw BerthError(.invalidArgument, "invalid id format: \(id)")
        }
    }

    func load(_ id: String) throws -> StoredState {
        try Self.validate(id: id)
        guard let bytes = FileIO.readBytes(dir(id) + "/state.json") else {
            throw BerthError(.notFound, "container does not exist")
        }
        if let s = StoredState.fastDecode(bytes) { return s }
        do {
            return try JSONDecoder().decode(StoredState.self, from: Data(bytes))
        } catch {
            throw BerthError(.dataCorrupted, "container state of \(id) is damaged: \(error)")
        }
    }

    func save(_ s: StoredState) throws {
        try FileIO.writeAtomically(dir(s.id) + "/state.json", bytes: s.jsonBytes())
    }

    func ids() -> [String] {
        ((try? LinuxSystem().listDirectory(root)) ?? []).filter {
            $0 != "seccomp-cache" && FileIO.readBytes(root + "/" + $0 + "/state.json") != nil
        }.sorted()
    }

    /// Start time (in clock ticks since boot) and state letter of a process, nil when it is gone.
    static func procStat(_ pid: Int32) -> (start: UInt64, state: Character)? {
        guard pid > 0, let text = FileIO.readString("/proc/\(pid)/stat"),
              let close = text.lastIndex(of: ")") else { return nil }
        let rest = text[text.index(after: close)...].split(separator: " ")
        // rest[0] is the state (field 3); starttime is field 22 → rest[19].
        guard rest.count > 19, let st = rest[0].first, let start = UInt64(rest[19]) else { return nil }
        return (start, st)
    }

    /// Whether the container's init is alive (not gone, not a zombie, not a reused pid).
    static func isAlive(pid: Int32, startTime: UInt64) -> Bool {
        guard let s = procStat(pid) else { return false }
        return s.start == startTime && s.state != "Z" && s.state != "X"
    }

    public static func rfc3339Now() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        let ns = String(ts.tv_nsec)
        let frac = String(repeating: "0", count: 9 - ns.count) + ns
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(tmv.tm_year + 1900)-\(two(tmv.tm_mon + 1))-\(two(tmv.tm_mday))T\(two(tmv.tm_hour)):\(two(tmv.tm_min)):\(two(tmv.tm_sec)).\(frac)Z"
    }
}
