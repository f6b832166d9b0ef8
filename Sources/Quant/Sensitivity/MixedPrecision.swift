import Foundation
import IR
import Interpreter

/// Settings of the 16-bit fallback search.
public struct MixedPrecisionOptions: Sendable, Equatable {
    public var enabled = true
    /// Worst-output SQNR (dB) the search aims for on the probe samples. The probe is a few calibration samples, and
    /// unseen inputs score lower (on the corpus, 1.5 dB for yolov8n up to 10 dB for ppocrv4_det on held-out images),
    /// so the target sits above what the outputs must keep.
    public var targetSQNR: Double = 32
    /// Calibration samples the search evaluates on; nil picks as many as keep one evaluation within
    /// `probeElements` quantized activation values (the model's size, not a clock, decides: same inputs give the same
    /// plan on any machine), at least 2.
    public var probeSamples: Int?
    public var probeElements = 8_000_000
    /// At most this many probe samples: the search runs ~13 evaluations, so on small models a probe of the whole
    /// calibration set would cost an order of magnitude more than calibrating.
    public var maximumProbeSamples = 6
    /// Contiguous groups whose sensitivity is measured (one evaluation each).
    public var segments = 8
    /// Budget-correction evaluations.
    public var rounds = 3
    /// Probe samples the segment sensitivities are measured on (the first ones; nil: a third of the probe, at
    /// least 1). Sensitivities only rank the points, and every candidate plan is still measured on the whole probe,
    /// so a smaller set trades ranking precision for 8 of the search's ~13 evaluations.
    public var sensitivitySamples: Int?
    /// Bytes of activations the search may keep so the segments' runs resume where they differ from the
    /// all-16-bit plan instead of recomputing the shared beginning (the results are the same).
    public var resumptionBytes = 32 << 20

    public init() {}
}

/// What the search did, for the report and the log.
public struct MixedPrecisionSummary: Codable, Sendable {
    /// All-8-bit worst-output SQNR on the sensitivity samples (on the whole probe when it is on target there).
    public var probeSQNRBefore: Double
    public var probeSQNRAfter: Double
    public var promotedActivations: [String]
    public var promotedWeights: [String]
    public var evaluations: Int
    public var probeSamples: Int = 0
}

/// Raises the quantization points the outputs are most sensitive to from 8 to 16 bits until the simulated
/// worst-output SQNR on the probe samples reaches the target.
///
/// Sensitivity is measured, not modelled: on the corpus, analytic noise models and small-noise linearizations rank
/// layers poorly (quantization noise is far from the linear regime, and error concentrates in the first layers of
/// the network). The search therefore
/// 1. evaluates all-8-bit (done if on target) and all-16-bit (if that misses, it is the answer; the rest of the
///    probe runs only when its noise on the sensitivity samples is not negligible next to the target's), keeping the
///    values where later candidates' runs resume (their beginning is the all-16-bit plan's);
/// 2. splits the points (activations and weights, in graph order) into up to 8 contiguous segments and measures,
///    per segment, the output noise added by dropping only that segment to 8 bits from the all-16-bit plan, on the
///    first third of the probe (the sensitivity samples: the estimates only rank points);
/// 3. spreads each segment's noise over its members in proportion to their local 8-bit noise-to-signal ratio;
/// 4. keeps 8 bits for the points with the smallest estimated noise while the estimates fit the noise budget, then
///    corrects the budget from the measured result (noise does not add exactly) for a few rounds, never past a
///    count already measured over budget (these runs resume from the all-16-bit run's kept values).
/// A 16-bit weight implies a 16-bit input activation (the HTP pairs 16-bit weights with 16-bit activations).
public struct MixedPrecision {
    public let model: Model
    public let builder: PlanBuilder
    public let options: MixedPrecisionOptions
    public let threads: Int?

    let nodePositions: [ObjectIdentifier: Int]
    let activationIndex: [ObjectIdentifier: Int]

    public init(model: Model, builder: PlanBuilder, options: MixedPrecisionOptions, threads: Int?) {
        self.model = model
        self.builder = builder
        self.options = options
        self.threads = threads
        nodePositions = Dictionary(model.graph.nodes.enumerated().map { (ObjectIdentifier($1), $0) }, uniquingKeysWith: { a, _ in a })
        activationIndex = Dictionary(builder.points.activations.enumerated().map { (ObjectIdentifier($1), $0) },
                                     uniquingKeysWith: { a, _ in a })
    }

    /// A quantity the search can promote: activation point `i` or weight `j`.
    enum Item: Hashable { case activation(Int), weight(Int) }

