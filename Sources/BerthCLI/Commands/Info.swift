import APIClient
import OCI

/// `berth info` / `berth system info` in Docker's layout.
enum InfoCommand {
    static func clientInfo(_ ctx: CLIContext) -> GoStruct {
        var fields: [GoStruct.Field] = [.init("Debug", .bool(ctx.options.debug))]
        for f in SystemCommands.clientVersion(apiVersion: nil).fields { fields.append(f) }
        fields.append(.init("Plugins", .array([])))
        fields.append(.init("Warnings", .typedNil(.slice)))
        return GoStruct("system.clientInfo", fields)
    }

    static func run(_ inv: Invocation) throws {
        let format = inv.flags.string("format")
        let ctx = inv.ctx
        let client = clientInfo(ctx)
        if format.isEmpty {
            inv.out.writeLine("Client:")
            inv.out.writeLine(" Version:    \(BerthCLI.version)")
            inv.out.writeLine(" Context:    default")
            inv.out.writeLine(" Debug Mode: \(ctx.options.debug)")
            inv.out.writeLine()
            inv.out.writeLine("Server:")
            let body = try inv.client().send(.GET, "/info").1
            let info = try JSON.parse(body)
            let username = (try? ctx.configFile().auths[ConfigFile.indexServer]?.username) ?? nil
            printServer(inv, info, username: username ?? "")
            return
        }
        let f = format == "json" ? "{{json .}}" : format
        let tmpl: GoTemplate
        do {
            tmpl = try GoTemplate(f)
        } catch let e as GoTemplate.Error {
            throw CLIError("template parsing error: \(e.description)", status: 64)
        }
        // Only contact the daemon when the template needs server fields (docker's needsServerInfo).
        let sparse = TemplateValue.object(GoStruct("system.sparseInfo", [.init("ClientInfo", .object(client))]))
        var data = TemplateMap()
        var serverError: (any Error)?
        if format == "json" || (try? tmpl.execute(sparse)) == nil {
            do {
                let body = try inv.client().send(.GET, "/info").1
                if case .map(let m) = InspectOutput.typedView(try JSON.parse(body)) { data = m }
            } catch {
                serverError = error
                inv.err.writeLine(InspectOutput.message(of: error))
            }
        }
        data.isStruct = true
        data["ClientInfo"] = .object(client)
        let text: String
        do {
            text = try tmpl.execute(.map(data))
        } catch let e as GoTemplate.Error {
            inv.out.writeLine()
            throw CLIError(serverError.map { _ in "" } ?? "template: \(e.description)")
        }
        inv.out.writeLine(text)
        if serverError != nil { throw CLIError("") }
    }

