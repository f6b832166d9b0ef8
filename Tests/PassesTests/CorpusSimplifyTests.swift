import Foundation
import IR
import Interpreter
import ONNXFormat
import Passes
import TestSupport
import XCTest

/// Every corpus model, specialised to its MANIFEST static shapes, through the -O1 and -O2 pipelines with the
/// verifier after every pass: no more nodes than the imported model (subgraphs included, and top-level against the
/// MANIFEST count), and interpreter outputs still match the onnxruntime references within the corpus tolerance
/// |a-b| <= 1e-4·max(1, max|ref|) + 1e-3·|ref| (`CorpusHarness.mismatches`: ORT's own optimized-vs-unoptimized gap
/// reaches 2.4e-4 on YOLO box outputs measured in pixels, hence the max|ref| scaling). Run in release.
final class CorpusSimplifyTests: XCTestCase {
    func testO1AndO2KeepReferenceOutputsWithFewerNodes() throws {
        var failures: [String] = []
        for entry in try CorpusManifest.load().models {
            let inputs = try entry.inputs.map { try CorpusHarness.reference($0.ref) }
            for (level, pipeline) in [(1, Pipelines.o1), (2, Pipelines.o2)] {
                do {
                    let model = try CorpusHarness.load(entry)
                    let imported = try ONNXReader.load(path: entry.path.path).graph.allNodes().count
                    _ = try CorpusHarness.optimize(model, pipeline)
                    let nodes = model.graph.allNodes().count
                    if nodes > imported || model.graph.nodes.count > entry.nodeCount {
                        failures.append("\(entry.name) -O\(level): \(nodes) nodes (\(model.graph.nodes.count) top-level), imported \(imported) (\(entry.nodeCount) top-level)")
                    }
                    failures += try CorpusHarness.mismatches(try Interpreter(model: model).run(inputs), entry)
                        .map { "-O\(level) \($0)" }
                } catch {
                    failures.append("\(entry.name) -O\(level): \(error)")
                }
            }
        }
        XCTAssertEqual(failures, [])
    }
}
