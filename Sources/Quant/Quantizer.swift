import Dispatch
import IR
import Interpreter

/// Everything the quantizer needs besides the model and the data.
public struct QuantizerConfiguration: Sendable {
    public var options = QuantizationOptions()
    /// Samples held back from calibration for the accuracy report; nil picks one in eight (none below 4 samples).
    public var holdout: Int?
    public var mixedPrecision = MixedPrecisionOptions()
    /// Kernel threads (nil: all cores).
    public var threads: Int?
    /// Measure the simulated model against float on the held-back samples (the accuracy report).
    public var report = true

    public init() {}
}

/// Result of quantizing a model: the plan, the report and where the time went.
public struct QuantizationResult {
    public let floatModel: Model
    public let points: QuantizationPoints
    public let plan: QuantizationPlan
    public let report: AccuracyReport?
    /// Stage name and milliseconds, in order.
    public let timings: [(stage: String, milliseconds: Double)]
    public let calibrationSamples: [String]
    public let mixedPrecision: MixedPrecisionSummary?

    /// The QDQ ONNX form of the quantized model.
    public func qdqModel() throws -> Model { try QDQBuilder.build(floatModel, plan: plan, form: .onnx) }
}

/// Progress callbacks: stage name, samples done, samples in the stage.
public typealias QuantizationProgress = (_ stage: String, _ done: Int, _ total: Int) -> Void

/// Post-training quantization of a (folded, static-shape) float model: calibrate with observers on the
/// interpreter's value hook, build encodings, optionally raise sensitive points to 16 bits, and measure the
/// result against float on held-back samples.
public final class Quantizer {
    public let model: Model
    public let configuration: QuantizerConfiguration

    public init(model: Model, configuration: QuantizerConfiguration) {
        self.model = model
        self.configuration = configuration
    }

    /// Splits sample indices into calibration and held-back ones (held-back spread evenly over the set).
    public static func split(count: Int, holdout: Int?) -> (calibration: [Int], heldBack: [Int]) {
        let h = holdout ?? (count >= 4 ? max(1, count / 8) : 0)
        guard h > 0, h < count else { return (Array(0..<count), []) }
        let held = Set((0..<h).map { Int((Double($0) + 0.5) * Double(count) / Double(h)) })
        return ((0..<count).filter { !held.contains($0) }, (0..<count).filter { held.contains($0) })
    }

    public func run(_ dataset: CalibrationDataset, progress: QuantizationProgress? = nil) throws -> QuantizationResult {
        var timings: [(String, Double)] = []
        func measure<R>(_ stage: String, _ body: () throws -> R) rethrows -> R {
            let start = DispatchTime.now().uptimeNanoseconds
            let r = try body()
            timings.append((stage, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6))
            return r
        }
        let options = configuration.options
        let points = QuantizationPoints(model: model)
        guard !points.activations.isEmpty || !points.weights.isEmpty else {
            throw MCCError.unsupported("the model has no float tensors to quantize")
        }
        let (calibration, heldBack) = Self.split(count: dataset.samples.count, holdout: configuration.holdout)
        guard !calibration.isEmpty else { throw MCCError.usage("no calibration samples left after holding back \(heldBack.count)") }
        // The mixed-precision probe is chosen before calibration (from the points' static sizes) so the calibration
        // pass keeps its inputs and float outputs instead of the search loading and running them again.
        let plannedProbe = configuration.mixedPrecision.enabled ? Self.probe(calibration, elementsPerSample: points.staticElementsPerSample,
                                                                             options: configuration.mixedPrecision) : []
        let statistics = try measure("calibration") {
            let calibrator = try Calibrator(model: model, points: points, options: options, threads: configuration.threads)
            return try calibrator.run(dataset, indices: calibration, keeping: Set(plannedProbe)) { progress?("calibrating", $0, $1) }
        }
        // Report reading/decoding separately: the anchors' timings exclude it too.
        if let last = timings.popLast() {
            timings.append(("calibration data loading", statistics.loadMilliseconds))
            timings.append(("calibration", last.1 - statistics.loadMilliseconds))
        }
        let builder = PlanBuilder(points: points, statistics: statistics, options: options)
        var plan = measure("encodings") { () -> QuantizationPlan in
            builder.prepare(threads: configuration.threads)
            return builder.plan()
        }
        var summary: MixedPrecisionSummary?
        if configuration.mixedPrecision.enabled {
            let search = MixedPrecision(model: model, builder: builder, options: configuration.mixedPrecision,
                                        threads: configuration.threads)
            let probe = plannedProbe.isEmpty
                ? Self.probe(calibration, elementsPerSample: max(1, statistics.elementsPerSample.reduce(0, +)), options: configuration.mixedPrecision)
                : plannedProbe
            (plan, summary) = try measure("mixed precision") {
                try search.run(dataset: dataset, probe: probe, initial: plan, kept: statistics.kept) { progress?("mixed precision", $0, $1) }
            }
        }
        let evaluation = heldBack.isEmpty ? calibration : heldBack
        let report = configuration.report ? try measure("report") {
            try Self.report(model: model, points: points, plan: plan, dataset: dataset, samples: evaluation,
                            inCalibration: heldBack.isEmpty, options: options, threads: configuration.threads) {
                progress?("evaluating", $0, $1)
            }
        } : nil
        return QuantizationResult(floatModel: model, points: points, plan: plan, report: report, timings: timings,
                                  calibrationSamples: calibration.map { dataset.samples[$0].label },
                                  mixedPrecision: summary)
    }

