import APIModels
import Foundation
import OCI
import Storage

extension ContainerService {
    /// `GET /containers/{id}/changes`: the container's upper dir compared with its image's layers
    /// (``OverlayChanges``: Docker's classification), for running and stopped containers alike.
    public func changes(_ ref: String) async throws -> [ContainerChangeItem] {
        let r = try resolve(ref)
        let diff = OverlayChanges(upper: layerDir(r.ID) + "/diff", lowers: r.LowerDirs)
        let list = try await ImageService.onThread("berth-changes") { try diff.compute() }
        return list.map { ContainerChangeItem(Path: $0.path, Kind: $0.kind.rawValue) }
    }
}
