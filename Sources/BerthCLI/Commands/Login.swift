import APIClient
import APIModels
import Foundation
import OCI

/// `berth login` / `berth logout`.
enum AuthCommands {
    static func register(on root: Command) {
        let bin = root.name
        root.add(Command("login [OPTIONS] [SERVER]", "Authenticate to a registry",
                         long: "Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.",
                         flags: [
                             .string("password", "p", "Password or Personal Access Token (PAT)"),
                             .bool("password-stdin", nil, "Take the Password or Personal Access Token (PAT) from stdin"),
                             .string("username", "u", "Username"),
                         ],
                         args: .max(1), category: .common, run: login))
        root.add(Command("logout [SERVER]", "Log out from a registry",
                         long: "Log out from a registry.\nIf no server is specified, the default is defined by the daemon.",
                         args: .max(1), category: .common, run: logout))
        _ = bin
    }

    static func serverAddress(_ arg: String?) -> String {
        guard let a = arg, !a.isEmpty, a != "docker.io", a != "index.docker.io" else { return ConfigFile.indexServer }
        return a
    }

    static func authBody(_ a: AuthConfig) -> [UInt8] {
        var m = TemplateMap()
        if let v = a.username, !v.isEmpty { m["username"] = .string(v) }
        if let v = a.password, !v.isEmpty { m["password"] = .string(v) }
        if let v = a.email, !v.isEmpty { m["email"] = .string(v) }
        if let v = a.serveraddress, !v.isEmpty { m["serveraddress"] = .string(v) }
        if let v = a.identitytoken, !v.isEmpty { m["identitytoken"] = .string(v) }
        return Array((JSON.encode(.map(m), escapeHTML: true) + "\n").utf8)
    }

    /// `POST /auth`; returns (status message, identity token).
    static func registryLogin(_ inv: Invocation, _ a: AuthConfig) throws -> (String, String) {
        let (_, body) = try inv.client().send(.POST, "/auth", body: authBody(a))
        let r = try JSON.parse(body)
        return (r["Status"]?.stringValue ?? "", r["IdentityToken"]?.stringValue ?? "")
    }

    static func login(_ inv: Invocation) throws {
        let ctx = inv.ctx
        var user = inv.flags.string("username")
        var password = inv.flags.string("password")
        let passwordStdin = inv.flags.bool("password-stdin")
        if !password.isEmpty && passwordStdin {
            throw CLIError("conflicting options: cannot specify both --password and --password-stdin")
        }
        if !password.isEmpty {
            inv.err.writeLine("WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
        }
        if passwordStdin {
            if user.isEmpty { throw CLIError("the --password-stdin option requires --username to be set") }
            var p = String(decoding: ctx.stdin.readAll(), as: UTF8.self)
            if p.hasSuffix("\n") { p.removeLast() }
            if p.hasSuffix("\r") { p.removeLast() }
            password = p
        }
        let server = serverAddress(inv.args.first)
        let config = try ctx.configFile()

        // Try stored credentials first.
        if user.isEmpty && password.isEmpty,
           let stored = try? config.authConfig(for: server, env: ctx.env),
           let su = stored.username, !su.isEmpty, let sp = stored.password, !sp.isEmpty {
            inv.err.writeLine("Authenticating with existing credentials... [Username: \(su)]")
            var a = stored
            a.serveraddress = server
            do {
                let (status, token) = try registryLogin(inv, a)
                inv.err.write("\n Info -> To login with a different account, run '\(BerthCLI.binaryName) logout' followed by '\(BerthCLI.binaryName) login'\n\n\n")
                if !token.isEmpty {
                    a.password = ""
                    a.identitytoken = token
                }
                do { try config.store(a, env: ctx.env) } catch let e as CLIError { throw CLIError("Error saving credentials: \(e.message)") }
                inv.out.writeLine(status)
                return
            } catch let e as BerthError {
                inv.err.writeLine(e.code == .unauthorized ? "Stored credentials invalid or expired" : "Login did not succeed, error: \(e.message)")
            }
        }

        if user.isEmpty || password.isEmpty {
            guard ctx.stdin.isTerminal else {
                throw CLIError("Error: Cannot perform an interactive login from a non TTY device")
            }
            if user.isEmpty {
                inv.out.write("Username: ")
                inv.out.flush()
                user = ctx.stdin.readLine()?.trimmingCharacters(in: .whitespaces) ?? ""
                if user.isEmpty { throw CLIError("Error: Non-null Username Required") }
            }
            if password.isEmpty {
                inv.out.write("Password: ")
                inv.out.flush()
                password = readPasswordNoEcho(ctx) ?? ""
                inv.out.writeLine()
                if password.isEmpty { throw CLIError("Error: Password Required") }
            }
        }
        var a = AuthConfig(username: user, password: password, serveraddress: server)
        let (status, token) = try registryLogin(inv, a)
        if !token.isEmpty {
            a.password = ""
            a.identitytoken = token
        }
        do {
            try config.store(a, env: ctx.env)
        } catch let e as CLIError {
            throw CLIError("Error saving credentials: \(e.message)")
        }
        if config.helper(for: server) == nil {
            inv.err.write("\nWARNING! Your credentials are stored unencrypted in '\(config.path)'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n\n")
            inv.err.flush()
        }
        inv.out.writeLine(status)
    }

    /// Reads a line from the terminal with echo turned off.
    static func readPasswordNoEcho(_ ctx: CLIContext) -> String? {
        var old = termios()
        let isTTY = tcgetattr(0, &old) == 0
        if isTTY {
            var t = old
            t.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(0, TCSANOW, &t)
        }
        defer { if isTTY { tcsetattr(0, TCSANOW, &old) } }
        return ctx.stdin.readLine()
    }

    static func logout(_ inv: Invocation) throws {
        let ctx = inv.ctx
        var server = inv.args.first ?? ""
        var isDefault = false
        if server.isEmpty || server == "docker.io" || server == "index.docker.io" {
            server = ConfigFile.indexServer
            isDefault = true
        }
        var regs = [server]
        var hostname = server
        if !isDefault {
            hostname = ConfigFile.convertToHostname(server)
            regs += [hostname, "http://" + hostname, "https://" + hostname]
        }
        inv.out.writeLine("Removing login credentials for \(hostname)")
        let config = try ctx.configFile()
        var errors: [(String, String)] = []
        var seen = Set<String>()
        for r in regs where seen.insert(r).inserted {
            do { try config.erase(r, env: ctx.env) } catch let e as CLIError { errors.append((r, e.message)) }
        }
        if errors.count == seen.count {
            inv.err.writeLine("WARNING: could not erase credentials:")
            for (k, v) in errors { inv.out.writeLine("\(k): \(v)") }
        }
    }
}
