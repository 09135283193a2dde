import APIModels
import Foundation
import OCI

/// `GET /containers/{id}/top`.
public struct ContainerTopResponse: Codable, Sendable {
    public var Titles: [String]
    public var Processes: [[String]]
}

/// `POST /containers/prune`.
public struct ContainerPruneResponse: Codable, Sendable {
    public var ContainersDeleted: [String]?
    public var SpaceReclaimed: Int64
}

extension ContainerService {
    /// `POST /containers/{id}/pause` (`RUNTIME pause`: cgroup freezer).
    public func pause(_ ref: String) async throws {
        var r = try resolve(ref)
        guard r.State.Running else { throw BerthError(.conflict, "Container \(r.ID) is not running") }
        if r.State.Paused { throw BerthError(.conflict, "Container \(r.ID) is already paused") }
        let out = await runtimeCommand(r, ["pause", r.ID])
        guard out.status == 0 else {
            throw BerthError(.internalError, Self.runtimeMessage(out.stderr + out.stdout) ?? "pause failed")
        }
        r = containers[r.ID] ?? r
        r.State.Paused = true
        r.State.Status = "paused"
        stopHealth(r.ID, state: &r.State)
        update(r)
        await publish("pause", r)
    }

    /// `POST /containers/{id}/unpause`.
    public func unpause(_ ref: String) async throws {
        var r = try resolve(ref)
        guard r.State.Paused else { throw BerthError(.conflict, "Container \(r.ID) is not paused") }
        let out = await runtimeCommand(r, ["resume", r.ID])
        guard out.status == 0 else {
            throw BerthError(.internalError, Self.runtimeMessage(out.stderr + out.stdout) ?? "unpause failed")
        }
        r = containers[r.ID] ?? r
        r.State.Paused = false
        r.State.Status = r.State.Running ? "running" : "exited"
        update(r)
        startHealth(r.ID, fresh: false)
        await publish("unpause", r)
    }

    /// `POST /containers/{id}/rename?name=`.
    public func rename(_ ref: String, to newName: String) async throws {
        var r = try resolve(ref)
        guard ContainerNames.isValid(newName) else {
            throw BerthError(.invalidArgument, "Invalid container name (\(newName)), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        }
        let name = newName.hasPrefix("/") ? newName : "/" + newName
        if name == r.Name { throw BerthError(.invalidArgument, "Renaming a container with the same name as its current name") }
        if let other = names[name] {
            throw BerthError(.conflict, "Conflict. The container name \"\(name)\" is already in use by container \"\(other)\". You have to remove (or rename) that container to be able to reuse that name.")
        }
        let old = r.Name
        names.removeValue(forKey: old)
        names[name] = r.ID
        r.Name = name
        update(r)
        await publish("rename", r, extra: ["oldName": old])
    }

    /// `POST /containers/prune`: removes every stopped container (filters `until`, `label`).
    public func prune(filters: [String: [String]]) async throws -> ContainerPruneResponse {
        for key in filters.keys where key != "until" && key != "label" && key != "label!" {
            throw BerthError(.invalidArgument, "invalid filter '\(key)'")
        }
        var until: Int64?
        if let u = filters["until"]?.first {
            if let n = Double(u) { until = Int64(n) }
            else if let d = ISO8601DateFormatter().date(from: u) { until = Int64(d.timeIntervalSince1970) }
            else { throw BerthError(.invalidArgument, "invalid filter 'until=\(u)'") }
        }
        var deleted: [String] = []
        var reclaimed: Int64 = 0
        for r in containers.values where !r.State.Running && !starting.contains(r.ID) {
            if let until, Self.unixSeconds(r.Created) >= until { continue }
            let labels = r.Config.Labels ?? [:]
            func match(_ l: String) -> Bool {
                if let eq = l.firstIndex(of: "=") { return labels[String(l[..<eq])] == String(l[l.index(after: eq)...]) }
                return labels[l] != nil
            }
            if let ls = filters["label"], !ls.allSatisfy(match) { continue }
            if let ls = filters["label!"], ls.contains(where: match) { continue }
            reclaimed += Self.directorySize(layerDir(r.ID) + "/diff")
            await destroy(r)
            deleted.append(r.ID)
        }
        await events.publish(type: "container", action: "prune", id: "", attributes: ["reclaimed": "\(reclaimed)"])
        return ContainerPruneResponse(ContainersDeleted: deleted, SpaceReclaimed: reclaimed)
    }

    static func directorySize(_ path: String) -> Int64 {
        guard let e = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total: Int64 = 0
        while let f = e.nextObject() as? String {
            if let a = try? FileManager.default.attributesOfItem(atPath: path + "/" + f),
               (a[.type] as? FileAttributeType) == .typeRegular {
                total += (a[.size] as? Int64) ?? 0
            }
        }
        return total
    }

    /// `GET /containers/{id}/top?ps_args=`: host `ps` filtered to the container's processes.
    public func top(_ ref: String, psArgs: String?) async throws -> ContainerTopResponse {
        let r = try resolve(ref)
        guard r.State.Running else { throw BerthError(.conflict, "Container \(r.ID) is not running") }
        let pids = Set(Self.cgroupPids(initPid: r.State.Pid))
        let args = (psArgs ?? "").isEmpty ? ["-ef"] : psArgs!.split(separator: " ").map(String.init)
        let out = await ContainerSystem.run(["ps"] + args)
        guard out.status == 0 else {
            throw BerthError(.internalError, "Error running ps: exit status \(out.status): \(out.stderr)")
        }
        let lines = out.stdout.split(separator: "\n").map(String.init)
        guard let header = lines.first else { return ContainerTopResponse(Titles: [], Processes: []) }
        let titles = header.split(separator: " ").map(String.init)
        guard let pidCol = titles.firstIndex(of: "PID") else {
            throw BerthError(.internalError, "Couldn't find PID field in ps output")
        }
        var procs: [[String]] = []
        for line in lines.dropFirst() {
            let fields = line.split(separator: " ", maxSplits: titles.count - 1).map(String.init)
            guard fields.count > pidCol, let pid = Int(fields[pidCol]), pids.contains(pid) else { continue }
            procs.append(fields)
        }
        return ContainerTopResponse(Titles: titles, Processes: procs)
    }

    /// Pids in the container's cgroup (found through its init's `/proc/PID/cgroup`).
    static func cgroupPids(initPid: Int) -> [Int] {
        guard initPid > 0, let text = try? String(contentsOfFile: "/proc/\(initPid)/cgroup", encoding: .utf8) else {
            return initPid > 0 ? [initPid] : []
        }
        var candidates: [String] = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let ctrl = String(parts[1]), path = String(parts[2])
            if ctrl.isEmpty { candidates.append("/sys/fs/cgroup\(path)/cgroup.procs"); candidates.append("/sys/fs/cgroup/unified\(path)/cgroup.procs") }
            if ctrl.split(separator: ",").contains("pids") { candidates.insert("/sys/fs/cgroup/pids\(path)/cgroup.procs", at: 0) }
            if ctrl.split(separator: ",").contains("memory") { candidates.append("/sys/fs/cgroup/memory\(path)/cgroup.procs") }
        }
        for c in candidates {
            if let procs = try? String(contentsOfFile: c, encoding: .utf8) {
                let pids = procs.split(separator: "\n").compactMap { Int($0) }
                if !pids.isEmpty { return pids }
            }
        }
        return [initPid]
    }
}
