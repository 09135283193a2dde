import APIModels
import Testing
@testable import EngineAPI

/// Image list shapes that differ by API version (moby's `ImageList` handler).
struct ImageShapeTests {
    static let untagged = ImageSummary(Id: "sha256:" + String(repeating: "a", count: 64), RepoTags: [], RepoDigests: [],
                                       Created: 0, Size: 42)

    @Test(arguments: [
        ("1.43", ["<none>:<none>"], ["<none>@<none>"], Int64?.some(42)),
        ("1.24", ["<none>:<none>"], ["<none>@<none>"], Int64?.some(42)),
        ("1.44", [String](), [String](), Int64?.none),
        ("1.50", [String](), [String](), Int64?.none),
    ])
    func untaggedImage(version: String, tags: [String], digests: [String], virtualSize: Int64?) {
        let s = APIRoutes.shapeSummary(Self.untagged, for: APIVersion(version))
        #expect(s.RepoTags == tags)
        #expect(s.RepoDigests == digests)
        #expect(s.VirtualSize == virtualSize)
    }

    @Test func taggedImageKeepsItsNames() {
        var img = Self.untagged
        img.RepoTags = ["busybox:latest"]
        img.RepoDigests = ["busybox@sha256:" + String(repeating: "b", count: 64)]
        let s = APIRoutes.shapeSummary(img, for: "1.41")
        #expect(s.RepoTags == img.RepoTags)
        #expect(s.RepoDigests == img.RepoDigests)
    }
}
