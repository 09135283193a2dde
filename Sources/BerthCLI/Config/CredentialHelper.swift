import APIModels
import Foundation

/// A `docker-credential-<name>` helper (docker-credential-helpers protocol: `get`, `store`, `erase`
/// with the request on stdin and JSON `{"ServerURL","Username","Secret"}`).
public struct CredentialHelper: Sendable {
    public let name: String
    let env: [String: String]

    public init(name: String, env: [String: String]) {
        self.name = name
        self.env = env
    }

    var program: String { "docker-credential-" + name }

    /// Finds the helper in `$PATH`.
    func executable() -> String? {
        let path = env["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let p = dir + "/" + program
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Runs the helper (posix_spawn via Foundation's Process; no fork in this process).
    func run(_ action: String, input: String) throws -> (Int32, String) {
        guard let exe = executable() else {
            throw CLIError("exec: \"\(program)\": executable file not found in $PATH")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = [action]
        p.environment = env
        let inPipe = Pipe(), outPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = outPipe
        p.standardError = outPipe
        try p.run()
        inPipe.fileHandleForWriting.write(Data(input.utf8))
        try? inPipe.fileHandleForWriting.close()
        let out = outPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static let notFound = "credentials not found in native keychain"

    /// Credentials for `server`, or nil when the helper has none.
    public func get(_ server: String) throws -> AuthConfig? {
        let (status, out): (Int32, String)
        do {
            (status, out) = try run("get", input: server)
        } catch let e as CLIError {
            throw CLIError("error getting credentials - err: \(e.message), out: ``")
        }
        if status != 0 {
            if out == CredentialHelper.notFound { return nil }
            throw CLIError("error getting credentials - err: exit status \(status), out: `\(out)`")
        }
        guard let data = out.data(using: .utf8),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CLIError("error getting credentials - err: invalid helper output, out: `\(out)`")
        }
        let user = obj["Username"] as? String ?? ""
        let secret = obj["Secret"] as? String ?? ""
        var a = AuthConfig(serveraddress: server)
        if user == "<token>" {
            a.identitytoken = secret
        } else {
            a.username = user
            a.password = secret
        }
        return a
    }

    public func store(_ a: AuthConfig) throws {
        var m = TemplateMap()
        m["ServerURL"] = .string(a.serveraddress ?? "")
        if let t = a.identitytoken, !t.isEmpty {
            m["Username"] = .string("<token>")
            m["Secret"] = .string(t)
        } else {
            m["Username"] = .string(a.username ?? "")
            m["Secret"] = .string(a.password ?? "")
        }
        let (status, out): (Int32, String)
        do {
            (status, out) = try run("store", input: JSON.encode(.map(m), escapeHTML: false))
        } catch let e as CLIError {
            throw CLIError("error storing credentials - err: \(e.message), out: ``")
        }
        if status != 0 { throw CLIError("error storing credentials - err: exit status \(status), out: `\(out)`") }
    }

    public func erase(_ server: String) throws {
        let (status, out): (Int32, String)
        do {
            (status, out) = try run("erase", input: server)
        } catch let e as CLIError {
            throw CLIError("error erasing credentials - err: \(e.message), out: ``")
        }
        if status != 0 && out != CredentialHelper.notFound {
            throw CLIError("error erasing credentials - err: exit status \(status), out: `\(out)`")
        }
    }
}
