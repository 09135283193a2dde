/// A normalized image reference: `[domain/]path[:tag][@digest]`, as Docker's
/// `distribution/reference` package parses it (`ParseNormalizedNamed`).
///
/// `busybox` becomes `docker.io/library/busybox`; `index.docker.io/x` becomes `docker.io/library/x`;
/// `localhost:5000/x` keeps its domain. Parsing does not add a default tag (see ``withDefaultTag()``).
public struct Reference: Hashable, Sendable, CustomStringConvertible {
    /// The registry domain, e.g. `docker.io` or `localhost:5000`.
    public var domain: String
    /// The repository path within the registry, e.g. `library/busybox`.
    public var path: String
    public var tag: String?
    public var digest: Digest?

    public init(domain: String, path: String, tag: String? = nil, digest: Digest? = nil) {
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest
    }

    /// Docker Hub's canonical domain.
    public static let dockerHubDomain = "docker.io"
    static let legacyDockerHubDomain = "index.docker.io"
    static let officialRepoPrefix = "library/"
    public static let defaultTag = "latest"
    /// Longest repository path accepted (`RepositoryNameTotalLengthMax`).
    public static let nameTotalLengthMax = 255

    /// Parses a familiar or fully-qualified reference (Docker's `ParseNormalizedNamed`).
    ///
    /// Throws `BerthError(.invalidArgument, …)` with Docker's messages, such as `invalid reference format`
    /// or `invalid reference format: repository name (library/Foo) must be lowercase`.
    public static func parse(_ s: String) throws -> Reference {
        if isImageID(s) {
            throw BerthError(.invalidArgument, "invalid repository name (\(s)), cannot specify 64-byte hexadecimal strings")
        }
        let (domain, remainder) = splitDockerDomain(s)
        let remote: Substring
        if let colon = remainder.firstIndex(of: ":") {
            remote = remainder[..<colon]
        } else {
            remote = remainder[...]
        }
        if remote.lowercased() != remote {
            throw BerthError(.invalidArgument, "invalid reference format: repository name (\(remote)) must be lowercase")
        }
        let parsed = try parseCanonical(domain + "/" + remainder)
        guard let parsedDomain = parsed.domain else {
            // The first component looked like a domain to splitDockerDomain but is not a valid one
            // (e.g. `a_b.c/x`); Docker would yield a domain-less name, which no registry can serve.
            throw BerthError(.invalidArgument, "invalid reference format")
        }
        return Reference(domain: parsedDomain, path: parsed.path, tag: parsed.tag, digest: parsed.digest)
    }

    /// Whether `s` is a full 64-hex image ID (`anchoredIdentifierRegexp`), which can never be a name.
    public static func isImageID(_ s: String) -> Bool {
        let u = Array(s.utf8)
        return u.count == 64 && u.allSatisfy(Digest.isLowerHex)
    }

    /// Docker's `splitDockerDomain`.
    static func splitDockerDomain(_ name: String) -> (String, String) {
        guard let slash = name.firstIndex(of: "/") else {
            return (dockerHubDomain, officialRepoPrefix + name)
        }
        let maybeDomain = String(name[..<slash])
        let maybeRemote = String(name[name.index(after: slash)...])
        var domain: String
        var remote: String
        if maybeDomain == "localhost" {
            (domain, remote) = (maybeDomain, maybeRemote)
        } else if maybeDomain == legacyDockerHubDomain {
            (domain, remote) = (dockerHubDomain, maybeRemote)
        } else if maybeDomain.contains(".") || maybeDomain.contains(":") {
            (domain, remote) = (maybeDomain, maybeRemote)
        } else if maybeDomain.lowercased() != maybeDomain {
            (domain, remote) = (maybeDomain, maybeRemote)
        } else {
            (domain, remote) = (dockerHubDomain, name)
        }
        if domain == dockerHubDomain && !remote.contains("/") {
            remote = officialRepoPrefix + remote
        }
        return (domain, remote)
    }

    struct Parsed {
        var domain: String?
        var path: String
        var tag: String?
        var digest: Digest?
    }

