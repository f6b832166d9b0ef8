import Foundation
import IR
import ONNXFormat
import XCTest

/// Weights stored beside the model (`data_location = EXTERNAL`): loading as mapped views, and every way a
/// location, offset or length can be wrong.
final class ExternalDataTests: XCTestCase {
    private let weights: [Float] = (0..<600).map { Float($0) * 0.5 }

    /// A model whose 2400-byte initializer `w` is written to `model.onnx.data` by the writer.
    private func writeExternalModel(in directory: String) throws -> String {
        let graph = Graph(name: "ext")
        let x = Value(name: "x", type: .tensor(.float, Shape([600])))
        let w = Value(name: "w", initializer: Tensor(floats: weights, shape: [600]))
        let b = Value(name: "b", initializer: Tensor(floats: [1, 2], shape: [2]))  // below the threshold: inline
        let y = Value(name: "y", type: .tensor(.float, Shape([600])))
        graph.inputs = [x]
        graph.initializers = [w, b]
        graph.append(Node("Add", name: "add", inputs: [x, w], outputs: [y]))
        graph.outputs = [y]
        let model = Model(graph: graph)
        model.opsetImports = [OpsetImport(domain: "", version: 17)]
        let path = "\(directory)/model.onnx"
        try ONNXWriter.write(model, to: path, options: .init(externalData: .always, externalThreshold: 1024))
        return path
    }

    func testWriteAndLoadExternalData() throws {
        let directory = try makeTemporaryDirectory(self)
        let path = try writeExternalModel(in: directory)
        let dataSize = try FileManager.default.attributesOfItem(atPath: "\(path).data")[.size] as? Int
        XCTAssertEqual(dataSize, weights.count * 4)
        let model = try ONNXReader.load(path: path)
        let w = try XCTUnwrap(model.graph.initializer(named: "w")?.initializer)
        XCTAssertFalse(w.storage.isWritable, "external data should be a view of the mapped file")
        XCTAssertEqual(w.scalars(as: Float.self), weights)
        XCTAssertEqual(model.graph.initializer(named: "b")?.initializer?.scalars(as: Float.self), [1, 2])
        // The writer puts everything back inline by default.
        let reloaded = try ONNXReader.load(bytes: try ONNXWriter.serialize(model), label: "inline")
        XCTAssertEqual(reloaded.graph.initializer(named: "w")?.initializer?.scalars(as: Float.self), weights)
    }

    /// An unaligned offset still reads correctly (Tensor copies unaligned views on access).
    func testUnalignedOffset() throws {
        let directory = try makeTemporaryDirectory(self)
        let data = [UInt8](repeating: 7, count: 3) + weights.flatMap { withUnsafeBytes(of: $0, Array.init) }
        try writeBytes(data, to: "\(directory)/w.bin")
        let model = try externalModel(location: "w.bin", offset: 3, length: weights.count * 4)
        try writeBytes(model, to: "\(directory)/m.onnx")
        let loaded = try ONNXReader.load(path: "\(directory)/m.onnx")
        XCTAssertEqual(loaded.graph.initializers.first?.initializer?.scalars(as: Float.self), weights)
    }

    func testParentDirectoryLocationIsRejected() throws {
        let directory = try makeTemporaryDirectory(self)
        try FileManager.default.createDirectory(atPath: "\(directory)/sub", withIntermediateDirectories: true)
        try writeBytes([UInt8](repeating: 0, count: 2400), to: "\(directory)/x")
        try writeBytes(try externalModel(location: "../x"), to: "\(directory)/sub/m.onnx")
        assertThrowsMCCError(["m.onnx", "'w'", "path traversal"]) { _ = try ONNXReader.load(path: "\(directory)/sub/m.onnx") }
    }

    func testAbsoluteLocationIsRejected() throws {
        let directory = try makeTemporaryDirectory(self)
        try writeBytes([UInt8](repeating: 0, count: 2400), to: "\(directory)/x")
        try writeBytes(try externalModel(location: "\(directory)/x"), to: "\(directory)/m.onnx")
        assertThrowsMCCError(["m.onnx", "'w'", "absolute path"]) { _ = try ONNXReader.load(path: "\(directory)/m.onnx") }
    }

    func testSymlinkEscapingTheModelDirectoryIsRejected() throws {
        let outside = try makeTemporaryDirectory(self)
        let directory = try makeTemporaryDirectory(self)
        try writeBytes([UInt8](repeating: 0, count: 2400), to: "\(outside)/x")
        try FileManager.default.createSymbolicLink(atPath: "\(directory)/link", withDestinationPath: "\(outside)/x")
        try writeBytes(try externalModel(location: "link"), to: "\(directory)/m.onnx")
        assertThrowsMCCError(["m.onnx", "'w'", "path traversal"]) { _ = try ONNXReader.load(path: "\(directory)/m.onnx") }
    }

