// swift-tools-version: 6.1
// necd: reads Scottish National Entitlement Cards through pcscd, decides entitlements,
// and tells tills and kiosks over a Unix socket. See README.md for the module map.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

// The libraries several targets share, named once.
let nio: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
]
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let serviceLifecycle: Target.Dependency = .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let grdb: Target.Dependency = .product(name: "GRDB", package: "GRDB.swift")
let inMemoryLogging: Target.Dependency = .product(name: "InMemoryLogging", package: "swift-log")
let propertyBased: Target.Dependency = .product(name: "PropertyBased", package: "swift-property-based")
// What the socket server and its test helpers build on: NIO, the service lifecycle, logging.
let socketServerLibraries: [Target.Dependency] = nio + [serviceLifecycle, logging]

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
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
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
        // `necctl scan --record`'s JSON-lines file: its reader and writer, the redactor, and
        // the replay that answers commands as the recorded card did.
        .target(name: "NECCardRecording", dependencies: ["NECCard"], swiftSettings: strict),
        .target(name: "VirtualCard", dependencies: ["NECCard", "NECCardRecording"], swiftSettings: strict),
        .target(
            name: "Entitlements",
            dependencies: ["NECCard", grdb, .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(name: "NECProtocol", swiftSettings: strict),
        // The store's values as protocol messages: the one mapping the daemon and necctl share.
        .target(name: "ProtocolMapping", dependencies: ["Entitlements", "NECProtocol", "NECCard"], swiftSettings: strict),
        // necd.toml: the configuration types, the TOML reader, and the decision policy
        // they give. Shared by necd and necctl.
        .target(name: "NECConfiguration", dependencies: ["Entitlements"], swiftSettings: strict),
        // Reading a card through pcscd, for necd's taps and `necctl scan`.
        .target(name: "NECCardReading", dependencies: ["PCSC", "NECCard"], swiftSettings: strict),
        .target(
            name: "NECClient",
            dependencies: ["NECProtocol"] + nio,
            swiftSettings: strict
        ),
        // The client socket server: protocol v1 over a Unix socket, fed by a backend it is
        // given. Nothing of the daemon, the store or PC/SC.
        .target(name: "NECSocketServer", dependencies: ["NECProtocol"] + socketServerLibraries, swiftSettings: strict),
        // The daemon's metrics, defined once: fed where events happen, read by /metrics.
        .target(
            name: "NECMetrics", dependencies: [.product(name: "Prometheus", package: "swift-prometheus")],
            swiftSettings: strict
        ),
        // The HTTP face (off unless configured): the WebSocket bridge to the socket
        // server's sessions, the status page, and /metrics.
        .target(
            name: "NECHTTPServer",
            dependencies: [
                "NECSocketServer", "NECMetrics", "NECProtocol", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ] + socketServerLibraries,
            resources: [.embedInCode("StatusPage.html")],
            swiftSettings: strict
        ),
        .target(
            name: "NECDaemon",
            dependencies: [
                "PCSC", "NECCard", "Entitlements", "NECProtocol", "ProtocolMapping", "NECConfiguration", "NECCardReading",
                "NECSocketServer", "NECHTTPServer", "NECMetrics", .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ] + socketServerLibraries,
            swiftSettings: strict
        ),
        .executableTarget(
            name: "necd",
            dependencies: [
                "NECDaemon", "NECProtocol", .product(name: "ArgumentParser", package: "swift-argument-parser"), logging,
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "necctl",
            dependencies: [
                "PCSC", "NECCard", "VirtualCard", "Entitlements", "NECProtocol", "ProtocolMapping", "NECClient",
                "NECConfiguration", "NECCardReading", "NECCardRecording",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        // A child process for the Entitlements crash and full-disk tests.
        .executableTarget(
            name: "necd-store-torture",
            dependencies: ["Entitlements", "NECCard", "ProtocolMapping"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EntitlementsTests",
            dependencies: [
                "Entitlements", "NECCard", "NECProtocol", "ProtocolMapping", grdb,
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PCSCTests",
            dependencies: ["PCSC", "VirtualCard", "NECCardReading", "NECCard"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NECCardTests",
            dependencies: ["NECCard", propertyBased],
            swiftSettings: strict
        ),
        .testTarget(
            name: "VirtualCardTests",
            dependencies: ["VirtualCard", "NECCard", "NECCardRecording"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["NECCard", "NECCardRecording", "VirtualCard", "NECTestSupport", "necctl", "necd"],
            swiftSettings: strict
        ),
        // necctl doctor, watch and debuginfo, run as a child process (the built binary).
        .testTarget(
            name: "ToolkitTests",
            dependencies: [
                "necctl", "NECSocketServer", "NECSocketServerTesting", "NECProtocol", "NECCard", "NECTestSupport", grdb,
            ],
            swiftSettings: strict
        ),
        // Running the built executables from tests: child processes, the rig's readers, a
        // line-socket client. Shared by EndToEndTests and ToolkitTests; not shipped.
        .target(name: "NECTestSupport", swiftSettings: strict),
        // An in-memory DaemonBackend and socket test client for socket tests; not shipped.
        .target(
            name: "NECSocketServerTesting",
            dependencies: ["NECSocketServer", "NECProtocol"] + socketServerLibraries,
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
                "NECClient", "NECProtocol", "NECSocketServer", "NECSocketServerTesting", serviceLifecycle, logging,
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NECSocketServerTests",
            dependencies: [
                "NECSocketServer", "NECSocketServerTesting", "NECProtocol", logging, inMemoryLogging, propertyBased,
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NECHTTPServerTests",
            dependencies: [
                "NECHTTPServer", "NECSocketServer", "NECSocketServerTesting", "NECTestSupport", serviceLifecycle, logging,
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NECDaemonTests",
            dependencies: [
                "NECDaemon", "NECProtocol", "NECSocketServer", "NECSocketServerTesting", "Entitlements", "NECCard", "NECConfiguration",
                "NECHTTPServer",
                "PCSC", "NECCardReading", "ProtocolMapping", propertyBased, inMemoryLogging,
            ] + socketServerLibraries,
            swiftSettings: strict
        ),
    ]
)
