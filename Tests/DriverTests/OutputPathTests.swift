import Foundation
import TestSupport
import XCTest

/// OutputDirectory resolves `-o` without URL for plain paths (OutputDirectory.standardizedAbsolutePath): every
/// spelling must land where `URL(fileURLWithPath:).standardizedFileURL` put it before, and mcc must print the same
/// paths. Run from a scratch working directory so relative spellings are covered.
final class OutputPathTests: XCTestCase {
    private var scratch: ScratchDirectory!

    override func setUpWithError() throws { scratch = try ScratchDirectory("mcc-output-path") }
    override func tearDown() { scratch.remove() }

    private var sample: String { TestPaths.repositoryRoot.appendingPathComponent("samples/ppocr_mobile_v2_cls.onnx").path }

    /// Runs mcc in `directory`; returns exit status and stdout.
    private func run(_ arguments: [String], in directory: String) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = TestPaths.mccBinary
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testOutputSpellingsResolveAsURLDid() throws {
        // The working directory as the child sees it (getcwd: symlinks resolved).
        let cwd = URL(fileURLWithPath: scratch.url.path).resolvingSymlinksInPath().path
        try FileManager.default.createDirectory(atPath: cwd + "/sub/deep", withIntermediateDirectories: true)
        let spellings = ["out1", "./out2/", "sub//deep/./out3", "sub/deep/../../out4", cwd + "/sub/../out5",
                         cwd + "//out6//", "sp ace", "per%25cent", "../" + URL(fileURLWithPath: cwd).lastPathComponent + "/out7"]
        for spelling in spellings {
            let expected = URL(fileURLWithPath: spelling, relativeTo: URL(fileURLWithPath: cwd, isDirectory: true))
                .standardizedFileURL.path
            let (status, stdout) = try run([sample, "-target", "onnx", "-O0", "-o", spelling], in: cwd)
            XCTAssertEqual(status, 0, spelling)
            XCTAssertEqual(stdout, expected + "/ppocr_mobile_v2_cls.onnx\n", spelling)
            XCTAssertTrue(FileManager.default.fileExists(atPath: expected + "/ppocr_mobile_v2_cls.onnx"), spelling)
            // Compiling into the same directory again replaces mcc's own output.
            XCTAssertEqual(try run([sample, "-target", "onnx", "-O0", "-o", spelling], in: cwd).0, 0, spelling)
        }
        // No staging directory is left behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: cwd).filter { $0.contains(".partial-") }
        XCTAssertEqual(leftovers, [])
    }
}
