// swift-tools-version:6.0
import Foundation
import PackageDescription

/// SIMD kernels are compiled for the CPU of the build machine (see ../shared/PLATFORM.md: without a
/// target CPU, Swift emits baseline SSE2 code ~100x slower). Override with XLSWEEP_TARGET_CPU.
func kernelCPU() -> String? {
    if let forced = ProcessInfo.processInfo.environment["XLSWEEP_TARGET_CPU"] {
        return forced.isEmpty || forced == "generic" ? nil : forced
    }
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
    let flags = Set(flagsLine.split(separator: " ").map(String.init))
    if flags.contains("avx512f") && flags.contains("avx512bw") && flags.contains("avx512vl") { return "skylake-avx512" }
    if flags.contains("avx2") && flags.contains("fma") { return "haswell" }
    return nil
}

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
    ],
    targets: [
        // C libraries from Debian (libzmq3-dev, libhdf5-dev, libopenblas-dev).
        .systemLibrary(name: "CZeroMQ", path: "Sources/CZeroMQ"),
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5"),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .target(name: "CKernelSupport", path: "Sources/CKernelSupport"),

        .target(name: "Kernels", dependencies: ["CBLAS", "CKernelSupport"], swiftSettings: optimised),
        .target(name: "Checkpoints", dependencies: ["Kernels"], swiftSettings: optimised),
        .target(name: "Tokenization", swiftSettings: optimised),
        .target(name: "Models", dependencies: ["Kernels", "Checkpoints", "Tokenization"], swiftSettings: optimised),
        .target(name: "Probing", dependencies: ["Kernels"], swiftSettings: optimised),
        .target(name: "Store", dependencies: ["CHDF5", "Kernels"]),
        .target(name: "Report", dependencies: ["Store"]),
        .target(name: "Sweep", dependencies: ["CZeroMQ", "Checkpoints", "Kernels", "Models", "Probing", "Store", "Tokenization",
                                               .product(name: "Yams", package: "Yams")]),
        .executableTarget(
            name: "xlsweep",
            dependencies: [
                "Kernels", "Checkpoints", "Tokenization", "Models", "Probing", "Store", "Sweep", "Report",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints", "Kernels"]),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Checkpoints", "Tokenization"]),
        .testTarget(name: "ProbingTests", dependencies: ["Probing", "Checkpoints"]),
        .testTarget(name: "SweepTests", dependencies: ["Sweep", "Store"]),
        .testTarget(name: "CLITests", dependencies: ["Store", "Sweep"]),
    ]
)
