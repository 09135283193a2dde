import Testing
@testable import OCI

struct ReferenceTests {
    static let hex = String(repeating: "a", count: 64)

    struct Good: Sendable, CustomTestStringConvertible {
        var input: String
        var domain: String
        var path: String
        var tag: String?
        var digest: String?
        var familiar: String
        var full: String
        var testDescription: String { input }
    }

    static let good: [Good] = [
        Good(input: "hello-world", domain: "docker.io", path: "library/hello-world", familiar: "hello-world", full: "docker.io/library/hello-world"),
        Good(input: "busybox:latest", domain: "docker.io", path: "library/busybox", tag: "latest", familiar: "busybox:latest", full: "docker.io/library/busybox:latest"),
        Good(input: "godlovedc/lolcow", domain: "docker.io", path: "godlovedc/lolcow", familiar: "godlovedc/lolcow", full: "docker.io/godlovedc/lolcow"),
        Good(input: "python:3.14.0-alpine", domain: "docker.io", path: "library/python", tag: "3.14.0-alpine", familiar: "python:3.14.0-alpine", full: "docker.io/library/python:3.14.0-alpine"),
        Good(input: "quay.io/biocontainers/samtools:1.9--h91753b0_8", domain: "quay.io", path: "biocontainers/samtools", tag: "1.9--h91753b0_8", familiar: "quay.io/biocontainers/samtools:1.9--h91753b0_8", full: "quay.io/biocontainers/samtools:1.9--h91753b0_8"),
        Good(input: "nvcr.io/nvidia/pytorch:24.01-py3", domain: "nvcr.io", path: "nvidia/pytorch", tag: "24.01-py3", familiar: "nvcr.io/nvidia/pytorch:24.01-py3", full: "nvcr.io/nvidia/pytorch:24.01-py3"),
        Good(input: "ghcr.io/owner/repo:tag", domain: "ghcr.io", path: "owner/repo", tag: "tag", familiar: "ghcr.io/owner/repo:tag", full: "ghcr.io/owner/repo:tag"),
        Good(input: "localhost:5000/x@sha256:\(hex)", domain: "localhost:5000", path: "x", digest: "sha256:\(hex)", familiar: "localhost:5000/x@sha256:\(hex)", full: "localhost:5000/x@sha256:\(hex)"),
        Good(input: "localhost/x:1", domain: "localhost", path: "x", tag: "1", familiar: "localhost/x:1", full: "localhost/x:1"),
        Good(input: "docker.io/library/busybox", domain: "docker.io", path: "library/busybox", familiar: "busybox", full: "docker.io/library/busybox"),
        Good(input: "docker.io/busybox", domain: "docker.io", path: "library/busybox", familiar: "busybox", full: "docker.io/library/busybox"),
        Good(input: "index.docker.io/foo", domain: "docker.io", path: "library/foo", familiar: "foo", full: "docker.io/library/foo"),
        Good(input: "index.docker.io/foo/bar:v1", domain: "docker.io", path: "foo/bar", tag: "v1", familiar: "foo/bar:v1", full: "docker.io/foo/bar:v1"),
        Good(input: "busybox:1.36@sha256:\(hex)", domain: "docker.io", path: "library/busybox", tag: "1.36", digest: "sha256:\(hex)", familiar: "busybox:1.36@sha256:\(hex)", full: "docker.io/library/busybox:1.36@sha256:\(hex)"),
        Good(input: "[::1]:5000/a/b:c", domain: "[::1]:5000", path: "a/b", tag: "c", familiar: "[::1]:5000/a/b:c", full: "[::1]:5000/a/b:c"),
        Good(input: "127.0.0.1:5000/a", domain: "127.0.0.1:5000", path: "a", familiar: "127.0.0.1:5000/a", full: "127.0.0.1:5000/a"),
        Good(input: "Registry.Example.com/a", domain: "Registry.Example.com", path: "a", familiar: "Registry.Example.com/a", full: "Registry.Example.com/a"),
        Good(input: "Foo/bar", domain: "Foo", path: "bar", familiar: "Foo/bar", full: "Foo/bar"),
        Good(input: "myhost:5000", domain: "docker.io", path: "library/myhost", tag: "5000", familiar: "myhost:5000", full: "docker.io/library/myhost:5000"),
        Good(input: "a.b-c--d/f_g.h__i---j:TAG_1.x-y", domain: "a.b-c--d", path: "f_g.h__i---j", tag: "TAG_1.x-y", familiar: "a.b-c--d/f_g.h__i---j:TAG_1.x-y", full: "a.b-c--d/f_g.h__i---j:TAG_1.x-y"),
        Good(input: "library/a__b-c.d/e--f", domain: "docker.io", path: "library/a__b-c.d/e--f", familiar: "library/a__b-c.d/e--f", full: "docker.io/library/a__b-c.d/e--f"),
        Good(input: "a:" + String(repeating: "t", count: 128), domain: "docker.io", path: "library/a", tag: String(repeating: "t", count: 128), familiar: "a:" + String(repeating: "t", count: 128), full: "docker.io/library/a:" + String(repeating: "t", count: 128)),
        Good(input: String(repeating: "a", count: 247), domain: "docker.io", path: "library/" + String(repeating: "a", count: 247), familiar: String(repeating: "a", count: 247), full: "docker.io/library/" + String(repeating: "a", count: 247)),
    ]

