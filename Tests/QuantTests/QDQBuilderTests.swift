import Foundation
import IR
import Interpreter
import ONNXFormat
import Quant
import XCTest

/// Quantization points, the two QDQ forms and the quantizer end to end on a small convolutional model.
final class QDQBuilderTests: XCTestCase {
    func quantized(_ model: Model, samples: Int = 6) throws -> QuantizationResult {
        var configuration = QuantizerConfiguration()
        configuration.mixedPrecision.enabled = false
        configuration.holdout = 0
        configuration.threads = 1
        return try Quantizer(model: model, configuration: configuration).run(try randomDataset(for: model, count: samples))
    }

    func testPointsFollowTheHTPsFusions() {
        let model = TestModels.convNet()
        let points = QuantizationPoints(model: model)
        // conv1 → relu fuses (no encoding on c1); the reshape output shares m2's encoding.
        XCTAssertEqual(points.activations.map(\.name), ["x", "r1", "c2", "m2"])
        XCTAssertEqual(points.weights.map { $0.node.name }, ["conv1", "conv2"])
        XCTAssertEqual(points.weights.map(\.axis), [0, 0])
        XCTAssertEqual(points.biases.count, 2)
        XCTAssertEqual(points.constants.map { $0.node.name }, ["mul"])
        let y = model.graph.outputs[0]
        XCTAssertEqual(points.point(for: y)?.name, "m2")
    }

    func testConstantNodesAreLiftedToWeights() throws {
        let model = TestModels.convNet()
        // Move w1 into a Constant node, as paddle2onnx exports do.
        let w1 = try XCTUnwrap(model.graph.initializer(named: "w1"))
        model.graph.initializers.removeAll { $0 === w1 }
        let constant = Node("Constant", name: "w1_const", outputs: [w1], attributes: [Attribute("value", .tensor(w1.initializer!))])
        w1.initializer = nil
        model.graph.insert(constant, before: model.graph.nodes[0])
        XCTAssertEqual(QuantizationPoints(model: model).weights.count, 1)
        XCTAssertEqual(ConstantNodeLifting.run(on: model), 1)
        XCTAssertEqual(QuantizationPoints(model: model).weights.map { $0.node.name }, ["conv1", "conv2"])
        try Verifier.verify(model)
    }

    func testSimulationAndQDQFormsComputeTheSameNumbers() throws {
        let model = TestModels.convNet()
        let result = try quantized(model)
        let qdq = try result.qdqModel()
        try Verifier.verify(qdq)
        XCTAssertEqual(qdq.defaultOpset, 13)  // per-channel DequantizeLinear needs axis
        XCTAssertEqual(qdq.graph.outputs.map(\.name), ["y"])
        XCTAssertEqual(qdq.graph.inputs.map(\.name), ["x"])
        let ops = qdq.graph.nodes.map(\.opType)
        XCTAssertEqual(ops.filter { $0 == "QuantizeLinear" }.count, 4)
        // 4 activations + 2 weights + 2 biases + 1 constant operand.
        XCTAssertEqual(ops.filter { $0 == "DequantizeLinear" }.count, 9)
        let bias = try XCTUnwrap(qdq.graph.initializers.first { $0.name == "b1_quantized" }?.initializer)
        XCTAssertEqual(bias.elementType, .int32)
        let simulated = try QDQBuilder.build(model, plan: result.plan, form: .simulation)
        // A sample from the calibration distribution (seeded random pixels).
        let x = try randomDataset(for: model, count: 7).load(6)[0]
        let a = try Interpreter(model: qdq, threads: 1).run([x])[0].floatValues()
        let b = try Interpreter(model: simulated, registry: .simulation, threads: 1).run([x])[0].floatValues()
        XCTAssertEqual(a, b)
        // And the quantized model is close to, but not equal to, the float one.
        let f = try Interpreter(model: model, threads: 1).run([x])[0].floatValues()
        XCTAssertNotEqual(a, f)
        var acc = ErrorAccumulator()
        f.withUnsafeBufferPointer { r in a.withUnsafeBufferPointer { q in acc.add(reference: r, candidate: q) } }
        XCTAssertGreaterThan(acc.sqnr, 20)
    }

