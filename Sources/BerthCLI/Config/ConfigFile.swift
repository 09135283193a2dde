import APIModels
import Foundation
import OCI

/// Docker's client configuration (`~/.docker/config.json`, or `$DOCKER_CONFIG/config.json`).
///
/// Keys berth does not know are kept as they are when the file is saved.
public final class ConfigFile: @unchecked Sendable {
    public let path: String
    var doc: TemplateMap

    /// Docker Hub's key in `auths`.
    public static let indexServer = "https://index.docker.io/v1/"

    init(path: String, doc: TemplateMap) {
        self.path = path
        self.doc = doc
    }

    /// Loads `dir/config.json`; a missing file is an empty configuration.
    public static func load(dir: String) throws -> ConfigFile {
        let path = dir + "/config.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            return ConfigFile(path: path, doc: TemplateMap())
        }
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D }) {
            return ConfigFile(path: path, doc: TemplateMap())
        }
        do {
            guard case .map(let m) = try JSON.parse(data) else { throw JSON.ParseError(description: "not an object") }
            return ConfigFile(path: path, doc: m)
        } catch {
            throw CLIError("WARNING: Error loading config file: \(path): \(error)")
        }
    }

    func string(_ key: String) -> String? {
        if case .string(let s) = doc[key] ?? .invalid, !s.isEmpty { return s }
        return nil
    }

    func stringMap(_ key: String) -> [String: String] {
        guard case .map(let m) = doc[key] ?? .invalid else { return [:] }
        var out: [String: String] = [:]
        for (k, v) in m.pairs { if case .string(let s) = v { out[k] = s } }
        return out
    }

    public var credsStore: String? { string("credsStore") }
    public var credHelpers: [String: String] { stringMap("credHelpers") }
    public var httpHeaders: [String: String] { stringMap("HttpHeaders") }
    public var imagesFormat: String? { string("imagesFormat") }
    public var psFormat: String? { string("psFormat") }
    public var detachKeys: String? { string("detachKeys") }

    /// Entries of `auths` decoded (`auth` = base64 `user:password`).
    public var auths: [String: AuthConfig] {
        guard case .map(let m) = doc["auths"] ?? .invalid else { return [:] }
        var out: [String: AuthConfig] = [:]
        for (k, v) in m.pairs {
            guard case .map(let e) = v else { continue }
            var a = AuthConfig(serveraddress: k)
            if case .string(let s) = e["username"] ?? .invalid { a.username = s }
            if case .string(let s) = e["password"] ?? .invalid { a.password = s }
            if case .string(let s) = e["auth"] ?? .invalid, !s.isEmpty, let d = Data(base64Encoded: s),
               let up = String(data: d, encoding: .utf8), let colon = up.firstIndex(of: ":") {
                a.username = String(up[..<colon])
                a.password = String(up[up.index(after: colon)...])
            }
            if case .string(let s) = e["identitytoken"] ?? .invalid, !s.isEmpty { a.identitytoken = s }
            if case .string(let s) = e["registrytoken"] ?? .invalid, !s.isEmpty { a.registrytoken = s }
            if case .string(let s) = e["email"] ?? .invalid, !s.isEmpty { a.email = s }
            out[k] = a
        }
        return out
    }

    /// Stores credentials in `auths` (file store).
    public func setAuth(_ a: AuthConfig, for server: String) {
        var auths = TemplateMap()
        if case .map(let m) = doc["auths"] ?? .invalid { auths = m }
        var entry = TemplateMap()
        let user = a.username ?? "", pass = a.password ?? ""
        if !user.isEmpty || !pass.isEmpty {
            entry["auth"] = .string(Data("\(user):\(pass)".utf8).base64EncodedString())
        }
        if let e = a.email, !e.isEmpty { entry["email"] = .string(e) }
        if let t = a.identitytoken, !t.isEmpty { entry["identitytoken"] = .string(t) }
        if let t = a.registrytoken, !t.isEmpty { entry["registrytoken"] = .string(t) }
        auths[server] = .map(entry)
        doc["auths"] = .map(auths)
    }

    /// Removes `server` from `auths`; returns whether it was there.
    @discardableResult
    public func removeAuth(_ server: String) -> Bool {
        guard case .map(var auths) = doc["auths"] ?? .invalid, auths[server] != nil else { return false }
        auths[server] = nil
        doc["auths"] = .map(auths)
        return true
    }

    /// Docker's `ConfigFile` struct field order (what `docker login` writes).
    static let fieldOrder = [
        "auths", "HttpHeaders", "psFormat", "imagesFormat", "networksFormat", "pluginsFormat", "volumesFormat",
        "statsFormat", "detachKeys", "credsStore", "credHelpers", "serviceInspectFormat", "servicesFormat",
        "tasksFormat", "secretFormat", "configFormat", "nodesFormat", "pruneFilters", "proxies", "experimental",
        "currentContext", "cliPluginsExtraDirs", "plugins", "aliases", "features",
    ]
    static let mapKeys: Set<String> = ["auths", "HttpHeaders", "credHelpers", "proxies", "plugins", "aliases", "features"]

    /// Writes the file like docker (`json.MarshalIndent` with tabs, mode 0600, atomically).
    public func save() throws {
        if doc["auths"] == nil { doc["auths"] = .map(TemplateMap()) }
        // `auths` first, as docker writes it; Go marshals map keys sorted.
        func sorted(_ v: TemplateValue?) -> TemplateValue? {
            guard case .map(let m) = v ?? .invalid else { return v }
            var out = TemplateMap()
            for k in m.sortedKeys { out[k] = m[k] }
            return .map(out)
        }
        var ordered = TemplateMap()
        for k in ConfigFile.fieldOrder where doc[k] != nil {
            ordered[k] = ConfigFile.mapKeys.contains(k) ? sorted(doc[k]) : doc[k]
        }
        // Keys docker does not know are kept (docker would drop them).
        for (k, v) in doc.pairs where ordered[k] == nil { ordered[k] = v }
        doc = ordered
        let text = JSON.indent(Array(JSON.encode(.map(doc), escapeHTML: true).utf8), indent: "\t")
        let dir = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let tmp = dir + "/.config.json.\(getpid()).tmp"
            guard FileManager.default.createFile(atPath: tmp, contents: Data(text), attributes: [.posixPermissions: 0o600]) else {
                throw CLIError("open \(tmp): permission denied")
            }
            if rename(tmp, path) != 0 {
                let e = String(cString: strerror(errno))
                unlink(tmp)
                throw CLIError("rename \(tmp) \(path): \(e)")
            }
        } catch let e as CLIError {
            throw e
        } catch {
            throw CLIError("\(error)")
        }
    }

    // MARK: Credential lookup (docker's configfile.GetAuthConfig / GetCredentialsStore)

    /// The helper for `server`: `credHelpers[host]`, else `credsStore`, else nil (file store).
    public func helper(for server: String) -> String? {
        let host = ConfigFile.convertToHostname(server)
        if let h = credHelpers[host], !h.isEmpty { return h }
        if let h = credHelpers[server], !h.isEmpty { return h }
        return credsStore
    }

    /// Credentials for a registry key (`https://index.docker.io/v1/` or a host).
    public func authConfig(for server: String, env: [String: String]) throws -> AuthConfig {
        let all = auths
        var fileAuth = all[server]
        if fileAuth == nil {
            for (k, a) in all.sorted(by: { $0.key < $1.key }) where ConfigFile.convertToHostname(k) == server {
                fileAuth = a
                break
            }
        }
        if let helper = helper(for: server) {
            var a = fileAuth ?? AuthConfig()
            guard let creds = try CredentialHelper(name: helper, env: env).get(server) else { return a }
            a.username = creds.username
            a.password = creds.password
            a.identitytoken = creds.identitytoken
            a.serveraddress = server
            return a
        }
        return fileAuth ?? AuthConfig()
    }

    /// Stores credentials in the helper or the file.
    public func store(_ a: AuthConfig, env: [String: String]) throws {
        let server = a.serveraddress ?? ""
        if let helper = helper(for: server) {
            try CredentialHelper(name: helper, env: env).store(a)
            // Docker keeps an (empty) entry in auths so `docker logout` and listings know about it.
            setAuth(AuthConfig(), for: server)
            try save()
            return
        }
        setAuth(a, for: server)
        try save()
    }

    /// Erases credentials from the helper or the file.
    public func erase(_ server: String, env: [String: String]) throws {
        if let helper = helper(for: server) {
            let hadEntry = removeAuth(server)
            if hadEntry { try save() }
            try CredentialHelper(name: helper, env: env).erase(server)
            return
        }
        if removeAuth(server) { try save() }
    }

    /// Docker's `registry.ConvertToHostname`: strips the scheme and any path.
    public static func convertToHostname(_ s: String) -> String {
        var v = Substring(s)
        if v.hasPrefix("http://") { v = v.dropFirst(7) } else if v.hasPrefix("https://") { v = v.dropFirst(8) }
        if let slash = v.firstIndex(of: "/") { v = v[..<slash] }
        return String(v)
    }

    /// The `auths` key for an image reference's registry.
    public static func registryKey(for ref: Reference) -> String {
        ref.domain == Reference.dockerHubDomain ? indexServer : ref.domain
    }

    /// `X-Registry-Auth`: base64url(JSON(AuthConfig)) with Go's `omitempty` field set.
    public static func encodeAuthHeader(_ a: AuthConfig) -> String {
        var m = TemplateMap()
        if let v = a.username, !v.isEmpty { m["username"] = .string(v) }
        if let v = a.password, !v.isEmpty { m["password"] = .string(v) }
        if let v = a.auth, !v.isEmpty { m["auth"] = .string(v) }
        if let v = a.email, !v.isEmpty { m["email"] = .string(v) }
        if let v = a.serveraddress, !v.isEmpty { m["serveraddress"] = .string(v) }
        if let v = a.identitytoken, !v.isEmpty { m["identitytoken"] = .string(v) }
        if let v = a.registrytoken, !v.isEmpty { m["registrytoken"] = .string(v) }
        let json = JSON.encode(.map(m), escapeHTML: true)
        return Data(json.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
    }
}
