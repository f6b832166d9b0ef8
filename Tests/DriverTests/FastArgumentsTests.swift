import Foundation
import TestSupport
import XCTest

/// The common compile command lines skip ArgumentParser (FastArguments.swift). Everything it accepts must mean
/// what ArgumentParser makes of it: the same command spelled with the explicit `compile` subcommand (which always
/// goes through ArgumentParser) gives byte-identical outputs, and lines it does not take still get
/// ArgumentParser's errors.
final class FastArgumentsTests: XCTestCase {
    private var scratch: ScratchDirectory!

    override func setUpWithError() throws { scratch = try ScratchDirectory("mcc-fast-arguments") }
    override func tearDown() { scratch.remove() }

    private var sample: String { TestPaths.repositoryRoot.appendingPathComponent("samples/ppocr_mobile_v2_cls.onnx").path }

    private func files(in directory: String) throws -> [String: Data] {
        var result: [String: Data] = [:]
        let root = URL(fileURLWithPath: directory)
        for case let url as URL in FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) ?? .init()
        where !url.hasDirectoryPath && url.lastPathComponent != "buildinfo.json" {
            result[String(url.path.dropFirst(root.path.count))] = try Data(contentsOf: url)
        }
        return result
    }

    func testFastPathMatchesArgumentParser() throws {
        let lines: [[String]] = [
            [sample, "-target", "rvc2", "-O2", "--shape", "x=1,3,48,192"],
            ["--target", "onnx", sample, "-O1", "--shape", "x=1,3,48,192", "-v"],
            [sample, "--shape", "x=1,3,48,192"],
        ]
        for (i, line) in lines.enumerated() {
            let fast = scratch.path("fast\(i)"), parsed = scratch.path("parsed\(i)")
            let a = try runMCC(line + ["-o", fast])
            let b = try runMCC(["compile"] + line + ["--output-dir", parsed])
            XCTAssertEqual(a.status, 0, a.stderr)
            XCTAssertEqual(b.status, 0, b.stderr)
            XCTAssertEqual(a.stdout.replacingOccurrences(of: fast, with: "OUT"), b.stdout.replacingOccurrences(of: parsed, with: "OUT"))
            let fastFiles = try files(in: fast), parsedFiles = try files(in: parsed)
            XCTAssertFalse(fastFiles.isEmpty)
            XCTAssertEqual(fastFiles, parsedFiles, "outputs of \(line)")
        }
    }

    func testLinesItDoesNotTakeStillGetArgumentParserErrors() throws {
        let out = scratch.path("out")
        for (line, message) in [
            ([sample, "-O7", "-o", out], "-O7: optimization level must be 0, 1 or 2"),
            ([sample, "-target", "tpu", "-o", out], "tpu"),
            ([sample, "-o"], "-o"),
            ([sample, sample, "-o", out], sample),
        ] as [([String], String)] {
            let result = try runMCC(line)
            XCTAssertEqual(result.status, 2, "\(line): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(message), "\(line): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        }
    }
}
