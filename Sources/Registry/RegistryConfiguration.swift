import OCI

/// How berth talks to registries: insecure hosts, Docker Hub mirrors, TLS material, credentials.
public struct RegistryConfiguration: Sendable {
    /// Registries that may be reached over plain HTTP, or over HTTPS without certificate verification:
    /// `host:port`, `host` (exact index names, as Docker matches them) or CIDRs such as `10.0.0.0/8`.
    public var insecureRegistries: [String]
    /// Docker Hub mirrors, tried in order before `registry-1.docker.io`, e.g. `https://mirror.example:5000`.
    public var mirrors: [String]
    /// Directories holding per-registry `HOST[:PORT]/` folders with `*.crt` CAs and `*.cert`/`*.key` client pairs.
    public var certsDirectories: [String]
    /// Docker CLI config file with credentials; `nil` means `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
    public var dockerConfigPath: String?
    public var userAgent: String
    /// Whether loopback registries (`localhost`, 127.0.0.0/8, ::1) count as insecure, as Docker's default
    /// `127.0.0.0/8` insecure CIDR makes them (HTTP fallback, no certificate verification).
    public var loopbackIsInsecure: Bool
    /// Retries after a failed attempt (connection break, timeout, 5xx/429) before giving up.
    public var maxRetries: Int
    /// First retry delay; doubles per retry (capped at 10 s).
    public var retryBaseDelay: Duration
    public var connectTimeout: Duration
    /// Longest wait for a response's headers.
    public var responseTimeout: Duration
    /// Longest silence while reading a response body before the connection counts as broken (then resumed).
    public var readTimeout: Duration

    public init(
        insecureRegistries: [String] = [],
        mirrors: [String] = [],
        certsDirectories: [String] = ["/etc/berth/certs.d", "/etc/docker/certs.d"],
        dockerConfigPath: String? = nil,
        userAgent: String = "berth/0.1",
        loopbackIsInsecure: Bool = true,
        maxRetries: Int = 5,
        retryBaseDelay: Duration = .milliseconds(500),
        connectTimeout: Duration = .seconds(30),
        responseTimeout: Duration = .seconds(120),
        readTimeout: Duration = .seconds(60)
    ) {
        self.insecureRegistries = insecureRegistries
        self.mirrors = mirrors
        self.certsDirectories = certsDirectories
        self.dockerConfigPath = dockerConfigPath
        self.userAgent = userAgent
        self.loopbackIsInsecure = loopbackIsInsecure
        self.maxRetries = maxRetries
        self.retryBaseDelay = retryBaseDelay
        self.connectTimeout = connectTimeout
        self.responseTimeout = responseTimeout
        self.readTimeout = readTimeout
    }
}

/// Credentials for one registry, as carried by Docker's `AuthConfig` / `X-Registry-Auth`.
public struct RegistryCredential: Sendable, Hashable {
    public var username: String?
    public var password: String?
    /// An OAuth refresh token (`identitytoken` in config.json), exchanged at the token realm.
    public var identityToken: String?
    /// A bearer token sent to the registry as is.
    public var registryToken: String?

    public init(username: String? = nil, password: String? = nil, identityToken: String? = nil, registryToken: String? = nil) {
        self.username = username
        self.password = password
        self.identityToken = identityToken
        self.registryToken = registryToken
    }

    /// Whether there is anything to authenticate with.
    public var isEmpty: Bool {
        (username ?? "").isEmpty && (password ?? "").isEmpty && (identityToken ?? "").isEmpty && (registryToken ?? "").isEmpty
    }

    var hasUserPassword: Bool { !(username ?? "").isEmpty || !(password ?? "").isEmpty }

    /// A stable, non-reversible key distinguishing credentials in caches.
    var cacheKey: String {
        Digest.sha256([username ?? "", password ?? "", identityToken ?? "", registryToken ?? ""].joined(separator: "\u{0}")).encoded
    }
}

/// The result of resolving a reference to one platform's image manifest.
public struct ResolvedManifest: Sendable {
    /// The reference as asked.
    public var reference: Reference
    /// Digest of the index / manifest list the reference pointed to, if it pointed to one.
    public var indexDigest: Digest?
    /// The platform manifest chosen.
    public var manifestDescriptor: Descriptor
    public var manifest: Manifest
    public var manifestBytes: [UInt8]
    public var indexBytes: [UInt8]?

    public init(reference: Reference, indexDigest: Digest?, manifestDescriptor: Descriptor, manifest: Manifest, manifestBytes: [UInt8], indexBytes: [UInt8]?) {
        self.reference = reference
        self.indexDigest = indexDigest
        self.manifestDescriptor = manifestDescriptor
        self.manifest = manifest
        self.manifestBytes = manifestBytes
        self.indexBytes = indexBytes
    }

    /// What Docker records as the RepoDigest: the index digest if there was one, else the manifest's.
    public var repoDigest: Digest { indexDigest ?? manifestDescriptor.digest }
}
