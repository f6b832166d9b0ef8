import IR
import Interpreter
import Passes
import XCTest

/// ConvBiasFolding: per-channel Add/Sub/Mul/Div after Conv/ConvTranspose/Gemm/MatMul and Mul/Add before a Conv fold
/// into weights and bias. Outputs are compared before/after on seeded random inputs (`assertClose`: float rounding
/// only), including the border pixels of padded convolutions, and the resulting graph shape is checked.
final class ConvBiasFoldingTests: XCTestCase {
    func testConvThenAddThenMulFoldsCompletely() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 3, 6, 6])
        let y = b.node("Conv", [x, b.random("w", [4, 3, 3, 3]), b.random("b", [4])], [ints("pads", [1, 1, 1, 1])])
        let shifted = b.node("Add", [b.random("shift", [1, 4, 1, 1]), y])
        b.output(b.node("Mul", [shifted, b.random("scale", [4, 1, 1])], name: "out"))
        let model = try b.model()
        XCTAssertTrue(try checkEquivalent(ConvBiasFolding(), on: model, inputs: [b.rng.tensor([1, 3, 6, 6])]))
        XCTAssertEqual(opCounts(model), ["Conv": 1])
        XCTAssertEqual(model.graph.outputs[0].name, "out")
    }

    /// Its changes are layer folds (see `PassContext.changeOnlyFoldedIntoLayers`), reported as such.
    func testReportsItsChangesAsLayerFolds() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 3, 6, 6])
        let y = b.node("Conv", [x, b.random("w", [4, 3, 3, 3])])
        b.output(b.node("Mul", [y, b.random("scale", [4, 1, 1])], name: "out"))
        let model = try b.model()
        let context = PassContext(opset: model.defaultOpset)
        XCTAssertFalse(context.changeOnlyFoldedIntoLayers)
        XCTAssertTrue(try ConvBiasFolding().run(on: model, context: context))
        XCTAssertTrue(context.changeOnlyFoldedIntoLayers)
        XCTAssertEqual(opCounts(model), ["Conv": 1])
    }

    func testSubAndDivWithScalarsOnBiaslessConv() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 2, 5, 5])
        let y = b.node("Conv", [x, b.random("w", [3, 2, 3, 3])])
        let centered = b.node("Sub", [y, b.scalar("c", 0.7)])
        b.output(b.node("Div", [centered, b.constant("d", [4], [1])]))
        let model = try b.model()
        XCTAssertTrue(try checkEquivalent(ConvBiasFolding(), on: model, inputs: [b.rng.tensor([1, 2, 5, 5])]))
        XCTAssertEqual(opCounts(model), ["Conv": 1])
    }

    func testGemmThenMulThenAdd() throws {
        let b = ModelBuilder()
        let a = b.input("a", [4, 5])
        let y = b.node("Gemm", [a, b.random("w", [5, 3]), b.random("c", [3])], [float("beta", 2)])
        b.output(b.node("Add", [b.node("Mul", [y, b.random("s", [1, 3])]), b.random("t", [3])]))
        let model = try b.model()
        XCTAssertTrue(try checkEquivalent(ConvBiasFolding(), on: model, inputs: [b.rng.tensor([4, 5])]))
        XCTAssertEqual(opCounts(model), ["Gemm": 1])
    }

    func testMatMulBiasBecomesGemmOnlyForRankTwo() throws {
        let b = ModelBuilder()
        let a = b.input("a", [4, 5])
        b.output(b.node("Add", [b.node("MatMul", [a, b.random("w", [5, 3])]), b.random("bias", [3])]))
        let model = try b.model()
        XCTAssertTrue(try checkEquivalent(ConvBiasFolding(), on: model, inputs: [b.rng.tensor([4, 5])]))
        XCTAssertEqual(opCounts(model), ["Gemm": 1])

        // Rank 3: no Gemm; the Add stays, but a per-column Mul still folds into the weights.
        let r = ModelBuilder()
        let a3 = r.input("a", [2, 4, 5])
        let scaled = r.node("Mul", [r.node("MatMul", [a3, r.random("w", [5, 3])]), r.random("s", [3])])
        r.output(r.node("Add", [scaled, r.random("bias", [3])]))
        let batched = try r.model()
        XCTAssertTrue(try checkEquivalent(ConvBiasFolding(), on: batched, inputs: [r.rng.tensor([2, 4, 5])]))
        XCTAssertEqual(opCounts(batched), ["MatMul": 1, "Add": 1])
    }

    func testMulBeforeGroupedPaddedConvFoldsExactly() throws {
        // Scaling input channels commutes with zero padding, so borders stay exact; group 2 checks the mapping.
        let b = ModelBuilder()
        let x = b.input("x", [1, 4, 6, 5])
        let scaled = b.node("Mul", [x, b.random("s", [1, 4, 1, 1], in: 0.5...2)])
        b.output(b.node("Conv", [scaled, b.random("w", [6, 2, 3, 3]), b.random("b", [6])],
                        [int("group", 2), ints("pads", [1, 1, 1, 1])]))
        let model = try b.model()
        XCTAssertTrue(try checkEquivalent(ConvBiasFolding(), on: model, inputs: [b.rng.tensor([1, 4, 6, 5])]))
        XCTAssertEqual(opCounts(model), ["Conv": 1])
        XCTAssertTrue(model.graph.nodes[0].input(0) === x)
    }

    func testAddBeforeConvFoldsOnlyWithoutPadding() throws {
        for (pads, autoPad, folds) in [([0, 0, 0, 0], nil, true), ([1, 1, 1, 1], nil, false), (nil, "VALID", true),
                                       (nil, "SAME_UPPER", false)] as [([Int]?, String?, Bool)] {
            let b = ModelBuilder()
            let x = b.input("x", [1, 3, 7, 7])
            let shifted = b.node("Sub", [b.node("Add", [b.random("a", [3, 1, 1]), x]), b.random("m", [1, 3, 1, 1])])
            var attributes = [ints("strides", [2, 2])]
            if let pads { attributes.append(ints("pads", pads)) }
            if let autoPad { attributes.append(string("auto_pad", autoPad)) }
            b.output(b.node("Conv", [shifted, b.random("w", [2, 3, 3, 3]), b.random("b", [2])], attributes))
            let model = try b.model()
            let changed = try checkEquivalent(ConvBiasFolding(), on: model, inputs: [b.rng.tensor([1, 3, 7, 7])])
            XCTAssertEqual(changed, folds, "pads \(pads ?? []) auto_pad \(autoPad ?? "-")")
            XCTAssertEqual(opCounts(model), folds ? ["Conv": 1] : ["Add": 1, "Sub": 1, "Conv": 1])
        }
    }

    func testConvTransposeTakesInputScaleButNotShift() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 2, 3, 3])
        let shifted = b.node("Add", [x, b.random("a", [1, 2, 1, 1])])
        let scaled = b.node("Mul", [shifted, b.random("s", [1, 2, 1, 1])])
        b.output(b.node("ConvTranspose", [scaled, b.random("w", [2, 3, 2, 2])], [ints("strides", [2, 2])]))
        let model = try b.model()
        XCTAssertTrue(try checkEquivalent(ConvBiasFolding(), on: model, inputs: [b.rng.tensor([1, 2, 3, 3])]))
        XCTAssertEqual(opCounts(model), ["Add": 1, "ConvTranspose": 1])
    }

    func testNonChannelConstantsAndSharedValuesAreLeftAlone() throws {
        // A constant varying along H, a Conv output with two readers, and a Mul feeding two convs.
        let b = ModelBuilder()
        let x = b.input("x", [1, 2, 4, 4])
        let y = b.node("Conv", [x, b.random("w", [2, 2, 1, 1])])
        let spatial = b.node("Add", [y, b.random("rows", [1, 1, 4, 1])])
        let z = b.node("Conv", [spatial, b.random("w2", [2, 2, 1, 1])])
        let twice = b.node("Mul", [z, b.random("s", [2, 1, 1])])
        let scaled = b.node("Mul", [x, b.random("s2", [1, 2, 1, 1])])
        let c1 = b.node("Conv", [scaled, b.random("w3", [2, 2, 1, 1])])
        let c2 = b.node("Conv", [scaled, b.random("w4", [2, 2, 1, 1])])
        b.output(twice, z, c1, c2)
        let model = try b.model()
        let before = opCounts(model)
        XCTAssertFalse(try checkEquivalent(ConvBiasFolding(), on: model, inputs: [b.rng.tensor([1, 2, 4, 4])]))
        XCTAssertEqual(opCounts(model), before)
    }

    func testScalarShiftBeforePaddedConvBecomesAnExplicitPad() throws {
        // PP-LCNetV3's "learnable affine block": x·s + b (scalars) before a padded depthwise conv.
        for opset: Int64 in [10, 17] {
            let b = ModelBuilder(opset: opset)
            let x = b.input("x", [1, 4, 6, 5])
            let affine = b.node("Add", [b.node("Mul", [b.scalar("s", 0.8), x]), b.constant("t", [2.5], [1])])
            b.output(b.node("Conv", [affine, b.random("w", [4, 1, 3, 3]), b.random("b", [4])],
                            [int("group", 4), ints("pads", [1, 2, 1, 0]), ints("strides", [2, 1])]))
            let model = try b.model()
            XCTAssertTrue(try checkEquivalent(ConvBiasFolding(), on: model, inputs: [b.rng.tensor([1, 4, 6, 5], in: -4...4)]))
            XCTAssertEqual(opCounts(model), ["Pad": 1, "Conv": 1], "opset \(opset)")
            let conv = try XCTUnwrap(model.graph.nodes.last)
            XCTAssertEqual(conv.attribute("pads")?.ints, [0, 0, 0, 0])
            XCTAssertTrue(model.graph.nodes[0].input(0) === x)
        }
    }

    func testScaleThroughAnExistingPad() throws {
        // Zero fill: any per-channel scale passes; non-zero fill: only a scale equal on all channels.
        for (fill, scale, folds) in [(Float(0), [Float(0.5), 2, -1], true), (1.5, [2, 2, 2], true), (1.5, [0.5, 2, -1], false)] {
            let b = ModelBuilder(opset: 13)
            let x = b.input("x", [1, 3, 4, 4])
            let scaled = b.node("Mul", [x, b.constant("s", scale, [3, 1, 1])])
            let padded = b.node("Pad", [scaled, b.int64s("pads", [0, 0, 1, 1, 0, 0, 2, 1]), b.scalar("fill", fill)])
            b.output(b.node("Conv", [padded, b.random("w", [2, 3, 3, 3])]))
            let model = try b.model()
            XCTAssertEqual(try checkEquivalent(ConvBiasFolding(), on: model, inputs: [b.rng.tensor([1, 3, 4, 4])]), folds)
            XCTAssertEqual(opCounts(model), folds ? ["Pad": 1, "Conv": 1] : ["Mul": 1, "Pad": 1, "Conv": 1], "fill \(fill) scale \(scale)")
        }
    }

    func testReadersInsideSubgraphsAreNotAbsorbed() throws {
        // The conv output's only reader is an Add inside an If branch: it must stay there.
        let b = ModelBuilder()
        let x = b.input("x", [1, 2, 3, 3])
        let cond = b.input("cond", [], .bool)
        let y = b.node("Conv", [x, b.random("w", [2, 2, 1, 1])])
        let thenBranch = Graph(name: "then")
        let thenOut = Value(name: "then_out")
        let shift = Value(name: "shift", initializer: Tensor(floats: [1, 2], shape: [1, 2, 1, 1]))
        thenBranch.initializers = [shift]
        thenBranch.append(Node("Add", name: "inner_add", inputs: [y, shift], outputs: [thenOut]))
        thenBranch.outputs = [thenOut]
        let elseBranch = Graph(name: "else")
        let elseOut = Value(name: "else_out")
        elseBranch.append(Node("Neg", name: "inner_neg", inputs: [x], outputs: [elseOut]))
        elseBranch.outputs = [elseOut]
        b.output(b.node("If", [cond], [Attribute("then_branch", .graph(thenBranch)), Attribute("else_branch", .graph(elseBranch))]))
        let model = try b.model()
        let condition = Tensor(.bool, shape: [], values: [UInt8(1)])
        XCTAssertFalse(try checkEquivalent(ConvBiasFolding(), on: model, inputs: [b.rng.tensor([1, 2, 3, 3]), condition]))
        XCTAssertEqual(thenBranch.nodes.map(\.opType), ["Add"])
    }

    /// Mul then Add before unpadded convolutions of the shapes whose bias sums and weight rewrites take the paired
    /// (SIMD) loops: depthwise 3×3 with an odd channel count (row pairs plus a last row), 1×1 group 1 with 6 outputs
    /// (four rows at once plus two), 3×3 group 1 with 3 inputs (column pairs plus a last column), and grouped 1×1
    /// (rows of different groups in one block of four, the scalar path).
    func testMulAddBeforeConvMatchesForEveryLoopShape() throws {
        let cases: [(channels: Int, outputs: Int, kernel: Int, group: Int)] = [(5, 5, 3, 5), (4, 6, 1, 1), (3, 4, 3, 1), (4, 6, 1, 2)]
        for (c, m, k, group) in cases {
            let b = ModelBuilder()
            let x = b.input("x", [1, c, 5, 6])
            let scaled = b.node("Mul", [x, b.random("s", [1, c, 1, 1], in: 0.5...2)])
            let shifted = b.node("Add", [scaled, b.random("a", [1, c, 1, 1])])
            b.output(b.node("Conv", [shifted, b.random("w", [m, c / group, k, k]), b.random("b", [m])], [int("group", group)]))
            let model = try b.model()
            XCTAssertTrue(try checkEquivalent(ConvBiasFolding(), on: model, inputs: [b.rng.tensor([1, c, 5, 6])]),
                          "channels \(c), outputs \(m), kernel \(k), group \(group)")
            XCTAssertEqual(opCounts(model), ["Conv": 1], "channels \(c), outputs \(m), kernel \(k), group \(group)")
        }
    }
}