    /// Docker's `reference.Parse` on an already-normalized string: `ReferenceRegexp`, then the length
    /// limit, then digest validation.
    static func parseCanonical(_ s: String) throws -> Parsed {
        if s.isEmpty {
            throw BerthError(.invalidArgument, "repository name must have at least one component")
        }
        guard let m = matchReference(s) else {
            let lower = s.lowercased()
            if lower != s, matchReference(lower) != nil {
                throw BerthError(.invalidArgument, "repository name must be lowercase")
            }
            throw BerthError(.invalidArgument, "invalid reference format")
        }
        if m.path.utf8.count > nameTotalLengthMax {
            throw BerthError(.invalidArgument, "repository name must not be more than \(nameTotalLengthMax) characters")
        }
        var digest: Digest?
        if let d = m.digest {
            digest = try parseDigest(d)
        }
        return Parsed(domain: m.domain, path: m.path, tag: m.tag, digest: digest)
    }

    /// go-digest's `Parse` messages on top of berth's `Digest`.
    static func parseDigest(_ s: String) throws -> Digest {
        do {
            return try Digest(parsing: s)
        } catch let e as BerthError {
            // go-digest reports a right-length encoding with bad characters (e.g. upper-case) as a format error.
            if let colon = s.firstIndex(of: ":") {
                let alg = s[..<colon], enc = s[s.index(after: colon)...]
                let want = alg == "sha256" ? 64 : alg == "sha512" ? 128 : -1
                if enc.utf8.count == want {
                    throw BerthError(.invalidArgument, "invalid checksum digest format")
                }
            }
            throw e
        }
    }

    struct Match {
        var domain: String?
        var path: String
        var tag: String?
        var digest: String?
    }

    /// `^(namePat)(?::(tag))?(?:@(digestPat))?$` with `anchoredNameRegexp` applied to the name,
    /// implemented by hand; the grammar is unambiguous once split at `@` and the last `:`.
    static func matchReference(_ s: String) -> Match? {
        var rest = Substring(s)
        var digest: String?
        if let at = rest.firstIndex(of: "@") {
            let d = rest[rest.index(after: at)...]
            guard matchesDigestPattern(d) else { return nil }
            digest = String(d)
            rest = rest[..<at]
        }
        var tag: String?
        if let colon = rest.lastIndex(of: ":") {
            let t = rest[rest.index(after: colon)...]
            if !t.contains("/") {
                guard matchesTag(t) else { return nil }
                tag = String(t)
                rest = rest[..<colon]
            }
        }
        guard let (domain, path) = matchName(rest) else { return nil }
        return Match(domain: domain.map(String.init), path: String(path), tag: tag, digest: digest)
    }

    /// `anchoredNameRegexp`: `^(?:(domainAndPort)/)?(remoteName)$`, preferring a domain.
    static func matchName(_ s: Substring) -> (Substring?, Substring)? {
        if let slash = s.firstIndex(of: "/") {
            let first = s[..<slash]
            let remainder = s[s.index(after: slash)...]
            if matchesDomainAndPort(first), matchesRemoteName(remainder) {
                return (first, remainder)
            }
        }
        if matchesRemoteName(s) { return (nil, s) }
        return nil
    }

    static func matchesRemoteName(_ s: Substring) -> Bool {
        guard !s.isEmpty else { return false }
        return s.split(separator: "/", omittingEmptySubsequences: false).allSatisfy(matchesPathComponent)
    }

    /// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
    static func matchesPathComponent(_ s: Substring) -> Bool {
        let u = Array(s.utf8)
        guard let first = u.first, isLowerAlnum(first), isLowerAlnum(u[u.count - 1]) else { return false }
        var i = 0
        while i < u.count {
            if isLowerAlnum(u[i]) { i += 1; continue }
            // A separator run between two alphanumerics.
            var j = i
            while j < u.count, !isLowerAlnum(u[j]) { j += 1 }
            let sep = u[i..<j]
            let ok: Bool
            if sep.allSatisfy({ $0 == UInt8(ascii: "-") }) {
                ok = true
            } else if sep.count == 1 {
                ok = sep.first == UInt8(ascii: ".") || sep.first == UInt8(ascii: "_")
            } else {
                ok = sep.count == 2 && sep.allSatisfy({ $0 == UInt8(ascii: "_") })
            }
            if !ok { return false }
            i = j
        }
        return true
    }