    static func printServer(_ inv: Invocation, _ info: TemplateValue, username: String) {
        let o = inv.out
        func s(_ k: String) -> String { info[k]?.stringValue ?? "" }
        func n(_ k: String) -> String { String(info[k]?.int64Value ?? 0) }
        func b(_ k: String) -> String { info[k]?.boolValue == true ? "true" : "false" }
        func nonEmpty(_ label: String, _ v: String) { if !v.isEmpty { o.writeLine(label + " " + v) } }
        o.writeLine(" Containers: " + n("Containers"))
        o.writeLine("  Running: " + n("ContainersRunning"))
        o.writeLine("  Paused: " + n("ContainersPaused"))
        o.writeLine("  Stopped: " + n("ContainersStopped"))
        o.writeLine(" Images: " + n("Images"))
        nonEmpty(" Server Version:", s("ServerVersion"))
        nonEmpty(" Storage Driver:", s("Driver"))
        for pair in info["DriverStatus"]?.arrayValue ?? [] {
            let p = pair.stringArray
            if p.count >= 2 { o.writeLine("  \(p[0]): \(p[1])") }
        }
        for pair in info["SystemStatus"]?.arrayValue ?? [] {
            let p = pair.stringArray
            if p.count >= 2 { o.writeLine(" \(p[0]): \(p[1])") }
        }
        nonEmpty(" Logging Driver:", s("LoggingDriver"))
        nonEmpty(" Cgroup Driver:", s("CgroupDriver"))
        nonEmpty(" Cgroup Version:", s("CgroupVersion"))
        let plugins = info["Plugins"] ?? .invalid
        o.writeLine(" Plugins:")
        o.writeLine("  Volume: " + (plugins["Volume"]?.stringArray ?? []).joined(separator: " "))
        o.writeLine("  Network: " + (plugins["Network"]?.stringArray ?? []).joined(separator: " "))
        let authz = plugins["Authorization"]?.stringArray ?? []
        if !authz.isEmpty { o.writeLine("  Authorization: " + authz.joined(separator: " ")) }
        o.writeLine("  Log: " + (plugins["Log"]?.stringArray ?? []).joined(separator: " "))
        let cdi = info["CDISpecDirs"]?.stringArray ?? []
        if !cdi.isEmpty {
            o.writeLine(" CDI spec directories:")
            for d in cdi { o.writeLine("  " + d) }
        }
        let swarmState = info["Swarm"]?["LocalNodeState"]?.stringValue ?? ""
        o.writeLine(" Swarm: " + swarmState)
        if swarmState != "inactive" && swarmState != "locked" {
            o.writeLine("  NodeID: " + (info["Swarm"]?["NodeID"]?.stringValue ?? ""))
            o.writeLine("  Is Manager: " + (info["Swarm"]?["ControlAvailable"]?.boolValue == true ? "true" : "false"))
            o.writeLine("  Node Address: " + (info["Swarm"]?["NodeAddr"]?.stringValue ?? ""))
        }
        if let rt = info["Runtimes"]?.mapValue, !rt.isEmpty {
            o.writeLine(" Runtimes: " + rt.keys.joined(separator: " "))
            o.writeLine(" Default Runtime: " + s("DefaultRuntime"))
        }
        if s("OSType") == "linux" {
            o.writeLine(" Init Binary: " + s("InitBinary"))
            o.writeLine(" containerd version: " + (info["ContainerdCommit"]?["ID"]?.stringValue ?? ""))
            o.writeLine(" runc version: " + (info["RuncCommit"]?["ID"]?.stringValue ?? ""))
            o.writeLine(" init version: " + (info["InitCommit"]?["ID"]?.stringValue ?? ""))
            let secopts = info["SecurityOptions"]?.stringArray ?? []
            if !secopts.isEmpty {
                o.writeLine(" Security Options:")
                for opt in secopts {
                    guard opt.contains("=") else { o.writeLine("  " + opt); continue }
                    var name = ""
                    var profile: String?
                    for kv in opt.split(separator: ",") {
                        let parts = kv.split(separator: "=", maxSplits: 1).map(String.init)
                        guard parts.count == 2 else { continue }
                        if parts[0] == "name" { name = parts[1] } else if parts[0] == "profile" { profile = parts[1] }
                    }
                    o.writeLine("  " + name)
                    if let profile { o.writeLine("   Profile: " + profile) }
                }
            }
        }
        if s("OSType") == "windows" { o.writeLine(" Default Isolation: " + s("Isolation")) }
        nonEmpty(" Kernel Version:", s("KernelVersion"))
        nonEmpty(" Operating System:", s("OperatingSystem"))
        nonEmpty(" OSType:", s("OSType"))
        nonEmpty(" Architecture:", s("Architecture"))
        o.writeLine(" CPUs: " + n("NCPU"))
        o.writeLine(" Total Memory: " + HumanUnits.bytesSize(Double(info["MemTotal"]?.int64Value ?? 0)))
        nonEmpty(" Name:", s("Name"))
        nonEmpty(" ID:", s("ID"))
        o.writeLine(" Docker Root Dir: " + s("DockerRootDir"))
        o.writeLine(" Debug Mode: " + b("Debug"))
        if info["Debug"]?.boolValue == true || inv.ctx.options.debug {
            o.writeLine("  File Descriptors: " + n("NFd"))
            o.writeLine("  Goroutines: " + n("NGoroutines"))
            o.writeLine("  System Time: " + s("SystemTime"))
            o.writeLine("  EventsListeners: " + n("NEventsListener"))
        }
        nonEmpty(" HTTP Proxy:", s("HttpProxy"))
        nonEmpty(" HTTPS Proxy:", s("HttpsProxy"))
        nonEmpty(" No Proxy:", s("NoProxy"))
        nonEmpty(" Username:", username)
        let labels = info["Labels"]?.stringArray ?? []
        if !labels.isEmpty {
            o.writeLine(" Labels:")
            for l in labels { o.writeLine("  " + l) }
        }
        o.writeLine(" Experimental: " + b("ExperimentalBuild"))
        if let rc = info["RegistryConfig"]?.mapValue {
            let cidrs = rc["InsecureRegistryCIDRs"]?.stringArray ?? []
            let indexes = rc["IndexConfigs"]?.mapValue ?? TemplateMap()
            if !cidrs.isEmpty || !indexes.isEmpty {
                o.writeLine(" Insecure Registries:")
                for (_, cfg) in indexes.pairs where cfg["Secure"]?.boolValue != true {
                    o.writeLine("  " + (cfg["Name"]?.stringValue ?? ""))
                }
                for c in cidrs { o.writeLine("  " + c) }
            }
            let mirrors = rc["Mirrors"]?.stringArray ?? []
            if !mirrors.isEmpty {
                o.writeLine(" Registry Mirrors:")
                for m in mirrors { o.writeLine("  " + m) }
            }
        }
        o.writeLine(" Live Restore Enabled: " + b("LiveRestoreEnabled"))
        if !s("ProductLicense").isEmpty { o.writeLine(" Product License: " + s("ProductLicense")) }
        let pools = info["DefaultAddressPools"]?.arrayValue ?? []
        if !pools.isEmpty {
            o.writeLine(" Default Address Pools:")
            for p in pools { o.writeLine("   Base: \(p["Base"]?.stringValue ?? ""), Size: \(p["Size"]?.int64Value ?? 0)") }
        }
        o.writeLine()
        o.flush()
        for w in info["Warnings"]?.stringArray ?? [] { inv.err.writeLine(w) }
    }
}
