import APIClient
import Foundation
import OCI

/// The `berth` command line: Docker's CLI commands, flags, output and exit codes.
public enum BerthCLI {
    public static let version = "0.1.0"
    public static let gitCommit = "dev"
    public static let binaryName = "berth"

    /// Runs the process's command line and exits.
    public static func main() -> Never {
        let ctx = CLIContext.standard()
        signal(SIGPIPE, SIG_IGN)
        let status = run(Array(CommandLine.arguments.dropFirst()), ctx: ctx)
        ctx.out.flush()
        ctx.err.flush()
        // Nothing is left to run at exit (output is flushed, terminals restored by their owners):
        // skipping the C++/Swift static destructors and thread teardown saves ≈ 1 ms per command.
        fflush(nil)
        _exit(status)
    }

    /// Commands that never talk to the daemon (no connection is opened ahead for them).
    static let localCommands: Set<String> = ["help", "completion", "context", "logout"]

    /// Runs one command line against `ctx`; returns the exit status.
    public static func run(_ args: [String], ctx: CLIContext) -> Int32 {
        let root = makeRootCommand()
        do {
            try dispatch(root: root, args: args, ctx: ctx)
            return 0
        } catch let e as CLIError {
            if !e.message.isEmpty { ctx.err.writeLine(e.message) }
            return e.status == 0 ? 1 : e.status
        } catch let e as BerthError {
            ctx.err.writeLine(e.message)
            return 1
        } catch {
            ctx.err.writeLine("\(error)")
            return 1
        }
    }

    // MARK: Global flags

    static func globalFlags(configDir: String) -> [FlagSpec] {
        [
            .string("config", nil, "Location of client config files", default: configDir),
            .string("context", "c", "Name of the context to use to connect to the daemon (overrides DOCKER_HOST env var and default context set with \"docker context use\")"),
            .bool("debug", "D", "Enable debug mode"),
            .array("host", "H", "Daemon socket to connect to", type: "list"),
            .string("log-level", "l", "Set the logging level (\"debug\", \"info\", \"warn\", \"error\", \"fatal\")", default: "info"),
            .bool("tls", nil, "Use TLS; implied by --tlsverify"),
            .string("tlscacert", nil, "Trust certs signed only by this CA", default: configDir + "/ca.pem"),
            .string("tlscert", nil, "Path to TLS certificate file", default: configDir + "/cert.pem"),
            .string("tlskey", nil, "Path to TLS key file", default: configDir + "/key.pem"),
            .bool("tlsverify", nil, "Use TLS and verify the remote"),
            .bool("version", "v", "Print version information and quit"),
        ]
    }

    /// The command tree.
    public static func makeRootCommand() -> Command {
        let root = Command("\(binaryName) [OPTIONS] COMMAND [ARG...]", "A self-sufficient runtime for containers")
        root.interspersed = false
        ContainerCommands.register(on: root)
        ImageCommands.register(on: root)
        SystemCommands.register(on: root)
        AuthCommands.register(on: root)
        return root
    }

    static func usageError(_ cmd: Command, _ message: String) -> CLIError {
        CLIError("\(message)\n\nUsage:  \(cmd.useLine)\n\nRun '\(cmd.commandPath) --help' for more information", status: 125)
    }