    /// `(?:domainName|\[[a-fA-F0-9:]+\])(?::[0-9]+)?`
    static func matchesDomainAndPort(_ s: Substring) -> Bool {
        var host = s
        if s.first == "[" {
            guard let close = s.firstIndex(of: "]") else { return false }
            let inner = s[s.index(after: s.startIndex)..<close]
            guard !inner.isEmpty, inner.utf8.allSatisfy({ isHex($0) || $0 == UInt8(ascii: ":") }) else { return false }
            let after = s[s.index(after: close)...]
            if after.isEmpty { return true }
            guard after.first == ":" else { return false }
            let port = after.dropFirst()
            return !port.isEmpty && port.utf8.allSatisfy(isDigit)
        }
        if let colon = s.firstIndex(of: ":") {
            let port = s[s.index(after: colon)...]
            guard !port.isEmpty, port.utf8.allSatisfy(isDigit) else { return false }
            host = s[..<colon]
        }
        guard !host.isEmpty else { return false }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { c in
            let u = Array(c.utf8)
            guard let f = u.first, let l = u.last, isAlnum(f), isAlnum(l) else { return false }
            return u.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") }
        }
    }

    /// `[\w][\w.-]{0,127}`
    static func matchesTag(_ s: Substring) -> Bool {
        let u = Array(s.utf8)
        guard let f = u.first, isWord(f), u.count <= 128 else { return false }
        return u.allSatisfy { isWord($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    /// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`
    static func matchesDigestPattern(_ s: Substring) -> Bool {
        guard let colon = s.firstIndex(of: ":") else { return false }
        let alg = Array(s[..<colon].utf8)
        let hex = s[s.index(after: colon)...]
        guard hex.utf8.count >= 32, hex.utf8.allSatisfy(isHex) else { return false }
        var expectLetter = true
        for c in alg {
            if expectLetter {
                guard isAlpha(c) else { return false }
                expectLetter = false
            } else if "-_+.".utf8.contains(c) {
                expectLetter = true
            } else if !(isAlpha(c) || isDigit(c)) {
                return false
            }
        }
        return !alg.isEmpty && !expectLetter
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
    static func isAlpha(_ c: UInt8) -> Bool { (c >= 65 && c <= 90) || (c >= 97 && c <= 122) }
    static func isAlnum(_ c: UInt8) -> Bool { isDigit(c) || isAlpha(c) }
    static func isLowerAlnum(_ c: UInt8) -> Bool { isDigit(c) || (c >= 97 && c <= 122) }
    static func isHex(_ c: UInt8) -> Bool { isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) }
    static func isWord(_ c: UInt8) -> Bool { isAlnum(c) || c == UInt8(ascii: "_") }

    // MARK: - Rendering

    /// `domain/path`, e.g. `docker.io/library/busybox`.
    public var name: String { domain + "/" + path }

    /// The short form Docker shows: `busybox`, `godlovedc/lolcow`, `localhost:5000/x`.
    public var familiarName: String {
        guard domain == Reference.dockerHubDomain else { return name }
        if path.hasPrefix(Reference.officialRepoPrefix) {
            let rest = path.dropFirst(Reference.officialRepoPrefix.count)
            if !rest.contains("/") { return String(rest) }
        }
        return path
    }

    /// This reference with tag `latest` when it has neither tag nor digest (`TagNameOnly`).
    public func withDefaultTag() -> Reference {
        var r = self
        if r.tag == nil && r.digest == nil { r.tag = Reference.defaultTag }
        return r
    }

    /// The same repository without tag or digest.
    public var repository: Reference { Reference(domain: domain, path: path) }

    /// `familiarName[:tag][@digest]` (`FamiliarString`).
    public var familiarString: String { familiarName + suffix }

    /// `name[:tag][@digest]`.
    public var description: String { name + suffix }

    private var suffix: String {
        var s = ""
        if let tag { s += ":" + tag }
        if let digest { s += "@" + digest.description }
        return s
    }

    /// Whether the reference points at Docker Hub.
    public var isDockerHub: Bool { domain == Reference.dockerHubDomain }
}
