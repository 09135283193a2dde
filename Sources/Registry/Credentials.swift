import Foundation
import OCI

/// Reads registry credentials the way the Docker CLI stores them: `config.json` `auths`,
/// `credsStore` and `credHelpers` (`docker-credential-NAME get`).
struct DockerCredentialStore: Sendable {
    /// The config.json path; nil when none could be determined.
    let configPath: String?

    /// Docker Hub's key in config.json and for credential helpers.
    static let dockerHubServerAddress = "https://index.docker.io/v1/"

    init(configPath: String?) {
        if let configPath {
            self.configPath = configPath
        } else {
            let env = ProcessInfo.processInfo.environment
            if let dir = env["DOCKER_CONFIG"], !dir.isEmpty {
                self.configPath = dir + "/config.json"
            } else if let home = env["HOME"], !home.isEmpty {
                self.configPath = home + "/.docker/config.json"
            } else {
                self.configPath = nil
            }
        }
    }

    struct ConfigFile: Decodable {
        struct AuthEntry: Decodable {
            var auth: String?
            var username: String?
            var password: String?
            var identitytoken: String?
            var registrytoken: String?
        }
        var auths: [String: AuthEntry]?
        var credsStore: String?
        var credHelpers: [String: String]?
    }

    /// The server address Docker uses as key for a registry domain (`docker.io` → `https://index.docker.io/v1/`).
    static func serverAddress(forDomain domain: String) -> String {
        isDockerHub(domain) ? dockerHubServerAddress : domain
    }

    static func isDockerHub(_ hostname: String) -> Bool {
        ["docker.io", "index.docker.io", "registry-1.docker.io"].contains(hostname)
    }

    /// Docker's `ConvertToHostname`: strips scheme and path.
    static func hostname(of key: String) -> String {
        var s = Substring(key)
        if s.hasPrefix("http://") { s = s.dropFirst(7) } else if s.hasPrefix("https://") { s = s.dropFirst(8) }
        if let slash = s.firstIndex(of: "/") { s = s[..<slash] }
        return String(s)
    }

    /// Credentials for a registry domain (`docker.io`, `localhost:5000`), or nil when none are stored.
    func credential(forDomain domain: String) async throws -> RegistryCredential? {
        guard let configPath, FileManager.default.fileExists(atPath: configPath) else { return nil }
        let data: Data
        let config: ConfigFile
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: configPath))
            config = try JSONDecoder().decode(ConfigFile.self, from: data)
        } catch {
            throw BerthError(.invalidArgument, "loading docker config file \(configPath): \(error)")
        }
        let serverAddress = Self.serverAddress(forDomain: domain)
        let wanted = Self.isDockerHub(domain) ? "index.docker.io" : domain
        if let helpers = config.credHelpers {
            let helper = helpers[wanted] ?? helpers[serverAddress] ?? helpers.first(where: { Self.hostname(of: $0.key) == wanted })?.value
            if let helper { return try await Self.runHelper(helper, serverAddress: serverAddress) }
        }
        if let store = config.credsStore, !store.isEmpty {
            return try await Self.runHelper(store, serverAddress: serverAddress)
        }
        guard let auths = config.auths else { return nil }
        let entry = auths[serverAddress] ?? auths.first(where: { key, _ in
            let h = Self.hostname(of: key)
            return h == wanted || (Self.isDockerHub(wanted) && Self.isDockerHub(h))
        })?.value
        guard let entry else { return nil }
        var cred = RegistryCredential(username: entry.username, password: entry.password,
                                      identityToken: entry.identitytoken, registryToken: entry.registrytoken)
        if let auth = entry.auth, !auth.isEmpty {
            guard let decoded = Data(base64Encoded: auth, options: .ignoreUnknownCharacters),
                  let s = String(data: decoded, encoding: .utf8), let colon = s.firstIndex(of: ":") else {
                throw BerthError(.invalidArgument, "invalid auth configuration file: auth for \(serverAddress) is not base64 user:password")
            }
            cred.username = String(s[..<colon])
            cred.password = String(s[s.index(after: colon)...])
        }
        return cred.isEmpty ? nil : cred
    }

    struct HelperOutput: Decodable {
        var ServerURL: String?
        var Username: String?
        var Secret: String?
    }

    /// Runs `docker-credential-NAME get` with the server address on stdin.
    static func runHelper(_ name: String, serverAddress: String) async throws -> RegistryCredential? {
        let program = "docker-credential-" + name
        let (status, out, err) = try await runProcess(program, arguments: ["get"], stdin: Data(serverAddress.utf8))
        let errText = String(decoding: out + err, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if status != 0 {
            if errText.contains("credentials not found") { return nil }
            throw BerthError(.unauthorized, "error getting credentials - err: exit status \(status), out: `\(errText)`")
        }
        guard let parsed = try? JSONDecoder().decode(HelperOutput.self, from: out) else {
            throw BerthError(.unauthorized, "error getting credentials - invalid output from \(program)")
        }
        if parsed.Username == "<token>" {
            return RegistryCredential(identityToken: parsed.Secret)
        }
        let cred = RegistryCredential(username: parsed.Username, password: parsed.Secret)
        return cred.isEmpty ? nil : cred
    }

    /// Runs a program found in PATH, feeding `stdin`, returning exit status, stdout and stderr.
    static func runProcess(_ program: String, arguments: [String], stdin: Data) async throws -> (Int32, Data, Data) {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let fm = FileManager.default
        guard let exe = path.split(separator: ":").map({ "\($0)/\(program)" }).first(where: { fm.isExecutableFile(atPath: $0) }) else {
            throw BerthError(.unauthorized, "error getting credentials - err: exec: \"\(program)\": executable file not found in $PATH, out: ``")
        }
        return try await withCheckedThrowingContinuation { cont in
            // Blocking waits stay off the cooperative pool.
            Thread.detachNewThread {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: exe)
                p.arguments = arguments
                let inPipe = Pipe(), outPipe = Pipe(), errPipe = Pipe()
                p.standardInput = inPipe
                p.standardOutput = outPipe
                p.standardError = errPipe
                do {
                    try p.run()
                } catch {
                    cont.resume(throwing: BerthError(.unauthorized, "error getting credentials - err: \(error)"))
                    return
                }
                inPipe.fileHandleForWriting.write(stdin)
                try? inPipe.fileHandleForWriting.close()
                let errBox = DataBox()
                let errThread = Thread { errBox.data = errPipe.fileHandleForReading.readDataToEndOfFile(); errBox.done.signal() }
                errThread.start()
                let out = outPipe.fileHandleForReading.readDataToEndOfFile()
                errBox.done.wait()
                p.waitUntilExit()
                cont.resume(returning: (p.terminationStatus, out, errBox.data))
            }
        }
    }

    private final class DataBox: @unchecked Sendable {
        var data = Data()
        let done = DispatchSemaphore(value: 0)
    }
}