    func testOffsetPlusLengthPastEndOfFile() throws {
        let directory = try makeTemporaryDirectory(self)
        try writeBytes([UInt8](repeating: 0, count: 2400), to: "\(directory)/x")
        try writeBytes(try externalModel(location: "x", offset: 100, length: 2400), to: "\(directory)/m.onnx")
        assertThrowsMCCError(["m.onnx", "'w'", "past the end"]) { _ = try ONNXReader.load(path: "\(directory)/m.onnx") }
    }

    func testWrongLength() throws {
        let directory = try makeTemporaryDirectory(self)
        try writeBytes([UInt8](repeating: 0, count: 4000), to: "\(directory)/x")
        try writeBytes(try externalModel(location: "x", length: 2000), to: "\(directory)/m.onnx")
        assertThrowsMCCError(["m.onnx", "'w'", "length 2000"]) { _ = try ONNXReader.load(path: "\(directory)/m.onnx") }
        // Without a length the rest of the file is used, which is also the wrong size here.
        try writeBytes(try externalModel(location: "x"), to: "\(directory)/m2.onnx")
        assertThrowsMCCError(["m2.onnx", "'w'", "length 4000"]) { _ = try ONNXReader.load(path: "\(directory)/m2.onnx") }
    }

    func testMissingExternalFile() throws {
        let directory = try makeTemporaryDirectory(self)
        try writeBytes(try externalModel(location: "nope.bin"), to: "\(directory)/m.onnx")
        assertThrowsMCCError(["m.onnx", "'w'", "nope.bin"]) { _ = try ONNXReader.load(path: "\(directory)/m.onnx") }
    }

    /// A valid model whose float32[600] initializer `w` points at external data with the given entries; built
    /// by editing what the writer produced, so only the external_data entries differ.
    private func externalModel(location: String, offset: Int? = nil, length: Int? = nil) throws -> [UInt8] {
        let directory = try makeTemporaryDirectory(self)
        let path = try writeExternalModel(in: directory)
        let written = try readBytes(path)
        var entries = "location=\(location)"
        if let offset { entries += ",offset=\(offset)" }
        if let length { entries += ",length=\(length)" }
        return try rewriteExternalData(written, tensor: "w", entries: entries)
    }
}

/// Replaces the external_data entries of initializer `tensor` in a serialized model (field paths:
/// ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.external_data = 13).
func rewriteExternalData(_ model: [UInt8], tensor: String, entries: String) throws -> [UInt8] {
    var pairs: [(String, String)] = []
    for item in entries.split(separator: ",") {
        let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
        pairs.append((kv[0], kv.count > 1 ? kv[1] : ""))
    }
    return try ProtoRewriter.rewrite(model, path: [7, 5]) { tensorBytes in
        let fields = try ProtoRewriter.fields(tensorBytes)
        guard fields.contains(where: { $0.number == TensorField.name && $0.payload == Array(tensor.utf8) }) else {
            return tensorBytes
        }
        var out = ProtoEncoder()
        for field in fields where field.number != TensorField.externalData { out.raw(field.raw) }
        for (key, value) in pairs {
            out.message(TensorField.externalData) { e in e.string(1, key); e.string(2, value) }
        }
        return out.bytes
    }
}

/// Walks serialized protobuf messages field by field, to edit nested messages in tests.
enum ProtoRewriter {
    struct Field {
        var number: Int
        var wire: Int
        var payload: [UInt8]  // length-delimited contents (empty for other wire types)
        var raw: [UInt8]      // the whole field including its tag
    }

    static func fields(_ bytes: [UInt8]) throws -> [Field] {
        var result: [Field] = []
        var i = 0
        func varint() throws -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard i < bytes.count else { throw MCCError.failure("truncated varint") }
                let b = bytes[i]; i += 1
                v |= UInt64(b & 0x7f) << shift
                if b < 0x80 { return v }
                shift += 7
            }
        }
        while i < bytes.count {
            let start = i
            let tag = try varint()
            let wire = Int(tag & 7)
            var payload: [UInt8] = []
            switch wire {
            case 0: _ = try varint()
            case 1: i += 8
            case 5: i += 4
            case 2:
                let n = Int(try varint())
                payload = Array(bytes[i..<i + n]); i += n
            default: throw MCCError.failure("unexpected wire type \(wire)")
            }
            result.append(Field(number: Int(tag >> 3), wire: wire, payload: payload, raw: Array(bytes[start..<i])))
        }
        return result
    }

    /// Rewrites every message found at `path` (a list of nested field numbers) with `edit`.
    static func rewrite(_ bytes: [UInt8], path: [Int], _ edit: ([UInt8]) throws -> [UInt8]) throws -> [UInt8] {
        guard let first = path.first else { return try edit(bytes) }
        var out = ProtoEncoder()
        for field in try fields(bytes) {
            if field.number == first && field.wire == 2 {
                out.bytes(first, try rewrite(field.payload, path: Array(path.dropFirst()), edit))
            } else {
                out.raw(field.raw)
            }
        }
        return out.bytes
    }
}

extension ProtoEncoder {
    mutating func raw(_ b: [UInt8]) { append(b) }
}
