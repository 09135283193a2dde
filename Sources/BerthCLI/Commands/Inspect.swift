import APIClient
import OCI

/// `image inspect` and the generic top-level `inspect`.
enum InspectCommands {
    static func image(bin: String) -> Command {
        Command("inspect [OPTIONS] IMAGE [IMAGE...]", "Display detailed information on one or more images",
                flags: [
                    .string("format", "f", ImageCommands.inspectFormatHelp),
                    .string("platform", nil, "Inspect a specific platform of the multi-platform image.\nIf the image or the server is not multi-platform capable, the command will error out if the platform does not match.\n'os[/arch[/variant]]': Explicit platform (eg. linux/amd64)"),
                ],
                args: .min(1)) { inv in
            let client = try inv.client()
            var query: [(String, String)] = []
            if let p = inv.flags.optionalString("platform"), !p.isEmpty { query.append(("platform", try ImageCommands.platformJSON(p))) }
            try InspectOutput.run(ctx: inv.ctx, refs: inv.args, format: inv.flags.string("format")) { ref in
                try client.send(.GET, "/images/" + APIClient.pathEscape(ref) + "/json", query: query).1
            }
        }
    }

    static let objectTypes = ["config", "container", "image", "network", "node", "plugin", "secret", "service", "task", "volume"]

    static func generic(bin: String) -> Command {
        Command("inspect [OPTIONS] NAME|ID [NAME|ID...]", "Return low-level information on Docker objects",
                flags: [
                    .string("format", "f", ImageCommands.inspectFormatHelp),
                    .bool("size", "s", "Display total file sizes if the type is container"),
                    .string("type", nil, "Only inspect objects of the given type"),
                ],
                args: .min(1)) { inv in
            let type = inv.flags.string("type")
            if !type.isEmpty && !objectTypes.contains(type) {
                throw CLIError("unknown type: \(GoFormat.quote(type)): must be one of " + objectTypes.map { GoFormat.quote($0) }.joined(separator: ", "))
            }
            let client = try inv.client()
            let size = inv.flags.bool("size")
            // Docker's autodetection order (swarm objects are skipped: berth has no swarm).
            let kinds: [(String, (String) -> (String, [(String, String)]))] = [
                ("container", { ("/containers/" + APIClient.pathEscape($0) + "/json", size ? [("size", "1")] : []) }),
                ("image", { ("/images/" + APIClient.pathEscape($0) + "/json", []) }),
                ("network", { ("/networks/" + APIClient.pathEscape($0), []) }),
                ("volume", { ("/volumes/" + APIClient.pathEscape($0), []) }),
                ("plugin", { ("/plugins/" + APIClient.pathEscape($0) + "/json", []) }),
            ]
            try InspectOutput.run(ctx: inv.ctx, refs: inv.args, format: inv.flags.string("format")) { ref in
                for (kind, route) in kinds where type.isEmpty || type == kind {
                    let (path, query) = route(ref)
                    do {
                        let body = try client.send(.GET, path, query: query).1
                        if size && kind != "container" { inv.err.writeLine("WARNING: --size ignored for \(kind)") }
                        return body
                    } catch let e as BerthError where type.isEmpty && (e.code == .notFound || e.code == .unsupported) {
                        continue
                    }
                }
                if !type.isEmpty && !["container", "image", "network", "volume", "plugin"].contains(type) {
                    throw CLIError("Error response from daemon: This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.")
                }
                throw CLIError("Error: No such object: \(ref)")
            }
        }
    }
}
