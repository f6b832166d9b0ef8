import Foundation
import IR
import Interpreter
import Kernels

/// Float outputs of the probe samples, cached, and the simulated outputs of candidate plans compared with them.
///
/// Candidates are scored in batches of (plan, sample) runs spread over the cores: one simulated model per core,
/// each with one kernel thread (whole inferences in parallel scale better than split kernels). A free simulation
/// takes the next run, and every result lands in its run's slot: a sample's simulated outputs depend only on the
/// plan (and resumed runs on values kept from the same plan prefix), so scores are the same whatever the timing.
final class ProbeEvaluator {
    let model: Model
    let initial: QuantizationPlan
    let inputs: [[Tensor]]
    let references: [[Tensor]]
    /// Cores the batches use (at least 1), and how many simulations run at once (see `concurrentRunners`).
    let concurrency: Int
    let runners: Int
    private var simulations: [SimulatedModel] = []
    private(set) var evaluations = 0

    init(model: Model, plan: QuantizationPlan, dataset: CalibrationDataset, samples: [Int], kept: [Int: KeptSample],
         threads: Int?) throws {
        var inputs: [[Tensor]] = [], references: [[Tensor]] = []
        var interpreter: Interpreter?
        for index in samples {
            if let sample = kept[index] {
                inputs.append(sample.inputs)
                references.append(sample.outputs)
            } else {
                let x = try dataset.load(index)
                let float = try interpreter ?? Interpreter(model: model, threads: threads)
                interpreter = float
                inputs.append(x)
                references.append(try float.run(x))
            }
        }
        self.model = model
        initial = plan
        self.inputs = inputs
        self.references = references
        concurrency = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        runners = concurrentRunners(cores: concurrency, model: model)
        simulations = [try SimulatedModel(floatModel: model, plan: plan)]
    }

    /// A candidate plan scored on the first `samples` probe samples (nil: all); `resumeAt` > 0 starts its runs at
    /// that simulation node from the values kept by an earlier batch (`keeping`), where kept.
    struct Candidate {
        var plan: QuantizationPlan
        var samples: Int?
        var resumeAt = 0
        /// Probe samples before this one are skipped.
        var firstSample = 0
    }

    /// Values kept per probe sample (by simulation value key) for resumed runs.
    private var kept: [[Int: Tensor]] = []

    /// Where runs of `candidates` can resume after a run of `base` keeps the values `keys` on each of `samples`
    /// probe samples, within `byteBudget` bytes of kept tensors in all (0: from the start). The latest resumption
    /// points come first: they skip the most.
    func resumption(base: QuantizationPlan, candidates: [QuantizationPlan], samples: Int,
                    byteBudget: Int) -> (starts: [Int], keys: Set<Int>, bytesPerSample: Int) {
        let simulation = simulations[0]
        let firsts = candidates.map { simulation.firstDifference($0, from: base) }
        var starts = Array(repeating: 0, count: candidates.count)
        var keys = Set<Int>(), bytes = 0
        for c in candidates.indices.sorted(by: { (firsts[$0], $0) > (firsts[$1], $1) }) where firsts[c] > 0 {
            let live = simulation.liveKeys(at: firsts[c])
            var extra = 0, known = true
            for entry in live where !keys.contains(entry.key) {
                guard let b = entry.bytes else { known = false; break }
                extra += b
            }
            guard known, bytes + extra * max(samples, 1) <= byteBudget else { continue }
            bytes += extra * max(samples, 1)
            for entry in live { keys.insert(entry.key) }
            starts[c] = firsts[c]
        }
        return (starts, keys, bytes / max(samples, 1))
    }

    /// Drops the values kept for resumed runs.
    func releaseKept() { kept = [] }

