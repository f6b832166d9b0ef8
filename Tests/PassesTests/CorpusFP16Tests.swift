import Foundation
import IR
import Interpreter
import Passes
import TestSupport
import XCTest

/// FP16Casting on every corpus model (-O2 with castToFP16): the interpreter's outputs must deviate from the
/// onnxruntime references no more than those of a noise reference, the same -O2 model with every float32
/// initializer rounded to float16 in place (ov_check.py's fp16 reference). Both round weights to f16 (the pass a
/// subset: shape, epsilon, Resize and Pow constants stay exact), so the deviations have the same size: measured
/// ratios are 0.95–1.14 (RMS and max); a broken cast (wrong data, lost tensor, swapped values) shows up as orders
/// of magnitude more (ov_check saw 60–4000× on broken IRs). Bound: ≤ 1.5× the noise reference's RMS and max
/// abs deviation, plus 1e-7 for outputs the rounding does not move at all.
final class CorpusFP16Tests: XCTestCase {
    func testFP16WeightsStayWithinFP16RoundingNoise() throws {
        let manifest = try CorpusManifest.load()
        var failures: [String] = []
        for entry in manifest.models {
            do {
                let inputs = try entry.inputs.map { try CorpusHarness.reference($0.ref) }
                let references = try entry.outputs.map { try CorpusHarness.reference($0.ref) }
                let model = try CorpusHarness.load(entry)
                var options = PassOptions()
                options.castToFP16 = true
                _ = try CorpusHarness.optimize(model, Pipelines.o2, options: options)
                let casts = opCounts(model)["Cast", default: 0]
                let ours = Self.deviation(try Interpreter(model: model).run(inputs), references)

                let rounded = try CorpusHarness.load(entry)
                _ = try CorpusHarness.optimize(rounded, Pipelines.o2)
                for value in rounded.graph.initializers {
                    guard let t = value.initializer, t.elementType == .float else { continue }
                    let values = t.floatValues().map { abs($0) <= 65504 ? Float(Float16($0)) : $0 }
                    value.initializer = Tensor(floats: values, shape: t.shape)
                }
                let noise = Self.deviation(try Interpreter(model: rounded).run(inputs), references)
                print("fp16 \(entry.name): \(casts) casts; deviation rms \(ours.rms) max \(ours.max); "
                      + "all-initializers-rounded rms \(noise.rms) max \(noise.max)")
                if casts == 0 { failures.append("\(entry.name): no weight was cast") }
                if ours.rms > 1.5 * noise.rms + 1e-7 || ours.max > 1.5 * noise.max + 1e-7 {
                    failures.append("\(entry.name): deviation rms \(ours.rms) max \(ours.max) exceeds 1.5× the f16 noise (\(noise.rms), \(noise.max))")
                }
            } catch {
                failures.append("\(entry.name): \(error)")
            }
        }
        XCTAssertEqual(failures, [])
    }

    /// RMS and max |a − b| over all outputs.
    static func deviation(_ outputs: [Tensor], _ references: [Tensor]) -> (rms: Double, max: Double) {
        var sum = 0.0, count = 0.0, worst = 0.0
        for (output, reference) in zip(outputs, references) {
            for (a, b) in zip(output.floatValues(), reference.floatValues()) {
                let d = Double(a) - Double(b)
                sum += d * d
                count += 1
                worst = max(worst, abs(d))
            }
        }
        return (count > 0 ? (sum / count).squareRoot() : 0, worst)
    }
}
