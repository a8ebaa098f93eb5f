// swift-tools-version: 6.1
// necd: reads Scottish National Entitlement Cards through pcscd, decides entitlements,
// and tells tills and kiosks over a Unix socket. See README.md for the module map.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "necd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "necd", targets: ["necd"]),
        .executable(name: "necctl", targets: ["necctl"]),
        .library(name: "NECCard", targets: ["NECCard"]),
        .library(name: "NECClient", targets: ["NECClient"]),
        // For the separate Benchmarks/ package.
        .library(name: "Entitlements", targets: ["Entitlements"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // libpcsclite, as a module. Not API: only PCSC imports it. A C target, not a
        // pkg-config system library: pkg-config's -pthread makes SwiftPM warn on every build.
        .target(
            name: "CPCSC",
            cSettings: [.unsafeFlags(["-I/usr/include/PCSC"])],
            linkerSettings: [.linkedLibrary("pcsclite")]
        ),
        .target(
            name: "PCSC",
            dependencies: ["CPCSC"],
            swiftSettings: strict + [.unsafeFlags(["-Xcc", "-I/usr/include/PCSC"])]
        ),
        .target(name: "NECCard", swiftSettings: strict),
        .target(name: "VirtualCard", dependencies: ["NECCard"], swiftSettings: strict),
        .target(
            name: "Entitlements",
            dependencies: [
                "NECCard",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(name: "NECProtocol", swiftSettings: strict),
        .target(
            name: "NECClient",
            dependencies: [
                "NECProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "NECDaemon",
            dependencies: [
                "PCSC", "NECCard", "Entitlements", "NECProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "necd",
            dependencies: [
                "NECDaemon", "NECProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "necctl",
            dependencies: [
                "PCSC", "NECCard", "VirtualCard", "Entitlements", "NECProtocol", "NECClient", "NECDaemon",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        // A child process for the Entitlements crash and full-disk tests.
        .executableTarget(
            name: "necd-store-torture",
            dependencies: ["Entitlements", "NECCard"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EntitlementsTests",
            dependencies: ["Entitlements", "NECCard", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PCSCTests",
            dependencies: ["PCSC", "VirtualCard"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NECCardTests",
            dependencies: ["NECCard", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "VirtualCardTests",
            dependencies: ["VirtualCard", "NECCard"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["NECCard", "VirtualCard", "NECTestSupport", "necctl", "necd"],
            swiftSettings: strict
        ),
        // necctl doctor, watch and debuginfo, run as a child process (the built binary).
        .testTarget(
            name: "ToolkitTests",
            dependencies: [
                "necctl", "NECDaemon", "NECDaemonTesting", "NECProtocol", "NECTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        // Running the built executables from tests: child processes, the rig's readers, a
        // line-socket client. Shared by EndToEndTests and ToolkitTests; not shipped.
        .target(name: "NECTestSupport", swiftSettings: strict),
        // An in-memory DaemonBackend and socket test client for socket tests; not shipped.
        .target(
            name: "NECDaemonTesting",
            dependencies: [
                "NECDaemon", "NECProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NECProtocolTests",
            dependencies: ["NECProtocol"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NECClientTests",
            dependencies: [
                "NECClient", "NECProtocol", "NECDaemon", "NECDaemonTesting",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NECDaemonTests",
            dependencies: [
                "NECDaemon", "NECProtocol", "NECDaemonTesting", "Entitlements", "NECCard", "PCSC",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
    ]
)
