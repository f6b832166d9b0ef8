import Foundation
import IR
import Interpreter
import Passes
import TestSupport
import XCTest

/// The issue's proof of normalization folding, at library level: for each image model of the corpus, fold the
/// MANIFEST's mean/std (scaled to 0..255 pixels) and a channel reversal into the model with the -O2 pipeline, feed
/// raw pixels in the reversed order, and match the reference outputs.
///
/// The MANIFEST's formula is y[c] = (pixel[c]·pixel_scale − mean[c]) / std[c] with c the tensor channel in the
/// model's `color_order`, i.e. ModelConverter's mean_c = mean[c]/pixel_scale and scale_c = std[c]/pixel_scale in
/// the source order. The raw input is derived from the reference input: pixel = y·scale_c + mean_c (in double),
/// then the channels are reversed (the compiled model is fed the other colour order). Tolerance: the corpus one
/// (`CorpusHarness.mismatches`); the round trip y → pixel → y costs ~1 float ulp of the pixel (≤ 1.5e-5 at 255),
/// divided by scale_c ≥ 57 in the model: ~3e-7 in y, far below the tolerance.
final class CorpusNormalizationFoldingTests: XCTestCase {
    struct Preprocessing {
        var colorOrder: String
        var layout: String
        var pixelScale: Double
        var mean: [Double]
        var std: [Double]
    }

    /// Image preprocessing per model from the MANIFEST, or the reason a model is skipped.
    static func preprocessing() throws -> [String: Result<Preprocessing, SkipReason>] {
        let data = try Data(contentsOf: TestPaths.corpus.appendingPathComponent("MANIFEST.json"))
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let models = root["models"] as? [[String: Any]] else { throw MCCError.failure("MANIFEST.json: no models") }
        var result: [String: Result<Preprocessing, SkipReason>] = [:]
        for model in models {
            guard let name = model["name"] as? String else { continue }
            let p = model["preprocessing"] as? [String: Any] ?? [:]
            guard p["modality"] as? String == "image" else {
                result[name] = .failure(SkipReason("modality \(p["modality"] as? String ?? "unknown"), not an image"))
                continue
            }
            guard let order = p["color_order"] as? String, ["RGB", "BGR"].contains(order),
                  let layout = p["layout"] as? String, let scale = p["pixel_scale"] as? Double,
                  let mean = p["mean"] as? [Double], let std = p["std"] as? [Double], mean.count == 3, std.count == 3 else {
                result[name] = .failure(SkipReason("not a 3-channel RGB/BGR image input with mean/std"))
                continue
            }
            result[name] = .success(Preprocessing(colorOrder: order, layout: layout, pixelScale: scale, mean: mean, std: std))
        }
        return result
    }

    struct SkipReason: Error { var text: String; init(_ text: String) { self.text = text } }

    func testImageModelsTakeRawPixelsInTheOtherColourOrder() throws {
        let manifest = try CorpusManifest.load()
        let preprocessing = try Self.preprocessing()
        var failures: [String] = []
        var checked = 0
        for entry in manifest.models {
            guard let found = preprocessing[entry.name] else { failures.append("\(entry.name): not in MANIFEST"); continue }
            let p: Preprocessing
            switch found {
            case .failure(let reason):
                print("normalization \(entry.name): skipped (\(reason.text))")
                continue
            case .success(let value): p = value
            }
            do {
                let model = try CorpusHarness.load(entry)
                let mean = p.mean.map { $0 / p.pixelScale }, scale = p.std.map { $0 / p.pixelScale }
                let target = p.colorOrder == "RGB" ? "BGR" : "RGB"
                let reference = try CorpusHarness.reference(entry.inputs[0].ref)
                // Channel axis 1 for NCHW, last for the channels-last (NWHC) MTCNN inputs.
                let axis = p.layout.hasPrefix("NC") ? 1 : reference.rank - 1
                let raw = Self.rawPixels(reference, axis: axis, mean: mean, scale: scale)
                var options = PassOptions()
                options.normalization = [entry.inputs[0].name: InputNormalization(
                    mean: mean.map { Float($0) }, scale: scale.map { Float($0) }, encodingFrom: p.colorOrder, encodingTo: target)]
                let before = opCounts(model)
                let (_, context) = try CorpusHarness.optimize(model, Pipelines.o2, options: options)
                failures += try CorpusHarness.mismatches(try Interpreter(model: model).run([raw]), entry)
                if !context.warnings.isEmpty { failures.append("\(entry.name): \(context.warnings)") }
                let added = opCounts(model).compactMap { op, n in
                    ["Pad", "Sub", "Gather", "Div"].contains(op) && n > before[op, default: 0] ? "\(op)+\(n - before[op, default: 0])" : nil
                }
                print("normalization \(entry.name): \(p.colorOrder)->\(target) mean \(mean.map { String(format: "%.3f", $0) }) "
                      + "scale \(scale.map { String(format: "%.3f", $0) }) folded; added [\(added.sorted().joined(separator: " "))]")
                checked += 1
            } catch {
                failures.append("\(entry.name): \(error)")
            }
        }
        XCTAssertEqual(failures, [])
        XCTAssertEqual(checked, 8, "the eight image models of the corpus")
    }

    /// Raw pixels in the reversed channel order whose normalization is `normalized`.
    static func rawPixels(_ normalized: Tensor, axis: Int, mean: [Double], scale: [Double]) -> Tensor {
        let shape = normalized.shape
        let channels = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        let y = normalized.floatValues()
        var raw = [Float](repeating: 0, count: y.count)
        for i in 0..<y.count {
            let c = (i / inner) % channels
            let pixel = Double(y[i]) * scale[c] + mean[c]
            // Source channel c is raw channel C-1-c.
            raw[i + ((channels - 1 - c) - c) * inner] = Float(pixel)
        }
        return Tensor(floats: raw, shape: shape)
    }
}
