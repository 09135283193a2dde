/// Media types of the OCI image spec and Docker's image manifest v2 schema 2.
public enum MediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let ociLayerNonDistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar"
    public static let ociLayerNonDistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    public static let ociEmpty = "application/vnd.oci.empty.v1+json"

    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerManifestV1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    public static let dockerManifestV1 = "application/vnd.docker.distribution.manifest.v1+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    public static let dockerLayerForeignGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    public static let dockerLayer = "application/vnd.docker.image.rootfs.diff.tar"

    /// Everything a pull may ask a registry for, most preferred first.
    public static let manifestAccept = [ociIndex, dockerManifestList, ociManifest, dockerManifest]

    public static func isIndex(_ t: String?) -> Bool { t == ociIndex || t == dockerManifestList }
    public static func isManifest(_ t: String?) -> Bool { t == ociManifest || t == dockerManifest }

    /// How a layer blob is compressed, judged by its media type.
    public static func layerCompression(_ t: String) -> LayerCompression? {
        switch t {
        case ociLayer, dockerLayer, ociLayerNonDistributable: return .none
        case ociLayerGzip, dockerLayerGzip, dockerLayerForeignGzip, ociLayerNonDistributableGzip: return .gzip
        case ociLayerZstd: return .zstd
        default:
            if t.hasSuffix("+gzip") { return .gzip }
            if t.hasSuffix("+zstd") { return .zstd }
            if t.hasSuffix(".tar") { return LayerCompression.none }
            return nil
        }
    }
}

public enum LayerCompression: String, Sendable, Codable {
    case none, gzip, zstd
}