    static func dispatch(root: Command, args: [String], ctx: CLIContext) throws {
        let defaultConfigDir = (ctx.env["DOCKER_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }) ?? ctx.homeDir + "/.docker"
        let gflags = globalFlags(configDir: defaultConfigDir)
        root.flags = gflags
        let parsed: (flags: ParsedFlags, positional: [String], help: Bool, shortHelp: Bool)
        do {
            parsed = try FlagParser.parse(args, specs: gflags, interspersed: false)
        } catch let e as FlagError {
            throw CLIError("\(e.message)\n\nUsage:  \(binaryName) [OPTIONS] COMMAND [ARG...]\n\nRun '\(binaryName) --help' for more information", status: 125)
        }
        let f = parsed.flags
        ctx.options.hosts = f.strings("host")
        ctx.options.configDir = f.optionalString("config")
        ctx.options.context = f.optionalString("context")
        ctx.options.debug = f.bool("debug")
        ctx.options.logLevel = f.optionalString("log-level")
        ctx.options.tls = f.bool("tls")
        ctx.options.tlsVerify = f.bool("tlsverify")
        ctx.options.tlsCACert = f.optionalString("tlscacert")
        ctx.options.tlsCert = f.optionalString("tlscert")
        ctx.options.tlsKey = f.optionalString("tlskey")
        if let l = ctx.options.logLevel, !["trace", "debug", "info", "warn", "warning", "error", "fatal", "panic"].contains(l.lowercased()) {
            throw CLIError("Unable to parse logging level: \(l)")
        }
        if let c = ctx.options.context, !c.isEmpty, c != "default" {
            throw CLIError("Failed to initialize: context \"\(c)\" does not exist")
        }
        if f.bool("version") {
            ctx.out.writeLine("\(binaryName) version \(version), build \(gitCommit)")
            return
        }
        if parsed.help {
            ctx.out.write(rootHelp(root))
            return
        }
        guard let name = parsed.positional.first else {
            ctx.err.write(rootHelp(root))
            return
        }
        guard let cmd = root.find(name) else {
            throw CLIError("\(binaryName): unknown command: \(binaryName) \(name)\n\nRun '\(binaryName) --help' for more information")
        }
        if !Self.localCommands.contains(name) { ctx.preconnect() }
        try execute(cmd, Array(parsed.positional.dropFirst()), ctx: ctx)
    }

    static func execute(_ cmd: Command, _ args: [String], ctx: CLIContext) throws {
        if cmd.run == nil {
            // A group (`image`, `system`): find the subcommand.
            guard let first = args.first else {
                ctx.err.write(cmd.helpText())
                return
            }
            if first == "--help" || first == "-h" {
                if first == "-h" { ctx.out.writeLine("Flag shorthand -h has been deprecated, use --help") }
                ctx.out.write(cmd.helpText())
                return
            }
            if first.hasPrefix("-") {
                throw usageError(cmd, first.hasPrefix("--") ? "unknown flag: \(first.split(separator: "=")[0])" : "unknown shorthand flag: '\(first.dropFirst().first!)' in \(first)")
            }
            guard let sub = cmd.find(first) else {
                throw CLIError("\(binaryName): unknown command: \(cmd.commandPath) \(first)\n\nUsage:  \(cmd.commandPath)\n\nRun '\(cmd.commandPath) --help' for more information")
            }
            try execute(sub, Array(args.dropFirst()), ctx: ctx)
            return
        }
        let parsed: (flags: ParsedFlags, positional: [String], help: Bool, shortHelp: Bool)
        do {
            parsed = try FlagParser.parse(args, specs: cmd.flags, interspersed: cmd.interspersed)
        } catch let e as FlagError {
            throw usageError(cmd, e.message)
        }
        // `--help` is an ordinary flag where `-h` means something else (`run -h HOSTNAME`).
        if parsed.help || (cmd.flags.contains { $0.long == "help" } && parsed.flags.bool("help")) {
            if parsed.shortHelp { ctx.out.writeLine("Flag shorthand -h has been deprecated, use --help") }
            ctx.out.write(cmd.helpText(columns: ctx.stdin.fd >= 0 ? windowWidth(ctx.stdin.fd) ?? 80 : 80))
            return
        }
        try cmd.validate(parsed.positional)
        try cmd.run!(Invocation(command: cmd, flags: parsed.flags, args: parsed.positional, ctx: ctx))
    }

    // MARK: Root help

    static func rootHelp(_ root: Command) -> String {
        var out = "Usage:  \(binaryName) [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers\n"
        func section(_ title: String, _ cmds: [Command]) {
            guard !cmds.isEmpty else { return }
            out += "\n\(title):\n"
            for c in cmds {
                out += "  " + c.name + String(repeating: " ", count: max(1, 12 - c.name.count)) + c.short + "\n"
            }
        }
        let visible = root.subcommands.filter { !$0.hidden }
        let commonOrder = ["run", "exec", "ps", "build", "pull", "push", "images", "login", "logout", "search", "version", "info"]
        section("Common Commands", commonOrder.compactMap { n in visible.first { $0.name == n && $0.category == .common } })
        section("Management Commands", visible.filter { $0.category == .management }.sorted { $0.name < $1.name })
        section("Commands", visible.filter { $0.category == .other }.sorted { $0.name < $1.name })
        out += "\nGlobal Options:\n"
        out += Command.flagUsages(root.flags, columns: 79)
        out += "\nRun '\(binaryName) COMMAND --help' for more information on a command.\n"
        return out
    }
}
