// swift-tools-version:6.1
import PackageDescription

/// Linker flags for executables that start often or stay resident: the Swift runtime and Foundation
/// linked statically (start-up and RSS both drop: no dynamic relocation of the shared Swift libraries).
let staticFoundation = [
    "-static-stdlib", "-Xlinker", "--start-group",
    "-lFoundation", "-lFoundationEssentials", "-lFoundationInternationalization", "-lCoreFoundation",
    "-l_FoundationICU", "-l_FoundationCShims", "-l_FoundationCollections", "-lswiftSynchronization",
    "-lswiftDispatch", "-ldispatch", "-lBlocksRuntime", "-Xlinker", "--end-group",
]

/// The CLI as a position-dependent executable exporting no symbols: a PIE image of this size
/// carries ~100,000 relative relocations whose copy-on-write page faults cost ≈ 1 ms per command,
/// and the 25,000 symbols SwiftPM's `-export-dynamic` puts in .dynsym slow every symbol lookup of
/// the loader and the Swift runtime's start-up `dladdr` (a linear scan). Together ≈ 3 ms per
/// `berth` command. berthd, long-running and network-facing, stays PIE; the CLI's shared
/// libraries, stack and heap are still randomized.
let cliLinkFlags = ["-Xclang-linker", "-no-pie", "-Xlinker", "--no-export-dynamic"]

/// berth-runtime as one static executable, like runc's release binaries: no dynamic loader, no
/// shared libstdc++/libseccomp to map and relocate (≈ 1.5 ms less per container start, on the
/// critical path of `run`). It runs for milliseconds per container and reads no network input;
/// the price is a fixed address layout for its own code and libc (see the README).
let staticExecutable = [
    "-static-executable", "-Xlinker", "--start-group",
    "-lFoundation", "-lFoundationEssentials", "-lFoundationInternationalization", "-lCoreFoundation",
    "-l_FoundationICU", "-l_FoundationCShims", "-l_FoundationCollections", "-lswiftSynchronization",
    "-lswiftDispatch", "-ldispatch", "-lBlocksRuntime", "-lstdc++", "-lm", "-Xlinker", "--end-group",
]

let package = Package(
    name: "berth",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "berth", targets: ["berth"]),
        .executable(name: "berthd", targets: ["berthd"]),
        .executable(name: "berth-runtime", targets: ["berth-runtime"]),
        .executable(name: "berth-monitor", targets: ["berth-monitor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // System libraries from Debian packages.
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CIsal", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLinuxFS"),
        // The only C of our own: fork/clone/exec paths that must not run Swift code in the child.
        .target(name: "CBerthShim"),

        // The libarchive tar plumbing shared by the daemon (docker cp / export), the CLI (berth cp)
        // and Storage: writer over a sink, reader over a source, entry metadata, UTF-8 locale.
        .target(name: "TarArchive", dependencies: ["CArchive"]),
        .target(name: "OCI", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "Registry", dependencies: [
            "OCI",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Storage", dependencies: [
            "OCI", "CArchive", "TarArchive", "CIsal", "CZstd", "CLinuxFS",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Runtime", dependencies: [
            "OCI", "CSeccomp", "CBerthShim",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "APIModels"),
        .target(name: "Engine", dependencies: [
            "OCI", "Registry", "Storage", "Runtime", "APIModels", "TarArchive", "CLinuxFS",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "EngineAPI", dependencies: [
            "Engine", "APIModels", "OCI",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "APIClient", dependencies: [
            "APIModels", "OCI",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .target(name: "BerthCLI", dependencies: [
            "APIClient", "APIModels", "OCI", "CArchive", "TarArchive",
        ]),
        // Static Swift runtime + Foundation: the CLI starts in ~3 ms instead of ~9 ms (no dynamic
        // linking of libFoundation/ICU), which matters for `berth ps` latency.
        .executableTarget(name: "berth", dependencies: ["BerthCLI"],
                          linkerSettings: [.unsafeFlags(staticFoundation + cliLinkFlags, .when(platforms: [.linux]))]),
        // berth's OCI runtime CLI (runc-compatible). A static executable (`staticExecutable`): it
        // starts once per container operation.
        .executableTarget(name: "berth-runtime", dependencies: [
            "Runtime", "OCI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], linkerSettings: [.unsafeFlags(staticExecutable, .when(platforms: [.linux]))]),
        // Per-container supervisor (conmon-like), plain C; linked statically without the Swift
        // runtime to stay under 1 MB RSS per container (docs/monitor.md).
        .executableTarget(name: "berth-monitor", path: "Sources/berth-monitor",
                          cSettings: [.unsafeFlags(["-O2", "-Wall"])],
                          linkerSettings: [.unsafeFlags(["-nostartfiles", "-static-stdlib", "-Xclang-linker", "-static"])]),
        // The daemon links the Swift runtime and Foundation statically: fewer shared-library pages
        // resident at idle, and no dependence on the toolchain's library path at run time.
        .executableTarget(name: "berthd", dependencies: [
            "EngineAPI", "Engine",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], linkerSettings: [.unsafeFlags(staticFoundation, .when(platforms: [.linux]))]),

        .testTarget(name: "OCITests", dependencies: ["OCI"]),
        .testTarget(name: "TarArchiveTests", dependencies: ["TarArchive"]),
        // Helpers shared by test targets only (temp dirs, free ports, a real docker-registry, and
        // child processes that die with the test process). A plain target under Tests/: test
        // targets cannot depend on one another.
        .target(name: "TestSupport", dependencies: ["OCI"], path: "Tests/TestSupport"),
        .testTarget(name: "RegistryTests", dependencies: ["Registry", "TestSupport"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "OCI"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "TestSupport"]),
        .testTarget(name: "EngineAPITests", dependencies: ["EngineAPI", "TestSupport"]),
        .testTarget(name: "BerthCLITests", dependencies: ["BerthCLI"]),
    ]
)
