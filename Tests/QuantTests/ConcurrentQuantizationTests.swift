import Foundation
import IR
import Interpreter
import Quant
import XCTest

/// Calibration and the 16-bit search spread work over cores and resume simulated runs part-way; none of that may
/// change a single bit of what they compute.
final class ConcurrentQuantizationTests: XCTestCase {
    func statistics(_ model: Model, threads: Int, observer: ObserverKind, count: Int) throws -> CalibrationStatistics {
        var options = QuantizationOptions()
        options.observer = observer
        options.biasCorrection = true
        let points = QuantizationPoints(model: model)
        return try Calibrator(model: model, points: points, options: options, threads: threads)
            .run(try randomDataset(for: model, count: count), indices: Array(0..<count), keeping: [2])
    }

    func testConcurrentCalibrationEqualsSequential() throws {
        // An odd sample count leaves the last round short; 3 runners check the round bookkeeping beyond pairs.
        let model = TestModels.convNet()
        for observer in ObserverKind.allCases {
            let one = try statistics(model, threads: 1, observer: observer, count: 7)
            for threads in [2, 3] {
                let many = try statistics(model, threads: threads, observer: observer, count: 7)
                XCTAssertEqual(one.observers.count, many.observers.count)
                for (a, b) in zip(one.observers, many.observers) {
                    XCTAssertEqual(a.observedRange, b.observedRange, "\(observer)")
                    XCTAssertEqual(a.range(bits: 8, symmetric: false), b.range(bits: 8, symmetric: false), "\(observer)")
                    XCTAssertEqual(a.range(bits: 8, symmetric: true), b.range(bits: 8, symmetric: true), "\(observer)")
                }
                XCTAssertEqual(one.meanSquares, many.meanSquares)
                XCTAssertEqual(one.elementsPerSample, many.elementsPerSample)
                XCTAssertEqual(one.halfwayRanges, many.halfwayRanges)
                XCTAssertEqual(one.channelMeans, many.channelMeans)
                XCTAssertFalse(many.channelMeans.isEmpty)
                XCTAssertEqual(many.kept.keys.sorted(), [2])
                XCTAssertEqual(one.kept[2]?.outputs.map { $0.floatValues() }, many.kept[2]?.outputs.map { $0.floatValues() })
            }
        }
    }

    func testResumedSimulationEqualsFullRun() throws {
        let model = TestModels.convNet()
        let points = QuantizationPoints(model: model)
        let statistics = try self.statistics(model, threads: 1, observer: .mse, count: 4)
        let builder = PlanBuilder(points: points, statistics: statistics, options: QuantizationOptions())
        let base = builder.plan(activationBits: Array(repeating: 16, count: points.activations.count),
                                weightBits: Array(repeating: 16, count: points.weights.count))
        // Dropping only the last activation point (and the last weight) to 8 bits changes the graph's end.
        var aBits = Array(repeating: 16, count: points.activations.count)
        aBits[aBits.count - 1] = 8
        var wBits = Array(repeating: 16, count: points.weights.count)
        wBits[wBits.count - 1] = 8
        let candidate = builder.plan(activationBits: aBits, weightBits: wBits)
        let simulation = try SimulatedModel(floatModel: model, plan: base)
        let start = simulation.firstDifference(candidate, from: base)
        XCTAssertGreaterThan(start, 0)
        XCTAssertEqual(simulation.firstDifference(base, from: base), simulation.firstDifference(candidate, from: candidate))
        let keys = Set(simulation.liveKeys(at: start).map(\.key))
        XCTAssertFalse(keys.isEmpty)
        let x = [TestModels.input(seed: 9)]
        let (baseOutputs, kept) = try simulation.run(x, keeping: keys)
        XCTAssertEqual(Set(kept.keys), keys)
        XCTAssertEqual(baseOutputs.map { $0.floatValues() }, try simulation.run(x).map { $0.floatValues() })
        try simulation.apply(candidate)
        let full = try simulation.run(x)
        // A second simulation resumes from the first one's kept values: keys name the same values in both.
        let other = try SimulatedModel(floatModel: model, plan: candidate)
        let resumed = try other.run(x, resumingAt: start, with: kept)
        XCTAssertEqual(full.map { $0.floatValues() }, resumed.map { $0.floatValues() })
        XCTAssertNotEqual(full.map { $0.floatValues() }, baseOutputs.map { $0.floatValues() })
        // Resuming before the first change equals the full run too.
        let early = Set(simulation.liveKeys(at: 1).map(\.key))
        let (_, keptEarly) = try SimulatedModel(floatModel: model, plan: base).run(x, keeping: early)
        XCTAssertEqual(full.map { $0.floatValues() }, try other.run(x, resumingAt: 1, with: keptEarly).map { $0.floatValues() })
    }

