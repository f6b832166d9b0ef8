import IR
import Interpreter
import Passes
import XCTest

/// BatchNormFolding: BN after Conv / ConvTranspose (grouped too) / Gemm / MatMul folds into the layer; elsewhere it
/// becomes Mul + Add. Each case compares interpreter outputs before and after on seeded random inputs (tolerance:
/// `assertClose`, float rounding of the once-rounded folded weights) and checks the resulting graph.
final class BatchNormFoldingTests: XCTestCase {
    /// BN parameters with var in [0.1, 2] (positive) and epsilon 1e-3 so a = scale/sqrt(var+eps) is well scaled.
    private func batchNorm(_ b: ModelBuilder, _ x: Value, channels c: Int, attributes: [Attribute] = []) -> Value {
        b.node("BatchNormalization", [x, b.random("gamma", [c]), b.random("beta", [c]), b.random("mean", [c]),
                                      b.random("var", [c], in: 0.1...2)], [float("epsilon", 1e-3)] + attributes, name: "bn")
    }

    func testConvFollowedByBatchNormFoldsIntoWeightsAndBias() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 3, 7, 6])
        let y = b.node("Conv", [x, b.random("w", [4, 3, 3, 3]), b.random("b", [4])], [ints("pads", [1, 1, 1, 1])])
        b.output(batchNorm(b, y, channels: 4))
        let model = try b.model()
        XCTAssertTrue(try checkEquivalent(BatchNormFolding(), on: model, inputs: [b.rng.tensor([1, 3, 7, 6])]))
        XCTAssertEqual(opCounts(model), ["Conv": 1])
        XCTAssertEqual(model.graph.outputs[0].name, "bn", "the BN's output name stays the graph output")
        XCTAssertFalse(model.graph.initializers.contains { ["gamma", "beta", "mean", "var", "w", "b"].contains($0.name) },
                       "dead parameters are dropped")
    }

    func testGroupedConvWithoutBiasAndConstantNodeWeights() throws {
        let b = ModelBuilder()
        let x = b.input("x", [2, 4, 5, 5])
        let y = b.node("Conv", [x, b.constantNode("w", [6, 2, 3, 3])], [int("group", 2), ints("strides", [2, 2])])
        b.output(batchNorm(b, y, channels: 6))
        let model = try b.model()
        XCTAssertTrue(try checkEquivalent(BatchNormFolding(), on: model, inputs: [b.rng.tensor([2, 4, 5, 5])]))
        XCTAssertEqual(opCounts(model), ["Conv": 1], "BN and the weight's Constant node are gone")
        XCTAssertEqual(model.graph.nodes[0].inputs.count, 3, "a bias was added")
    }

    func testGroupedConvTransposeScalesTheRightWeights() throws {
        // W [C_in=4, C_out/group=3, 3, 3], group 2 → 6 output channels; a wrong channel mapping changes results.
        let b = ModelBuilder()
        let x = b.input("x", [1, 4, 4, 5])
        let y = b.node("ConvTranspose", [x, b.random("w", [4, 3, 3, 3]), b.random("b", [6])],
                       [int("group", 2), ints("strides", [2, 2]), ints("pads", [1, 1, 0, 0])])
        b.output(batchNorm(b, y, channels: 6))
        let model = try b.model()
        XCTAssertTrue(try checkEquivalent(BatchNormFolding(), on: model, inputs: [b.rng.tensor([1, 4, 4, 5])]))
        XCTAssertEqual(opCounts(model), ["ConvTranspose": 1])
    }

    func testGemmWithTransposedWeightsAndBeta() throws {
        let b = ModelBuilder()
        let a = b.input("a", [3, 5])
        let y = b.node("Gemm", [a, b.random("w", [6, 5]), b.random("c", [1, 6])],
                       [int("transB", 1), float("beta", 0.5), float("alpha", 1.5)])
        b.output(batchNorm(b, y, channels: 6))
        let model = try b.model()
        XCTAssertTrue(try checkEquivalent(BatchNormFolding(), on: model, inputs: [b.rng.tensor([3, 5])]))
        XCTAssertEqual(opCounts(model), ["Gemm": 1])
        XCTAssertEqual(model.graph.nodes[0].attribute("beta")?.float, 1)
    }

    func testRankTwoMatMulBecomesGemm() throws {
        let b = ModelBuilder()
        let a = b.input("a", [3, 5])
        b.output(batchNorm(b, b.node("MatMul", [a, b.random("w", [5, 4])]), channels: 4))
        let model = try b.model()
        XCTAssertTrue(try checkEquivalent(BatchNormFolding(), on: model, inputs: [b.rng.tensor([3, 5])]))
        XCTAssertEqual(opCounts(model), ["Gemm": 1])
    }

    func testStandaloneBatchNormBecomesMulAdd() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 3, 4, 4])
        b.output(batchNorm(b, b.node("Relu", [x]), channels: 3))
        let model = try b.model()
        XCTAssertTrue(try checkEquivalent(BatchNormFolding(), on: model, inputs: [b.rng.tensor([1, 3, 4, 4])]))
        XCTAssertEqual(opCounts(model), ["Relu": 1, "Mul": 1, "Add": 1])
        XCTAssertEqual(model.graph.nodes.last?.outputs.first?.name, "bn")
        let scale = model.graph.nodes[1].input(1)?.initializer
        XCTAssertEqual(scale?.shape, [1, 3, 1, 1])
    }

    /// A change that only folded BNs into layers is reported as such (the pass manager keeps passes unaffected
    /// by layer folds idle); one that lowered a BN to Mul/Add is not.
    func testReportsWhetherItOnlyFoldedIntoLayers() throws {
        for standalone in [false, true] {
            let b = ModelBuilder()
            let x = b.input("x", [1, 3, 4, 4])
            let y = standalone ? b.node("Relu", [x]) : b.node("Conv", [x, b.random("w", [3, 3, 1, 1])])
            b.output(batchNorm(b, y, channels: 3))
            let model = try b.model()
            let context = PassContext(opset: model.defaultOpset)
            XCTAssertTrue(try BatchNormFolding().run(on: model, context: context))
            XCTAssertEqual(context.changeOnlyFoldedIntoLayers, !standalone)
        }
    }

    func testConvWithAnotherReaderIsNotFolded() throws {
        // The conv output is also a graph output: folding would change it, so the BN is lowered instead.
        let b = ModelBuilder()
        let x = b.input("x", [1, 2, 5, 5])
        let y = b.node("Conv", [x, b.random("w", [3, 2, 1, 1])])
        b.output(batchNorm(b, y, channels: 3), y)
        let model = try b.model()
        let weights = model.graph.nodes[0].input(1)
        XCTAssertTrue(try checkEquivalent(BatchNormFolding(), on: model, inputs: [b.rng.tensor([1, 2, 5, 5])]))
        XCTAssertEqual(opCounts(model), ["Conv": 1, "Mul": 1, "Add": 1])
        XCTAssertTrue(model.graph.nodes[0].input(1) === weights, "the conv keeps its weights")
    }

    func testNonConstantOrTrainingBatchNormIsLeftAlone() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 2, 3, 3])
        let gamma = b.input("gamma", [2])
        let y = b.node("Conv", [x, b.random("w", [2, 2, 1, 1])])
        let out = b.node("BatchNormalization", [y, gamma, b.random("beta", [2]), b.random("mean", [2]),
                                                b.random("var", [2], in: 0.1...1)])
        b.output(out)
        let model = try b.model()
        XCTAssertFalse(try BatchNormFolding().run(on: model, context: PassContext(opset: 17)))

        let t = ModelBuilder()
        let tx = t.input("x", [1, 2, 3, 3])
        t.output(t.node("BatchNormalization", [t.node("Conv", [tx, t.random("w", [2, 2, 1, 1])]), t.random("g", [2]),
                                               t.random("b", [2]), t.random("m", [2]), t.random("v", [2], in: 0.1...1)],
                        [int("training_mode", 1)]))
        let training = try t.model()
        XCTAssertFalse(try BatchNormFolding().run(on: training, context: PassContext(opset: 17)))
        XCTAssertEqual(opCounts(training)["BatchNormalization"], 1)
    }

    /// New parameter names avoid every existing name (here taken by an unused initializer and by a node output in
    /// the way), including the "_1" candidate that follows a taken one.
    func testFoldedParametersGetNamesNotTakenAnywhere() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 3, 5, 5])
        let y = b.node("Conv", [x, b.random("w", [4, 3, 1, 1]), b.random("b", [4])], name: "conv")
        let bn = batchNorm(b, y, channels: 4)
        let other = b.node("Relu", [x], name: "conv_weight_folded")
        b.random("conv_weight_folded_1", [1])
        b.random("conv_bias_folded", [1])
        b.output(bn, other)
        let model = try b.model()
        XCTAssertTrue(try checkEquivalent(BatchNormFolding(), on: model, inputs: [b.rng.tensor([1, 3, 5, 5])]))
        let conv = try XCTUnwrap(model.graph.nodes.first { $0.opType == "Conv" })
        XCTAssertEqual(conv.input(1)?.name, "conv_weight_folded_2")
        XCTAssertEqual(conv.input(2)?.name, "conv_bias_folded_1")
        var names: [String] = model.graph.initializers.map(\.name) + model.graph.inputs.map(\.name)
        for node in model.graph.nodes { names += node.outputs.map(\.name) }
        XCTAssertEqual(Set(names).count, names.count, "every value name is unique")
    }
}

