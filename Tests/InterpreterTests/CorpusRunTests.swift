import Foundation
import IR
import Interpreter
import ONNXFormat
import TestSupport
import XCTest

/// Every corpus model runs in the interpreter to onnxruntime's reference outputs within the tolerance
/// |a-b| <= 1e-4·max(1, max|ref|) + 1e-3·|ref|: ORT's own optimized-vs-unoptimized gap reaches 2.4e-4 on YOLO box
/// outputs (pixels), so the absolute part scales with the output's range.
final class CorpusRunTests: XCTestCase {
    func testEveryCorpusModelMatchesReference() throws {
        let manifest = try CorpusManifest.load()
        var failures: [String] = []
        for entry in manifest.models {
            do {
                let model = try ONNXReader.load(path: entry.path.path)
                let interpreter = try Interpreter(model: model)
                let inputs = try entry.inputs.map { try NumpyFile.read(path: TestPaths.corpus.appendingPathComponent($0.ref).path) }
                let outputs = try interpreter.run(inputs)
                for (k, expected) in entry.outputs.enumerated() {
                    let reference = try NumpyFile.read(path: TestPaths.corpus.appendingPathComponent(expected.ref).path)
                    let scale = reference.floatValues().reduce(Float(1)) { max($0, abs($1)) }
                    if let problem = compare(outputs[k], reference, atol: 1e-4 * Double(scale), rtol: 1e-3) {
                        failures.append("\(entry.name) output \(k) '\(expected.name)': \(problem)")
                    }
                }
            } catch {
                failures.append("\(entry.name): \(error)")
            }
        }
        XCTAssertEqual(failures, [])
    }
}
