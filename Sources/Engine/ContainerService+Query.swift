import APIModels
import Foundation
import OCI

extension ContainerService {
    /// `GET /containers/{id}/json`.
    public func inspect(_ ref: String) throws -> ContainerInspect {
        let r = try resolve(ref)
        let dir = containerDir(r.ID)
        let lower = r.LowerDirs.joined(separator: ":")
        var gd: [String: String] = ["UpperDir": layerDir(r.ID) + "/diff", "WorkDir": layerDir(r.ID) + "/work",
                                    "MergedDir": mergedDir(r.ID)]
        if !lower.isEmpty { gd["LowerDir"] = lower }
        let mode = r.HostConfig.NetworkMode ?? "default"
        var networks: [String: JSONValue] = [:]
        if mode == "host" || mode == "none" {
            networks[mode] = .object(["NetworkID": .string(""), "EndpointID": .string(""), "Gateway": .string(""),
                                      "IPAddress": .string(""), "IPPrefixLen": .number(0), "MacAddress": .string("")])
        }
        var state = r.State
        if starting.contains(r.ID) && !state.Running { state.Status = "created" }
        return ContainerInspect(
            Id: r.ID, Created: r.Created, Path: r.Path, Args: r.Args, State: state, Image: r.Image,
            ResolvConfPath: dir + "/resolv.conf", HostnamePath: dir + "/hostname", HostsPath: dir + "/hosts",
            LogPath: (r.HostConfig.LogConfig?.Type ?? "json-file") == "none" ? "" : logPath(r.ID), Name: r.Name,
            RestartCount: r.RestartCount, HostConfig: r.HostConfig, GraphDriver: GraphDriverData(Name: "overlay2", Data: gd),
            Mounts: ((try? ContainerMount.parse(r.HostConfig)) ?? []).map(\.inspect),
            Config: r.Config, NetworkSettings: NetworkSettingsAPI(Networks: networks))
    }

    /// `GET /containers/json`.
    public func list(all: Bool, limit: Int?, filters: [String: [String]], size: Bool = false) async throws -> [ContainerSummary] {
        let accepted: Set<String> = ["status", "name", "id", "label", "ancestor", "exited", "before", "since",
                                     "health", "isolation", "network", "publish", "expose", "volume", "is-task"]
        for key in filters.keys where !accepted.contains(key) {
            throw BerthError(.invalidArgument, "invalid filter '\(key)'")
        }
        for s in filters["status"] ?? [] where !["created", "restarting", "running", "removing", "paused", "exited", "dead"].contains(s) {
            throw BerthError(.invalidArgument, "invalid filter 'status=\(s)'")
        }
        for h in filters["health"] ?? [] where !["starting", "healthy", "unhealthy", "none"].contains(h) {
            throw BerthError(.invalidArgument, "Unrecognised filter value for health: \(h)")
        }
        var exitedCodes: [Int] = []
        for e in filters["exited"] ?? [] {
            guard let n = Int(e) else { throw BerthError(.invalidArgument, "invalid filter 'exited=\(e)'") }
            exitedCodes.append(n)
        }
        var ancestorIDs: Set<String> = []
        for a in filters["ancestor"] ?? [] {
            if let img = try? await images.imageForContainer(a) { ancestorIDs.insert(img.id.description) }
        }
        let showAll = all || filters["status"] != nil || filters["exited"] != nil
        var before: String?, since: String?
        if let b = filters["before"]?.first { before = try resolve(b).Created }
        if let s = filters["since"]?.first { since = try resolve(s).Created }
        var out: [(ContainerRecord, ContainerSummary)] = []
        for r in containers.values {
            if !showAll && !r.State.Running { continue }
            if let st = filters["status"], !st.contains(r.State.Status) { continue }
            if !exitedCodes.isEmpty && (r.State.Status != "exited" || !exitedCodes.contains(r.State.ExitCode)) { continue }
            if let ids = filters["id"], !ids.contains(where: { r.ID.hasPrefix($0) }) { continue }
            if let ns = filters["name"], !ns.contains(where: { pattern in
                let name = String(r.Name.dropFirst())
                return (try? NSRegularExpression(pattern: pattern.hasPrefix("/") ? String(pattern.dropFirst()) : pattern))
                    .map { $0.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil } ?? false
            }) { continue }
            if let ls = filters["label"] {
                let labels = r.Config.Labels ?? [:]
                let ok = ls.allSatisfy { l in
                    if let eq = l.firstIndex(of: "=") {
                        return labels[String(l[..<eq])] == String(l[l.index(after: eq)...])
                    }
                    return labels[l] != nil
                }
                if !ok { continue }
            }
            if filters["ancestor"] != nil, !ancestorIDs.contains(r.Image) { continue }
            if let hs = filters["health"], !hs.contains(r.State.Health?.Status ?? "none") { continue }
            if let before, r.Created >= before { continue }
            if let since, r.Created <= since { continue }
            var item = summary(r)
            if size {
                let rw = Self.directorySize(layerDir(r.ID) + "/diff")
                item.SizeRw = rw
                item.SizeRootFs = rw + ((try? await images.inspect(r.Image).Size) ?? 0)
            }
            out.append((r, item))
        }
        out.sort { $0.0.Created > $1.0.Created }
        var result = out.map(\.1)
        if let limit, limit > 0 { result = Array(result.prefix(limit)) }
        return result
    }

