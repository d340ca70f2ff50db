// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "gear",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "geard", targets: ["geard"]),
        .executable(name: "gear", targets: ["gear"]),
        .executable(name: "gear-orchestrator", targets: ["gear-orchestrator"]),
        .library(name: "GearClient", targets: ["GearClient"]),
        .library(name: "GearAPI", targets: ["GearAPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", from: "1.1.4"),
    ],
    targets: [
        // C: libsystemd through pkg-config, plus a header of static inline shims.
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        .target(
            name: "SystemdBus",
            dependencies: [
                "CSystemd",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SystemdJournal",
            dependencies: ["CSystemd"],
            swiftSettings: swiftSettings
        ),
        // The vocabulary every side speaks: wire types, errors and their codes, ids and their rules, unit names,
        // limits, labels and the spec digest. Nothing of systemd, HTTP or the agent; swift-crypto for the digest.
        .target(
            name: "GearAPI",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // etcd's v3 API: messages and gRPC clients generated once from contrib/etcd/etcd.proto (contrib/etcd/generate.sh)
        // and committed. Generated code keeps the generators' imports, hence no shared settings.
        .target(
            name: "EtcdV3",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // An etcd v3 client over gRPC with client certificates (KV, transactions, watches, leases, users and roles),
        // and gear's layout in etcd: the keys and values of desired and observed state. Used by geard and gear.
        .target(
            name: "GearEtcd",
            dependencies: [
                "EtcdV3",
                "GearAPI",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ],
            swiftSettings: swiftSettings
        ),
        // A NATS client on SwiftNIO (the protocol, TLS with client certificates, reconnection with resubscription,
        // bounded buffers), for the message-bus transport. Knows nothing of gear's subjects or of the agent.
        .target(
            name: "GearNATS",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The caller's side of gear's bus: signed requests to one node or all over NATS, and the live requests that
        // answers must match (signed by the node their subject names). Used by gear and the orchestrator.
        .target(
            name: "GearBus",
            dependencies: [
                "GearAPI", "GearAuthorization", "GearCertificates", "GearNATS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: swiftSettings
        ),
        // The funnel for the C library's file and socket calls: EINTR retried, errors typed, descriptors owned.
        .target(name: "GearSystem", swiftSettings: swiftSettings),
        // Tar archives: reading, writing, and extraction confined beneath a directory; shared by geard and gear.
        .target(
            name: "GearArchive",
            dependencies: [
                "GearAPI",
                "GearSystem",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Certificates and client identities: issuing (gear certs) and reading a peer's (geard's HTTPS listener).
        .target(
            name: "GearCertificates",
            dependencies: [
                "GearSystem",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GearCore",
            dependencies: [
                "GearAPI",
                "GearArchive",
                "GearSystem",
                "SystemdBus",
                "SystemdJournal",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            ],
            swiftSettings: swiftSettings
        ),
        // Who may do what, asked by every transport: identities, operations, policies and scopes, delegation
        // tokens and their ledger, the decision and its audit trail.
        .target(
            name: "GearAuthorization",
            dependencies: [
                "GearAPI",
                "GearCertificates",
                "GearSystem",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // geard's etcd transport: converges the node to its desired state in etcd through the core and the authorizer,
        // and writes what it observes under its own prefix and lease.
        .target(
            name: "GearEtcdTransport",
            dependencies: [
                "GearAPI",
                "GearAuthorization",
                "GearCore",
                "GearEtcd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // geard's message-bus transport: signed requests from NATS verified, run through the API in process, answered
        // signed. Sees no systemd and no HTTP types (geard hands it the API as a function).
        .target(
            name: "GearNATSTransport",
            dependencies: [
                "GearAPI", "GearAuthorization", "GearCertificates", "GearNATS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: swiftSettings
        ),
        // docs/openapi.json into GearHTTP at build time (OpenAPIDocument.json).
        .plugin(name: "EmbedOpenAPI", capability: .buildTool()),
        .target(
            name: "GearHTTP",
            dependencies: [
                "GearAPI",
                "GearAuthorization",
                "GearCore",
                "GearCertificates",
                "GearSystem",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP2", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["EmbedOpenAPI"]
        ),
        .target(
            name: "GearClient",
            dependencies: [
                "GearAPI",
                "GearSystem",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // gear deploy: deployment descriptors, placement over hosts, links, and carrying a plan out through GearClient.
        .target(
            name: "GearDeploy",
            dependencies: [
                "GearAPI",
                "GearClient",
                "GearEtcd",
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The metrics system of geard and gear-orchestrator: swift-metrics into a Prometheus registry, with help texts.
        .target(
            name: "GearMetrics",
            dependencies: [
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // The orchestrator: deployments in etcd kept true by one elected replica (placement, replacing the instances of
        // dead nodes, rollouts); no systemd below it.
        .target(
            name: "GearOrchestrator",
            dependencies: [
                "GearAPI",
                "GearDeploy",
                "GearEtcd",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "gear-orchestrator",
            dependencies: [
                "GearEtcd",
                "GearMetrics",
                "GearOrchestrator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Hollow nodes for the orchestrator's benchmark (bench/orchestrator-scale.sh): geard's core and etcd transport
        // over the in-memory systemd of the test support, many per process. A benchmark tool, never a test double.
        .executableTarget(
            name: "gear-hollow",
            dependencies: [
                "GearAuthorization",
                "GearCore",
                "GearEtcd",
                "GearEtcdTransport",
                "GearTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "bench/gear-hollow",
            swiftSettings: swiftSettings
        ),
        // The placement benchmark (bench/placement.sh): gear's scorers against the anchors' on a published machine mix.
        .executableTarget(
            name: "gear-placement",
            dependencies: [
                "GearDeploy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "bench/gear-placement",
            swiftSettings: swiftSettings
        ),
        // The bus benchmark (bench/bus.sh): a broadcast to many responders in one process, signed and plain.
        .executableTarget(
            name: "gear-bus-bench",
            dependencies: [
                "GearAPI", "GearAuthorization", "GearBus", "GearCertificates", "GearNATS",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "bench/gear-bus",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "geard",
            dependencies: [
                "GearAPI",
                "GearAuthorization",
                "GearCertificates",
                "GearCore",
                "GearEtcd",
                "GearEtcdTransport",
                "GearHTTP",
                "GearMetrics",
                "GearNATS",
                "GearNATSTransport",
                "SystemdBus",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "gear",
            dependencies: [
                "GearBus",
                "GearNATS",
                "GearAPI",
                "GearArchive",
                "GearClient",
                "GearCertificates",
                "GearDeploy",
                "GearEtcd",
                "GearSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // What unit tests share: an in-memory systemd for the agent's queue and bookkeeping (never used by the
        // integration tests, which run against the real one).
        .target(
            name: "GearTestSupport",
            dependencies: ["GearCore"],
            path: "Tests/GearTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GearSystemTests",
            dependencies: ["GearSystem"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GearAPITests",
            dependencies: ["GearAPI"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GearArchiveTests",
            dependencies: ["GearArchive", "GearAPI", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GearCoreTests",
            dependencies: ["GearCore", "GearAPI", "GearTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GearHTTPTests",
            dependencies: [
                "GearHTTP", "GearAuthorization", "GearCore", "GearAPI", "GearCertificates", "GearMetrics", "GearTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GearAuthorizationTests",
            dependencies: [
                "GearAuthorization", "GearCertificates",
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GearCertificatesTests",
            dependencies: [
                "GearCertificates",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GearDeployTests",
            dependencies: ["GearDeploy", "GearAPI", "GearEtcd"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GearOrchestratorTests",
            dependencies: ["GearOrchestrator", "GearDeploy", "GearAPI", "GearEtcd"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GearEtcdTests",
            dependencies: ["GearEtcd", "GearEtcdTransport", "GearAPI", "GearCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GearNATSTests",
            dependencies: [
                "GearNATS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GearClientTests",
            dependencies: [
                "GearClient", "GearAPI", "GearCore", "GearHTTP", "GearTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GearCLITests",
            dependencies: [
                "gear", "geard", "gear-orchestrator", "GearAPI", "GearClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "GearAPI", "GearAuthorization", "GearBus", "GearCertificates", "GearClient", "GearNATS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

// `make fuzz`: with GEAR_FUZZ set, gear-fuzz (libFuzzer over geard's parsers, Fuzz/GearFuzz) joins the package and the
// modules that hold those parsers are instrumented for coverage and address checks. It builds apart, in .build-fuzz.
if Context.environment["GEAR_FUZZ"] != nil {
    let sanitizers: [SwiftSetting] = [.unsafeFlags(["-sanitize=fuzzer,address"])]
    let parsers = [
        "GearAPI", "GearArchive", "GearAuthorization", "GearCertificates", "GearClient", "GearCore", "GearDeploy", "GearHTTP", "GearNATS",
    ]
    for target in package.targets where parsers.contains(target.name) {
        target.swiftSettings = (target.swiftSettings ?? []) + sanitizers
    }
    package.targets.append(.target(name: "CFuzzer", path: "Fuzz/CFuzzer"))
    package.targets.append(
        .executableTarget(
            name: "gear-fuzz",
            dependencies: parsers.map { .target(name: $0) } + [
                "CFuzzer", .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Fuzz/GearFuzz",
            swiftSettings: swiftSettings + sanitizers,
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address", "-use-ld=lld"])]
        )
    )
}
