import Emit
import Foundation
import IR
import XCTest

/// XML structure, names, FP16 forms, toolchain versions and bad input of the OpenVINO IR emitter. Numerics of the
/// emitted IR are judged by OpenVINO itself in the oracle suite (scripts/oracle/rvc2_check.py via ov_check.py).
final class OpenVINOEmitterTests: XCTestCase {
    private func convModel(group: Int = 1, bias: Bool = true, weights: Tensor? = nil, cast: Bool = false) throws -> Model {
        let b = ModelBuilder()
        b.input("x", [1, 4, 8, 8])
        let w = weights ?? Tensor(floats: randomFloats(8 * (4 / group) * 9, seed: 1), shape: [8, 4 / group, 3, 3])
        if cast {
            b.initializer("w16", w)
            b.node("Cast", ["w16"], ["w"], name: "cast_w", [Attribute("to", .int(1))])
        } else {
            b.initializer("w", w)
        }
        var inputs = ["x", "w"]
        if bias {
            b.initializer("b", Tensor(floats: randomFloats(8, seed: 2), shape: [8]))
            inputs.append("b")
        }
        b.node("Conv", inputs, ["y"], name: "conv",
               [Attribute("pads", .ints([1, 1, 1, 1])), Attribute("group", .int(Int64(group))),
                Attribute("strides", .ints([2, 2]))])
        return try b.model(outputs: ["y"])
    }

    func testConvWithBiasIsConvolutionPlusAddWithCompressedWeights() throws {
        let (ir, out) = try emitParsed(try convModel())
        XCTAssertEqual(ir.version, 11)
        let conv = try XCTUnwrap(ir.layers(ofType: "Convolution").first)
        XCTAssertEqual(conv.name, "conv/WithoutBiases")
        XCTAssertEqual(conv.version, "opset1")
        XCTAssertEqual(conv.data["strides"], "2, 2")
        XCTAssertEqual(conv.data["pads_begin"], "1, 1")
        XCTAssertEqual(conv.data["pads_end"], "1, 1")
        XCTAssertEqual(conv.data["auto_pad"], "explicit")
        XCTAssertEqual(conv.outputs.first?.dims, [1, 8, 4, 4])
        // Weights: f16 Const → Convert(f32) with the decompression rt_info (openvino-ir.md §3 form 1).
        let convert = try XCTUnwrap(ir.producer(of: conv, port: 1))
        XCTAssertEqual(convert.type, "Convert")
        XCTAssertEqual(convert.data["destination_type"], "f32")
        XCTAssertEqual(convert.rtInfo, ["decompression"])
        XCTAssertEqual(convert.name, "w")
        let constant = try XCTUnwrap(ir.producer(of: convert, port: 0))
        XCTAssertEqual(constant.name, "w_compressed")
        XCTAssertEqual(constant.data["element_type"], "f16")
        XCTAssertEqual(constant.data["shape"], "8, 4, 3, 3")
        let offset = Int(constant.data["offset"] ?? "") ?? -1
        let halves = out.weights.subdata(in: offset..<offset + 2 * 288).withUnsafeBytes { Array($0.bindMemory(to: Float16.self)) }
        XCTAssertEqual(halves.map(Float.init), randomFloats(288, seed: 1).map { Float(Float16($0)) })
        // Bias: Add named after the node, bias viewed as [1, 8, 1, 1]; its output carries the ONNX name, and as the
        // graph output its layer is named after the tensor.
        let add = try XCTUnwrap(ir.layers(ofType: "Add").first)
        XCTAssertEqual(add.name, "y")
        XCTAssertEqual(add.data["auto_broadcast"], "numpy")
        XCTAssertEqual(add.outputs.first?.names, "y")
        XCTAssertEqual(ir.producer(of: add, port: 1).flatMap { ir.producer(of: $0, port: 0) }?.data["shape"], "1, 8, 1, 1")
        let result = try XCTUnwrap(ir.layers(ofType: "Result").first)
        XCTAssertEqual(result.name, "y/sink_port_0")
        let parameter = try XCTUnwrap(ir.layers(ofType: "Parameter").first)
        XCTAssertEqual(parameter.name, "x")
        XCTAssertEqual(parameter.data["shape"], "1,4,8,8")
        XCTAssertEqual(parameter.data["element_type"], "f32")
        XCTAssertEqual(parameter.outputs.first?.names, "x")
    }

