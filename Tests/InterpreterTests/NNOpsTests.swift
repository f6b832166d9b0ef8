import Foundation
import IR
import Interpreter
import ONNXFormat
import TestSupport
import XCTest

/// Hand-computed cases for the NN op families (Conv, pooling, Gemm/MatMul, Resize, quantization) and a bit-exact
/// check of the packed/float8 quantization node tests, whose types the generic comparison cannot read.
final class NNOpsTests: XCTestCase {
    /// Runs one `op` node on `inputs` (graph inputs in order) and returns its outputs.
    private func run(
        _ op: String, _ inputs: [Tensor], attributes: [Attribute] = [], outputs: Int = 1, opset: Int64 = 21
    ) throws -> [Tensor] {
        try runSingleNode(op, inputs, attributes: attributes, outputs: outputs, opset: opset)
    }

    private func ints(_ name: String, _ v: [Int64]) -> Attribute { Attribute(name, .ints(v)) }
    private func int(_ name: String, _ v: Int64) -> Attribute { Attribute(name, .int(v)) }
    private func string(_ name: String, _ v: String) -> Attribute { Attribute(name, .string(Array(v.utf8))) }

    private func assertClose(_ t: Tensor, _ expected: [Float], shape: [Int], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(t.shape, shape, file: file, line: line)
        let got = t.floatValues()
        XCTAssertEqual(got.count, expected.count, file: file, line: line)
        for (a, b) in zip(got, expected) where abs(a - b) > 1e-5 * max(1, abs(b)) {
            XCTFail("\(got) != \(expected)", file: file, line: line)
            return
        }
    }

    func testConvWithPaddingStrideDilationGroups() throws {
        // x: 2 channels of 3x3 (0...8 and 9...17); groups 2, one 2x2 filter per group, dilation 2, pad 1, stride 2.
        let x = Tensor(floats: (0..<18).map(Float.init), shape: [1, 2, 3, 3])
        let w = Tensor(floats: [1, 0, 0, 1, 0, 1, 1, 0], shape: [2, 1, 2, 2])
        let b = Tensor(floats: [10, 20], shape: [2])
        let y = try run("Conv", [x, w, b], attributes: [
            ints("pads", [1, 1, 1, 1]), ints("strides", [2, 2]), ints("dilations", [2, 2]), int("group", 2),
        ])[0]
        // Padded input is 5x5; dilated kernel spans 3; output 2x2 at padded origins (0,0),(0,2),(2,0),(2,2).
        // Group 0 taps (r,c),(r+2,c+2) in padded coords: out(0,0) = x[-1,-1] + x[1,1] = 0 + 4.
        // out(0,1) = x[-1,1] + x[1,3] = 0; out(1,0) = x[1,-1] + x[3,1] = 0; out(1,1) = x[1,1] + x[3,3] = 4.
        // Group 1 taps (r,c+2),(r+2,c): out(0,0) = x[-1,1] + x[1,-1] = 0; out(0,1) = x[-1,3] + x[1,1] = 13;
        // out(1,0) = x[1,1] + x[3,-1] = 13; out(1,1) = x[1,3] + x[3,1] = 0.
        assertClose(y, [14, 10, 10, 14, 20, 33, 33, 20], shape: [1, 2, 2, 2])
    }

    func testConvRejectsChannelMismatch() throws {
        let x = Tensor(floats: Array(repeating: 1, count: 9), shape: [1, 1, 3, 3])
        let w = Tensor(floats: Array(repeating: 1, count: 8), shape: [1, 2, 2, 2])
        XCTAssertThrowsError(try run("Conv", [x, w]))
        let big = Tensor(floats: Array(repeating: 1, count: 16), shape: [1, 1, 4, 4])
        XCTAssertThrowsError(try run("Conv", [x, big]))
    }

