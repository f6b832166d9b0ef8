import Emit
import Foundation
import IR
import Quant
import XCTest

/// The AIMET encodings file, the input list with its raw files, and the SNPE command presets.
final class SNPEFilesTests: XCTestCase {
    func quantized() throws -> (Model, QuantizationResult) {
        let model = TestModels.convNet()
        var configuration = QuantizerConfiguration()
        configuration.mixedPrecision.enabled = false
        configuration.holdout = 0
        configuration.report = false
        return (model, try Quantizer(model: model, configuration: configuration).run(try randomDataset(for: model, count: 4)))
    }

    func testEncodingsFollowTheAIMETSchemaAndQNNConvention() throws {
        let (model, result) = try quantized()
        let encodings = AIMETEncodings(model: model, points: result.points, plan: result.plan, options: QuantizationOptions())
        let data = try encodings.json()
        XCTAssertEqual(AIMETEncodings.validate(data), [])
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(root["version"] as? String, "0.6.1")
        let activations = try XCTUnwrap(root["activation_encodings"] as? [String: [[String: Any]]])
        // Points and the reshape output that shares m2's encoding; nothing for the fused pre-activation c1.
        XCTAssertEqual(Set(activations.keys), ["x", "r1", "c2", "m2", "y"])
        let params = try XCTUnwrap(root["param_encodings"] as? [String: [[String: Any]]])
        XCTAssertEqual(params["w1"]?.count, 4)  // per output channel
        XCTAssertEqual(params["w2"]?.count, 2)
        XCTAssertEqual(params["m"]?.count, 1)   // constant operand, per tensor
        // float = (q + offset) * scale with unsigned q: offset = -zeroPoint; symmetric int8 weights: offset -128.
        let x = try XCTUnwrap(activations["x"]?.first)
        let e = result.plan.activationEncodings[0]
        XCTAssertEqual(x["offset"] as? Int, -Int(e.zeroPoints[0]))
        XCTAssertEqual((x["scale"] as? NSNumber)?.floatValue, e.scales[0])
        XCTAssertEqual(x["is_symmetric"] as? String, "False")
        let w = try XCTUnwrap(params["w1"]?.first)
        XCTAssertEqual(w["offset"] as? Int, -128)
        XCTAssertEqual(w["is_symmetric"] as? String, "True")
        XCTAssertEqual(try encodings.json(), data)  // deterministic
    }

    func testValidatorRejectsMalformedFiles() {
        let good = #"{"version":"0.6.1","activation_encodings":{"a":[{"bitwidth":8,"dtype":"int","is_symmetric":"False","min":-1.0,"max":0.9921875,"offset":-128,"scale":0.0078125}]},"param_encodings":{}}"#
        XCTAssertEqual(AIMETEncodings.validate(Data(good.utf8)), [])
        let bad = [
            good.replacingOccurrences(of: "0.6.1", with: "9"),
            good.replacingOccurrences(of: #""False""#, with: "false"),
            good.replacingOccurrences(of: "-128", with: "5"),
            good.replacingOccurrences(of: "\"max\":0.9921875", with: "\"max\":3.0"),
            good.replacingOccurrences(of: "[{", with: "[]").replacingOccurrences(of: "}]}", with: "}"),
        ]
        for text in bad { XCTAssertFalse(AIMETEncodings.validate(Data(text.utf8)).isEmpty, text) }
    }

    func testRawFilesAreNHWCFloat32AndTheListUsesAbsolutePaths() throws {
        let writer = CalibrationRawWriter(inputs: [("x", true)])
        let tensor = Tensor(floats: (0..<24).map(Float.init), shape: [1, 2, 3, 4])  // N C H W
        let bytes = try writer.rawBytes(tensor, transpose: true)
        XCTAssertEqual(bytes.count, 96)
        let read = stride(from: 0, to: bytes.count, by: 4).map { i in
            Float(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
        }
        // NHWC element (h, w, c) = NCHW element (c, h, w).
        for h in 0..<3 { for w in 0..<4 { for c in 0..<2 { XCTAssertEqual(read[(h * 4 + w) * 2 + c], Float(c * 12 + h * 4 + w)) } } }
        XCTAssertEqual(writer.inputList(sampleCount: 2, root: "/out"), "x:=/out/raw/0.raw\nx:=/out/raw/1.raw\n")
        let two = CalibrationRawWriter(inputs: [("a", false), ("b/c", false)])
        XCTAssertEqual(two.inputList(sampleCount: 1, root: "/o"), "a:=/o/raw/a/0.raw b/c:=/o/raw/b_c/0.raw\n")
    }

    func testPresetsAddModelConvertersFlags() {
        func commands(_ mode: RVC4QuantizationMode) -> SNPECommands {
            SNPECommands(onnx: "/o/m.onnx", inputs: [.init(name: "x", dims: [1, 3, 8, 8], layout: "NCHW")], outputs: ["y", "z"],
                         mode: mode, encodings: mode.isQuantized ? "/o/m.encodings.json" : nil, inputList: "/o/input_list.txt",
                         htpSocs: ["sm8550"], floatDLC: "/o/snpe/m.dlc", quantizedDLC: "/o/snpe/m_quantized.dlc", preparedDLC: "/o/m.dlc")
        }
        let standard = commands(.int8Standard)
        XCTAssertEqual(standard.convert.arguments, ["-i", "/o/m.onnx", "-o", "/o/snpe/m.dlc", "--input_dim", "x", "1,3,8,8",
                                                    "--input_dtype", "x", "float32", "--out_name", "y", "--out_name", "z",
                                                    "--input_layout", "x", "NCHW", "--quantization_overrides", "/o/m.encodings.json"])
        XCTAssertEqual(standard.quantize?.arguments, ["--input_dlc", "/o/snpe/m.dlc", "--output_dlc", "/o/snpe/m_quantized.dlc",
                                                      "--input_list", "/o/input_list.txt", "--use_per_channel_quantization", "--override_params"])
        XCTAssertEqual(standard.prepare.arguments, ["--input_dlc", "/o/snpe/m_quantized.dlc", "--output_dlc", "/o/m.dlc",
                                                    "--set_output_tensors", "y,z", "--optimization_level", "2", "--htp_socs", "sm8550"])
        XCTAssertEqual(commands(.int8AccuracyFocused).quantize?.arguments.contains("enhanced"), true)
        XCTAssertEqual(Array(commands(.int8Int16Mixed).quantize?.arguments.suffix(3) ?? []), ["--act_bitwidth", "16", "--override_params"])
        let int16 = commands(.int16Standard).quantize?.arguments ?? []
        XCTAssertFalse(int16.contains("--use_per_channel_quantization"))
        XCTAssertTrue(int16.contains("--weights_bitwidth"))
        let fp16 = commands(.fp16Standard)
        XCTAssertNil(fp16.quantize)
        XCTAssertTrue(fp16.convert.arguments.contains("--float_bitwidth"))
        XCTAssertEqual(fp16.prepare.arguments.last, "--use_float_io")
        XCTAssertEqual(ToolInvocation(executable: "a", arguments: ["b c", "d"]).shellLine, "a 'b c' d")
    }
}
