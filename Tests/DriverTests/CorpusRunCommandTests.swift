import Foundation
import IR
import TestSupport
import XCTest

/// `mcc run` on every corpus model with its reference inputs (the ref folder's input_K.npy) writes output_K.npy
/// matching onnxruntime's within |a-b| <= 1e-4·max(1, max|ref|) + 1e-3·|ref| (see CorpusRunTests for why).
final class CorpusRunCommandTests: XCTestCase {
    func testMccRunMatchesReferenceOnEveryCorpusModel() throws {
        let scratch = try ScratchDirectory("mcc-corpus-run")
        defer { scratch.remove() }
        var failures: [String] = []
        for entry in try CorpusManifest.load().models {
            let refDirectory = TestPaths.corpus.appendingPathComponent("ref/\(entry.name)").path
            let out = scratch.path(entry.name)
            let result = try runMCC(["run", entry.path.path, "--inputs", refDirectory, "-o", out])
            guard result.status == 0 else {
                failures.append("\(entry.name): exit \(result.status): \(result.stderr)")
                continue
            }
            for (k, output) in entry.outputs.enumerated() {
                let got = try NumpyFile.read(path: "\(out)/output_\(k).npy")
                let reference = try NumpyFile.read(path: TestPaths.corpus.appendingPathComponent(output.ref).path)
                let a = got.floatValues(), b = reference.floatValues()
                guard got.shape == reference.shape, got.elementType == reference.elementType else {
                    failures.append("\(entry.name) output \(k): \(got.elementType)\(got.shape) vs \(reference.elementType)\(reference.shape)")
                    continue
                }
                let atol = 1e-4 * Double(b.reduce(Float(1)) { max($0, abs($1)) })
                if let i = a.indices.first(where: { abs(Double(a[$0]) - Double(b[$0])) > atol + 1e-3 * abs(Double(b[$0])) }) {
                    failures.append("\(entry.name) output \(k) element \(i): \(a[i]) vs \(b[i])")
                }
            }
        }
        XCTAssertEqual(failures, [])
    }
}
