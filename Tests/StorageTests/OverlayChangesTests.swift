#if canImport(Glibc)
import Glibc
#endif
import CLinuxFS
import Foundation
import Testing
@testable import Storage

/// A container upper dir over two image layers, and what Docker's `docker diff` says about it.
enum ChangeCase: String, CaseIterable, CustomStringConvertible {
    case addedFile, addedTree, modifiedContent, copiedUpUnchanged, chmodOnly, deletedFile, deletedDir
    case whiteoutOfNothing, recreatedOpaqueDir, typeChange, deletedByLowerLayer, initStubs, initParentWithContent
    case capabilityChanged

    var description: String { rawValue }

    /// `bottom` and `top` are the image layers, `upper` the container's.
    func build(bottom: OverlayTree, top: OverlayTree, upper: OverlayTree) throws {
        try bottom.dir("etc").file("etc/passwd", "root:x:0:0\n").file("etc/group", "root:x:0:\n")
            .file("etc/os-release", "ID=test\n").dir("bin").symlink("bin/ls", to: "busybox")
            .dir("home/berth").file("home/berth/f1", "1").dir("usr/share/doc")
        try top.dir("usr/share/doc").file("usr/share/doc/readme", "top layer\n")
        switch self {
        case .addedFile:
            try upper.file("new", "x")
        case .addedTree:
            try upper.dir("a/b").file("a/b/c", "hi\n")
        case .modifiedContent:
            try upper.dir("etc").file("etc/passwd", "root:x:0:0\nx\n", mtime: 1_700_000_000)
        case .copiedUpUnchanged:
            try upper.dir("etc").file("etc/passwd", "root:x:0:0\n")
        case .chmodOnly:
            try upper.dir("etc").file("etc/group", "root:x:0:\n", mode: 0o600)
        case .deletedFile:
            try upper.dir("etc").whiteout("etc/os-release")
        case .deletedDir:
            try upper.whiteout("home")
        case .whiteoutOfNothing:
            try upper.whiteout("never-there")
        case .recreatedOpaqueDir:
            try upper.dir("home").dir("home/berth", opaque: true).file("home/berth/z", "")
        case .typeChange:
            try upper.dir("bin").dir("bin/ls", opaque: true)
        case .deletedByLowerLayer:
            // The top image layer deleted /etc/os-release; the container creates it again: added.
            try top.dir("etc").whiteout("etc/os-release")
            try upper.dir("etc").file("etc/os-release", "ID=again\n")
        case .initStubs:
            // Mount points the runtime makes where Docker's init layer has them.
            try upper.dir("etc").file("etc/hosts", "").file("etc/resolv.conf", "").dir("dev").dir("proc")
        case .initParentWithContent:
            try bottom.dir("etc")
            try upper.dir("dev").file("dev/extra", "x")
        case .capabilityChanged:
            try upper.dir("etc").file("etc/passwd", "root:x:0:0\n")
            let p = upper.root + "/etc/passwd"
            let cap: [UInt8] = [0, 0, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
            if cap.withUnsafeBytes({ lsetxattr(p, "security.capability", $0.baseAddress, cap.count, 0) }) != 0 {
                throw TestError("setxattr security.capability")
            }
        }
    }

    var expected: [String] {
        switch self {
        case .addedFile: return ["A /new"]
        case .addedTree: return ["A /a", "A /a/b", "A /a/b/c"]
        case .modifiedContent: return ["C /etc", "C /etc/passwd"]
        case .copiedUpUnchanged: return []
        case .chmodOnly: return ["C /etc", "C /etc/group"]
        case .deletedFile: return ["C /etc", "D /etc/os-release"]
        case .deletedDir: return ["D /home"]
        case .whiteoutOfNothing: return []
        case .recreatedOpaqueDir: return ["C /home", "C /home/berth", "A /home/berth/z", "D /home/berth/f1"]
        case .typeChange: return ["C /bin", "C /bin/ls"]
        case .deletedByLowerLayer: return ["C /etc", "A /etc/os-release"]
        case .initStubs: return []
        case .initParentWithContent: return ["C /dev", "A /dev/extra"]
        case .capabilityChanged: return ["C /etc", "C /etc/passwd"]
        }
    }
}

@Suite(.enabled(if: isRoot, "whiteouts and trusted.overlay xattrs need root"))
struct OverlayChangesTests {
    static func layout(_ c: ChangeCase, _ tmp: TempDir) throws -> OverlayChanges {
        let bottom = try OverlayTree(tmp.sub("bottom")), top = try OverlayTree(tmp.sub("top")), upper = try OverlayTree(tmp.sub("upper"))
        try c.build(bottom: bottom, top: top, upper: upper)
        return OverlayChanges(upper: upper.root, lowers: [top.root, bottom.root])
    }

    @Test(arguments: ChangeCase.allCases)
    func classification(_ c: ChangeCase) throws {
        let tmp = try TempDir()
        let changes = try Self.layout(c, tmp).compute()
        let kinds: [FileChange.Kind: String] = [.modified: "C", .added: "A", .deleted: "D"]
        #expect(changes.map { kinds[$0.kind]! + " " + $0.path } == c.expected)
    }

    @Test func lowerViewFollowsOverlayRules() throws {
        let tmp = try TempDir()
        let bottom = try OverlayTree(tmp.sub("bottom")), top = try OverlayTree(tmp.sub("top"))
        try bottom.dir("d").file("d/x", "x").file("d/kept", "k").file("f", "bottom").dir("gone").file("gone/y", "y")
        try top.dir("d", opaque: true).file("d/y", "y").file("f", "top!").whiteout("gone")
        let view = OverlayLowerView(layers: [top.root, bottom.root])
        #expect(view.lookup("d/x") == nil) // hidden by the opaque directory above
        #expect(view.lookup("d/y") != nil)
        #expect(view.lookup("f")?.st.st_size == 4) // the topmost copy wins
        #expect(view.lookup("gone") == nil && view.lookup("gone/y") == nil)
        #expect(view.lookup("f/sub") == nil)
        let d = try #require(view.lookup("d"))
        #expect(view.visibleNames(d) == ["y"])
        let root = OverlayLowerView(layers: [top.root, bottom.root])
        #expect(root.lookup("nothing") == nil)
    }

    @Test func initStubsAreRecognised() throws {
        let tmp = try TempDir()
        let diff = try Self.layout(.initStubs, tmp)
        func st(_ p: String) -> stat { lstatOf(diff.upper + "/" + p)! }
        #expect(diff.isInitStub("etc/hosts", st("etc/hosts")))
        #expect(diff.isInitStub("dev", st("dev")))
        #expect(!diff.isInitStub("etc", st("etc"))) // in the image
        let bare = OverlayChanges(upper: diff.upper, lowers: [])
        #expect(bare.isInitStub("etc", st("etc"))) // holds only stubs: no /etc in the image → still a stub
        try writeBytes(diff.upper + "/etc/hostname", Array("real content\n".utf8))
        #expect(!diff.isInitStub("etc/hostname", st("etc/hostname")))
    }
}
