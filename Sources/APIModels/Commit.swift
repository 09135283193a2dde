/// `GET /containers/{id}/changes` item: `Kind` 0 modified, 1 added, 2 deleted.
public struct ContainerChangeItem: Codable, Sendable, Hashable {
    public var Path: String
    public var Kind: Int
    public init(Path: String, Kind: Int) {
        self.Path = Path
        self.Kind = Kind
    }
}