    func testSearchIsTheSameOnAnyNumberOfCoresAndWithoutResumption() throws {
        let (model, dataset, builder, levels) = try searchFixture()
        var search = MixedPrecisionOptions()
        // Between the 8- and 16-bit levels the search walks segments and budget rounds.
        search.targetSQNR = levels.probeSQNRBefore + 3
        search.sensitivitySamples = 2
        var results: [(QuantizationPlan, MixedPrecisionSummary)] = []
        for (threads, budget) in [(1, 0), (1, 64 << 20), (2, 64 << 20), (3, 0)] {
            var options = search
            options.resumptionBytes = budget
            results.append(try MixedPrecision(model: model, builder: builder, options: options, threads: threads)
                .run(dataset: dataset, probe: [1, 3, 4], initial: builder.plan()))
        }
        XCTAssertGreaterThan(results[0].1.evaluations, 4)
        for r in results.dropFirst() {
            XCTAssertEqual(r.0.activationBits, results[0].0.activationBits)
            XCTAssertEqual(r.0.weightBits, results[0].0.weightBits)
            XCTAssertEqual(r.0.activationEncodings, results[0].0.activationEncodings)
            XCTAssertEqual(r.1.probeSQNRBefore, results[0].1.probeSQNRBefore)
            XCTAssertEqual(r.1.probeSQNRAfter, results[0].1.probeSQNRAfter)
            XCTAssertEqual(r.1.evaluations, results[0].1.evaluations)
        }
    }

    /// An all-8-bit plan on target on the sensitivity samples is confirmed on the whole probe and returned
    /// untouched, with one runner or several.
    func testOnTargetAllEightBitPlanIsKeptWhateverTheRunners() throws {
        let (model, dataset, builder, levels) = try searchFixture()
        var search = MixedPrecisionOptions()
        // Well below the all-8-bit level: the search must return the 8-bit plan untouched.
        search.targetSQNR = levels.probeSQNRBefore - 6
        search.sensitivitySamples = 2
        let initial = builder.plan()
        var results: [(QuantizationPlan, MixedPrecisionSummary)] = []
        for threads in [1, 2] {
            results.append(try MixedPrecision(model: model, builder: builder, options: search, threads: threads)
                .run(dataset: dataset, probe: [1, 3, 4], initial: initial))
        }
        for r in results {
            XCTAssertEqual(r.0.activationBits, initial.activationBits)
            XCTAssertEqual(r.0.weightBits, initial.weightBits)
            XCTAssertTrue(r.1.promotedActivations.isEmpty && r.1.promotedWeights.isEmpty)
            XCTAssertEqual(r.1.probeSQNRBefore, results[0].1.probeSQNRBefore)
        }
        // All-8-bit on the sensitivity samples, then on the whole probe; nothing else.
        for r in results { XCTAssertEqual(r.1.evaluations, 2) }
    }

    /// convNet calibrated on 6 random samples, its plan builder, and the all-8-bit / all-16-bit probe levels
    /// (a search whose target no plan reaches) on probe samples 1, 3, 4.
    private func searchFixture() throws -> (Model, CalibrationDataset, PlanBuilder, MixedPrecisionSummary) {
        let model = TestModels.convNet()
        let dataset = try randomDataset(for: model, count: 6)
        let points = QuantizationPoints(model: model)
        let statistics = try Calibrator(model: model, points: points, options: QuantizationOptions(), threads: 1)
            .run(dataset, indices: Array(0..<6))
        let builder = PlanBuilder(points: points, statistics: statistics, options: QuantizationOptions())
        var search = MixedPrecisionOptions()
        search.targetSQNR = 1000
        let levels = try MixedPrecision(model: model, builder: builder, options: search, threads: 1)
            .run(dataset: dataset, probe: [1, 3, 4], initial: builder.plan()).1
        return (model, dataset, builder, levels)
    }
}
