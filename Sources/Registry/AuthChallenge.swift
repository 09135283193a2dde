/// A `WWW-Authenticate` challenge: scheme (lower-cased) and parameters (keys lower-cased).
struct AuthChallenge: Sendable, Hashable {
    var scheme: String
    var parameters: [String: String]

    var realm: String? { parameters["realm"] }
    var service: String? { parameters["service"] }
    var isBearer: Bool { scheme == "bearer" }
    var isBasic: Bool { scheme == "basic" }

    /// Parses every challenge in the given header values (RFC 7235: `scheme param=value, param="quoted", …`,
    /// several challenges possibly in one value).
    static func parse(_ headerValues: [String]) -> [AuthChallenge] {
        var out: [AuthChallenge] = []
        for v in headerValues { out += parse(value: v) }
        return out
    }

    static func parse(value: String) -> [AuthChallenge] {
        var out: [AuthChallenge] = []
        let s = Array(value.utf8)
        var i = 0
        func skipSpace() { while i < s.count, s[i] == 32 || s[i] == 9 { i += 1 } }
        func token() -> String {
            let start = i
            while i < s.count, isTokenChar(s[i]) { i += 1 }
            return String(decoding: s[start..<i], as: UTF8.self)
        }
        while i < s.count {
            skipSpace()
            while i < s.count, s[i] == UInt8(ascii: ",") { i += 1; skipSpace() }
            let scheme = token()
            if scheme.isEmpty { break }
            var params: [String: String] = [:]
            // Parameters until the next scheme (a token not followed by '=').
            while true {
                skipSpace()
                let save = i
                let key = token()
                skipSpace()
                guard !key.isEmpty, i < s.count, s[i] == UInt8(ascii: "=") else { i = save; break }
                i += 1
                skipSpace()
                var val = ""
                if i < s.count, s[i] == UInt8(ascii: "\"") {
                    i += 1
                    var bytes: [UInt8] = []
                    while i < s.count, s[i] != UInt8(ascii: "\"") {
                        if s[i] == UInt8(ascii: "\\"), i + 1 < s.count { i += 1 }
                        bytes.append(s[i])
                        i += 1
                    }
                    i += 1
                    val = String(decoding: bytes, as: UTF8.self)
                } else {
                    let start = i
                    while i < s.count, s[i] != UInt8(ascii: ","), s[i] != 32 { i += 1 }
                    val = String(decoding: s[start..<i], as: UTF8.self)
                }
                params[key.lowercased()] = val
                skipSpace()
                if i < s.count, s[i] == UInt8(ascii: ",") { i += 1 } else { break }
            }
            out.append(AuthChallenge(scheme: scheme.lowercased(), parameters: params))
        }
        return out
    }

    private static func isTokenChar(_ c: UInt8) -> Bool {
        if c >= 0x80 || c <= 32 { return false }
        return !"()<>@,;:\\\"/[]?={} \t".utf8.contains(c)
    }
}

/// How an endpoint wants to be authenticated, learned from the `/v2/` ping.
enum EndpointAuth: Sendable, Hashable {
    case none
    case basic(realm: String?)
    case bearer(realm: String, service: String?)

    init(challenges: [AuthChallenge]) {
        if let b = challenges.first(where: { $0.isBearer }), let realm = b.realm {
            self = .bearer(realm: realm, service: b.service)
        } else if let b = challenges.first(where: { $0.isBasic }) {
            self = .basic(realm: b.realm)
        } else {
            self = .none
        }
    }
}