    func testConv1DAnd3DAgreeWithHandSums() throws {
        let x1 = Tensor(floats: [1, 2, 3, 4], shape: [1, 1, 4])
        let w1 = Tensor(floats: [1, -1], shape: [1, 1, 2])
        assertClose(try run("Conv", [x1, w1], attributes: [ints("pads", [1, 0])])[0], [-1, -1, -1, -1], shape: [1, 1, 4])
        let x3 = Tensor(floats: (0..<8).map(Float.init), shape: [1, 1, 2, 2, 2])
        let w3 = Tensor(floats: Array(repeating: 1, count: 8), shape: [1, 1, 2, 2, 2])
        assertClose(try run("Conv", [x3, w3])[0], [28], shape: [1, 1, 1, 1, 1])
    }

    func testPoolingCeilModeAndIndices() throws {
        let x = Tensor(floats: (1...16).map(Float.init), shape: [1, 1, 4, 4])
        let pooled = try run("MaxPool", [x], attributes: [ints("kernel_shape", [3, 3]), ints("strides", [2, 2]),
                                                         int("ceil_mode", 1)], outputs: 2)
        // Windows start at 0 and 2 in each axis; the second is clipped to rows/cols 2...3.
        assertClose(pooled[0], [11, 12, 15, 16], shape: [1, 1, 2, 2])
        XCTAssertEqual(pooled[1].int64Values(), [10, 11, 14, 15])
        let average = try run("AveragePool", [x], attributes: [ints("kernel_shape", [3, 3]), ints("strides", [2, 2]),
                                                              int("ceil_mode", 1)])[0]
        // (1+2+3+5+6+7+9+10+11)/9 = 6; (3+4+7+8+11+12)/6 = 7.5; (9+10+11+13+14+15)/6 = 12; (11+12+15+16)/4 = 13.5.
        assertClose(average, [6, 7.5, 12, 13.5], shape: [1, 1, 2, 2])
    }

    func testGemmTransposesAndBroadcastC() throws {
        let a = Tensor(floats: [1, 2, 3, 4, 5, 6], shape: [3, 2])  // A^T is 2x3
        let b = Tensor(floats: [1, 0, 1, 0, 1, 1], shape: [2, 3])  // B^T is 3x2
        let c = Tensor(floats: [100, 200], shape: [2, 1])
        let y = try run("Gemm", [a, b, c], attributes: [int("transA", 1), int("transB", 1),
                                                       Attribute("alpha", .float(2)), Attribute("beta", .float(0.5))])[0]
        // A^T = [[1,3,5],[2,4,6]], B^T = [[1,0],[0,1],[1,1]]; A^T·B^T = [[6,8],[8,10]]; ·2 + 0.5·C(column).
        assertClose(y, [62, 66, 116, 120], shape: [2, 2])
    }

    func testMatMulBroadcastingAnd1D() throws {
        let a = Tensor(floats: [1, 2, 3, 4, 5, 6, 7, 8], shape: [2, 1, 2, 2])
        let b = Tensor(floats: [1, 0, 0, 1, 2, 0, 0, 2, 0, 1, 1, 0], shape: [3, 2, 2])
        let y = try run("MatMul", [a, b])[0]
        XCTAssertEqual(y.shape, [2, 3, 2, 2])
        assertClose(y, [1, 2, 3, 4, 2, 4, 6, 8, 2, 1, 4, 3, 5, 6, 7, 8, 10, 12, 14, 16, 6, 5, 8, 7], shape: [2, 3, 2, 2])
        let v = Tensor(floats: [1, 1], shape: [2])
        assertClose(try run("MatMul", [v, Tensor(floats: [1, 2, 3, 4], shape: [2, 2])])[0], [4, 6], shape: [2])
        assertClose(try run("MatMul", [v, v])[0], [2], shape: [])
    }