    func testSixteenBitPlanRaisesOpsetAndStoresSixteenBitCodes() throws {
        let model = TestModels.convNet(opset: 11)
        let result = try quantized(model)
        let builder = PlanBuilder(points: result.points, statistics: try calibration(model), options: QuantizationOptions())
        let plan = builder.plan(activationBits: [16, 8, 16, 8], weightBits: [16, 8])
        let qdq = try QDQBuilder.build(model, plan: plan, form: .onnx)
        XCTAssertEqual(qdq.defaultOpset, 21)
        XCTAssertTrue(qdq.graph.initializers.contains { $0.initializer?.elementType == .int16 })
        XCTAssertTrue(qdq.graph.initializers.contains { $0.initializer?.elementType == .uint16 })
        try Verifier.verify(qdq)
        // Round trip through the ONNX writer and reader, then run.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mcc-qdq-\(getpid()).onnx").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ONNXWriter.write(qdq, to: path)
        let reloaded = try ONNXReader.load(path: path)
        let out = try Interpreter(model: reloaded, threads: 1).run([TestModels.input(seed: 1)])[0]
        XCTAssertEqual(out.shape, [1, 128])
    }

    func calibration(_ model: Model) throws -> CalibrationStatistics {
        let points = QuantizationPoints(model: model)
        return try Calibrator(model: model, points: points, options: QuantizationOptions(), threads: 1)
            .run(try randomDataset(for: model, count: 4), indices: [0, 1, 2, 3])
    }

    func testBiasCorrectionRestoresOutputChannelMeans() throws {
        // Weight rounding shifts each output channel's mean by (Ŵ − W)·E[x]; with correction the simulated conv1
        // output mean moves back toward float. Checked on conv2's output (c2) over the calibration samples.
        let model = TestModels.convNet()
        let statistics = try calibration(model)
        let points = QuantizationPoints(model: model)
        var options = QuantizationOptions()
        options.weightBits = 8
        options.biasCorrection = true
        let corrected = PlanBuilder(points: points, statistics: statistics, options: options).plan()
        XCTAssertTrue(corrected.biasValues.allSatisfy { $0 != nil })
        options.biasCorrection = false
        let plain = PlanBuilder(points: points, statistics: statistics, options: options).plan()
        XCTAssertTrue(plain.biasValues.allSatisfy { $0 == nil })
        // The correction is (Ŵ − W)·mean(x) for conv2, whose input means are known; recompute one channel by hand.
        let w = try XCTUnwrap(model.graph.initializer(named: "w2")?.initializer).floatValues()
        let b = try XCTUnwrap(model.graph.initializer(named: "b2")?.initializer).floatValues()
        let r1 = try XCTUnwrap(model.graph.nodes.first { $0.name == "relu1" }?.outputs[0])
        let means = try XCTUnwrap(statistics.channelMeans[ObjectIdentifier(r1)])
        let e = corrected.weightEncodings[1]
        let rounded = FakeQuantize.apply(e, to: Tensor(floats: w, shape: [2, 4, 1, 1])).floatValues()
        let shift = (0..<4).reduce(0.0) { $0 + Double(rounded[$1] - w[$1]) * means[$1] }
        XCTAssertEqual(Double(try XCTUnwrap(corrected.biasValues[1])[0]), Double(b[0]) - shift, accuracy: 1e-5)
    }

