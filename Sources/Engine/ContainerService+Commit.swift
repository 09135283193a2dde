import APIModels
import Foundation
import OCI
import Storage

/// `POST /commit` parameters (query + optional config body).
public struct CommitOptions: Sendable {
    /// `repo` and `tag` (tag the new image when `repo` is set; `latest` by default).
    public var repo: String?
    public var tag: String?
    public var comment: String
    public var author: String
    /// Pause a running container while its upper dir is read (Docker's default).
    public var pause: Bool
    /// Dockerfile instructions (`--change`).
    public var changes: [String]
    /// Replaces the container's config as the base of the new image's (the request body).
    public var config: ContainerAPIConfig?

    public init(repo: String? = nil, tag: String? = nil, comment: String = "", author: String = "", pause: Bool = true,
                changes: [String] = [], config: ContainerAPIConfig? = nil) {
        self.repo = repo
        self.tag = tag
        self.comment = comment
        self.author = author
        self.pause = pause
        self.changes = changes
        self.config = config
    }
}

extension ContainerService {
    /// `POST /commit?container=…`: moby's `CreateImageFromContainer`. Bad references and changes are
    /// refused before anything happens; a running container is paused (events `pause`/`unpause`) while
    /// the layer is written; then the image is tagged (image `tag` event) and a container `commit`
    /// event carries `comment`, `imageID` and `imageRef`. Returns the image ID.
    public func commit(_ ref: String, options: CommitOptions) async throws -> String {
        let r = try resolve(ref)
        let target = try Self.commitReference(repo: options.repo, tag: options.tag)
        let changed = try CommitChanges.apply(options.changes, to: options.config ?? r.Config)
        let config = CommitConfig.merge(changed, r.Config)
        let parent = try Digest(parsing: r.Image)
        var paused = false
        if options.pause, r.State.Running, !r.State.Paused {
            try await pause(r.ID)
            paused = true
        }
        do {
            let origin = CommitConfig.Origin(containerID: r.ID, containerConfig: r.Config, author: options.author,
                                             comment: options.comment, createdBy: (r.Config.Cmd?.values ?? []).joined(separator: " "),
                                             created: RFC3339.format(Date()))
            let id = try await images.commit(CommitRequest(parent: parent, upperDir: layerDir(r.ID) + "/diff", lowerDirs: r.LowerDirs,
                                                           config: config, origin: origin))
            var imageRef = ""
            if let target {
                try await images.tag(id.description, repo: target.name, tag: target.tag)
                imageRef = target.familiarString
            }
            await publish("commit", containers[r.ID] ?? r,
                          extra: ["comment": options.comment, "imageID": id.description, "imageRef": imageRef])
            if paused { try? await unpause(r.ID) }
            return id.description
        } catch {
            if paused { try? await unpause(r.ID) }
            throw error
        }
    }

    /// moby's `RepoTagReference`: nil without a repo, else `repo[:tag]` with `latest` by default.
    static func commitReference(repo: String?, tag: String?) throws -> Reference? {
        guard let repo, !repo.isEmpty else { return nil }
        var ref = try Reference.parse(repo)
        if ref.digest != nil { throw BerthError(.invalidArgument, "cannot import digest reference") }
        if let tag, !tag.isEmpty {
            guard ImageService.isValidTag(tag) else { throw BerthError(.invalidArgument, "invalid tag format") }
            ref.tag = tag
        }
        return ref.withDefaultTag()
    }
}
