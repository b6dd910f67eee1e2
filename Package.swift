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
        .executable(name: "herald", targets: ["herald"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
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
        // Small C helpers that need CPU intrinsics (CRC32C with SSE4.2).
        .target(name: "CHeraldSupport"),

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
            dependencies: ["HeraldJournal", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),

        // The wire protocol between clients and heraldd: pure frame codec, no I/O.
        .target(name: "HeraldWire", swiftSettings: strict),

        // Leaves: the operators' CLI and the benchmark driver.
        .executableTarget(
            name: "herald",
            dependencies: [
                "HeraldJournal",
                "HeraldService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "herald-bench",
            dependencies: [
                "HeraldJournal",
                "HeraldService",
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
                "HeraldJournal",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "HeraldWireTests", dependencies: ["HeraldWire"], swiftSettings: strict),
        .testTarget(
            name: "HeraldServiceTests",
            dependencies: ["HeraldService", "HeraldJournal"],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
