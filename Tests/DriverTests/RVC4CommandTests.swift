import Foundation
import TestSupport
import XCTest

/// `mcc MODEL -target rvc4`: the files it writes, determinism, and one-line errors for bad calibration setups.
final class RVC4CommandTests: XCTestCase {
    private var scratch: ScratchDirectory!

    override func setUpWithError() throws { scratch = try ScratchDirectory("mcc-rvc4") }
    override func tearDown() { scratch.remove() }

    private var sample: String { TestPaths.repositoryRoot.appendingPathComponent("samples/ppocr_mobile_v2_cls.onnx").path }
    private let shape = ["--shape", "x=1,3,48,192"]

    /// Eight seeded random samples saved as .npy tensors of the sample model's input.
    private func npyFolder() throws -> String {
        let dir = scratch.path("calib")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var state: UInt64 = 1
        for k in 0..<8 {
            var values = [Float]()
            for _ in 0..<(3 * 48 * 192) {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                values.append(Float(state >> 40) / Float(1 << 24) * 2 - 1)
            }
            try writeNumpy(values, shape: [1, 3, 48, 192], to: "\(dir)/s\(k).npy")
        }
        return dir
    }

    private func writeNumpy(_ values: [Float], shape: [Int], to path: String) throws {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", ")),), }"
        while (10 + header.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)])
        data += Data(header.utf8)
        values.withUnsafeBytes { data += Data($0) }
        try data.write(to: URL(fileURLWithPath: path))
    }

    func testWritesSNPEInputsAndTheyAreDeterministic() throws {
        let calib = try npyFolder()
        let a = scratch.path("a"), b = scratch.path("b")
        let args = [sample, "-target", "rvc4", "-O2", "--calib", calib, "--report", "--holdout", "2"] + shape
        let first = try runMCC(args + ["-o", a])
        XCTAssertEqual(first.status, 0, first.stderr)
        let files = try FileManager.default.contentsOfDirectory(atPath: a).sorted()
        for expected in ["input_list.txt", "ppocr_mobile_v2_cls.encodings.json", "ppocr_mobile_v2_cls.onnx",
                         "ppocr_mobile_v2_cls.qdq.onnx", "raw", "report.html", "report.json", "report.txt", "snpe_commands.sh"] {
            XCTAssertTrue(files.contains(expected), "\(expected) missing from \(files)")
        }
        // Six calibration samples (two held back for the report), NHWC float32 raw files at absolute paths.
        let list = try String(contentsOfFile: "\(a)/input_list.txt", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(list.count, 6)
        XCTAssertTrue(list[0].hasPrefix("x:=\(URL(fileURLWithPath: a).standardizedFileURL.path)/raw/0.raw"), String(list[0]))
        let raw = try Data(contentsOf: URL(fileURLWithPath: "\(a)/raw/0.raw"))
        XCTAssertEqual(raw.count, 48 * 192 * 3 * 4)
        XCTAssertTrue(first.stderr.contains("SNPE tools not on PATH") || files.contains("ppocr_mobile_v2_cls.dlc"), first.stderr)
        let second = try runMCC(args + ["-o", b])
        XCTAssertEqual(second.status, 0, second.stderr)
        for file in ["ppocr_mobile_v2_cls.encodings.json", "ppocr_mobile_v2_cls.qdq.onnx", "ppocr_mobile_v2_cls.onnx",
                     "report.json", "raw/3.raw"] {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(a)/\(file)")),
                           try Data(contentsOf: URL(fileURLWithPath: "\(b)/\(file)")), "\(file) differs between runs")
        }
    }

    func testNoCalibrationIsAnErrorAndRandomIsExplicitAndLoud() throws {
        let out = scratch.path("none")
        let result = try runMCC([sample, "-target", "rvc4", "-O2", "-o", out] + shape)
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("--calib"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no output directory on failure")
        let random = try runMCC([sample, "-target", "rvc4", "-O2", "--calib", "random", "--calib-max", "3", "--target-sqnr", "0",
                                 "-o", scratch.path("random")] + shape)
        XCTAssertEqual(random.status, 0, random.stderr)
        XCTAssertTrue(random.stderr.contains("RANDOM DATA"), random.stderr)
        // FP16 needs no calibration.
        let fp16 = try runMCC([sample, "-target", "rvc4", "-O2", "--quantization-mode", "FP16_STANDARD", "-o", scratch.path("fp16")] + shape)
        XCTAssertEqual(fp16.status, 0, fp16.stderr)
        let script = try String(contentsOfFile: scratch.path("fp16") + "/snpe_commands.sh", encoding: .utf8)
        XCTAssertTrue(script.contains("--float_bitwidth 16"), script)
        XCTAssertFalse(script.contains("snpe-dlc-quant"), script)
    }

    func testBadCalibrationSetupsFailWithOneLine() throws {
        let empty = scratch.path("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        for (args, status, needle) in [
            (["--calib", empty], Int32(2), "holds no"),
            (["--calib", scratch.path("missing")], 2, "does not exist"),
            (["--calib", "random", "--quantization-mode", "INT4"], 2, "--quantization-mode INT4"),
            (["--calib", "random", "--calib-resize", "SQUASH"], 2, "--calib-resize"),
            (["--calib", "random", "--observer", "median"], 2, "--observer"),
            (["--calib", "random", "--htp-socs", ","], 2, "--htp-socs"),
        ] as [([String], Int32, String)] {
            let out = scratch.path("bad")
            let result = try runMCC([sample, "-target", "rvc4", "-O2", "-o", out] + shape + args)
            XCTAssertEqual(result.status, status, "\(args): \(result.stderr)")
            let errors = result.stderr.split(separator: "\n").filter { $0.contains("error:") }
            XCTAssertEqual(errors.count, 1, result.stderr)
            XCTAssertTrue(result.stderr.contains(needle), "\(needle) not in \(result.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        }
    }
}
