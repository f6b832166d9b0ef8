// swift-tools-version:6.0
import PackageDescription

// Layout (see README "Structure"): IR is the target-free core; ONNXFormat is the only code that touches protobuf;
// Kernels holds the numeric loops (BLAS/SIMD) apart from graph code; Interpreter executes IR graphs on Kernels;
// Passes/Quant/Emit build on those; Driver holds the command line and is the only place that knows targets.
let optimizedNumerics: [SwiftSetting] = [
    // Numeric code is ~300x slower unoptimized (SIMD types in debug), so it is optimized in every configuration.
    .unsafeFlags(["-O"], .when(configuration: .debug)),
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "mcc",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "mcc", targets: ["mcc"]),
        .library(name: "MCC", targets: ["IR", "ONNXFormat", "Kernels", "Interpreter", "Passes", "Quant", "Emit", "Driver"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // System libraries (Debian -dev packages) and C code.
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CLZMA", pkgConfig: "liblzma", providers: [.apt(["liblzma-dev"])]),
        .target(name: "COnnx", dependencies: ["CProtobufC"], cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "CJpegShim", dependencies: ["CJPEG"], cSettings: [.unsafeFlags(["-O2"])]),

        // The compiler.
        // Passes, shape inference and import walk IR classes on every compile; their stored properties' accessors
        // live here, so the dynamic exclusivity checks (~6% of the pass pipeline) are off in release as in Passes.
        .target(name: "IR", swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        .target(name: "ONNXFormat", dependencies: ["IR", "COnnx", "CProtobufC"]),
        // Hot float loops as C compiled for baseline x86-64, AVX2+FMA and AVX-512 and picked at run time (a Swift
        // module has one target CPU): see Sources/CKernels/include/CKernels.h.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2"])]),
        // OpenBLAS (apt libopenblas-dev) is loaded with dlopen on first use: see Sources/Kernels/OpenBLAS.swift.
        .target(name: "Kernels", dependencies: ["CKernels"], swiftSettings: optimizedNumerics),
        .target(name: "Interpreter", dependencies: ["IR", "Kernels"], swiftSettings: optimizedNumerics),
        // Graph walks in passes run on every compile: no dynamic exclusivity checks in release (debug keeps them).
        .target(name: "Passes", dependencies: ["IR", "Interpreter", "Kernels", "CKernels"],
                swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        // Calibration data, observers, QDQ planning and simulation; numeric inner loops are optimized everywhere.
        .target(name: "Quant", dependencies: ["IR", "Interpreter", "Kernels", "CKernels", "CJPEG", "CJpegShim", "CPNG"],
                swiftSettings: optimizedNumerics),
        .target(name: "Emit", dependencies: ["IR", "ONNXFormat", "Quant", "CKernels"]),
        .target(name: "Driver", dependencies: [
            "IR", "ONNXFormat", "Interpreter", "Passes", "Quant", "Emit",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Linked as a position-dependent executable on Linux: a PIE needs ~78k relative relocations applied (and
        // their pages faulted) at every start, about a millisecond of a 20 ms compile.
        .executableTarget(name: "mcc", dependencies: ["Driver"],
                          linkerSettings: [.unsafeFlags(["-Xclang-linker", "-no-pie"], .when(platforms: [.linux]))]),

        // Tests (run in release: see scripts/test.sh).
        .target(name: "TestSupport", dependencies: ["CKernels"], path: "Tests/TestSupport"),
        // IR fixtures are read through #filePath, not bundled.
        .testTarget(name: "IRTests", dependencies: ["IR", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "ONNXFormatTests", dependencies: ["IR", "ONNXFormat", "TestSupport"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "CKernels", "TestSupport"]),
        .testTarget(name: "InterpreterTests", dependencies: ["IR", "ONNXFormat", "Kernels", "Interpreter", "TestSupport"]),
        .testTarget(name: "PassesTests", dependencies: ["IR", "ONNXFormat", "Interpreter", "Passes", "TestSupport"]),
        .testTarget(name: "EmitTests", dependencies: ["IR", "Emit", "TestSupport"]),
        .testTarget(name: "DriverTests", dependencies: ["IR", "ONNXFormat", "Driver", "TestSupport"]),
        .testTarget(name: "QuantTests", dependencies: ["IR", "ONNXFormat", "Interpreter", "Quant", "Emit", "CKernels", "TestSupport"],
                    exclude: ["Fixtures"]),
    ]
)
