// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "KnowLM",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "knowlm", targets: ["knowlm"]),
        .library(name: "KnowLMCore", targets: ["KnowLMCore"]),
        .library(name: "KnowLMRuntime", targets: ["KnowLMRuntime"]),
        .library(name: "KnowLMKnowledge", targets: ["KnowLMKnowledge"]),
        .library(name: "KnowLMExtraction", targets: ["KnowLMExtraction"]),
        .library(name: "KnowLMAgent", targets: ["KnowLMAgent"]),
        .library(name: "KnowLMServer", targets: ["KnowLMServer"]),
        .library(name: "KnowLMRemote", targets: ["KnowLMRemote"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        // MCP client (tools of external servers) and server (`knowlm mcp`).
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk", from: "0.12.1"),
        .package(url: "https://github.com/apple/swift-system", from: "1.0.0"),
        // `knowlm serve`: KnowLM's /generate API and the OpenAI-compatible API.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        // `/metrics` in the Prometheus format.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .target(
            name: "CSentencePiece",
            cxxSettings: [.unsafeFlags(["-O2"])],
            linkerSettings: [.linkedLibrary("sentencepiece"), .linkedLibrary("stdc++")]
        ),
        // Quantized dot products need AVX2/AVX-512 VNNI integer intrinsics that Swift SIMD
        // cannot express; always optimised so debug test builds stay usable. OpenBLAS is
        // loaded at run time (blas_loader.c), after choosing its kernels for this CPU.
        .target(
            name: "CKernels",
            cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])],
            linkerSettings: [.linkedLibrary("dl")]
        ),
        .target(name: "KnowLMCore"),
        .target(
            name: "KnowLMRuntime",
            dependencies: ["KnowLMCore", "CKernels", "CSentencePiece"]
        ),
        .target(
            name: "KnowLMKnowledge",
            dependencies: [
                "KnowLMCore", "CKernels",
                .product(name: "GRDB", package: "GRDB.swift"),
                // The raw SQLite API, for the bulk-import hot path (bind/step without GRDB's
                // per-call argument arrays).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            // Every prompt the system sends (the top-level Prompts/ links here).
            resources: [.copy("Prompts")]
        ),
        .target(
            name: "KnowLMExtraction",
            dependencies: ["KnowLMCore", "KnowLMRuntime", "KnowLMKnowledge"]
        ),
        // HTTP for the agent's http_get tool (libcurl; Debian's libcurl4-openssl-dev).
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        .target(
            name: "KnowLMAgent",
            dependencies: [
                "KnowLMCore", "KnowLMRuntime", "KnowLMKnowledge", "KnowLMExtraction", "CCurl",
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // A LanguageModel behind an OpenAI-compatible server, over libcurl.
        .target(name: "KnowLMRemote", dependencies: ["KnowLMCore", "CCurl"]),
        .target(
            name: "KnowLMServer",
            dependencies: [
                "KnowLMCore", "KnowLMRuntime", "KnowLMKnowledge", "KnowLMExtraction", "KnowLMAgent",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            // The web page served at `/`.
            resources: [.copy("Web")]
        ),
        .executableTarget(
            name: "knowlm",
            dependencies: [
                "KnowLMCore", "KnowLMRuntime", "KnowLMKnowledge", "KnowLMExtraction", "KnowLMAgent", "KnowLMServer", "KnowLMRemote",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "KnowLMCoreTests", dependencies: ["KnowLMCore"]),
        .testTarget(
            name: "KnowLMRuntimeTests",
            dependencies: ["KnowLMRuntime", "KnowLMCore", "CKernels"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "KnowLMExtractionTests",
            dependencies: ["KnowLMExtraction", "KnowLMKnowledge", "KnowLMRuntime", "KnowLMCore"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "KnowLMAgentTests",
            dependencies: ["KnowLMAgent", "KnowLMExtraction", "KnowLMKnowledge", "KnowLMRuntime", "KnowLMCore"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "KnowLMServerTests",
            dependencies: [
                "KnowLMServer", "KnowLMRemote", "KnowLMAgent", "KnowLMKnowledge", "KnowLMRuntime", "KnowLMCore",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "KnowLMKnowledgeTests",
            dependencies: ["KnowLMKnowledge", "KnowLMRuntime", "KnowLMCore"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
