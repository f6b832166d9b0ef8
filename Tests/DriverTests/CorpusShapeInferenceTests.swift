import Foundation
import IR
import ONNXFormat
import TestSupport
import XCTest

/// End to end: import each corpus model, fix its inputs to the MANIFEST static shapes, infer, and compare every
/// main-graph value's shape and element type with onnxruntime's (Tests/IRTests/Fixtures/corpus_shapes.json, made
/// by make_corpus_shapes.py). Declared value_info is dropped first so the shapes come from inference alone.
final class CorpusShapeInferenceTests: XCTestCase {
    private struct Fixture: Decodable {
        var inputs: [String: [Int]]
        var shapes: [String: [Int]]
        var elementTypes: [String: String]
    }

    func testInferredShapesMatchOnnxruntime() throws {
        let url = TestPaths.repositoryRoot.appendingPathComponent("Tests/IRTests/Fixtures/corpus_shapes.json")
        let fixtures = try JSONDecoder().decode([String: Fixture].self, from: Data(contentsOf: url))
        XCTAssertEqual(fixtures.count, 10)
        for (name, fixture) in fixtures.sorted(by: { $0.key < $1.key }) {
            let model = try ONNXReader.load(path: TestPaths.model(name).path)
            for node in model.graph.nodes { for out in node.outputs { out.type = nil } }
            try ShapeInference(fixedInputShapes: fixture.inputs).run(on: model)
            try Verifier.verify(model)
            try ShapeInference.requireStaticShapes(model)
            var values: [String: Value] = [:]
            for node in model.graph.nodes { for out in node.outputs { values[out.name] = out } }
            var mismatches: [String] = []
            for (valueName, expected) in fixture.shapes {
                guard let value = values[valueName] else { continue }
                if value.shape?.staticSizes != expected {
                    mismatches.append("\(valueName): \(value.shape.map(\.description) ?? "nil") != \(expected)")
                }
                if let type = fixture.elementTypes[valueName], value.elementType?.description != type {
                    mismatches.append("\(valueName): \(value.elementType.map(\.description) ?? "nil") != \(type)")
                }
            }
            XCTAssertEqual(mismatches, [], name)
        }
    }

    func testDynamicInputWithoutShapeIsAClearError() throws {
        let model = try ONNXReader.load(path: TestPaths.model("yolov8n_nudenet_320").path)
        try ShapeInference().run(on: model)
        XCTAssertThrowsError(try ShapeInference.requireStaticShapes(model)) { error in
            let e = error as? MCCError
            XCTAssertEqual(e?.kind, .usage)
            XCTAssertTrue(e?.message.contains("--shape images=") ?? false, e?.message ?? "")
        }
    }
}
