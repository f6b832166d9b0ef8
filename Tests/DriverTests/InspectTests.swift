import Foundation
import IR
import ONNXFormat
import TestSupport
import XCTest
import Driver

/// `mcc inspect`: the summary must agree with the corpus MANIFEST (computed independently with onnx in Python)
/// and must succeed on every ONNX node-test model.
final class InspectTests: XCTestCase {
    func testSummaryMatchesManifestForEveryCorpusModel() throws {
        let manifest = try CorpusManifest.load()
        XCTAssertEqual(manifest.models.count, 10)
        for entry in manifest.models {
            let model = try ONNXReader.load(path: entry.path.path)
            let summary = ModelSummary(model: model, file: entry.file)
            XCTAssertEqual(summary.nodeCount, entry.nodeCount, entry.name)
            XCTAssertEqual(summary.subgraphCount, entry.subgraphCount, entry.name)
            XCTAssertEqual(summary.parameterCount, entry.paramCount, entry.name)
            XCTAssertEqual(summary.opHistogram, entry.opHistogram, entry.name)
            XCTAssertEqual(summary.inputs.map(\.name), entry.inputs.map(\.name), entry.name)
            XCTAssertEqual(summary.outputs.map(\.name), entry.outputs.map(\.name), entry.name)
            for (info, expected) in zip(summary.inputs, entry.inputs) {
                XCTAssertEqual(info.dynamicDims, expected.dynamicDims, "\(entry.name) input \(info.name)")
                XCTAssertEqual(info.dtype, expected.dtype, "\(entry.name) input \(info.name)")
            }
        }
    }

    func testInspectJSONThroughTheBinaryIsSortedAndStable() throws {
        let path = TestPaths.model("yolov8n_nudenet_320").path
        let first = try runMCC(["inspect", path, "--json"])
        let second = try runMCC(["inspect", path, "--json"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertEqual(first.stdout, second.stdout)
        let object = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(object?["node_count"] as? Int, 323)
        XCTAssertEqual(object?["dynamic_input_shapes"] as? Bool, true)
        let inputs = object?["inputs"] as? [[String: Any]]
        XCTAssertEqual(inputs?.first?["dynamic_dims"] as? [Int], [0, 2, 3])
    }

    func testInspectSucceedsOnEveryNodeTestModel() throws {
        let root = TestPaths.nodeTests.appendingPathComponent("node")
        let tests = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
        XCTAssertEqual(tests.count, 1765)
        var failures: [String] = []
        for test in tests {
            let path = root.appendingPathComponent("\(test)/model.onnx").path
            do {
                let model = try ONNXReader.load(path: path)
                _ = try ModelSummary(model: model, file: path).jsonString()
            } catch {
                failures.append("\(test): \(error)")
            }
        }
        let light = try FileManager.default.contentsOfDirectory(atPath: TestPaths.nodeTests.appendingPathComponent("light").path)
            .filter { $0.hasSuffix(".onnx") }
        XCTAssertEqual(light.count, 9)
        for file in light {
            do {
                _ = try ONNXReader.load(path: TestPaths.nodeTests.appendingPathComponent("light/\(file)").path)
            } catch {
                failures.append("\(file): \(error)")
            }
        }
        XCTAssertEqual(failures, [], "\(failures.count) models failed")
    }
}
