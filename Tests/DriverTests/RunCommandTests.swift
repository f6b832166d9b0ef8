import Foundation
import IR
import ONNXFormat
import TestSupport
import XCTest

/// `mcc run`: positional (`input_K.npy` → `output_K.npy`) and ModelConverter infer layouts, and its errors.
final class RunCommandTests: XCTestCase {
    private var scratch: ScratchDirectory!

    override func setUpWithError() throws { scratch = try ScratchDirectory("mcc-run") }
    override func tearDown() { scratch.remove() }

    /// y = Relu(x) + b with b = [1, 2, 3].
    private func writeTinyModel(opType: String = "Relu") throws -> String {
        let graph = Graph(name: "tiny")
        let x = Value(name: "x", type: .tensor(.float, Shape([1, 3])))
        let b = Value(name: "b", initializer: Tensor(floats: [1, 2, 3], shape: [1, 3]))
        let r = Value(name: "r")
        let y = Value(name: "y/out", type: .tensor(.float, Shape([1, 3])))
        graph.inputs = [x]
        graph.initializers = [b]
        graph.append(Node(opType, name: "act", inputs: [x], outputs: [r]))
        graph.append(Node("Identity", name: "id", inputs: [r], outputs: [y]))
        graph.outputs = [y]
        let model = Model(graph: graph)
        model.opsetImports = [OpsetImport(domain: "", version: 17)]
        let path = scratch.path("tiny.onnx")
        try ONNXWriter.write(model, to: path)
        return path
    }

    func testPositionalLayout() throws {
        let model = try writeTinyModel()
        let inputs = scratch.path("in")
        try FileManager.default.createDirectory(atPath: inputs, withIntermediateDirectories: true)
        try NumpyFile.write(Tensor(floats: [-1, 0.5, 2], shape: [1, 3]), to: "\(inputs)/input_0.npy")
        let out = scratch.path("out")
        let result = try runMCC(["run", model, "--inputs", inputs, "-o", out, "--threads", "1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let y = try NumpyFile.read(path: "\(out)/output_0.npy")
        XCTAssertEqual(y.floatValues(), [0, 0.5, 2])
        XCTAssertEqual(y.shape, [1, 3])
    }

    func testInferLayoutMirrorsFoldersPerName() throws {
        let model = try writeTinyModel()
        let inputs = scratch.path("in")
        try FileManager.default.createDirectory(atPath: "\(inputs)/x", withIntermediateDirectories: true)
        try NumpyFile.write(Tensor(floats: [1, -2, 3], shape: [1, 3]), to: "\(inputs)/x/0.npy")
        try NumpyFile.write(Tensor(floats: [-4, 5, -6], shape: [1, 3]), to: "\(inputs)/x/1.npy")
        let out = scratch.path("out")
        let result = try runMCC(["run", model, "--inputs", inputs, "-o", out])
        XCTAssertEqual(result.status, 0, result.stderr)
        // The output name contains '/', which becomes '_' in the folder name.
        XCTAssertEqual(try NumpyFile.read(path: "\(out)/y_out/0.npy").floatValues(), [1, 0, 3])
        XCTAssertEqual(try NumpyFile.read(path: "\(out)/y_out/1.npy").floatValues(), [0, 5, 0])
    }

    func testUnsupportedOpExitsThree() throws {
        let model = try writeTinyModel(opType: "NotARealOp")
        let inputs = scratch.path("in")
        try FileManager.default.createDirectory(atPath: inputs, withIntermediateDirectories: true)
        try NumpyFile.write(Tensor(floats: [1, 2, 3], shape: [1, 3]), to: "\(inputs)/input_0.npy")
        let out = scratch.path("out")
        let result = try runMCC(["run", model, "--inputs", inputs, "-o", out])
        XCTAssertEqual(result.status, 3, result.stderr)
        XCTAssertTrue(result.stderr.contains("unsupported") && result.stderr.contains("NotARealOp"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testWrongInputShapeAndBadNpyFail() throws {
        let model = try writeTinyModel()
        let inputs = scratch.path("in")
        try FileManager.default.createDirectory(atPath: inputs, withIntermediateDirectories: true)
        try NumpyFile.write(Tensor(floats: [1, 2], shape: [1, 2]), to: "\(inputs)/input_0.npy")
        let out = scratch.path("out")
        var result = try runMCC(["run", model, "--inputs", inputs, "-o", out])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("'x'"), result.stderr)
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: "\(inputs)/input_0.npy"))
        result = try runMCC(["run", model, "--inputs", inputs, "-o", out])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("input_0.npy"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}
