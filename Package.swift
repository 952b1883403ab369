// swift-tools-version:6.0
import Foundation
import PackageDescription

/// Swift SIMD kernels are compiled for AVX2 + FMA (Haswell, 2013), the floor of the x86-64 nodes
/// this tool targets: one binary runs on any of them, and the bf16 product kernels (C, in
/// CKernelSupport) pick AVX-512 / AVX-512 BF16 at run time. Without a target CPU Swift emits
/// baseline SSE2 code, far slower (../shared/PLATFORM.md). XLSWEEP_TARGET_CPU overrides (e.g.
/// `znver4` for the build machine only, `generic` for pre-AVX2 CPUs).
func kernelCPU() -> String? {
    if let forced = ProcessInfo.processInfo.environment["XLSWEEP_TARGET_CPU"] {
        return forced.isEmpty || forced == "generic" ? nil : forced
    }
    #if arch(x86_64)
    return "haswell"
    #else
    return nil
    #endif
}

/// The CLI refuses to start on a CPU below the one the kernels were built for (a clear error, not SIGILL).
let cliSettings: [SwiftSetting] = kernelCPU() == "haswell" ? [.define("XLSWEEP_NEEDS_AVX2")] : []

/// Hot loops are optimised even in debug builds, so `swift test` runs real models at real speed.
let optimised: [SwiftSetting] = [.unsafeFlags(["-O"] + (kernelCPU().map { ["-target-cpu", $0] } ?? []))]

let package = Package(
    name: "xlsweep",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "xlsweep", targets: ["xlsweep"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
    ],
    targets: [
        // C libraries from Debian (libzmq3-dev, libhdf5-dev, libopenblas-dev).
        .systemLibrary(name: "CZeroMQ", path: "Sources/CZeroMQ"),
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5"),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        // The product kernels are optimised in debug builds too (tests run real models through them).
        .target(name: "CKernelSupport", path: "Sources/CKernelSupport", cSettings: [.unsafeFlags(["-O2"])]),

        // SHA-256 (swift-crypto) for fingerprints, checksums and seeds: what Store and Checkpoints hash with.
        .target(name: "Digests", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "Kernels", dependencies: ["CBLAS", "CKernelSupport"], swiftSettings: optimised),
        .target(name: "Checkpoints", dependencies: ["Kernels", "Digests"], swiftSettings: optimised),
        .target(name: "Tokenization", swiftSettings: optimised),
        .target(name: "Models", dependencies: ["Kernels", "Checkpoints", "Tokenization"], swiftSettings: optimised),
        .target(name: "Probing", dependencies: ["Kernels"], swiftSettings: optimised),
        .target(name: "Store", dependencies: ["CHDF5", "Digests"]),
        .target(name: "Report", dependencies: ["Store"]),
        // The sweep in three layers (swift-nio's NIOCore / NIOPosix / NIOEmbedded split): the pure core
        // (plan, scheduler, node health, placement, wire messages, the coordinator's state machine),
        // the transport (ZeroMQ + CURVE, and an in-memory channel), and the runner (tasks, worker and
        // coordinator loops, fragment store, ledger, merge).
        .target(name: "SweepCore", dependencies: [.product(name: "Crypto", package: "swift-crypto"),
                                                  .product(name: "Logging", package: "swift-log")]),
        .target(name: "SweepTransport", dependencies: ["CZeroMQ", "SweepCore"]),
        .target(name: "SweepRunner", dependencies: ["SweepCore", "SweepTransport", "Digests", "Checkpoints", "Kernels", "Models", "Probing", "Store",
                                                     "Tokenization", .product(name: "Yams", package: "Yams"),
                                                     .product(name: "Logging", package: "swift-log")]),
        .executableTarget(
            name: "xlsweep",
            dependencies: [
                "Kernels", "Digests", "Checkpoints", "Tokenization", "Models", "Probing", "Store", "SweepCore", "SweepTransport", "SweepRunner",
                "Report", "CKernelSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: cliSettings),

        // What the test suites share: fixture paths, scratch directories, the tiny sweep's config, processes.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "CKernelSupport"]),
        .testTarget(name: "CheckpointsTests", dependencies: ["TestSupport", "Checkpoints", "Kernels", "Digests"]),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization"]),
        .testTarget(name: "ModelsTests", dependencies: ["TestSupport", "Models", "Checkpoints", "Tokenization", "Kernels"]),
        .testTarget(name: "ProbingTests", dependencies: ["TestSupport", "Probing", "Checkpoints", "Kernels"]),
        .testTarget(name: "SweepTests", dependencies: ["TestSupport", "SweepCore", "SweepTransport", "SweepRunner", "Digests", "Store", "Kernels", "Checkpoints",
                                                    .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "Store", "SweepCore", "SweepTransport", "SweepRunner", "Digests", "Kernels"]),
    ]
)