    /// Per-candidate, per-sample, per-output error accumulators.
    /// Each simulation takes the next unclaimed run when it is free (none waits for another on a busy machine). With `keeping`, the
    /// runs of the batch on the first `keptSamples` probe samples keep those values for their sample.
    func errors(_ candidates: [Candidate], keeping: Set<Int> = [], onFirst keptSamples: Int = 0,
                counted: Bool = true) throws -> [[[ErrorAccumulator]]] {
        if counted { evaluations += candidates.count }
        var runs: [(candidate: Int, sample: Int)] = []
        for (c, candidate) in candidates.enumerated() {
            for s in candidate.firstSample..<max(candidate.firstSample, min(candidate.samples ?? inputs.count, inputs.count)) {
                runs.append((c, s))
            }
        }
        let width = min(runners, runs.count)
        while simulations.count < width { simulations.append(try SimulatedModel(floatModel: model, plan: initial)) }
        let savedThreads = KernelConfig.threads
        KernelConfig.threads = width > 1 ? 1 : concurrency
        defer { KernelConfig.threads = savedThreads }
        let outputCount = references.first?.count ?? 0
        var results = [[ErrorAccumulator]](repeating: [], count: runs.count)
        var failures = [(any Error)?](repeating: nil, count: width)
        let simulations = self.simulations, inputs = self.inputs, references = self.references
        if kept.count < inputs.count { kept += Array(repeating: [:], count: inputs.count - kept.count) }
        let previouslyKept = kept
        var keptNow = [[Int: Tensor]?](repeating: nil, count: runs.count)
        results.withUnsafeMutableBufferPointer { resultSlots in
          failures.withUnsafeMutableBufferPointer { failureSlots in
            keptNow.withUnsafeMutableBufferPointer { keptSlots in
                let slots = UncheckedBox((resultSlots, failureSlots, keptSlots))
                let claims = NSLock()
                var next = 0
                concurrently(width) { w in
                    do {
                        while true {
                            claims.lock()
                            let r = next
                            next += 1
                            claims.unlock()
                            guard r < runs.count else { break }
                            let (c, s) = runs[r]
                            let simulation = simulations[w]
                            try simulation.apply(candidates[c].plan)
                            let outputs: [Tensor]
                            if !keeping.isEmpty, s < keptSamples {
                                let result = try simulation.run(inputs[s], keeping: keeping)
                                outputs = result.outputs
                                slots.value.2[r] = result.kept
                            } else if candidates[c].resumeAt > 0, !previouslyKept[s].isEmpty {
                                outputs = try simulation.run(inputs[s], resumingAt: candidates[c].resumeAt, with: previouslyKept[s])
                            } else {
                                outputs = try simulation.run(inputs[s])
                            }
                            var acc = [ErrorAccumulator](repeating: .init(), count: outputCount)
                            for o in acc.indices where references[s][o].elementType == .float {
                                Lockstep.accumulate(&acc[o], references[s][o], outputs[o])
                            }
                            slots.value.0[r] = acc
                        }
                    } catch {
                        slots.value.1[w] = error
                    }
                }
            }
          }
        }
        if let failure = failures.lazy.compactMap({ $0 }).first { throw failure }
        for (r, run) in runs.enumerated() { if let values = keptNow[r] { kept[run.sample] = values } }
        var perCandidate = [[[ErrorAccumulator]]](repeating: [], count: candidates.count)
        for (r, run) in runs.enumerated() { perCandidate[run.candidate].append(results[r]) }
        return perCandidate
    }

    /// Worst output's noise-to-signal ratio over the per-sample accumulators `perSample` taken together.
    static func worst(_ perSample: ArraySlice<[ErrorAccumulator]>) -> Double {
        guard var total = perSample.first else { return 0 }
        for sample in perSample.dropFirst() { for o in total.indices { total[o].merge(sample[o]) } }
        return total.map(\.noiseToSignal).max() ?? 0
    }

    /// Worst output's noise-to-signal ratio of each candidate.
    func noiseToSignal(_ candidates: [Candidate]) throws -> [Double] {
        try errors(candidates).map { Self.worst($0[...]) }
    }

    /// Worst output's noise-to-signal ratio on the first `samples` probe samples (nil: all).
    func noiseToSignal(_ plan: QuantizationPlan, samples: Int? = nil) throws -> Double {
        try noiseToSignal([Candidate(plan: plan, samples: samples)])[0]
    }

    /// Worst output's noise-to-signal ratio on the first `samples` probe samples (nil: all) and on the first `first`
    /// of them, from one run that keeps the values `keeping` on the first `keptOn` samples.
    func noiseToSignal(_ plan: QuantizationPlan, andOnFirst first: Int, keeping: Set<Int> = [],
                       keptOn: Int = 0, samples: Int? = nil) throws -> (all: Double, first: Double) {
        let perSample = try errors([Candidate(plan: plan, samples: samples)], keeping: keeping, onFirst: keptOn)[0]
        return (Self.worst(perSample[...]), Self.worst(perSample.prefix(first)))
    }

    /// Runs `plan` on the probe samples from `fromSample` on only to keep the values `keys` there (no score).
    func keep(_ plan: QuantizationPlan, keys: Set<Int>, fromSample: Int) throws {
        _ = try errors([Candidate(plan: plan, firstSample: fromSample)], keeping: keys, onFirst: inputs.count, counted: false)
    }

    /// The first simulation node whose computation differs between `plan` and `base` (see `SimulatedModel`).
    func firstDifference(_ plan: QuantizationPlan, from base: QuantizationPlan) -> Int {
        simulations[0].firstDifference(plan, from: base)
    }
}