    func testQuantizationIsDeterministic() throws {
        let model = TestModels.convNet()
        let a = try quantized(model).qdqModel(), b = try quantized(model).qdqModel()
        let dir = FileManager.default.temporaryDirectory
        let pa = dir.appendingPathComponent("mcc-det-a-\(getpid()).onnx").path, pb = dir.appendingPathComponent("mcc-det-b-\(getpid()).onnx").path
        defer { try? FileManager.default.removeItem(atPath: pa); try? FileManager.default.removeItem(atPath: pb) }
        try ONNXWriter.write(a, to: pa)
        try ONNXWriter.write(b, to: pb)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: pa)), try Data(contentsOf: URL(fileURLWithPath: pb)))
    }

    func testReportComparesEveryPointAndOutput() throws {
        let model = TestModels.convNet()
        var configuration = QuantizerConfiguration()
        configuration.mixedPrecision.enabled = false
        configuration.holdout = 2
        let result = try Quantizer(model: model, configuration: configuration).run(try randomDataset(for: model, count: 8))
        let report = try XCTUnwrap(result.report)
        XCTAssertEqual(report.samples.count, 2)
        XCTAssertFalse(report.samplesInCalibration)
        XCTAssertEqual(report.layers.map(\.name), ["x", "r1", "c2", "m2"])
        XCTAssertEqual(report.outputs.map(\.name), ["y"])
        XCTAssertTrue(report.layers.allSatisfy { $0.sqnrDB > 10 && $0.cosine > 0.9 })
        XCTAssertFalse(report.worstLayers.isEmpty)
        let json = try JSONSerialization.jsonObject(with: report.json()) as? [String: Any]
        XCTAssertNotNil(json?["layers"])
        XCTAssertTrue(report.table().contains("worst layers"))
        XCTAssertTrue(report.html().contains("<svg"))
    }

    func testMixedPrecisionReachesTargetWithSixteenBitPoints() throws {
        let model = TestModels.convNet()
        let dataset = try randomDataset(for: model, count: 6)
        func run(target: Double) throws -> QuantizationResult {
            var configuration = QuantizerConfiguration()
            configuration.holdout = 0
            configuration.report = false
            configuration.mixedPrecision.targetSQNR = target
            configuration.mixedPrecision.probeSamples = 3
            return try Quantizer(model: model, configuration: configuration).run(dataset)
        }
        // An unreachable target ends at all 16 bits and tells the 8- and 16-bit levels.
        let extremes = try XCTUnwrap(try run(target: 1000).mixedPrecision)
        XCTAssertGreaterThan(extremes.probeSQNRAfter, extremes.probeSQNRBefore + 20)
        // A target a little above the 8-bit level raises some points, not all.
        let target = extremes.probeSQNRBefore + 3
        let result = try run(target: target)
        let summary = try XCTUnwrap(result.mixedPrecision)
        XCTAssertGreaterThanOrEqual(summary.probeSQNRAfter, target)
        XCTAssertTrue(result.plan.activationBits.contains(16) || result.plan.weightBits.contains(16))
        XCTAssertTrue(result.plan.activationBits.contains(8) || result.plan.weightBits.contains(8), "not everything needs 16 bits")
        // Every 16-bit weight reads a 16-bit activation.
        for (j, w) in result.points.weights.enumerated() where result.plan.weightBits[j] == 16 {
            let i = try XCTUnwrap(result.points.activations.firstIndex { $0 === w.activation })
            XCTAssertEqual(result.plan.activationBits[i], 16)
        }
    }

    func testSearchOnKeptCalibrationOutputsEqualsSearchOnReloadedSamples() throws {
        // The quantizer keeps the probe samples' inputs and float outputs from the calibration pass; the search must
        // decide exactly as it does when it loads and runs those samples itself.
        let model = TestModels.convNet()
        let dataset = try randomDataset(for: model, count: 6)
        let options = QuantizationOptions()
        let points = QuantizationPoints(model: model)
        XCTAssertGreaterThan(points.staticElementsPerSample, 0)
        let calibrator = try Calibrator(model: model, points: points, options: options, threads: 1)
        let statistics = try calibrator.run(dataset, indices: Array(0..<6), keeping: [1, 4])
        XCTAssertEqual(statistics.kept.keys.sorted(), [1, 4])
        let reference = try Interpreter(model: model, threads: 1).run(try dataset.load(4))
        XCTAssertEqual(try XCTUnwrap(statistics.kept[4]).outputs.map { $0.floatValues() }, reference.map { $0.floatValues() })
        let builder = PlanBuilder(points: points, statistics: statistics, options: options)
        var search = MixedPrecisionOptions()
        search.targetSQNR = 1000
        let levels = try MixedPrecision(model: model, builder: builder, options: search, threads: 1)
            .run(dataset: dataset, probe: [1, 4], initial: builder.plan(), kept: statistics.kept).1
        // A target between the 8- and 16-bit levels walks the whole search (segments and budget rounds).
        search.targetSQNR = levels.probeSQNRBefore + 3
        let mixed = MixedPrecision(model: model, builder: builder, options: search, threads: 1)
        let kept = try mixed.run(dataset: dataset, probe: [1, 4], initial: builder.plan(), kept: statistics.kept)
        let reloaded = try mixed.run(dataset: dataset, probe: [1, 4], initial: builder.plan())
        XCTAssertEqual(kept.0.activationBits, reloaded.0.activationBits)
        XCTAssertEqual(kept.0.weightBits, reloaded.0.weightBits)
        XCTAssertEqual(kept.1.probeSQNRAfter, reloaded.1.probeSQNRAfter)
        XCTAssertEqual(kept.1.probeSQNRBefore, reloaded.1.probeSQNRBefore)
        XCTAssertEqual(kept.1.probeSamples, 2)
    }
}