    func testResizeModesOn2x2() throws {
        let x = Tensor(floats: [1, 2, 3, 4], shape: [1, 1, 2, 2])
        let scales = Tensor(floats: [1, 1, 2, 2], shape: [4])
        let empty = Tensor(floats: [], shape: [0])
        let nearest = try run("Resize", [x, empty, scales], attributes: [string("mode", "nearest")])[0]
        assertClose(nearest, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4], shape: [1, 1, 4, 4])
        let aligned = try run("Resize", [x, empty, scales], attributes: [
            string("mode", "linear"), string("coordinate_transformation_mode", "align_corners"),
        ])[0]
        // Row 0 samples columns 0, 1/3, 2/3, 1 of [1, 2].
        let row0: [Float] = [1, 4.0 / 3, 5.0 / 3, 2]
        XCTAssertEqual(aligned.shape, [1, 1, 4, 4])
        for (g, e) in zip(aligned.floatValues().prefix(4), row0) { XCTAssertEqual(g, e, accuracy: 1e-5) }
        let halfPixel = try run("Resize", [x, empty, scales], attributes: [string("mode", "linear")])[0]
        // half_pixel: source x = (o + 0.5)/2 - 0.5 → -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1).
        for (g, e) in zip(halfPixel.floatValues().prefix(4), [Float(1), 1.25, 1.75, 2]) { XCTAssertEqual(g, e, accuracy: 1e-5) }
    }

    func testQuantizeLinearRoundsHalfToEvenAndSaturates() throws {
        let x = Tensor(floats: [0.5, 1.5, 2.5, -0.5, 1000, -1000], shape: [6])
        let scale = Tensor(scalar: 1)
        let u8 = try run("QuantizeLinear", [x, scale, Tensor(.uint8, shape: [], values: [UInt8(10)])])[0]
        XCTAssertEqual(u8.elementType, .uint8)
        XCTAssertEqual(u8.int64Values(), [10, 12, 12, 10, 255, 0])
        let i8 = try run("QuantizeLinear", [x, scale, Tensor(.int8, shape: [], values: [Int8(0)])])[0]
        XCTAssertEqual(i8.int64Values(), [0, 2, 2, 0, 127, -128])
        let back = try run("DequantizeLinear", [i8, Tensor(scalar: 0.5), Tensor(.int8, shape: [], values: [Int8(2)])])[0]
        assertClose(back, [-1, 0, 0, -1, 62.5, -65], shape: [6])
    }

    /// The conformance comparison reads float8 and 2/4-bit tensors as empty; compare their bytes here.
    func testQuantizationNodeTestsBitExact() throws {
        let root = TestPaths.nodeTests.appendingPathComponent("node")
        let names = try FileManager.default.contentsOfDirectory(atPath: root.path)
            .filter { $0.hasPrefix("test_quantizelinear") || $0.hasPrefix("test_dequantizelinear") }
        XCTAssertFalse(names.isEmpty)
        for name in names.sorted() where !name.hasSuffix("expanded") {
            let dir = root.appendingPathComponent(name)
            let model = try ONNXReader.load(path: dir.appendingPathComponent("model.onnx").path)
            let data = dir.appendingPathComponent("test_data_set_0")
            let inputs = try model.graph.inputs.indices.map {
                try TensorProtoIO.readTensor(path: data.appendingPathComponent("input_\($0).pb").path).tensor
            }
            let got = try Interpreter(model: model, threads: 1).run(inputs)[0]
            let expected = try TensorProtoIO.readTensor(path: data.appendingPathComponent("output_0.pb").path).tensor
            XCTAssertEqual(got.elementType, expected.elementType, name)
            XCTAssertEqual(got.shape, expected.shape, name)
            if expected.elementType == .float || expected.elementType == .float16 {
                let (a, b) = (got.floatValues(), expected.floatValues())
                XCTAssertEqual(a.count, b.count, name)
                for (u, v) in zip(a, b) where !(u == v || (u.isNaN && v.isNaN) || abs(u - v) <= 1e-3 * abs(v)) {
                    XCTFail("\(name): \(a) != \(b)")
                    break
                }
            } else {
                XCTAssertEqual(Array(got.storage.bytes), Array(expected.storage.bytes), name)
            }
        }
    }

    /// Corpus CNNs against onnxruntime outputs; skipped while ops from other families are still missing.
    func testCorpusModelsMatchReference() throws {
        var ran = 0
        for name in ["mtcnn_onet", "oww_embedding", "mtcnn_pnet"] {
            let model = try ONNXReader.load(path: TestPaths.model(name).path)
            guard let interpreter = try? Interpreter(model: model, threads: 2) else { continue }
            let ref = TestPaths.corpus.appendingPathComponent("ref/\(name)")
            let inputs = try model.graph.inputs.indices.map {
                try NumpyFile.read(path: ref.appendingPathComponent("input_\($0).npy").path)
            }
            var outputs = try interpreter.run(inputs)
            let start = Date()
            let runs = 5
            for _ in 0..<runs { outputs = try interpreter.run(inputs) }
            print("\(name): \(String(format: "%.2f", Date().timeIntervalSince(start) * 1000 / Double(runs))) ms/run")
            for (k, got) in outputs.enumerated() {
                let expected = try NumpyFile.read(path: ref.appendingPathComponent("output_\(k).npy").path)
                XCTAssertNil(compare(got, expected, atol: 1e-4, rtol: 1e-3), "\(name) output \(k)")
            }
            ran += 1
        }
        if ran == 0 { throw XCTSkip("corpus models need ops from other families") }
    }

    /// Malformed shapes and attributes must throw (naming the node), never trap.
    func testBadInputsThrow() throws {
        let x = Tensor(floats: Array(repeating: 1, count: 16), shape: [1, 1, 4, 4])
        let w = Tensor(floats: Array(repeating: 1, count: 9), shape: [1, 1, 3, 3])
        XCTAssertThrowsError(try run("Conv", [x, w], attributes: [ints("pads", [-1, 0, 0, 0])]))
        XCTAssertThrowsError(try run("Conv", [x, w], attributes: [ints("strides", [0, 1])]))
        XCTAssertThrowsError(try run("Conv", [x, w], attributes: [int("group", 2)]))
        XCTAssertThrowsError(try run("Conv", [x, w, Tensor(floats: [1, 2], shape: [2])]))
        XCTAssertThrowsError(try run("Conv", [Tensor(floats: [1], shape: [1]), w]))
        XCTAssertThrowsError(try run("ConvTranspose", [x, Tensor(floats: Array(repeating: 1, count: 18), shape: [2, 1, 3, 3])]))
        XCTAssertThrowsError(try run("MaxPool", [x], attributes: [ints("kernel_shape", [5, 5])]))
        XCTAssertThrowsError(try run("MaxPool", [x]))
        XCTAssertThrowsError(try run("AveragePool", [x], attributes: [ints("kernel_shape", [2])]))
        XCTAssertThrowsError(try run("Gemm", [x, x]))
        XCTAssertThrowsError(try run("Gemm", [Tensor(floats: [1, 2], shape: [1, 2]), Tensor(floats: [1, 2, 3], shape: [3, 1])]))
        XCTAssertThrowsError(try run("MatMul", [Tensor(floats: [1, 2], shape: [2]), Tensor(floats: [1, 2, 3], shape: [3])]))
        XCTAssertThrowsError(try run("MatMul", [Tensor(floats: Array(repeating: 1, count: 8), shape: [2, 2, 2]),
                                                Tensor(floats: Array(repeating: 1, count: 12), shape: [3, 2, 2])]))
        XCTAssertThrowsError(try run("BatchNormalization", [x, Tensor(scalar: 1), Tensor(scalar: 1), Tensor(scalar: 1),
                                                            Tensor(floats: [1, 1], shape: [2])]))
        XCTAssertThrowsError(try run("LayerNormalization", [x, Tensor(floats: [1, 2, 3], shape: [3])]))
        XCTAssertThrowsError(try run("Resize", [x, Tensor(floats: [], shape: [0]), Tensor(floats: [1, 2], shape: [2])]))
        XCTAssertThrowsError(try run("DepthToSpace", [x], attributes: [int("blocksize", 3)]))
        XCTAssertThrowsError(try run("QuantizeLinear", [x, Tensor(floats: [1, 2, 3], shape: [3])]))
        XCTAssertThrowsError(try run("LSTM", [Tensor(floats: [1, 2], shape: [1, 1, 2]), Tensor(floats: [1], shape: [1, 1, 1]),
                                              Tensor(floats: [1], shape: [1, 1, 1])], attributes: [int("hidden_size", 1)]))
        XCTAssertThrowsError(try run("MaxUnpool", [Tensor(floats: [1], shape: [1, 1, 1, 1]), Tensor(int64s: [99], shape: [1, 1, 1, 1])],
                                     attributes: [ints("kernel_shape", [2, 2])]))
    }
}
