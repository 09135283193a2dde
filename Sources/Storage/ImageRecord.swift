import Foundation
import OCI

/// One image as the store knows it. The image ID is the digest of its config blob.
public struct ImageRecord: Codable, Sendable, Hashable {
    /// The image ID (= `config.digest`).
    public var id: Digest
    /// The config blob (stored in the content store).
    public var config: Descriptor
    /// Manifests and indexes this image was pulled through (stored in the content store).
    public var manifests: [Descriptor]
    /// Layers, bottom first.
    public var layers: [LayerRecord]
    /// `created` from the config, as written there.
    public var created: String?
    /// When the record was stored.
    public var added: Date
    /// When the image was last tagged locally (`docker tag`); nil if never.
    public var lastTagTime: Date?

    public init(config: Descriptor, manifests: [Descriptor], layers: [LayerRecord], created: String?, added: Date = Date(), lastTagTime: Date? = nil) {
        self.id = config.digest
        self.config = config
        self.manifests = manifests
        self.layers = layers
        self.created = created
        self.added = added
        self.lastTagTime = lastTagTime
    }

    /// Total unpacked size (Docker's image `Size`).
    public var size: Int64 { layers.reduce(0) { $0 + $1.size } }

    public var chainIDs: [Digest] { layers.map(\.chainID) }

    /// Seconds since the epoch of `created` (0 if absent or unparsable), as `docker images` sorts by.
    public var createdUnix: Int64 { created.flatMap(RFC3339.parseStamp)?.seconds ?? 0 }

    /// Every blob the image keeps alive.
    public var blobs: [Digest] {
        [config.digest] + manifests.map(\.digest) + layers.compactMap { $0.blobStored ? $0.blob?.digest : nil }
    }
}

/// A layer of an image: its snapshot (by chain ID) and where it came from.
public struct LayerRecord: Codable, Sendable, Hashable {
    public var diffID: Digest
    public var chainID: Digest
    /// Docker's layer size (sum of tar entry sizes).
    public var size: Int64
    /// The compressed blob the layer was pulled as.
    public var blob: Descriptor?
    /// Whether that blob is kept in the content store.
    public var blobStored: Bool

    public init(diffID: Digest, chainID: Digest, size: Int64, blob: Descriptor?, blobStored: Bool) {
        self.diffID = diffID
        self.chainID = chainID
        self.size = size
        self.blob = blob
        self.blobStored = blobStored
    }
}

/// What a garbage collection removed.
public struct GarbageReport: Sendable, Hashable {
    public var snapshots: [Digest] = []
    public var blobs: [Digest] = []
    /// Unpacked bytes of the removed snapshots plus bytes of the removed blobs.
    public var bytesFreed: Int64 = 0
    public init() {}
}

/// A hold on snapshots and blobs that garbage collection must keep (a pull in progress, a container).
public struct Lease: Codable, Sendable, Hashable {
    public var chainIDs: Set<Digest>
    public var blobs: Set<Digest>
    public init(chainIDs: Set<Digest> = [], blobs: Set<Digest> = []) {
        self.chainIDs = chainIDs
        self.blobs = blobs
    }
}
