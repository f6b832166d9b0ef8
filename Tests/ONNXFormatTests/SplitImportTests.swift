import Foundation
import IR
import ONNXFormat
import XCTest

/// `ONNXReader.load(path:)` unpacks the main graph's nodes and initializers one by one (large ones into their own
/// pre-faulted arena, freed with their tensor) and the rest of the model at once. These check that it reads
/// exactly what a whole-message unpack reads, that every tensor keeps the memory it views alive (also inside
/// subgraphs, which live in their node's message), and that broken framing still gives the one-line error.
final class SplitImportTests: XCTestCase {
    /// 32768 floats (128 KiB): above the arena threshold.
    private let big: [Float] = (0..<32768).map { Float($0 % 1000) * 0.25 - 7 }

    /// Main graph: a large initializer, a large Constant node, and an If whose branches hold a large Constant
    /// and a large initializer of their own (subgraph tensors live in the If node's message).
    private func makeModel() -> Model {
        let graph = Graph(name: "split")
        let cond = Value(name: "cond", type: .tensor(.bool, Shape([Dim]())))
        let x = Value(name: "x", type: .tensor(.float, Shape([32768])))
        let w = Value(name: "w", initializer: Tensor(floats: big, shape: [32768]))
        let c = Value(name: "c")
        let sum = Value(name: "sum"), total = Value(name: "total")
        graph.inputs = [cond, x]
        graph.initializers = [w]
        graph.append(Node("Constant", name: "const", outputs: [c],
                          attributes: [Attribute("value", .tensor(Tensor(floats: big.reversed(), shape: [32768])))]))
        graph.append(Node("Add", name: "add", inputs: [x, w], outputs: [sum]))
        let thenBranch = Graph(name: "then")
        let k = Value(name: "k"), thenOut = Value(name: "then_out")
        thenBranch.append(Node("Constant", name: "then_const", outputs: [k],
                               attributes: [Attribute("value", .tensor(Tensor(floats: big.map { -$0 }, shape: [32768])))]))
        thenBranch.append(Node("Add", name: "then_add", inputs: [sum, k], outputs: [thenOut]))
        thenBranch.outputs = [thenOut]
        let elseBranch = Graph(name: "else")
        let e = Value(name: "e", initializer: Tensor(floats: big.map { $0 * 2 }, shape: [32768]))
        let elseOut = Value(name: "else_out")
        elseBranch.initializers = [e]
        elseBranch.append(Node("Add", name: "else_add", inputs: [sum, e], outputs: [elseOut]))
        elseBranch.outputs = [elseOut]
        graph.append(Node("If", name: "if", inputs: [cond], outputs: [total], attributes: [
            Attribute("then_branch", .graph(thenBranch)), Attribute("else_branch", .graph(elseBranch)),
        ]))
        let out = Value(name: "out")
        graph.append(Node("Add", name: "final", inputs: [total, c], outputs: [out]))
        graph.outputs = [out]
        let model = Model(graph: graph)
        model.irVersion = 8
        model.opsetImports = [OpsetImport(domain: "", version: 17)]
        return model
    }

    func testSplitImportReadsWhatAWholeUnpackReads() throws {
        let directory = try makeTemporaryDirectory(self)
        let path = "\(directory)/split.onnx"
        let bytes = try ONNXWriter.serialize(makeModel())
        try writeBytes(bytes, to: path)
        let fromFile = try ONNXReader.load(path: path)        // split unpack
        let fromBytes = try ONNXReader.load(bytes: bytes)     // one unpack of the whole message
        XCTAssertEqual(try ONNXWriter.serialize(fromFile), try ONNXWriter.serialize(fromBytes))

        // Tensor views must outlive everything else that was unpacked (values checked after the loader is gone).
        let graph = fromFile.graph
        XCTAssertEqual(graph.initializers.first?.initializer?.floatValues(), big)
        let constant = try XCTUnwrap(graph.nodes.first { $0.name == "const" }?.attribute("value")?.tensor)
        XCTAssertEqual(constant.floatValues(), Array(big.reversed()))
        let ifNode = try XCTUnwrap(graph.nodes.first { $0.opType == "If" })
        let thenConstant = try XCTUnwrap(ifNode.subgraphs[0].nodes.first?.attribute("value")?.tensor)
        XCTAssertEqual(thenConstant.floatValues(), big.map { -$0 })
        XCTAssertEqual(ifNode.subgraphs[1].initializers.first?.initializer?.floatValues(), big.map { $0 * 2 })

        // Dropping the main-graph weights (as the FP16 pass does) must not disturb the subgraph's.
        graph.initializers.first?.initializer = nil
        graph.nodes.first { $0.name == "const" }?.removeAttribute("value")
        XCTAssertEqual(thenConstant.floatValues(), big.map { -$0 })
    }

    func testTruncatedAndCorruptFilesStillFailWithOneLine() throws {
        let directory = try makeTemporaryDirectory(self)
        let bytes = try ONNXWriter.serialize(makeModel())
        let truncated = "\(directory)/truncated.onnx"
        try writeBytes(Array(bytes.prefix(bytes.count - 1000)), to: truncated)
        assertThrowsMCCError([truncated, "not a valid ONNX model"]) { _ = try ONNXReader.load(path: truncated) }
        // Valid framing, but an initializer whose payload is not a TensorProto (a bare 0xFF byte).
        var encoder = ProtoEncoder()
        encoder.int(1, 8)
        encoder.message(7) { g in g.bytes(5, [0xFF]) }
        let corrupt = "\(directory)/corrupt.onnx"
        try writeBytes(encoder.bytes, to: corrupt)
        assertThrowsMCCError([corrupt, "not a valid ONNX model (protobuf parse failed)"]) {
            _ = try ONNXReader.load(path: corrupt)
        }
    }
}
