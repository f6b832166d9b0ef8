import Foundation
import IR
import ONNXFormat
import XCTest

/// Every corpus model loads with the MANIFEST's node and initializer counts and survives write → read → write
/// byte-identically. Set MCC_EXPORT_DIR to also keep the exported models for scripts/oracle/check_onnx_roundtrip.py.
final class CorpusRoundTripTests: XCTestCase {
    private struct Entry {
        var name: String
        var file: String
        var nodeCount: Int
        var initializerCount: Int
    }

    private func manifest() throws -> [Entry] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(corpusDirectory)/MANIFEST.json"))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let models = try XCTUnwrap(json["models"] as? [[String: Any]])
        return try models.map {
            Entry(name: try XCTUnwrap($0["name"] as? String), file: try XCTUnwrap($0["file"] as? String),
                  nodeCount: try XCTUnwrap($0["node_count"] as? Int),
                  initializerCount: try XCTUnwrap($0["initializer_count"] as? Int))
        }
    }

    func testCorpusModelsRoundTrip() throws {
        let entries = try manifest()
        XCTAssertEqual(entries.count, 10)
        let exportDirectory = ProcessInfo.processInfo.environment["MCC_EXPORT_DIR"]
        for entry in entries {
            let path = "\(corpusDirectory)/\(entry.file)"
            let model = try ONNXReader.load(path: path)
            XCTAssertEqual(model.graph.allNodes().count, entry.nodeCount, entry.name)
            XCTAssertEqual(model.graph.initializers.count, entry.initializerCount, entry.name)

            let first = try ONNXWriter.serialize(model)
            let reloaded = try ONNXReader.load(bytes: first, label: "\(entry.name) (exported)")
            XCTAssertEqual(reloaded.graph.allNodes().count, entry.nodeCount, entry.name)
            XCTAssertEqual(reloaded.graph.initializers.count, entry.initializerCount, entry.name)
            assertSameStructure(model, reloaded, entry.name)
            let second = try ONNXWriter.serialize(reloaded)
            XCTAssertTrue(first == second, "\(entry.name): second serialization differs")
            if let exportDirectory {
                try ONNXWriter.write(model, to: "\(exportDirectory)/\(entry.name).onnx")
            }
        }
    }

    func testSerializationIsDeterministic() throws {
        let model = try ONNXReader.load(path: "\(corpusDirectory)/models/silero_vad.onnx")
        XCTAssertEqual(try ONNXWriter.serialize(model), try ONNXWriter.serialize(model))
    }

    /// Subgraphs (silero_vad's If branches) read outer values through the same Value objects.
    func testSubgraphsLinkToOuterValues() throws {
        let model = try ONNXReader.load(path: "\(corpusDirectory)/models/silero_vad.onnx")
        let ifNodes = model.graph.allNodes().filter { !$0.subgraphs.isEmpty }
        XCTAssertFalse(ifNodes.isEmpty)
        var captured = 0
        for node in ifNodes {
            for sub in node.subgraphs {
                for value in sub.capturedValues() {
                    captured += 1
                    XCTAssertTrue(value.uses.contains { use in sub.allNodes().contains { $0 === use.node } },
                                  "captured '\(value.name)' lacks the inner use")
                }
            }
        }
        XCTAssertGreaterThan(captured, 0)
    }

    private func assertSameStructure(_ a: Model, _ b: Model, _ name: String) {
        XCTAssertEqual(a.irVersion, b.irVersion, name)
        XCTAssertEqual(a.opsetImports, b.opsetImports, name)
        XCTAssertEqual(a.producerName, b.producerName, name)
        XCTAssertEqual(a.metadataProps.map(\.0), b.metadataProps.map(\.0), name)
        XCTAssertEqual(a.graph.inputs.map(\.name), b.graph.inputs.map(\.name), name)
        XCTAssertEqual(a.graph.inputs.map(\.type), b.graph.inputs.map(\.type), name)
        XCTAssertEqual(a.graph.outputs.map(\.name), b.graph.outputs.map(\.name), name)
        XCTAssertEqual(a.graph.outputs.map(\.type), b.graph.outputs.map(\.type), name)
        let nodesA = a.graph.allNodes(), nodesB = b.graph.allNodes()
        XCTAssertEqual(nodesA.map(\.name), nodesB.map(\.name), name)
        XCTAssertEqual(nodesA.map(\.opType), nodesB.map(\.opType), name)
        XCTAssertEqual(nodesA.map { $0.attributes.map(\.name) }, nodesB.map { $0.attributes.map(\.name) }, name)
        XCTAssertEqual(nodesA.flatMap { $0.outputs.map(\.type) }, nodesB.flatMap { $0.outputs.map(\.type) }, name)
        for (x, y) in zip(a.graph.initializers, b.graph.initializers) {
            XCTAssertEqual(x.name, y.name, name)
            XCTAssertEqual(x.initializer?.shape, y.initializer?.shape, name)
            XCTAssertTrue(x.initializer?.storage.bytes.elementsEqual(y.initializer?.storage.bytes ?? .init(start: nil, count: 0)) ?? false,
                          "\(name): initializer '\(x.name)' bytes differ")
        }
    }
}