/// Rule 5: a positive BN scale moves through Relu/LeakyRelu into the conv; only the shift stays (oww_embedding).
final class BatchNormThroughActivationTests: XCTestCase {
    func testPositiveScaleGoesThroughLeakyReluIntoConv() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 3, 5, 5])
        let y = b.node("LeakyRelu", [b.node("Conv", [x, b.random("w", [4, 3, 3, 3])])], [float("alpha", 0.2)])
        b.output(b.node("BatchNormalization", [y, b.random("gamma", [4], in: 0.5...2), b.random("beta", [4]),
                                               b.random("mean", [4]), b.random("var", [4], in: 0.1...2)], name: "bn"))
        let model = try b.model()
        XCTAssertTrue(try checkEquivalent(BatchNormFolding(), on: model, inputs: [b.rng.tensor([1, 3, 5, 5])]))
        XCTAssertEqual(opCounts(model), ["Conv": 1, "LeakyRelu": 1, "Add": 1])
    }

    func testNegativeScaleCannotPassTheActivation() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 3, 5, 5])
        let y = b.node("Relu", [b.node("Conv", [x, b.random("w", [4, 3, 3, 3])])])
        b.output(b.node("BatchNormalization", [y, b.constant("gamma", [1, -1, 1, 1], [4]), b.random("beta", [4]),
                                               b.random("mean", [4]), b.random("var", [4], in: 0.1...2)], name: "bn"))
        let model = try b.model()
        XCTAssertTrue(try checkEquivalent(BatchNormFolding(), on: model, inputs: [b.rng.tensor([1, 3, 5, 5])]))
        XCTAssertEqual(opCounts(model), ["Conv": 1, "Relu": 1, "Mul": 1, "Add": 1])
    }
}