    /// The byte-level XML writer: attribute escaping, comma escaping in tensor names, "%.17g" floats.
    func testNamesAreEscapedAndFloatsAreWrittenWithSeventeenDigits() throws {
        let b = ModelBuilder()
        let input = "in&<\"x'>"
        b.input(input, [1, 4])
        b.node("Elu", [input], ["out,1"], name: "elu", [Attribute("alpha", .float(0.3))])
        let (ir, out) = try emitParsed(try b.model(outputs: ["out,1"]))
        let text = String(decoding: out.xml, as: UTF8.self)
        XCTAssertTrue(text.contains("name=\"in&amp;&lt;&quot;x&apos;&gt;\""), text)
        XCTAssertTrue(text.contains("names=\"out\\,1\""), text)
        let elu = try XCTUnwrap(ir.layers(ofType: "Elu").first)
        XCTAssertEqual(elu.data["alpha"], "0.30000001192092896")  // Float(0.3) widened to Double, as C's %.17g
        XCTAssertEqual(ir.layers(ofType: "Parameter").first?.name, input)
        XCTAssertTrue(text.hasPrefix("<?xml version=\"1.0\"?>\n<net name=\"model\" version=\"11\">\n"), text)
        XCTAssertTrue(text.hasSuffix("</net>\n"))
    }

    func testGroupedConvolutionHasFiveDimensionalWeights() throws {
        let (ir, _) = try emitParsed(try convModel(group: 4, bias: false))
        let conv = try XCTUnwrap(ir.layers(ofType: "GroupConvolution").first)
        XCTAssertEqual(conv.name, "y")
        XCTAssertEqual(conv.inputs[1].dims, [4, 2, 1, 3, 3])
    }

    func testNoFP16KeepsFloat32Weights() throws {
        let (ir, out) = try emitParsed(try convModel(), OpenVINOEmitOptions(compressWeightsToFP16: false))
        XCTAssertTrue(ir.layers(ofType: "Convert").isEmpty)
        XCTAssertEqual(Set(ir.layers(ofType: "Const").map { $0.data["element_type"] }), ["f32"])
        XCTAssertEqual(out.weights.count, (288 + 8) * 4)
    }

    /// The FP16 pass's form: Cast(to=FLOAT) of an f16 initializer becomes the f16 Const + decompression Convert
    /// (no separate Convert layer for the Cast), even when the emitter itself compresses nothing.
    func testCastOfFloat16InitializerBecomesDecompressionConvert() throws {
        let half = try XCTUnwrap(Tensor(floats: randomFloats(288, seed: 1), shape: [8, 4, 3, 3]).float16Copy())
        let (ir, _) = try emitParsed(try convModel(weights: half, cast: true), OpenVINOEmitOptions(compressWeightsToFP16: false))
        let converts = ir.layers(ofType: "Convert")
        XCTAssertEqual(converts.count, 1)
        XCTAssertEqual(converts.first?.rtInfo, ["decompression"])
        XCTAssertEqual(converts.first.flatMap { ir.producer(of: $0, port: 0) }?.data["element_type"], "f16")
        XCTAssertEqual(ir.layers(ofType: "Const").filter { $0.data["element_type"] == "f32" }.count, 1, "only the bias stays f32")
    }

    func testSigmoidTimesInputIsSwishAndHardSigmoidTimesInputIsHSwish() throws {
        let b = ModelBuilder()
        b.input("x", [1, 3, 4, 4])
        b.node("Sigmoid", ["x"], ["s"])
        b.node("Mul", ["x", "s"], ["swish"], name: "mul1")
        b.node("HardSigmoid", ["swish"], ["h"], [Attribute("alpha", .float(Float(1.0 / 6.0))), Attribute("beta", .float(0.5))])
        b.node("Mul", ["h", "swish"], ["y"], name: "mul2")
        let (ir, _) = try emitParsed(try b.model(outputs: ["y"]))
        XCTAssertEqual(ir.layers.map(\.type), ["Parameter", "Swish", "HSwish", "Result"])
        XCTAssertEqual(ir.layers(ofType: "Swish").first?.version, "opset4")
        XCTAssertEqual(ir.layers(ofType: "HSwish").first?.name, "y")
    }

