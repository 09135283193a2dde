import APIModels
import Foundation
import NIOHTTP1

/// `diff` and `commit`.
extension APIClient {
    /// `GET /containers/{id}/changes` (dockerd answers `null` when nothing changed: an empty list here).
    public func containerChanges(_ id: String) throws -> [ContainerChangeItem] {
        let (_, data) = try send(.GET, "/containers/" + APIClient.pathEscape(id) + "/changes")
        return try decode([ContainerChangeItem]?.self, data) ?? []
    }

    /// `POST /commit?container=…`. No body, as the docker CLI sends: the container's own config is the
    /// base the `changes` apply to. Returns the new image ID (`sha256:…`).
    public func commitContainer(_ id: String, repo: String?, tag: String?, comment: String, author: String,
                                changes: [String], pause: Bool) throws -> String {
        var q: [(String, String)] = [("container", id)]
        if let repo, !repo.isEmpty { q.append(("repo", repo)) }
        if let tag, !tag.isEmpty { q.append(("tag", tag)) }
        if !comment.isEmpty { q.append(("comment", comment)) }
        if !author.isEmpty { q.append(("author", author)) }
        for c in changes { q.append(("changes", c)) }
        if !pause { q.append(("pause", "0")) }
        let (_, data) = try send(.POST, "/commit", query: q)
        return try decode(IDResponse.self, data).Id
    }
}
