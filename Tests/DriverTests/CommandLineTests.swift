import Foundation
import TestSupport
import XCTest

/// The `mcc` binary's contract: exit codes (0 ok, 1 failure, 2 usage, 3 unsupported), one-line errors that name
/// the file/input at fault, and no output directory left behind on failure.
final class CommandLineTests: XCTestCase {
    private var scratch: ScratchDirectory!

    override func setUpWithError() throws { scratch = try ScratchDirectory("mcc-cli") }
    override func tearDown() { scratch.remove() }

    private func assertFails(_ arguments: [String], status: Int32, mentions needles: [String],
                             file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try runMCC(arguments)
        XCTAssertEqual(result.status, status, "stderr: \(result.stderr)", file: file, line: line)
        let lines = result.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "expected a one-line error, got: \(result.stderr)", file: file, line: line)
        for needle in needles {
            XCTAssertTrue(result.stderr.contains(needle), "'\(needle)' not in: \(result.stderr)", file: file, line: line)
        }
        XCTAssertFalse(result.stderr.contains("Fatal error"), file: file, line: line)
    }

    private var sample: String { TestPaths.repositoryRoot.appendingPathComponent("samples/ppocr_mobile_v2_cls.onnx").path }

    func testCompilesSampleToStaticONNX() throws {
        let out = scratch.path("cls")
        let result = try runMCC([sample, "-target", "onnx", "-O0", "--shape", "x=1,3,48,192", "-o", out])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/ppocr_mobile_v2_cls.onnx"))
        let inspect = try runMCC(["inspect", "\(out)/ppocr_mobile_v2_cls.onnx", "--json"])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("\"dynamic_input_shapes\" : false"), inspect.stdout)
        // Recompiling into a directory mcc made is allowed and byte-identical (deterministic output).
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(out)/ppocr_mobile_v2_cls.onnx"))
        XCTAssertEqual(try runMCC([sample, "-target", "onnx", "-O0", "--shape", "x=1,3,48,192", "-o", out]).status, 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(out)/ppocr_mobile_v2_cls.onnx")), before)
    }

    func testMissingModelFile() throws {
        let out = scratch.path("o")
        try assertFails([scratch.path("nope.onnx"), "-target", "onnx", "-O0", "-o", out], status: 1, mentions: ["nope.onnx"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testNonONNXFile() throws {
        let bogus = scratch.path("bogus.onnx")
        try Data("this is not a protobuf".utf8).write(to: URL(fileURLWithPath: bogus))
        let out = scratch.path("o")
        try assertFails([bogus, "-target", "onnx", "-O0", "-o", out], status: 1, mentions: ["bogus.onnx"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        try assertFails(["inspect", bogus], status: 1, mentions: ["bogus.onnx"])
    }

    func testTruncatedModel() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: sample))
        let truncated = scratch.path("truncated.onnx")
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: truncated))
        let out = scratch.path("o")
        try assertFails([truncated, "-target", "onnx", "-O0", "-o", out], status: 1, mentions: ["truncated.onnx"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testUsageErrorsExitTwo() throws {
        try assertFails([sample, "-target", "rvc9"], status: 2, mentions: ["rvc9"])
        try assertFails([sample, "-O7", "-o", scratch.path("o")], status: 2, mentions: ["-O7"])
        try assertFails([sample, "--shape", "x=1,three", "-o", scratch.path("o")], status: 2, mentions: ["three"])
        try assertFails([sample, "--shape", "y=1,3,48,192", "-o", scratch.path("o")], status: 2, mentions: ["'y'", "x"])
        try assertFails([sample, "--shape", "x=1,3,48", "-o", scratch.path("o")], status: 2, mentions: ["x"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.path("o")))
    }

    func testRefusesToOverwriteForeignDirectory() throws {
        let foreign = scratch.path("precious")
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: "\(foreign)/notes.txt"))
        try assertFails([sample, "-target", "onnx", "-O0", "--shape", "x=1,3,48,192", "-o", foreign],
                        status: 2, mentions: ["precious", "not created by mcc"])
        XCTAssertEqual(try String(contentsOfFile: "\(foreign)/notes.txt", encoding: .utf8), "keep me")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).filter { $0.contains("partial") }
        XCTAssertEqual(leftovers, [])
    }

    func testHelpExitsZero() throws {
        let result = try runMCC(["--help"])
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.stdout.contains("compile (default)"), result.stdout)
        let compile = try runMCC(["compile", "--help"])
        XCTAssertEqual(compile.status, 0)
        XCTAssertTrue(compile.stdout.contains("-target"), compile.stdout)
    }
}
