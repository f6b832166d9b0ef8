import Foundation
import IR
import Interpreter
import ONNXFormat
import Passes
import TestSupport
import XCTest

/// Every corpus model, specialised to its MANIFEST static shapes, through the -O1 and -O2 pipelines with the
/// verifier after every pass: no more nodes than the imported model, and interpreter outputs still match the
/// onnxruntime references within |a-b| <= 1e-4·max(1, max|ref|) + 1e-3·|ref| (the corpus tolerance: ORT's own
/// optimized-vs-unoptimized gap reaches 2.4e-4 on YOLO box outputs measured in pixels, hence the max|ref| scaling;
/// folding reorders no float arithmetic, so the passes add nothing measurable to the interpreter's own error).
/// Run in release (numeric test over real models).
final class CorpusSimplifyTests: XCTestCase {
    func testO1AndO2KeepReferenceOutputsWithFewerNodes() throws {
        let manifest = try CorpusManifest.load()
        var failures: [String] = []
        for entry in manifest.models {
            let inputs = try Dictionary(uniqueKeysWithValues: entry.inputs.map {
                ($0.name, try NumpyFile.read(path: TestPaths.corpus.appendingPathComponent($0.ref).path))
            })
            let references = try entry.outputs.map { try NumpyFile.read(path: TestPaths.corpus.appendingPathComponent($0.ref).path) }
            for level in [1, 2] {
                do {
                    let model = try ONNXReader.load(path: entry.path.path)
                    let importedNodes = model.graph.allNodes().count
                    try specialise(model, entry: entry)
                    var manager = PassManager(verifyEach: true)
                    let context = PassContext(opset: model.defaultOpset)
                    try manager.run(Pipelines.level(level), on: model, context: context)
                    let nodes = model.graph.allNodes().count
                    if nodes > importedNodes || model.graph.nodes.count > entry.nodeCount {
                        failures.append("\(entry.name) -O\(level): \(nodes) nodes (\(model.graph.nodes.count) top-level) vs \(importedNodes) imported (\(entry.nodeCount) top-level)")
                    }
                    let outputs = try Interpreter(model: model).run(named: inputs)
                    for (k, output) in entry.outputs.enumerated() {
                        guard let got = outputs[output.name] else {
                            failures.append("\(entry.name) -O\(level): output '\(output.name)' is gone")
                            continue
                        }
                        if let problem = compare(got, references[k]) {
                            failures.append("\(entry.name) -O\(level) output '\(output.name)': \(problem)")
                        }
                    }
                } catch {
                    failures.append("\(entry.name) -O\(level): \(error)")
                }
            }
        }
        XCTAssertEqual(failures, [])
    }

    /// What the driver does before the pipeline: fix the MANIFEST shapes, infer, inline static Ifs.
    private func specialise(_ model: Model, entry: CorpusManifest.Entry) throws {
        var fixed: [String: [Int]] = [:]
        for input in entry.inputs where !input.dynamicDims.isEmpty { fixed[input.name] = input.staticShape }
        let report = try ShapeInference(fixedInputShapes: fixed, opset: model.defaultOpset).run(on: model)
        InlineStaticIf(conditions: report.staticIfConditions).run(on: model)
        try Verifier.verify(model)
    }

    private func compare(_ got: Tensor, _ reference: Tensor) -> String? {
        guard got.shape == reference.shape, got.elementType == reference.elementType else {
            return "\(got.elementType)\(got.shape) vs reference \(reference.elementType)\(reference.shape)"
        }
        let a = got.floatValues(), b = reference.floatValues()
        let atol = 1e-4 * Double(b.reduce(Float(1)) { max($0, abs($1)) })
        for i in a.indices {
            let bound = atol + 1e-3 * abs(Double(b[i]))
            if abs(Double(a[i]) - Double(b[i])) > bound || a[i].isNaN != b[i].isNaN {
                return "element \(i): \(a[i]) vs \(b[i])"
            }
        }
        return nil
    }
}
