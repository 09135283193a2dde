import APIClient
import APIModels
import OCI

/// `berth pull` / `berth image pull`.
enum PullCommand {
    static func make(bin: String, category: Command.Category) -> Command {
        Command("pull [OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry",
                aliasLine: "\(bin) image pull, \(bin) pull",
                flags: [
                    .bool("all-tags", "a", "Download all tagged images in the repository"),
                    .bool("disable-content-trust", nil, "Skip image verification", default: true),
                    .string("platform", nil, "Set platform if server is multi-platform capable"),
                    .bool("quiet", "q", "Suppress verbose output"),
                ],
                args: .exact(1), category: category, run: run)
    }

    /// The `X-Registry-Auth` header for pulling/pushing `ref`.
    static func authHeader(_ ctx: CLIContext, for ref: Reference) -> String {
        let key = ConfigFile.registryKey(for: ref)
        let auth = (try? ctx.configFile().authConfig(for: key, env: ctx.env)) ?? AuthConfig()
        return ConfigFile.encodeAuthHeader(auth)
    }

    static func run(_ inv: Invocation) throws {
        let all = inv.flags.bool("all-tags"), quiet = inv.flags.bool("quiet")
        var ref = try parseReference(inv.args[0])
        if all && (ref.tag != nil || ref.digest != nil) {
            throw CLIError("tag can't be used with --all-tags/-a")
        }
        if !all && ref.tag == nil && ref.digest == nil {
            ref = ref.withDefaultTag()
            if !quiet { inv.out.writeLine("Using default tag: \(ref.tag!)") }
        }
        try pull(inv.ctx, ref: ref, all: all, platform: inv.flags.string("platform"), quiet: quiet)
        inv.out.writeLine(ref.description)
    }

    /// Pulls and displays progress (shared with `run`/`create` later).
    static func pull(_ ctx: CLIContext, ref: Reference, all: Bool, platform: String, quiet: Bool, out: OutputStream? = nil) throws {
        var query = [("fromImage", ref.name)]
        if !all {
            if let d = ref.digest { query.append(("tag", d.description)) } else if let t = ref.tag { query.append(("tag", t)) }
        }
        if !platform.isEmpty { query.append(("platform", platform.lowercased())) }
        let client = try ctx.client()
        let display = JSONMessageDisplay(out: quiet ? OutputStream(capturingAsTerminal: false) : (out ?? ctx.out))
        // The display is only touched on the event loop thread until the stream ends.
        try client.streamJSON(.POST, "/images/create", query: query,
                              headers: [("X-Registry-Auth", authHeader(ctx, for: ref))]) { value in
            if display.error == nil { display.handle(value) }
        }
        if let e = display.error { throw CLIError(e) }
    }
}