    func summary(_ r: ContainerRecord) -> ContainerSummary {
        // moby's list: args with a space are single-quoted, the path is not.
        let command = r.Args.isEmpty ? r.Path
            : r.Path + " " + r.Args.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
        let created = ContainerService.unixSeconds(r.Created)
        return ContainerSummary(
            Id: r.ID, Names: [r.Name], Image: r.Config.Image ?? r.Image, ImageID: r.Image, Command: command,
            Created: created, Labels: r.Config.Labels ?? [:], State: r.State.Status, Status: statusText(r),
            NetworkMode: r.HostConfig.NetworkMode ?? "default")
    }

    /// `Up 5 seconds`, `Exited (0) 3 minutes ago`, `Created`.
    func statusText(_ r: ContainerRecord) -> String {
        let now = Date().timeIntervalSince1970
        if r.State.Running {
            let up = ContainerService.humanDuration(now - Double(ContainerService.unixSeconds(r.State.StartedAt)))
            if r.State.Paused { return "Up \(up) (Paused)" }
            if let h = r.State.Health { return "Up \(up) (\(HealthMachine.statusSuffix(h)))" }
            return "Up \(up)"
        }
        if r.State.Status == "exited" || r.HasBeenStartedBefore {
            let ago = ContainerService.humanDuration(now - Double(ContainerService.unixSeconds(r.State.FinishedAt)))
            return "Exited (\(r.State.ExitCode)) \(ago) ago"
        }
        return "Created"
    }

    /// Seconds of an RFC 3339 UTC stamp (`2006-01-02T15:04:05…`; the fraction is ignored); 0 if it
    /// is not one. By hand: an ISO8601DateFormatter per call cost ~0.1 ms, twice per `ps` line.
    static func unixSeconds(_ s: String) -> Int64 {
        let u = Array(s.utf8.prefix(19))
        guard u.count == 19, u[4] == 0x2D, u[7] == 0x2D, u[10] == 0x54, u[13] == 0x3A, u[16] == 0x3A else { return 0 }
        func num(_ a: Int, _ b: Int) -> Int? {
            var v = 0
            for c in u[a..<b] {
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            return v
        }
        guard let y = num(0, 4), let mo = num(5, 7), let d = num(8, 10), let h = num(11, 13), let mi = num(14, 16),
              let sec = num(17, 19), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, sec < 61 else { return 0 }
        // Days from civil (Howard Hinnant's algorithm), proleptic Gregorian, no time zone database.
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return Int64(days) * 86_400 + Int64(h * 3600 + mi * 60 + sec)
    }

    /// go-units `HumanDuration`.
    static func humanDuration(_ d: Double) -> String {
        let s = Int(d)
        if s < 1 { return "Less than a second" }
        if s == 1 { return "1 second" }
        if s < 60 { return "\(s) seconds" }
        let m = Int(d / 60)
        if m == 1 { return "About a minute" }
        if m < 60 { return "\(m) minutes" }
        let h = Int((d / 3600).rounded())
        if h == 1 { return "About an hour" }
        if h < 48 { return "\(h) hours" }
        if h < 24 * 7 * 2 { return "\(h / 24) days" }
        if h < 24 * 30 * 2 { return "\(h / 24 / 7) weeks" }
        if h < 24 * 365 * 2 { return "\(h / 24 / 30) months" }
        return "\(h / 24 / 365) years"
    }

    /// The log file path, TTY flag and whether the container is running (for `logs`).
    public func logSource(_ ref: String) throws -> (id: String, path: String, tty: Bool, logDriver: String) {
        let r = try resolve(ref)
        return (r.ID, logPath(r.ID), r.Config.Tty == true, r.HostConfig.LogConfig?.Type ?? "json-file")
    }

    public func isRunning(_ id: String) -> Bool { containers[id]?.State.Running == true || starting.contains(id) }

    /// For attach: TTY, stdin open, and stdin-once.
    public func attachInfo(_ ref: String) throws -> (id: String, tty: Bool, openStdin: Bool) {
        let r = try resolve(ref)
        return (r.ID, r.Config.Tty == true, r.Config.OpenStdin == true)
    }

    public func publishAttach(_ id: String) async {
        if let r = containers[id] { await publish("attach", r) }
    }

    public func publishDetach(_ id: String) async {
        if let r = containers[id] { await publish("detach", r) }
    }
}
