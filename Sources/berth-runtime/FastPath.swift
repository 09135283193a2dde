import Runtime

/// A hand-written parser for the lifecycle commands engines call on every container start
/// (`create`, `start`, `run`, `state`, `kill`, `delete`). ArgumentParser stays the definition of the
/// command line and handles everything else (help, errors, other commands); this path exists
/// because its first-use cost (~4 ms of protocol-conformance lookups) is a large share of a
/// container start. Anything it does not recognise falls through to ArgumentParser.
enum FastPath {
    static func run(_ args: [String]) throws -> Bool {
        guard let command = args.first,
              ["create", "start", "run", "state", "kill", "delete"].contains(command) else { return false }
        // Arrays, not Sets: a Set's first use costs a runtime Hashable conformance lookup.
        let valued = ["--bundle", "-b", "--console-socket", "--pid-file", "--preserve-fds"]
        let flags = ["--detach", "-d", "--no-pivot", "--no-new-keyring", "--keep", "--init", "--force", "-f", "--all", "-a"]
        var given: [(name: String, value: String)] = []
        var set: [String] = []
        var positional: [String] = []
        var i = 1
        while i < args.count {
            let a = args[i]
            if a == "--" { positional += args[(i + 1)...]; break }
            if a.hasPrefix("-") && a.count > 1 && Int(a) == nil {
                var name = a
                var value: String?
                if let eq = a.firstIndex(of: "=") {
                    name = String(a[..<eq])
                    value = String(a[a.index(after: eq)...])
                }
                if valued.contains(name) {
                    if value == nil {
                        guard i + 1 < args.count else { return false }
                        i += 1
                        value = args[i]
                    }
                    given.append((name, value!))
                } else if flags.contains(name) && value == nil {
                    set.append(name)
                } else {
                    return false
                }
            } else {
                positional.append(a)
            }
            i += 1
        }
        let options = Options(given: given)
        let bundle = options["--bundle"] ?? options["-b"]
        let preserve: Int32
        if let p = options["--preserve-fds"] {
            guard let n = Int32(p) else { return false }
            preserve = n
        } else {
            preserve = 0
        }
        switch (command, positional.count) {
        case ("create", 1):
            try Create.execute(id: positional[0], bundle: bundle, consoleSocket: options["--console-socket"],
                               pidFile: options["--pid-file"], noPivot: set.contains("--no-pivot"), preserveFDs: preserve,
                               useInit: set.contains("--init"))
        case ("run", 1):
            try Run.execute(id: positional[0], bundle: bundle, consoleSocket: options["--console-socket"],
                            pidFile: options["--pid-file"], detach: set.contains("--detach") || set.contains("-d"),
                            noPivot: set.contains("--no-pivot"), keep: set.contains("--keep"), preserveFDs: preserve,
                            useInit: set.contains("--init"))
        case ("start", 1) where set.isEmpty && options.isEmpty:
            try Globals.current.runtime.start(id: positional[0])
        case ("state", 1) where set.isEmpty && options.isEmpty:
            try StateCommand.execute(id: positional[0])
        case ("delete", 1) where options.isEmpty:
            try Delete.execute(id: positional[0], force: set.contains("--force") || set.contains("-f"))
        case ("kill", 1), ("kill", 2):
            guard options.isEmpty else { return false }
            let signal = positional.count == 2 ? positional[1] : "SIGTERM"
            try Globals.current.runtime.kill(id: positional[0], signal: try ContainerRuntime.parseSignal(signal),
                                             all: set.contains("--all") || set.contains("-a"))
        default:
            return false
        }
        return true
    }
}

/// The valued options given (last one wins), looked up by name.
private struct Options {
    var given: [(name: String, value: String)]
    var isEmpty: Bool { given.isEmpty }
    subscript(name: String) -> String? { given.last(where: { $0.name == name })?.value }
}
