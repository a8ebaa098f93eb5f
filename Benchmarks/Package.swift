// swift-tools-version: 6.1
// Benchmarks for necd, kept out of the main package so its build stays lean.
// Run from this directory: `swift package benchmark` (see ../scripts/bench-decide).
import PackageDescription

let package = Package(
    name: "necd-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "necd", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "EntitlementsBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Entitlements", package: "necd"),
                .product(name: "NECCard", package: "necd"),
            ],
            path: "Benchmarks/EntitlementsBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
