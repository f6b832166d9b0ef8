import Foundation
import IR
import ONNXFormat
import XCTest

/// Broken files give one-line MCCErrors naming the file and the node or tensor at fault, never a trap.
final class BadInputTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws { directory = try makeTemporaryDirectory(self) }

    private func load(_ bytes: [UInt8], as name: String) throws {
        try writeBytes(bytes, to: "\(directory)/\(name)")
        _ = try ONNXReader.load(path: "\(directory)/\(name)")
    }

    func testTruncatedFile() throws {
        let bytes = try readBytes("\(corpusDirectory)/models/mtcnn_pnet.onnx")
        assertThrowsMCCError(["truncated.onnx", "not a valid ONNX model (protobuf parse failed)"]) {
            try load(Array(bytes[..<(bytes.count / 2)]), as: "truncated.onnx")
        }
    }

    func testRandomBytes() throws {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let bytes = (0..<4096).map { _ -> UInt8 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        assertThrowsMCCError(["random.onnx", "not a valid ONNX model"]) { try load(bytes, as: "random.onnx") }
    }

    func testEmptyFile() throws {
        assertThrowsMCCError(["empty.onnx", "not a valid ONNX model"]) { try load([], as: "empty.onnx") }
    }

    func testMissingFile() throws {
        assertThrowsMCCError(["\(directory)/absent.onnx", "cannot open"]) {
            _ = try ONNXReader.load(path: "\(directory)/absent.onnx")
        }
    }

    /// protobuf-c cannot parse 2 GiB or more; the reader says so before trying (the file is sparse: no disk used).
    func testTwoGiBModelSuggestsExternalData() throws {
        let path = "\(directory)/huge.onnx"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 1 << 31)
        try handle.close()
        assertThrowsMCCError(["huge.onnx", "2 GiB", "external data"]) { _ = try ONNXReader.load(path: path) }
    }

    func testModelWithoutGraph() throws {
        var m = ProtoEncoder()
        m.int(1, 8)  // ir_version only
        assertThrowsMCCError(["nograph.onnx", "no graph"]) { try load(m.bytes, as: "nograph.onnx") }
    }

    func testCycle() throws {
        let graph = Graph(name: "cyclic")
        let x = Value(name: "x", type: .tensor(.float, Shape([1])))
        let y = Value(name: "y"), z = Value(name: "z")
        let out = Value(name: "out", type: .tensor(.float, Shape([1])))
        graph.inputs = [x]
        graph.append(Node("Add", name: "relu_a", inputs: [x, z], outputs: [y]))
        graph.append(Node("Relu", name: "relu_b", inputs: [y], outputs: [z]))
        graph.append(Node("Relu", name: "tail", inputs: [z], outputs: [out]))
        graph.outputs = [out]
        let model = Model(graph: graph)
        model.opsetImports = [OpsetImport(domain: "", version: 17)]
        assertThrowsMCCError(["cycle.onnx", "cycle", "relu_"]) { try load(try ONNXWriter.serialize(model), as: "cycle.onnx") }
    }

    func testUnsortedGraphIsSorted() throws {
        let model = makeAddModel()
        let y = model.graph.outputs[0]
        let z = Value(name: "z", type: .tensor(.float, Shape([2, 3])))
        let relu = Node("Relu", name: "relu", inputs: [y], outputs: [z])
        model.graph.setNodes([relu] + model.graph.nodes)  // consumer before producer
        model.graph.outputs = [z]
        try writeBytes(try ONNXWriter.serialize(model), to: "\(directory)/unsorted.onnx")
        let loaded = try ONNXReader.load(path: "\(directory)/unsorted.onnx")
        XCTAssertEqual(loaded.graph.nodes.map(\.name), ["add0", "relu"])
    }

    func testUndefinedInput() throws {
        let model = makeAddModel()
        model.graph.nodes[0].setInput(0, Value(name: "ghost"))
        assertThrowsMCCError(["undefined.onnx", "add0", "'ghost' is not defined"]) {
            try load(try ONNXWriter.serialize(model), as: "undefined.onnx")
        }
    }

    func testMissingInitializer() throws {
        let model = makeAddModel()
        model.graph.initializers = []  // the node still reads "w"
        assertThrowsMCCError(["noinit.onnx", "add0", "'w' is not defined"]) {
            try load(try ONNXWriter.serialize(model), as: "noinit.onnx")
        }
    }

    func testUndefinedGraphOutput() throws {
        let model = makeAddModel()
        model.graph.outputs = [Value(name: "nowhere", type: .tensor(.float, Shape([1])))]
        assertThrowsMCCError(["noout.onnx", "'nowhere' is not defined"]) {
            try load(try ONNXWriter.serialize(model), as: "noout.onnx")
        }
    }

    /// Replaces the dims of initializer `w`.
    private func withDims(_ dims: [Int64]) throws -> [UInt8] {
        try ProtoRewriter.rewrite(try ONNXWriter.serialize(makeAddModel()), path: [7, 5]) { tensor in
            var out = ProtoEncoder()
            for d in dims { out.int(TensorField.dims, d) }
            for field in try ProtoRewriter.fields(tensor) where field.number != TensorField.dims { out.raw(field.raw) }
            return out.bytes
        }
    }

    func testAbsurdDims() throws {
        assertThrowsMCCError(["absurd.onnx", "'w'", "absurdly large"]) {
            try load(try withDims([1 << 30, 1 << 30, 1 << 20]), as: "absurd.onnx")
        }
        assertThrowsMCCError(["overflow.onnx", "'w'", "absurdly large"]) {
            try load(try withDims([Int64.max, Int64.max]), as: "overflow.onnx")
        }
    }

    func testNegativeDims() throws {
        assertThrowsMCCError(["negative.onnx", "'w'", "negative dimension -2"]) {
            try load(try withDims([-2, -3]), as: "negative.onnx")
        }
    }

    func testRawDataSizeMismatch() throws {
        assertThrowsMCCError(["mismatch.onnx", "'w'", "raw_data is 24 bytes"]) {
            try load(try withDims([3, 3]), as: "mismatch.onnx")
        }
    }

    func testUnknownDataType() throws {
        let bytes = try ProtoRewriter.rewrite(try ONNXWriter.serialize(makeAddModel()), path: [7, 5]) { tensor in
            var out = ProtoEncoder()
            for field in try ProtoRewriter.fields(tensor) where field.number != TensorField.dataType { out.raw(field.raw) }
            out.int(TensorField.dataType, 99)
            return out.bytes
        }
        assertThrowsMCCError(["dtype.onnx", "'w'", "unsupported data type 99"], kind: .unsupported) {
            try load(bytes, as: "dtype.onnx")
        }
    }

    func testUnsupportedIRVersion() throws {
        let model = makeAddModel()
        model.irVersion = 2
        assertThrowsMCCError(["ir2.onnx", "IR version 2"], kind: .unsupported) {
            try load(try ONNXWriter.serialize(model), as: "ir2.onnx")
        }
    }
}