    @Test(arguments: good)
    func parsesGood(_ c: Good) throws {
        let r = try Reference.parse(c.input)
        #expect(r.domain == c.domain)
        #expect(r.path == c.path)
        #expect(r.tag == c.tag)
        #expect(r.digest?.description == c.digest)
        #expect(r.familiarString == c.familiar)
        #expect(r.description == c.full)
        #expect(r.name == c.domain + "/" + c.path)
        #expect(r.isDockerHub == (c.domain == "docker.io"))
        // Round trip: the full form parses to the same reference.
        #expect(try Reference.parse(r.description) == r)
        #expect(try Reference.parse(r.familiarString) == r)
    }

    static let bad: [(String, String)] = [
        ("UPPER", "invalid reference format: repository name (library/UPPER) must be lowercase"),
        ("library/Foo", "invalid reference format: repository name (library/Foo) must be lowercase"),
        ("localhost:5000/Foo:tag", "invalid reference format: repository name (Foo) must be lowercase"),
        ("a:b:c", "invalid reference format"),
        (":tag", "invalid reference format"),
        ("", "invalid reference format"),
        ("a//b", "invalid reference format"),
        ("a/", "invalid reference format"),
        ("-a", "invalid reference format"),
        ("a-", "invalid reference format"),
        ("a..b", "invalid reference format"),
        ("a___b", "invalid reference format"),
        ("a:", "invalid reference format"),
        ("a@", "invalid reference format"),
        ("a:-tag", "invalid reference format"),
        ("a:" + String(repeating: "t", count: 129), "invalid reference format"),
        ("a@sha256:short", "invalid reference format"),
        ("a@sha256:" + String(repeating: "a", count: 32), "invalid checksum digest length"),
        ("a@sha256:" + String(repeating: "A", count: 64), "invalid checksum digest format"),
        ("a b", "invalid reference format"),
        ("a_b.c/x", "invalid reference format"),
        ("localhost:port/x", "invalid reference format"),
        ("[::1/x", "invalid reference format"),
        (hex, "invalid repository name (\(hex)), cannot specify 64-byte hexadecimal strings"),
        (String(repeating: "a", count: 256), "repository name must not be more than 255 characters"),
        (String(repeating: "a", count: 248), "repository name must not be more than 255 characters"),
        ("example.com/" + String(repeating: "a", count: 256), "repository name must not be more than 255 characters"),
    ]

    @Test(arguments: bad)
    func rejectsBad(_ input: String, _ message: String) {
        do {
            let r = try Reference.parse(input)
            Issue.record("\(input) parsed as \(r)")
        } catch let e as BerthError {
            #expect(e.code == .invalidArgument)
            #expect(e.message == message)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func defaultTag() throws {
        #expect(try Reference.parse("busybox").withDefaultTag().description == "docker.io/library/busybox:latest")
        #expect(try Reference.parse("busybox:1").withDefaultTag().tag == "1")
        let d = try Reference.parse("busybox@sha256:\(Self.hex)").withDefaultTag()
        #expect(d.tag == nil)
        #expect(d.familiarString == "busybox@sha256:\(Self.hex)")
    }

    @Test func familiarNameKeepsNestedLibrary() throws {
        #expect(try Reference.parse("docker.io/library/a/b").familiarName == "library/a/b")
        #expect(try Reference.parse("localhost:5000/library/x").familiarName == "localhost:5000/library/x")
    }

    @Test func imageIDs() {
        #expect(Reference.isImageID(Self.hex))
        #expect(!Reference.isImageID("sha256:" + Self.hex))
        #expect(!Reference.isImageID(String(Self.hex.dropLast())))
    }
}