    func testHardSigmoidIsDecomposedForMyriadOnly() throws {
        func model() throws -> Model {
            let b = ModelBuilder()
            b.input("x", [1, 3, 4, 4])
            b.node("HardSigmoid", ["x"], ["y"], name: "hs", [Attribute("alpha", .float(0.2))])
            return try b.model(outputs: ["y"])
        }
        let (myriad, _) = try emitParsed(try model())
        XCTAssertEqual(myriad.layers.map(\.type).filter { $0 != "Const" }, ["Parameter", "Multiply", "Add", "Clamp", "Result"])
        XCTAssertEqual(myriad.layer(named: "y")?.data["min"], "0")
        XCTAssertEqual(myriad.layer(named: "y")?.data["max"], "1")
        let (plain, _) = try emitParsed(try model(), OpenVINOEmitOptions(decomposeHardSigmoid: false))
        XCTAssertEqual(plain.layers(ofType: "HardSigmoid").count, 1)
    }

    func testToolchain2021IsIRv10WithOpsetsUpToSeven() throws {
        let b = ModelBuilder()
        b.input("x", [1, 3, 8, 8])
        b.initializer("idx", Tensor(int64s: [-1, 0], shape: [2]))
        b.node("Gather", ["x", "idx"], ["g"], [Attribute("axis", .int(1))])
        b.node("MaxPool", ["g"], ["p"], [Attribute("kernel_shape", .ints([2, 2])), Attribute("strides", .ints([2, 2]))])
        b.node("Softmax", ["p"], ["y"], [Attribute("axis", .int(1))])
        let model = try b.model(outputs: ["y"])
        let (v10, _) = try emitParsed(model, OpenVINOEmitOptions(toolchain: .openvino2021_4))
        XCTAssertEqual(v10.version, 10)
        XCTAssertEqual(v10.layers(ofType: "Gather").first?.version, "opset7")
        for layer in v10.layers { XCTAssertLessThanOrEqual(Int(layer.version.dropFirst(5)) ?? 99, 7, layer.type) }
        // Negative indices are normalized (Gather-7 has none).
        let indices = try XCTUnwrap(v10.layers(ofType: "Gather").first.flatMap { v10.producer(of: $0, port: 1) })
        XCTAssertEqual(indices.data["element_type"], "i64")
        let (v11, _) = try emitParsed(model)
        XCTAssertEqual(v11.version, 11)
        XCTAssertEqual(v11.layers(ofType: "Gather").first?.version, "opset8")
        XCTAssertEqual(v11.layers(ofType: "MaxPool").first?.version, "opset1")
        XCTAssertEqual(v11.layers(ofType: "SoftMax").first?.data["axis"], "1")
    }

    func testUnsupportedOpIsReportedWithNodeAndOp() throws {
        let b = ModelBuilder()
        b.input("x", [1, 4])
        b.node("Relu", ["x"], ["r"])
        b.node("TopK", ["r", "k"], ["v", "i"], name: "topk_node")
        b.initializer("k", Tensor(int64s: [2], shape: [1]))
        b.node("CumSum", ["r", "k"], ["c"], name: "cumsum_node")
        let model = try b.model(outputs: ["v", "c"])
        XCTAssertThrowsError(try OpenVINOEmitter.emit(model, options: OpenVINOEmitOptions())) { error in
            let e = error as? MCCError
            XCTAssertEqual(e?.kind, .unsupported)
            XCTAssertTrue(e?.message.contains("topk_node") == true, e?.message ?? "")
            XCTAssertTrue(e?.message.contains("TopK") == true)
            XCTAssertTrue(e?.message.contains("CumSum") == true, "lists the other unsupported ops")
        }
    }

