import Foundation
import IR
import ONNXFormat
import TestSupport
import XCTest

let sharedRoot = TestPaths.shared.path
let corpusDirectory = "\(sharedRoot)/corpus"
let nodeTestsDirectory = "\(sharedRoot)/onnx-node-tests"

/// A fresh temporary directory, removed when the test ends.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("mcc-onnx-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
}

/// Asserts `body` throws an MCCError whose message contains every string in `fragments`.
func assertThrowsMCCError(_ fragments: [String], kind: MCCError.Kind = .failure, file: StaticString = #filePath,
                          line: UInt = #line, _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected an error containing \(fragments)", file: file, line: line)
    } catch let error as MCCError {
        if ProcessInfo.processInfo.environment["MCC_PRINT_ERRORS"] != nil { print("error: \(error.message)") }
        for fragment in fragments where !error.message.contains(fragment) {
            XCTFail("error '\(error.message)' does not mention '\(fragment)'", file: file, line: line)
        }
        XCTAssertEqual(error.kind, kind, "kind of '\(error.message)'", file: file, line: line)
        XCTAssertFalse(error.message.contains("\n"), "error is not one line: \(error.message)", file: file, line: line)
    } catch {
        XCTFail("expected MCCError, got \(error)", file: file, line: line)
    }
}

func readBytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

func writeBytes(_ bytes: [UInt8], to path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

/// A one-node model `y = Add(x, w)` with `w` a float32[2,3] initializer, for tests to modify.
func makeAddModel(weights: [Float] = [1, 2, 3, 4, 5, 6]) -> Model {
    let graph = Graph(name: "add")
    let x = Value(name: "x", type: .tensor(.float, Shape([2, 3])))
    let w = Value(name: "w", initializer: Tensor(floats: weights, shape: [2, 3]))
    let y = Value(name: "y", type: .tensor(.float, Shape([2, 3])))
    graph.inputs = [x]
    graph.initializers = [w]
    graph.append(Node("Add", name: "add0", inputs: [x, w], outputs: [y]))
    graph.outputs = [y]
    let model = Model(graph: graph)
    model.irVersion = 8
    model.opsetImports = [OpsetImport(domain: "", version: 17)]
    return model
}

/// Minimal protobuf wire encoder, so tests can build messages the writer would never produce (typed data
/// fields, corrupt dims) without linking protobuf-c.
struct ProtoEncoder {
    private(set) var bytes: [UInt8] = []

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 { bytes.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }
    mutating func append(_ b: [UInt8]) { bytes += b }
    mutating func tag(_ field: Int, _ wire: Int) { varint(UInt64(field << 3 | wire)) }
    mutating func int(_ field: Int, _ v: Int64) { tag(field, 0); varint(UInt64(bitPattern: v)) }
    mutating func bytes(_ field: Int, _ b: [UInt8]) { tag(field, 2); varint(UInt64(b.count)); bytes += b }
    mutating func string(_ field: Int, _ s: String) { bytes(field, Array(s.utf8)) }
    mutating func message(_ field: Int, _ build: (inout ProtoEncoder) -> Void) {
        var inner = ProtoEncoder()
        build(&inner)
        bytes(field, inner.bytes)
    }
    /// A packed repeated varint field.
    mutating func packed(_ field: Int, _ values: [Int64]) {
        var inner = ProtoEncoder()
        for v in values { inner.varint(UInt64(bitPattern: v)) }
        bytes(field, inner.bytes)
    }
    mutating func packedFloats(_ field: Int, _ values: [Float]) {
        bytes(field, values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
    }
}

// TensorProto field numbers.
enum TensorField {
    static let dims = 1, dataType = 2, floatData = 4, int32Data = 5, stringData = 6, int64Data = 7, name = 8
    static let rawData = 9, doubleData = 10, uint64Data = 11, externalData = 13, dataLocation = 14
}
