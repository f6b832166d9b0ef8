import Foundation
import TestSupport
import XCTest

/// The -O levels and their flags on the `mcc` binary: pass-manager debugging flags (--verify-each, --print-after,
/// --dump-ir, -v timings) and the preprocessing flags (--mean/--scale/--encoding/--layout), good values exit 0,
/// bad ones exit 2 with a one-line error naming the flag and input, and leave no output directory.
final class OptimizationFlagsTests: XCTestCase {
    private var scratch: ScratchDirectory!

    override func setUpWithError() throws { scratch = try ScratchDirectory("mcc-opt-flags") }
    override func tearDown() { scratch.remove() }

    private var sample: String { TestPaths.repositoryRoot.appendingPathComponent("samples/ppocr_mobile_v2_cls.onnx").path }
    private var base: [String] { [sample, "-target", "onnx", "--shape", "x=1,3,48,192"] }

    private func compile(_ extra: [String], into name: String = "out") throws -> (CommandResult, String) {
        let out = scratch.path(name)
        return (try runMCC(base + extra + ["-o", out]), out)
    }

    func testOptimizationLevelsCompileWithVerifierAndTimings() throws {
        for level in ["-O1", "-O2"] {
            let (result, out) = try compile([level, "--verify-each", "-v"], into: level)
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/ppocr_mobile_v2_cls.onnx"))
            XCTAssertTrue(result.stderr.contains("mcc:   pass constant-folding: "), result.stderr)
            XCTAssertTrue(result.stderr.contains("mcc: passes (O"), result.stderr)
            XCTAssertFalse(result.stderr.contains("error"), result.stderr)
        }
    }

    func testPrintAfterAndDumpIR() throws {
        let (one, _) = try compile(["-O1", "--print-after", "constant-folding"], into: "one")
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertTrue(one.stderr.contains("; IR after constant-folding\n"), String(one.stderr.prefix(300)))
        XCTAssertFalse(one.stderr.contains("; IR after dead-code-elimination"))
        XCTAssertTrue(one.stderr.contains(" = Conv(%"), "nodes print as '%out:type = Op(%in, ...)'")

        let (all, _) = try compile(["-O1", "--print-after", "*"], into: "all")
        XCTAssertEqual(all.status, 0, all.stderr)
        XCTAssertTrue(all.stderr.contains("; IR after dead-code-elimination\n"))

        let (dump, _) = try compile(["-O0", "--dump-ir"], into: "dump")
        XCTAssertEqual(dump.status, 0, dump.stderr)
        XCTAssertTrue(dump.stderr.hasPrefix("model ir_version="), String(dump.stderr.prefix(200)))
        XCTAssertTrue(dump.stderr.contains("%x:f32[1,3,48,192]"), "the dump shows the fixed input shape")
        XCTAssertTrue(dump.stderr.contains("return %"))
    }

    func testGoodPreprocessingFlags() throws {
        let variants: [[String]] = [
            ["--mean", "x=123.675,116.28,103.53", "--scale", "x=58.395,57.12,57.375", "--encoding", "x=RGB:BGR"],
            ["--mean", "127.5", "--scale", "127.5", "--encoding", "bgr", "--layout", "NHWC"],
            ["--encoding", "RGB:BGR", "--layout", "x=NCHW", "--mean", "x=0,0,0"],
            ["--mean", "-1,0,1", "--scale", "-2"],  // negative values are values, not options
        ]
        for (k, flags) in variants.enumerated() {
            let (result, out) = try compile(["-O1"] + flags, into: "good\(k)")
            XCTAssertEqual(result.status, 0, "\(flags): \(result.stderr)")
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/ppocr_mobile_v2_cls.onnx"))
        }
    }

    func testBadPreprocessingFlagsAreUsageErrors() throws {
        let cases: [([String], [String])] = [
            (["--mean", "y=1,2,3"], ["--mean", "'y'", "'x'"]),
            (["--mean", "x=1,2"], ["--mean", "2 values", "3 channels"]),
            (["--scale", "x=1,0,1"], ["--scale", "must not be 0"]),
            (["--scale", "x=1,two,3"], ["--scale", "'two'"]),
            (["--encoding", "RGB:YUV"], ["--encoding", "RGB:YUV"]),
            (["--encoding", "GRAY"], ["--encoding", "GRAY", "1 channels"]),
            (["--encoding", "RGB:GRAY"], ["--encoding", "RGB", "GRAY"]),
            (["--layout", "x=NCWH"], ["--layout", "NCHW or NHWC"]),
            (["--mean", "1", "--mean", "2"], ["--mean", "twice"]),
            (["--print-after", "no-such-pass"], ["--print-after", "no-such-pass", "constant-folding"]),
        ]
        for (flags, needles) in cases {
            let (result, out) = try compile(["-O1"] + flags, into: "bad")
            XCTAssertEqual(result.status, 2, "\(flags): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "one-line error for \(flags): \(result.stderr)")
            for needle in needles {
                XCTAssertTrue(result.stderr.contains(needle), "\(flags): '\(needle)' not in \(result.stderr)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "\(flags) left an output directory")
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: scratch.url.path)
        XCTAssertEqual(leftovers, [], "no staging directories left behind")
    }

    func testUnnamedFlagNeedsAnImageInput() throws {
        // silero_vad's inputs are audio and state tensors: "every image input" matches none of them.
        let model = TestPaths.model("silero_vad").path
        guard FileManager.default.fileExists(atPath: model) else { throw XCTSkip("corpus not available") }
        let out = scratch.path("vad")
        let result = try runMCC([model, "-O1", "--shape", "input=1,576", "--shape", "state=2,1,128", "--mean", "0.5", "-o", out])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("image inputs"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}
