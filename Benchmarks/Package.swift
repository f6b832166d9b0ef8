// swift-tools-version:6.0
import PackageDescription

// Benchmarks live in their own package so normal builds and CI's test build stay fast.
// Run: bash Benchmarks/run.sh   (see Benchmarks/README.md)
let package = Package(
    name: "mcc-benchmarks",
    dependencies: [.package(name: "mcc", path: "..")],
    targets: [
        .executableTarget(name: "mcc-bench", dependencies: [.product(name: "MCC", package: "mcc")]),
    ]
)
