import OCI

/// Docker's detach sequence (`detachKeys`, default ctrl-p ctrl-q), recognised on the daemon side so a
/// detaching client leaves the container and its stdin untouched.
enum DetachKeys {
    static let `default`: [UInt8] = [16, 17]

    /// Parses Docker's `ctrl-p,ctrl-q` form (moby `term.ToBytes`); nil or empty gives the default.
    static func parse(_ spec: String?) throws -> [UInt8] {
        guard let spec, !spec.isEmpty else { return Self.default }
        var out: [UInt8] = []
        for key in spec.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let lower = key.lowercased()
            if lower.count > 1, lower.hasPrefix("ctrl-") {
                let rest = Array(lower.dropFirst(5).utf8)
                guard rest.count == 1 else { throw invalid(key) }
                switch rest[0] {
                case UInt8(ascii: "a")...UInt8(ascii: "z"): out.append(rest[0] - UInt8(ascii: "a") + 1)
                case UInt8(ascii: "@"): out.append(0)
                case UInt8(ascii: "["): out.append(27)
                case UInt8(ascii: "\\"): out.append(28)
                case UInt8(ascii: "]"): out.append(29)
                case UInt8(ascii: "^"): out.append(30)
                case UInt8(ascii: "_"): out.append(31)
                default: throw invalid(key)
                }
            } else {
                let bytes = Array(key.utf8)
                guard bytes.count == 1 else { throw invalid(key) }
                out.append(bytes[0])
            }
        }
        return out
    }

    static func invalid(_ key: String) -> BerthError {
        BerthError(.invalidArgument, "Invalid escape keys (\(key)) provided")
    }

    /// Scans stdin for the sequence across reads; bytes that could start it are held back until decided.
    struct Matcher {
        let keys: [UInt8]
        private var held: [UInt8] = []

        init(keys: [UInt8]) { self.keys = keys }

        /// Returns what to forward to the container and whether the client detached.
        mutating func feed(_ bytes: [UInt8]) -> (forward: [UInt8], detach: Bool) {
            guard !keys.isEmpty else { return (bytes, false) }
            var forward: [UInt8] = []
            forward.reserveCapacity(bytes.count)
            for b in bytes {
                if b == keys[held.count] {
                    held.append(b)
                    if held.count == keys.count { return (forward, true) }
                } else {
                    forward += held
                    held.removeAll()
                    if b == keys[0] { held.append(b) } else { forward.append(b) }
                }
            }
            return (forward, false)
        }
    }
}
