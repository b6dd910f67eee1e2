// swift-tools-version:6.1
// Herald — a cluster event service with a durable, replayable journal.
//
// The targets are the layers of docs/architecture.md; dependencies point down only.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Herald",
    products: [
        .library(name: "HeraldJournal", targets: ["HeraldJournal"]),
        .library(name: "HeraldService", targets: ["HeraldService"]),
        .library(name: "HeraldWire", targets: ["HeraldWire"]),
        .library(name: "HeraldClient", targets: ["HeraldClient"]),
        // The OCF C API: liboc_event.so + include/ocf/oc_event.h (tools/install installs both).
        .library(name: "oc_event", type: .dynamic, targets: ["OCEvent"]),
        // The SA Forum Event Service C API: libSaEvt.so + include/saAis.h, include/saEvt.h.
        .library(name: "SaEvt", type: .dynamic, targets: ["SaEvt"]),
        // The decoders of outside bytes as fuzz targets (the Fuzz package, tools/fuzz).
        .library(name: "HeraldFuzzing", targets: ["HeraldFuzzing"]),
        .executable(name: "herald", targets: ["herald"]),
        .executable(name: "heraldd", targets: ["heraldd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // System libraries (module maps only).
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),
        .systemLibrary(
            name: "CLibCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // Small C helpers that need CPU intrinsics (CRC32C with SSE4.2) or libcrypto's
        // allocation-free SHA-256 (the Merkle tree's hashes).
        .target(name: "CHeraldSupport", linkerSettings: [.linkedLibrary("crypto")]),

        // Layer 1: the journal. Segments + SQLite index; no sockets, no channels.
        .target(
            name: "HeraldJournal",
            dependencies: [
                "CLZ4",
                "CLibCrypto",
                "CHeraldSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // Layer 2: the event service of both APIs (channels, filters, subscriptions).
        .target(
            name: "HeraldService",
            dependencies: ["HeraldJournal", "HeraldWire", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),

        // The wire protocol between clients and heraldd: pure frame codec, no I/O.
        .target(name: "HeraldWire", swiftSettings: strict),

        // The daemon's sessions over a Unix socket, and the Swift client.
        .target(
            name: "HeraldServer",
            dependencies: [
                "HeraldService",
                "HeraldJournal",
                "HeraldWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Many nodes: Corosync (libcpg, libquorum, libcmap) loaded at run time, so nothing
        // else needs it to build or run; built as stubs when its headers are missing.
        .target(name: "CCorosync", linkerSettings: [.linkedLibrary("dl")]),
        .target(
            name: "HeraldCluster",
            dependencies: [
                "CCorosync", "HeraldService", "HeraldJournal", "HeraldWire",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "HeraldClient",
            dependencies: [
                "HeraldWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "heraldd",
            dependencies: [
                "CHeraldSupport",
                "HeraldServer",
                "HeraldCluster",
                "HeraldService",
                "HeraldWire",
                "HeraldJournal",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),

        // The OCF C API over HeraldClient: C symbols exported by Swift (@_cdecl), with the
        // checked-in header as a module so the structs have the layouts C programs see.
        .systemLibrary(name: "COCEvent", path: "Sources/COCEvent"),
        // What the C libraries share: waiting for async client work on a C caller's
        // thread, the pollable selection descriptor, errno errors.
        .target(name: "HeraldCBridge", swiftSettings: strict),
        .target(
            name: "OCEvent",
            dependencies: ["COCEvent", "HeraldCBridge", "HeraldClient", "HeraldWire"],
            swiftSettings: strict,
            // Programs record liboc_event.so.1: the ABI's major version (tools/install
            // makes the links).
            linkerSettings: [.unsafeFlags(["-Xlinker", "-soname=liboc_event.so.1"])]
        ),

        // The SaEvt C API over HeraldClient, the same way.
        .systemLibrary(name: "CSaEvt", path: "Sources/CSaEvt"),
        .target(
            name: "SaEvt",
            dependencies: ["CSaEvt", "HeraldCBridge", "HeraldClient", "HeraldWire"],
            swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-Xlinker", "-soname=libSaEvt.so.1"])]
        ),

        // Leaves: the operators' CLI and the benchmark driver.
        .executableTarget(
            name: "herald",
            dependencies: [
                "HeraldJournal",
                "HeraldService",
                "HeraldClient",
                "HeraldWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "herald-bench",
            dependencies: [
                "HeraldJournal",
                "HeraldService",
                "HeraldClient",
                "HeraldWire",
                "CLZ4",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        .testTarget(
            name: "HeraldJournalTests",
            dependencies: [
                "HeraldJournal", "CLibCrypto",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "HeraldWireTests", dependencies: ["HeraldWire"], swiftSettings: strict),
        // C checks of the OCF library, linked into the test binary with it.
        .target(name: "COCEventChecks", dependencies: ["OCEvent"], path: "Tests/COCEventChecks"),
        .target(name: "CSaEvtChecks", dependencies: ["SaEvt"], path: "Tests/CSaEvtChecks"),
        .testTarget(
            name: "HeraldServerTests",
            dependencies: [
                "HeraldClient", "HeraldWire", "HeraldServer", "HeraldService", "HeraldJournal", "OCEvent",
                "COCEventChecks", "SaEvt",
                "CSaEvtChecks",
            ],
            swiftSettings: strict
        ),
        .target(
            name: "HeraldFuzzing", dependencies: ["HeraldCluster", "HeraldJournal", "HeraldWire"],
            swiftSettings: strict),
        .testTarget(name: "HeraldFuzzingTests", dependencies: ["HeraldFuzzing"], swiftSettings: strict),
        .testTarget(
            name: "HeraldClusterTests",
            dependencies: ["HeraldCluster", "HeraldJournal"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "HeraldServiceTests",
            dependencies: [
                "HeraldService", "HeraldJournal", "HeraldWire", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
