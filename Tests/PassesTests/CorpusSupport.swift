import Foundation
import IR
import Interpreter
import ONNXFormat
import Passes
import TestSupport
import XCTest

/// Corpus plumbing shared by the corpus pass tests: loading a model with the MANIFEST's static shapes (the
/// driver's static specialisation), running a pipeline while recording what each pass changed, and comparing
/// with the reference outputs.
enum CorpusHarness {
    /// The model with its inputs fixed to the MANIFEST shapes, shapes inferred and static Ifs inlined.
    static func load(_ entry: CorpusManifest.Entry) throws -> Model {
        let model = try ONNXReader.load(path: entry.path.path)
        let fixed = Dictionary(uniqueKeysWithValues: entry.inputs.map { ($0.name, $0.staticShape) })
        let report = try ShapeInference(fixedInputShapes: fixed, opset: model.defaultOpset).run(on: model)
        InlineStaticIf(conditions: report.staticIfConditions).run(on: model)
        try Verifier.verify(model)
        return model
    }

    static func reference(_ path: String) throws -> Tensor {
        try NumpyFile.read(path: TestPaths.corpus.appendingPathComponent(path).path)
    }

    /// Net op-count change per pass over a pipeline run ("batch-norm-folding: BatchNormalization-35").
    final class PassLog {
        private(set) var deltas: [String: [String: Int]] = [:]
        private(set) var order: [String] = []
        private var last: [String: Int]

        init(_ model: Model) { last = Self.histogram(model) }

        func record(_ pass: String, _ model: Model) {
            let now = Self.histogram(model)
            for op in Set(now.keys).union(last.keys) {
                let d = (now[op] ?? 0) - (last[op] ?? 0)
                if d != 0 { deltas[pass, default: [:]][op, default: 0] += d }
            }
            if !order.contains(pass) { order.append(pass) }
            last = now
        }

        var summary: String {
            order.compactMap { pass -> String? in
                guard let d = deltas[pass]?.filter({ $0.value != 0 }), !d.isEmpty else { return nil }
                let ops = d.sorted { $0.key < $1.key }.map { "\($0.key)\($0.value > 0 ? "+" : "")\($0.value)" }
                return "\(pass) [\(ops.joined(separator: " "))]"
            }.joined(separator: "; ")
        }

        static func histogram(_ model: Model) -> [String: Int] {
            model.graph.allNodes().reduce(into: [:]) { $0[$1.opType, default: 0] += 1 }
        }
    }

    /// Runs `pipeline` with the verifier after every pass; returns the per-pass log.
    static func optimize(_ model: Model, _ pipeline: Pipeline, options: PassOptions = PassOptions()) throws -> (PassLog, PassContext) {
        let log = PassLog(model)
        var manager = PassManager(verifyEach: true, printAfter: ["*"]) { pass, m in log.record(pass, m) }
        let context = PassContext(opset: model.defaultOpset, options: options)
        try manager.run(pipeline, on: model, context: context)
        return (log, context)
    }

    /// Problems of `outputs` against the references, within the corpus tolerance
    /// |a − b| ≤ 1e-4·max(1, max|ref|) + 1e-3·|ref| (ORT's own optimized-vs-unoptimized gap reaches 2.4e-4 on YOLO
    /// box outputs in pixels, hence the absolute part scaling with the output's range).
    static func mismatches(_ outputs: [Tensor], _ entry: CorpusManifest.Entry) throws -> [String] {
        var problems: [String] = []
        for (k, expected) in entry.outputs.enumerated() {
            let reference = try reference(expected.ref)
            guard k < outputs.count else { problems.append("output \(k) missing"); continue }
            let scale = reference.floatValues().reduce(Double(1)) { max($0, abs(Double($1))) }
            let (worst, index) = excess(outputs[k], reference, atol: 1e-4 * scale, rtol: 1e-3)
            if worst > 0 { problems.append("\(entry.name) output \(k) '\(expected.name)': excess \(worst) at \(index)") }
        }
        return problems
    }
}
