import Foundation
import TestSupport
import XCTest

/// Without a loadable OpenBLAS, running a model that needs GEMM is a one-line error naming the library and the
/// node, exit status 1, and no output directory: not a crash. Runs the `mcc` binary in a child process, because
/// the library is loaded once per process; `MCC_OPENBLAS` points the loader at a library that does not exist.
final class BLASUnavailableTests: XCTestCase {
    func testMissingOpenBLASIsAnErrorNotACrash() throws {
        let scratch = try ScratchDirectory("mcc-no-blas")
        defer { scratch.remove() }
        let out = scratch.path("out")
        let process = Process()
        process.executableURL = TestPaths.mccBinary
        process.arguments = ["run", TestPaths.model("mtcnn_pnet").path,
                             "--inputs", TestPaths.corpus.appendingPathComponent("ref/mtcnn_pnet").path, "-o", out]
        var environment = ProcessInfo.processInfo.environment
        environment["MCC_OPENBLAS"] = "/nonexistent/libopenblas.so.0"
        process.environment = environment
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit, "crashed: \(stderr)")
        XCTAssertEqual(process.terminationStatus, 1, stderr)
        let lines = stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, stderr)
        XCTAssertTrue(stderr.contains("cannot load OpenBLAS (/nonexistent/libopenblas.so.0)"), stderr)
        XCTAssertTrue(stderr.contains("Conv"), "names the node: \(stderr)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no output directory on failure")
    }
}
