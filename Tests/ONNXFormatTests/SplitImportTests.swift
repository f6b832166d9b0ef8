import Foundation
import IR
import ONNXFormat
import XCTest

/// `ONNXReader.load(path:)` unpacks the main graph's nodes and initializers one by one (a large one's raw_data is
/// read by the reader into a huge-page WeightRegion, the rest unpacked by protobuf-c) and the rest of the model at
/// once. These check that it reads exactly what a whole-message unpack reads, also for unusual framing (repeated
/// raw_data, several tensor attributes), that every tensor keeps the memory it views alive (also inside
/// subgraphs, which live in their node's message), and that broken framing still gives the one-line error.
final class SplitImportTests: XCTestCase {
    /// 32768 floats (128 KiB): above the threshold for reading raw_data into the weight region.
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

    private func rawBytes(_ values: [Float]) -> [UInt8] {
        values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
    }

    /// A model whose graph holds `pieces` (each a GraphProto field: number, payload) and computes Identity(x).
    private func encodedModel(_ pieces: [(Int, [UInt8])]) -> [UInt8] {
        var encoder = ProtoEncoder()
        encoder.int(1, 8)                                        // ir_version
        encoder.message(8) { o in o.string(1, ""); o.int(2, 17) } // opset_import
        encoder.message(7) { g in
            for (field, payload) in pieces { g.bytes(field, payload) }
            g.message(11) { i in                                 // input x: float[32768]
                i.string(1, "x")
                i.message(2) { t in t.message(1) { tt in tt.int(1, 1); tt.message(2) { s in s.message(1) { d in d.int(1, 32768) } } } }
            }
            g.message(1) { n in n.string(1, "x"); n.string(2, "y"); n.string(4, "Identity") }
            g.message(12) { o in o.string(1, "y") }
        }
        return encoder.bytes
    }

    private func tensorProto(name: String, raw: [[UInt8]]) -> [UInt8] {
        var t = ProtoEncoder()
        t.int(TensorField.dims, 32768)
        t.int(TensorField.dataType, 1)
        t.string(TensorField.name, name)
        for r in raw { t.bytes(TensorField.rawData, r) }
        return t.bytes
    }

    /// Unusual but valid framing: raw_data given twice (the last wins), a Constant-like node whose first tensor
    /// attribute has float_data and whose second has raw_data, and a node whose attribute holds two `t` fields
    /// (protobuf merges them). The split import must read what protobuf-c reads from the whole message.
    func testUnusualFramingReadsWhatAWholeUnpackReads() throws {
        let directory = try makeTemporaryDirectory(self)
        let first = rawBytes(big.map { $0 + 1 }), second = rawBytes(big)
        var twoAttributes = ProtoEncoder()
        twoAttributes.string(2, "c2_out"); twoAttributes.string(3, "c2"); twoAttributes.string(4, "Constant")
        twoAttributes.message(5) { a in
            a.string(1, "small"); a.int(20, 4)
            a.message(5) { t in t.int(TensorField.dims, 2); t.int(TensorField.dataType, 1); t.packedFloats(TensorField.floatData, [1, 2]) }
        }
        twoAttributes.message(5) { a in
            a.string(1, "value"); a.int(20, 4)
            a.message(5) { t in t.int(TensorField.dims, 32768); t.int(TensorField.dataType, 1); t.bytes(TensorField.rawData, second) }
        }
        var mergedTensor = ProtoEncoder()
        mergedTensor.string(2, "c3_out"); mergedTensor.string(3, "c3"); mergedTensor.string(4, "Constant")
        mergedTensor.message(5) { a in
            a.string(1, "value"); a.int(20, 4)
            a.message(5) { t in t.int(TensorField.dims, 32768); t.int(TensorField.dataType, 1) }
            a.message(5) { t in t.bytes(TensorField.rawData, first) }
        }
        let bytes = encodedModel([
            (5, tensorProto(name: "twice", raw: [first, second])),
            (5, tensorProto(name: "once", raw: [second])),
            (1, twoAttributes.bytes),
            (1, mergedTensor.bytes),
        ])
        let path = "\(directory)/unusual.onnx"
        try writeBytes(bytes, to: path)
        let fromFile = try ONNXReader.load(path: path)
        let fromBytes = try ONNXReader.load(bytes: bytes)
        XCTAssertEqual(try ONNXWriter.serialize(fromFile), try ONNXWriter.serialize(fromBytes))
        let initializers = Dictionary(uniqueKeysWithValues: fromFile.graph.initializers.map { ($0.name, $0) })
        XCTAssertEqual(initializers["twice"]?.initializer?.floatValues(), big)
        XCTAssertEqual(initializers["once"]?.initializer?.floatValues(), big)
        let c2 = try XCTUnwrap(fromFile.graph.nodes.first { $0.name == "c2" })
        XCTAssertEqual(c2.attribute("small")?.tensor?.floatValues(), [1, 2])
        XCTAssertEqual(c2.attribute("value")?.tensor?.floatValues(), big)
        let c3 = try XCTUnwrap(fromFile.graph.nodes.first { $0.name == "c3" })
        XCTAssertEqual(c3.attribute("value")?.tensor?.floatValues(), big.map { $0 + 1 })
        // Weight views are 64-byte aligned (the region's slices), whatever their offset in the file.
        XCTAssertTrue(initializers["once"]?.initializer?.storage.isAligned(for: SIMD16<Float>.self) ?? false)
    }

    func testLargeRawDataOfTheWrongSizeFailsWithOneLine() throws {
        let directory = try makeTemporaryDirectory(self)
        let bytes = encodedModel([(5, tensorProto(name: "short", raw: [Array(rawBytes(big).dropLast(4))]))])
        let path = "\(directory)/short.onnx"
        try writeBytes(bytes, to: path)
        assertThrowsMCCError([path, "initializer 'short'", "raw_data is 131068 bytes"]) { _ = try ONNXReader.load(path: path) }
    }
}
