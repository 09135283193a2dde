/// An OCI content descriptor: what a blob is, its digest and size.
public struct Descriptor: Codable, Hashable, Sendable {
    public var mediaType: String
    public var digest: Digest
    public var size: Int64
    public var urls: [String]?
    public var annotations: [String: String]?
    public var platform: Platform?
    public var artifactType: String?

    public init(mediaType: String, digest: Digest, size: Int64, annotations: [String: String]? = nil, platform: Platform? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.annotations = annotations
        self.platform = platform
    }
}

/// An image manifest (OCI `image.manifest.v1` or Docker schema 2; they share one shape).
public struct Manifest: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var artifactType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(mediaType: String? = MediaType.ociManifest, config: Descriptor, layers: [Descriptor], annotations: [String: String]? = nil) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.config = config
        self.layers = layers
        self.annotations = annotations
    }
}

/// An image index (OCI `image.index.v1`) or Docker manifest list.
public struct Index: Codable, Hashable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var artifactType: String?
    public var manifests: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(mediaType: String? = MediaType.ociIndex, manifests: [Descriptor], annotations: [String: String]? = nil) {
        self.schemaVersion = 2
        self.mediaType = mediaType
        self.manifests = manifests
        self.annotations = annotations
    }
}

/// The parts of a manifest or index that tell which one it is when the server's Content-Type is missing or vague.
public struct ManifestProbe: Decodable, Sendable {
    public var schemaVersion: Int?
    public var mediaType: String?
    public var manifests: [Descriptor]?
    public var config: Descriptor?
    public var layers: [Descriptor]?

    /// The media type a document really has: its own field first, then its shape.
    public var effectiveMediaType: String? {
        if let mediaType { return mediaType }
        if manifests != nil { return MediaType.ociIndex }
        if config != nil { return MediaType.ociManifest }
        return nil
    }
}
