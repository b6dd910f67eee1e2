// swift-tools-version:6.1
// Herald's fuzz targets for libFuzzer: built by tools/fuzz with
// `-sanitize=fuzzer,address` (they need libFuzzer's driver, so they are a package of their
// own, outside the main build). One driver runs the `HeraldFuzzing.FuzzTarget` named by
// $HERALD_FUZZ_TARGET.
import PackageDescription

let package = Package(
    name: "HeraldFuzz",
    dependencies: [.package(name: "Herald", path: "..")],
    targets: [
        .executableTarget(
            name: "herald-fuzz",
            dependencies: [.product(name: "HeraldFuzzing", package: "Herald")],
            path: "Sources/herald-fuzz"
        )
    ],
    swiftLanguageModes: [.v6]
)