    /// `kept` holds calibration samples whose inputs and float outputs are already known (the rest are loaded and run).
    public func run(dataset: CalibrationDataset, probe: [Int], initial: QuantizationPlan, kept: [Int: KeptSample] = [:],
                    progress: ((Int, Int) -> Void)? = nil) throws -> (QuantizationPlan, MixedPrecisionSummary) {
        let points = builder.points
        let evaluator = try ProbeEvaluator(model: model, plan: initial, dataset: dataset, samples: probe, kept: kept,
                                           threads: threads)
        let segmentCount = options.segments, rounds = options.rounds
        let totalSteps = 2 + segmentCount + rounds
        var step = 0
        func evaluate(_ plan: QuantizationPlan, samples: Int? = nil) throws -> Double {
            step += 1
            progress?(min(step, totalSteps), totalSteps)
            return try evaluator.noiseToSignal(plan, samples: samples)
        }
        let budget = pow10(-options.targetSQNR / 10)
        let sensitivityCount = min(probe.count, max(1, options.sensitivitySamples ?? probe.count / 3))
        // All-8-bit on the sensitivity samples first: when they miss the target (the usual case) the search goes
        // on without running the rest; only a plan that may already be on target is confirmed on the whole probe.
        var nsr8 = try evaluate(initial, samples: sensitivityCount)
        if nsr8 <= budget, sensitivityCount < probe.count { nsr8 = try evaluate(initial) }
        func summary(_ plan: QuantizationPlan, _ nsr: Double) -> MixedPrecisionSummary {
            MixedPrecisionSummary(
                probeSQNRBefore: decibels(nsr8), probeSQNRAfter: decibels(nsr),
                promotedActivations: plan.activationBits.indices.filter { plan.activationBits[$0] > initial.activationBits[$0] }
                    .map { points.activations[$0].name },
                promotedWeights: plan.weightBits.indices.filter { plan.weightBits[$0] > initial.weightBits[$0] }
                    .map { points.weights[$0].node.inputs[points.weights[$0].inputIndex]?.name ?? points.weights[$0].node.name },
                evaluations: evaluator.evaluations, probeSamples: probe.count)
        }
        if nsr8 <= budget { return (initial, summary(initial, nsr8)) }

        let items = orderedItems()
        func plan(demoted: Set<Item>) -> QuantizationPlan {
            var aBits = Array(repeating: 16, count: points.activations.count)
            var wBits = Array(repeating: 16, count: points.weights.count)
            for item in demoted {
                switch item {
                case .activation(let i): aBits[i] = initial.activationBits[i]
                case .weight(let j): wBits[j] = initial.weightBits[j]
                }
            }
            // 16-bit weights take 16-bit inputs.
            for (j, w) in points.weights.enumerated() where wBits[j] > 8 {
                if let a = w.activation, let i = activationIndex[ObjectIdentifier(a)] { aBits[i] = 16 }
            }
            return builder.plan(activationBits: aBits, weightBits: wBits)
        }
        let plan16 = plan(demoted: [])
        // Segment sensitivities from the all-16-bit plan: each segment's plan equals it before the segment, so the
        // all-16-bit run keeps the values where the segments' runs can resume (within a memory budget).
        let segments = (0..<min(segmentCount, items.count)).map { s in
            Array(items[(s * items.count / min(segmentCount, items.count))..<((s + 1) * items.count / min(segmentCount, items.count))])
        }.filter { !$0.isEmpty }
        let segmentPlans = segments.map { plan(demoted: Set($0)) }
        let resumption = evaluator.resumption(base: plan16, candidates: segmentPlans, samples: sensitivityCount,
                                              byteBudget: options.resumptionBytes)
        defer { evaluator.releaseKept() }
        step += 1
        progress?(min(step, totalSteps), totalSteps)
        // All-16-bit on the sensitivity samples (keeping the resumption values). Its noise only offsets the budget
        // the estimates may use; when it is far below the budget (the usual case: 16-bit grids add next to no
        // noise) that offset is taken from these samples and the rest of the probe runs only if the all-16-bit
        // plan turns out to be the answer.
        var (nsr16, nsr16Sensitivity) = try evaluator.noiseToSignal(plan16, andOnFirst: sensitivityCount, keeping: resumption.keys,
                                                                    keptOn: sensitivityCount, samples: sensitivityCount)
        var nsr16OnProbe = sensitivityCount >= probe.count
        // The budget rounds measure on the whole probe; they may resume from the all-16-bit run's values too when
        // these fit the memory budget on every probe sample.
        let keepOnProbe = resumption.bytesPerSample * probe.count <= options.resumptionBytes
        var keptOnProbe = nsr16OnProbe
        if !nsr16OnProbe, nsr16Sensitivity > budget * negligibleShare {
            step += 1
            progress?(min(step, totalSteps), totalSteps)
            nsr16 = try evaluator.noiseToSignal(plan16, andOnFirst: sensitivityCount, keeping: keepOnProbe ? resumption.keys : [],
                                                keptOn: probe.count).all
            nsr16OnProbe = true
            keptOnProbe = keepOnProbe
        }
        if nsr16 > budget { return (plan16, summary(plan16, nsr16)) }
        let keptStarts = Set(resumption.starts.filter { $0 > 0 }).sorted()
        /// Where a run of `candidate` may resume: the latest kept start before its first difference from plan16.
        func resumeAt(_ candidate: QuantizationPlan) -> Int {
            let first = evaluator.firstDifference(candidate, from: plan16)
            return keptStarts.last { $0 <= first } ?? 0
        }

        let local = localNoise(items)
        var estimate: [Item: Double] = [:]
        // The segments' evaluations are independent: one batch, spread over the cores.
        let measured = segments
        let segmentNSR = try evaluator.noiseToSignal(zip(segmentPlans, resumption.starts).map {
            ProbeEvaluator.Candidate(plan: $0, samples: sensitivityCount, resumeAt: $1)
        })
        step += measured.count
        progress?(min(step, totalSteps), totalSteps)
        for (segment, nsr) in zip(measured, segmentNSR) {
            let added = max(nsr - nsr16Sensitivity, 0)
            let weight = segment.reduce(0.0) { $0 + local[$1, default: 0] }
            for item in segment {
                estimate[item] = weight > 0 ? added * local[item, default: 0] / weight : added / Double(segment.count)
            }
        }
        let ranked = items.sorted { (estimate[$0] ?? 0, order(of: $0)) < (estimate[$1] ?? 0, order(of: $1)) }

        // Closed loop on the budget the estimates may use. The candidates demote nested prefixes of the ranking, so
        // a count at or past one measured over budget is not measured again.
        var allowance = budget - nsr16
        var best: (plan: QuantizationPlan, nsr: Double, demoted: Int) = (plan16, nsr16, 0)
        var tried = Set<Int>()
        var failing = ranked.count + 1
        for round in 0..<rounds {
            var used = 0.0, count = 0
            for item in ranked {
                let e = estimate[item] ?? 0
                if used + e > allowance { break }
                used += e
                count += 1
            }
            if !tried.insert(count).inserted || count >= failing { break }
            // The last round's measurement only matters if it may replace the best plan.
            if round == rounds - 1, count <= best.demoted { break }
            let candidate = plan(demoted: Set(ranked.prefix(count)))
            step += 1
            progress?(min(step, totalSteps), totalSteps)
            // The first candidate that can resume pays for the all-16-bit values on the rest of the probe once
            // (the same values a full run computes, so the scores do not change).
            if !keptOnProbe, keepOnProbe, resumeAt(candidate) > 0 {
                try evaluator.keep(plan16, keys: resumption.keys, fromSample: sensitivityCount)
                keptOnProbe = true
            }
            let nsr = try evaluator.noiseToSignal([.init(plan: candidate, resumeAt: resumeAt(candidate))])[0]
            if nsr <= budget, count > best.demoted { best = (candidate, nsr, count) }
            if nsr > budget { failing = min(failing, count) }
            // Rescale by how far the measurement is from the estimate.
            let measured = max(nsr - nsr16, 1e-12)
            let predicted = max(used, 1e-12)
            allowance = (budget - nsr16) * predicted / measured * (nsr <= budget ? 1 : 0.9)
        }
        if best.demoted == 0, !nsr16OnProbe { best.nsr = try evaluate(plan16) }
        return (best.plan, summary(best.plan, best.nsr))
    }

