// swift-tools-version:6.1
// Herald's fuzz targets for libFuzzer: built by tools/fuzz with
// `-sanitize=fuzzer,address` (they need libFuzzer's driver, so they are a package of their
// own, outside the main build). Each hands one `HeraldFuzzing.FuzzTarget` to the driver.
import PackageDescription

let targets = ["wire", "journal", "manifest", "cluster"]

let package = Package(
    name: "HeraldFuzz",
    dependencies: [.package(name: "Herald", path: "..")],
    targets: targets.map { name in
        .executableTarget(
            name: "fuzz-\(name)",
            dependencies: [.product(name: "HeraldFuzzing", package: "Herald")],
            path: "Sources/fuzz-\(name)"
        )
    },
    swiftLanguageModes: [.v6]
)