    /// Calibration samples the 16-bit search evaluates on, spread over the calibration set for variety: as many as
    /// keep one evaluation within `probeElements` quantized values (at least 2, at most `maximumProbeSamples`), unless
    /// `probeSamples` fixes the count. Empty when the per-sample size is unknown (0).
    static func probe(_ calibration: [Int], elementsPerSample: Int, options: MixedPrecisionOptions) -> [Int] {
        guard elementsPerSample > 0 || options.probeSamples != nil else { return [] }
        let affordable = options.probeElements / max(1, elementsPerSample)
        let count = min(calibration.count, options.probeSamples ?? max(2, min(affordable, options.maximumProbeSamples)))
        return (0..<count).map { calibration[($0 * calibration.count) / max(count, 1)] }
    }

    /// Per-output and per-layer accuracy of `plan` on `samples`.
    public static func report(model: Model, points: QuantizationPoints, plan: QuantizationPlan, dataset: CalibrationDataset,
                              samples: [Int], inCalibration: Bool, options: QuantizationOptions, threads: Int?,
                              progress: ((Int, Int) -> Void)? = nil) throws -> AccuracyReport {
        let lockstep = try Lockstep(floatModel: model, plan: plan, threads: threads)
        var layerErrors = [ErrorAccumulator](repeating: .init(), count: lockstep.pointNames.count)
        var outputErrors = [ErrorAccumulator](repeating: .init(), count: lockstep.outputNames.count)
        for (k, index) in samples.enumerated() {
            try lockstep.compare(try dataset.load(index), points: &layerErrors, outputs: &outputErrors)
            progress?(k + 1, samples.count)
        }
        let ops = points.activations.map { $0.producer?.opType ?? "input" }
        let layers = layerErrors.indices.map { i in
            AccuracyReport.Entry(name: lockstep.pointNames[i], op: ops[i], bits: plan.activationBits[i],
                                 sqnrDB: layerErrors[i].sqnr, cosine: layerErrors[i].cosine, maxAbsError: layerErrors[i].maxAbsError)
        }
        let outputs = outputErrors.indices.map { o in
            AccuracyReport.Entry(name: lockstep.outputNames[o], op: "output", bits: 32, sqnrDB: outputErrors[o].sqnr,
                                 cosine: outputErrors[o].cosine, maxAbsError: outputErrors[o].maxAbsError)
        }
        var histogram: [String: Int] = [:]
        for b in plan.activationBits { histogram["\(b)", default: 0] += 1 }
        for b in plan.weightBits { histogram["w\(b)", default: 0] += 1 }
        return AccuracyReport(
            model: model.graph.name, samples: samples.map { dataset.samples[$0].label }, samplesInCalibration: inCalibration,
            outputs: outputs, layers: layers, worstLayers: worstLayers(points: points, layers: layers),
            activationBits: histogram,
            settings: ["observer": options.observer.rawValue, "weights": options.weightMethod.rawValue,
                       "symmetric_activations": String(options.symmetricActivations),
                       "bias_correction": String(options.biasCorrection)])
    }

    /// The five layers whose SQNR falls furthest below the worst SQNR among the points feeding them (graph
    /// inputs count as exact): where quantization error enters, rather than where it has merely accumulated.
    static func worstLayers(points: QuantizationPoints, layers: [AccuracyReport.Entry], count: Int = 5) -> [String] {
        var sqnrOf: [ObjectIdentifier: Double] = [:]
        for (i, v) in points.activations.enumerated() { sqnrOf[ObjectIdentifier(v)] = layers[i].sqnrDB }
        func upstream(_ value: Value, depth: Int = 0) -> Double {
            if let s = sqnrOf[ObjectIdentifier(value)] { return s }
            if let shared = points.shared[ObjectIdentifier(value)], let s = sqnrOf[ObjectIdentifier(shared)] { return s }
            guard depth < 64, let producer = value.producer else { return .infinity }
            let inputs = producer.inputs.compactMap { $0 }.filter { !$0.isConstant }
            return inputs.map { upstream($0, depth: depth + 1) }.min() ?? .infinity
        }
        var drops: [(drop: Double, name: String)] = []
        for (i, v) in points.activations.enumerated() {
            let own = layers[i].sqnrDB
            guard own.isFinite, let producer = v.producer else { continue }
            let inputs = producer.inputs.compactMap { $0 }.filter { !$0.isConstant }
            let before = inputs.map { upstream($0) }.min() ?? .infinity
            let reference = before.isFinite ? before : 100
            drops.append((reference - own, v.name))
        }
        return drops.sorted { $0.drop != $1.drop ? $0.drop > $1.drop : $0.name < $1.name }.prefix(count).map(\.name)
    }
}