    /// All-16-bit noise below this share of the budget counts as negligible (see `run`).
    let negligibleShare = 0.25

    /// Activations and weights in graph order (inputs first, a weight right before its op's output).
    func orderedItems() -> [Item] {
        (builder.points.activations.indices.map { Item.activation($0) } + builder.points.weights.indices.map { Item.weight($0) })
            .sorted { order(of: $0) < order(of: $1) }
    }

    func order(of item: Item) -> Double {
        switch item {
        case .activation(let i):
            guard let producer = builder.points.activations[i].producer,
                  let k = nodePositions[ObjectIdentifier(producer)] else { return -1 }
            return Double(k)
        case .weight(let j):
            return Double(nodePositions[ObjectIdentifier(builder.points.weights[j].node)] ?? 0) - 0.5
        }
    }

    /// Local 8-bit noise-to-signal ratio of each item: rounding noise Δ²/12 over the point's mean square for
    /// activations, relative squared rounding error for weights.
    func localNoise(_ items: [Item]) -> [Item: Double] {
        var result: [Item: Double] = [:]
        for item in items {
            switch item {
            case .activation(let i):
                let e = builder.activationEncoding(i, bits: 8)
                let power = builder.statistics.meanSquares[i]
                let step = Double(e.scales[0])
                result[item] = power > 0 ? step * step / 12 / power : 0
            case .weight(let j):
                let w = builder.points.weights[j]
                guard let tensor = w.node.inputs[w.inputIndex]?.initializer else { continue }
                let e = builder.weightEncoding(j, bits: 8)
                let original = tensor.floatValues(), rounded = FakeQuantize.apply(e, to: tensor).floatValues()
                var num = 0.0, den = 0.0
                for k in original.indices {
                    let d = Double(rounded[k] - original[k])
                    num += d * d
                    den += Double(original[k]) * Double(original[k])
                }
                result[item] = den > 0 ? num / den : 0
            }
        }
        return result
    }
}

func pow10(_ x: Double) -> Double { exp(x * log(10)) }
func decibels(_ nsr: Double) -> Double { nsr > 0 ? -10 * log10(nsr) : .infinity }