    func testDynamicShapeIsReportedWithValueName() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 3])
        x.type = .tensor(.float, Shape([.symbolic("batch"), .known(3)]))
        b.node("Relu", ["x"], ["y"])
        let model = try b.model(outputs: ["y"])
        XCTAssertThrowsError(try OpenVINOEmitter.emit(model, options: OpenVINOEmitOptions())) { error in
            XCTAssertTrue((error as? MCCError)?.message.contains("'x'") == true, "\(error)")
            XCTAssertTrue((error as? MCCError)?.message.contains("--shape") == true)
        }
    }

    func testOutputsAreNamedAfterTensorsAndKeepOrder() throws {
        let b = ModelBuilder()
        b.input("image", [1, 6])
        b.node("Softmax", ["image"], ["prob"], name: "softmax_node")
        b.node("Relu", ["image"], ["relu_out"], name: "relu_node")
        b.node("Split", ["relu_out"], ["a", "b"], name: "split", [Attribute("axis", .int(1))])
        b.node("Sigmoid", ["b"], ["unused"])
        let (ir, _) = try emitParsed(try b.model(outputs: ["a", "prob"]))
        XCTAssertEqual(ir.layers(ofType: "Result").map(\.name), ["a/sink_port_0", "prob/sink_port_0"])
        XCTAssertEqual(ir.layer(named: "prob")?.type, "SoftMax")
        XCTAssertEqual(ir.layer(named: "relu_node")?.outputs.first?.names, "relu_out")
        XCTAssertNil(ir.layers.first { $0.type == "Sigmoid" }, "dead layers are pruned")
        let split = try XCTUnwrap(ir.layers(ofType: "VariadicSplit").first)
        XCTAssertEqual(split.outputs.map(\.dims), [[1, 3], [1, 3]])
        XCTAssertEqual(split.outputs.map(\.id), [3, 4])
    }

    func testOutputIsDeterministicAndIdenticalWeightsAreStoredOnce() throws {
        func model() throws -> Model {
            let b = ModelBuilder()
            b.input("x", [1, 4])
            b.initializer("c1", Tensor(floats: [1, 2, 3, 4], shape: [4]))
            b.initializer("c2", Tensor(floats: [1, 2, 3, 4], shape: [4]))
            b.node("Add", ["x", "c1"], ["a"])
            b.node("Mul", ["a", "c2"], ["y"])
            return try b.model(outputs: ["y"])
        }
        let first = try OpenVINOEmitter.emit(try model(), options: OpenVINOEmitOptions())
        let second = try OpenVINOEmitter.emit(try model(), options: OpenVINOEmitOptions())
        XCTAssertEqual(first.xml, second.xml)
        XCTAssertEqual(first.weights, second.weights)
        XCTAssertEqual(first.weights.count, 8, "two identical f16 [4] constants share one blob")
        let ir = try ParsedIR(first.xml)
        XCTAssertEqual(Set(ir.layers(ofType: "Const").map { $0.data["offset"] }), ["0"])
    }

    func testNamesAreEscapedInXML() throws {
        let b = ModelBuilder()
        b.input("in<1>", [1, 2])
        b.node("Relu", ["in<1>"], ["out\"a,b\""], name: "r&r")
        let (ir, out) = try emitParsed(try b.model(outputs: ["out\"a,b\""]))
        XCTAssertEqual(ir.layers(ofType: "Parameter").first?.name, "in<1>")
        XCTAssertEqual(ir.layers(ofType: "ReLU").first?.outputs.first?.names, "out\"a\\,b\"")
        XCTAssertTrue(String(decoding: out.xml, as: UTF8.self).contains("in&lt;1&gt;"))
    }
}

extension Tensor {
    func float16Copy() -> Tensor? {
        let values = floatValues().map { Float16($0) }
        return Tensor(.float16, shape: shape, values: values)
    }
}

/// The emitter's own f32 → f16 rounding must agree bit for bit with Swift's `Float16(_:)` (round to nearest even),
/// including subnormals, ties, overflow to inf and NaN.
final class HalfPrecisionTests: XCTestCase {
    func testMatchesFloat16InitializerOnASweepOfBitPatterns() {
        var mismatches = 0
        var pattern: UInt32 = 0
        while true {
            let f = Float(bitPattern: pattern)
            let expected = Float16(f).bitPattern
            let got = HalfPrecision.bits(of: f)
            if f.isNaN ? (got & 0x7C00 != 0x7C00 || got & 0x3FF == 0) : got != expected { mismatches += 1 }
            let (next, overflow) = pattern.addingReportingOverflow(997)
            if overflow { break }
            pattern = next
        }
        XCTAssertEqual(mismatches, 0)
        // Exact ties around the subnormal/normal boundary and the largest finite value.
        for f: Float in [65504, 65519.99, 65520, 6.1035156e-05, 5.9604645e-08, 2.9802322e-08, 2.9802326e-08, -0.0, 1.0009766] {
            XCTAssertEqual(HalfPrecision.bits(of: f), Float16(f).bitPattern, "\(f)")
        }
    }
}
