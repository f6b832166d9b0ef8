import IR
import Interpreter
import Passes
import XCTest

/// NormalizationFolding: the folded model on raw pixels x must equal the original model on
/// y = (reverse?(x) − mean) / scale (mean/scale in the source channel order), computed here independently.
///
/// Tolerance (`assertClose`, 1e-5 of the output scale): the fold moves 1/scale into the weights and mean into the
/// bias, so the folded conv sums products of raw pixels (≤ 255) with weights/scale; for these ≤ 27-tap convs that is
/// ≲ 27·(255/58)·|W| ≈ 120 in absolute terms before cancelling against the bias, i.e. ~1e-5 absolute float rounding,
/// below 1e-5·max|ref| for outputs of magnitude ≥ 1.
final class NormalizationFoldingTests: XCTestCase {
    static let imagenetMean: [Float] = [123.675, 116.28, 103.53]
    static let imagenetScale: [Float] = [58.395, 57.12, 57.375]

    /// The preprocessing the folded model absorbs, written directly from its definition.
    static func normalize(_ raw: Tensor, axis: Int, mean: [Float], scale: [Float], reverse: Bool) -> Tensor {
        let shape = raw.shape
        let channels = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        let x = raw.floatValues()
        var y = x
        for i in 0..<x.count {
            let c = (i / inner) % channels
            let source = reverse ? i + ((channels - 1 - c) - c) * inner : i
            let m = mean.count == 1 ? mean[0] : mean[c], s = scale.count == 1 ? scale[0] : scale[c]
            y[i] = (x[source] - m) / s
        }
        return Tensor(floats: y, shape: shape)
    }

    /// Folds `spec` into `model` (input 0) and checks it on `samples` raw inputs in 0...255.
    @discardableResult
    private func checkFolding(_ model: Model, _ spec: InputNormalization, axis: Int, samples: Int = 2, seed: UInt64 = 7,
                              file: StaticString = #filePath, line: UInt = #line) throws -> [(raw: Tensor, expected: [Tensor])] {
        var rng = SeededGenerator(seed: seed)
        guard let shape = model.graph.inputs[0].shape?.staticSizes else { throw MCCError.failure("test input not static") }
        var cases: [(Tensor, [Tensor])] = []
        for _ in 0..<samples {
            let raw = rng.tensor(shape, in: 0...255)
            let normalized = Self.normalize(raw, axis: axis, mean: spec.mean ?? [0], scale: spec.scale ?? [1],
                                            reverse: spec.reversesChannels)
            cases.append((raw, try evaluate(model, [normalized])))
        }
        var options = PassOptions()
        options.normalization = [model.graph.inputs[0].name: spec]
        let context = PassContext(opset: model.defaultOpset, options: options)
        XCTAssertTrue(try NormalizationFolding().run(on: model, context: context), file: file, line: line)
        XCTAssertTrue(context.options.normalization.isEmpty, "the option is consumed", file: file, line: line)
        try Verifier.verify(model)
        for (raw, expected) in cases { assertClose(try evaluate(model, [raw]), expected, file: file, line: line) }
        XCTAssertEqual(model.graph.inputs[0].type, .tensor(.float, Shape(shape)), "input keeps name, type and shape",
                       file: file, line: line)
        return cases
    }

    private func convModel(input: [Int], weights: [Int], attributes: [Attribute], bias: Bool = true, opset: Int64 = 17) throws -> Model {
        let b = ModelBuilder(opset: opset, seed: 3)
        let x = b.input("x", input)
        b.output(b.node("Conv", [x, b.random("w", weights)] + (bias ? [b.random("b", [weights[0]])] : []), attributes, name: "y"))
        return try b.model()
    }

    func testUnpaddedConvAbsorbsReversalScaleAndMean() throws {
        let model = try convModel(input: [1, 3, 8, 9], weights: [4, 3, 3, 3], attributes: [string("auto_pad", "VALID")])
        try checkFolding(model, InputNormalization(mean: Self.imagenetMean, scale: Self.imagenetScale,
                                                   encodingFrom: "RGB", encodingTo: "BGR"), axis: 1)
        XCTAssertEqual(opCounts(model), ["Conv": 1], "nothing but the conv is left")
        XCTAssertTrue(model.graph.nodes[0].input(0) === model.graph.inputs[0])
    }

    func testPaddedConvWithEqualMeansPadsTheRawInputWithTheMean() throws {
        let model = try convModel(input: [1, 3, 9, 8], weights: [5, 3, 3, 3], attributes: [ints("pads", [1, 1, 1, 1]), ints("strides", [2, 2])])
        let spec = InputNormalization(mean: [127.5], scale: [127.5], encodingFrom: "BGR", encodingTo: "RGB")
        let cases = try checkFolding(model, spec, axis: 1)
        XCTAssertEqual(opCounts(model), ["Pad": 1, "Conv": 1])
        let conv = try XCTUnwrap(model.graph.nodes.first { $0.opType == "Conv" })
        XCTAssertEqual(conv.attribute("pads")?.ints, [0, 0, 0, 0])

        // Border check: the borders are where a fold without the Pad goes wrong. Undo the Pad (conv pads 1 again,
        // reading the raw input) and confirm the interior still matches but the border rows/columns do not, so
        // the comparison above really covers the border handling.
        let pad = try XCTUnwrap(model.graph.nodes.first { $0.opType == "Pad" })
        conv.setInput(0, model.graph.inputs[0])
        conv.setAttribute(ints("pads", [1, 1, 1, 1]))
        model.graph.remove([pad])
        let naive = try evaluate(model, [cases[0].raw])[0].floatValues()
        let expected = cases[0].expected[0].floatValues()
        // Output 5x4 of a 9x8 input (stride 2, pad 1): row 0, row 4 (reads input row 9) and column 0 touch padding.
        let (h, w) = (5, 4)
        var borderError: Float = 0, interiorError: Float = 0
        for i in 0..<expected.count {
            let (row, col) = ((i / w) % h, i % w)
            let error = abs(naive[i] - expected[i])
            if row == 0 || row == h - 1 || col == 0 { borderError = max(borderError, error) } else { interiorError = max(interiorError, error) }
        }
        XCTAssertLessThan(interiorError, 1e-4)
        XCTAssertGreaterThan(borderError, 0.05, "without the mean padding the border outputs differ")
    }

    func testPaddedConvWithPerChannelMeansKeepsOnlyTheSubtraction() throws {
        let model = try convModel(input: [2, 3, 6, 7], weights: [4, 3, 3, 3], attributes: [ints("pads", [1, 2, 1, 0])], bias: false)
        try checkFolding(model, InputNormalization(mean: Self.imagenetMean, scale: Self.imagenetScale,
                                                   encodingFrom: "RGB", encodingTo: "BGR"), axis: 1)
        XCTAssertEqual(opCounts(model), ["Sub": 1, "Conv": 1])
        let sub = try XCTUnwrap(model.graph.nodes.first { $0.opType == "Sub" })
        XCTAssertEqual(sub.input(1)?.initializer?.floatValues(), Self.imagenetMean.reversed(), "mean in the raw (BGR) order")
    }

    func testSameUpperPaddingBecomesAnAsymmetricPad() throws {
        // 8 wide, kernel 3, stride 2 → 4 outputs, total padding 1, all of it at the end (SAME_UPPER).
        let model = try convModel(input: [1, 3, 8, 8], weights: [2, 3, 3, 3],
                                  attributes: [string("auto_pad", "SAME_UPPER"), ints("strides", [2, 2])])
        try checkFolding(model, InputNormalization(mean: [100], scale: [50]), axis: 1)
        let pad = try XCTUnwrap(model.graph.nodes.first { $0.opType == "Pad" })
        XCTAssertEqual(pad.input(1)?.initializer?.int64Values(), [0, 0, 0, 0, 0, 0, 1, 1])
        XCTAssertNil(model.graph.nodes.first { $0.opType == "Conv" }?.attribute("auto_pad"))
    }

    func testOpset10PadUsesAttributes() throws {
        let model = try convModel(input: [1, 3, 5, 5], weights: [2, 3, 3, 3], attributes: [ints("pads", [1, 1, 1, 1])], opset: 10)
        try checkFolding(model, InputNormalization(mean: [127.5, 127.5, 127.5], scale: [128], encodingFrom: "RGB", encodingTo: "BGR"), axis: 1)
        let pad = try XCTUnwrap(model.graph.nodes.first { $0.opType == "Pad" })
        XCTAssertEqual(pad.attribute("pads")?.ints, [0, 0, 1, 1, 0, 0, 1, 1])
        XCTAssertEqual(pad.attribute("value")?.float, 127.5)
    }

    func testChannelsLastInputFoldsThroughTheModelsTranspose() throws {
        // mtcnn-style: [N, W, H, C] input, Transpose(0,3,1,2), VALID conv.
        let b = ModelBuilder(seed: 5)
        let x = b.input("x", [1, 9, 7, 3])
        let nchw = b.node("Transpose", [x], [ints("perm", [0, 3, 1, 2])])
        b.output(b.node("Conv", [nchw, b.random("w", [4, 3, 3, 3]), b.random("b", [4])], [string("auto_pad", "VALID")]))
        let model = try b.model()
        try checkFolding(model, InputNormalization(mean: [120, 110, 100], scale: [60, 58, 57], encodingFrom: "RGB", encodingTo: "BGR"), axis: 3)
        XCTAssertEqual(opCounts(model), ["Transpose": 1, "Conv": 1])
    }

    func testPerTensorValuesFoldWhateverTheLayout() throws {
        let b = ModelBuilder(seed: 5)
        let x = b.input("x", [1, 6, 5, 3])
        let nchw = b.node("Transpose", [x], [ints("perm", [0, 3, 1, 2])])
        b.output(b.node("Conv", [nchw, b.random("w", [2, 3, 1, 1])]))
        let model = try b.model()
        try checkFolding(model, InputNormalization(mean: [127.5], scale: [128]), axis: 3)
        XCTAssertEqual(opCounts(model), ["Transpose": 1, "Conv": 1])
    }

    func testInputWithOtherReadersGetsExplicitOps() throws {
        let b = ModelBuilder(seed: 9)
        let x = b.input("x", [1, 3, 4, 4])
        let conv = b.node("Conv", [x, b.random("w", [2, 3, 1, 1])])
        b.output(conv, b.node("Relu", [x]))
        let model = try b.model()
        try checkFolding(model, InputNormalization(mean: Self.imagenetMean, scale: Self.imagenetScale, encodingFrom: "RGB", encodingTo: "BGR"), axis: 1)
        XCTAssertEqual(opCounts(model), ["Gather": 1, "Sub": 1, "Div": 1, "Conv": 1, "Relu": 1])
        XCTAssertEqual(model.graph.nodes[0].opType, "Gather", "preprocessing comes first")
    }

    func testDepthwiseConvFoldsScaleButNotReversal() throws {
        let depthwise = try convModel(input: [1, 3, 5, 5], weights: [3, 1, 3, 3], attributes: [int("group", 3)])
        try checkFolding(depthwise, InputNormalization(mean: [1, 2, 3], scale: [4, 5, 6]), axis: 1)
        XCTAssertEqual(opCounts(depthwise), ["Conv": 1])

        let reversed = try convModel(input: [1, 3, 5, 5], weights: [3, 1, 3, 3], attributes: [int("group", 3)])
        try checkFolding(reversed, InputNormalization(mean: [1, 2, 3], scale: [4, 5, 6], encodingFrom: "BGR", encodingTo: "RGB"), axis: 1)
        XCTAssertEqual(opCounts(reversed), ["Gather": 1, "Sub": 1, "Div": 1, "Conv": 1])
    }

    func testGivenChannelAxisWins() throws {
        // [1, 3, 5, 3]: both axis 1 and 3 have 3 entries; the driver's axis 3 must be used (explicit ops here, as
        // the input does not reach a conv with its channels at axis 1).
        let b = ModelBuilder(seed: 2)
        let x = b.input("x", [1, 3, 5, 3])
        b.output(b.node("Relu", [x]))
        let model = try b.model()
        try checkFolding(model, InputNormalization(mean: [1, 2, 3], scale: [4, 5, 6], encodingFrom: "RGB", encodingTo: "BGR",
                                                   channelAxis: 3), axis: 3)
        XCTAssertEqual(model.graph.nodes[0].attribute("axis")?.int, 3)
        XCTAssertEqual(model.graph.nodes[1].input(1)?.initializer?.shape, [1, 1, 1, 3])
    }

    func testIdentityAndAbsentOptionsChangeNothing() throws {
        let model = try convModel(input: [1, 3, 4, 4], weights: [2, 3, 3, 3], attributes: [])
        XCTAssertFalse(try NormalizationFolding().run(on: model, context: PassContext(opset: 17)))
        var options = PassOptions()
        options.normalization = ["x": InputNormalization(mean: [0], scale: [1], encodingFrom: "BGR", encodingTo: "BGR")]
        XCTAssertFalse(try NormalizationFolding().run(on: model, context: PassContext(opset: 17, options: options)))
        XCTAssertEqual(opCounts(model), ["Conv": 1])
    }

    func testBadRequestsAreUsageErrors() throws {
        let cases: [(InputNormalization, String, String)] = [
            (InputNormalization(mean: [1, 2]), "x", "mean has 2 values"),
            (InputNormalization(scale: [1, 0, 1]), "x", "non-zero"),
            (InputNormalization(mean: [1]), "image", "not a model input"),
            (InputNormalization(mean: [1, 2, 3], encodingFrom: "RGB", encodingTo: "BGR"), "flat", "no channel axis of size 3"),
            (InputNormalization(mean: [1, 2, 3, 4, 5]), "x", "mean has 5 values"),
            (InputNormalization(mean: [1]), "ids", "need a float32 input"),
        ]
        for (spec, name, message) in cases {
            let b = ModelBuilder()
            let x = b.input("x", [1, 3, 4, 4])
            let flat = b.input("flat", [1, 4, 5, 6])
            let ids = b.input("ids", [1, 3, 2, 2], .int64)
            b.output(b.node("Conv", [x, b.random("w", [2, 3, 1, 1])]), b.node("Relu", [flat]), b.node("Identity", [ids]))
            let model = try b.model()
            var options = PassOptions()
            options.normalization = [name: spec]
            XCTAssertThrowsError(try NormalizationFolding().run(on: model, context: PassContext(opset: 17, options: options))) { error in
                let e = error as? MCCError
                XCTAssertEqual(e?.kind, .usage, "\(message)")
                XCTAssertTrue(e?.message.contains(message) == true, "\(e?.message ?? "\(error)") should mention '\(message)'")
            }
        }
    }
}

/// Normalization and layout requested together, through the whole -O2 pipeline: the compiled model takes raw BGR
/// pixels in NHWC and equals the original on normalized RGB NCHW data (tolerance as above).
final class PreprocessingPipelineTests: XCTestCase {
    func testNormalizationAndLayoutTogether() throws {
        let b = ModelBuilder(seed: 21)
        let x = b.input("x", [1, 3, 6, 5])
        let conv = b.node("Conv", [x, b.random("w", [4, 3, 3, 3]), b.random("b", [4])], [ints("pads", [1, 1, 1, 1])])
        b.output(b.node("Relu", [conv]))
        let model = try b.model()
        var rng = SeededGenerator(seed: 5)
        let raw = rng.tensor([1, 3, 6, 5], in: 0...255)
        let mean = NormalizationFoldingTests.imagenetMean, scale = NormalizationFoldingTests.imagenetScale
        let expected = try evaluate(model, [NormalizationFoldingTests.normalize(raw, axis: 1, mean: mean, scale: scale, reverse: true)])
        var options = PassOptions()
        options.normalization = ["x": InputNormalization(mean: mean, scale: scale, encodingFrom: "RGB", encodingTo: "BGR")]
        options.inputLayouts = ["x": "NHWC"]
        var manager = PassManager(verifyEach: true)
        try manager.run(Pipelines.o2, on: model, context: PassContext(opset: 17, options: options))
        XCTAssertEqual(model.graph.inputs[0].shape, Shape([1, 6, 5, 3]))
        XCTAssertEqual(opCounts(model), ["Transpose": 1, "Sub": 1, "Conv": 1, "Relu": 1])
        let nhwc = try XCTUnwrap(transposedForTest(raw, perm: [0, 2, 3, 1]))
        assertClose(try evaluate(model, [nhwc]), expected)
    }
}

/// Every -O level applies the user's preprocessing and layout (a silently ignored --mean would give a model that
/// expects different input); -O0 keeps the preprocessing as explicit ops.
final class RequestedPassesAtEveryLevelTests: XCTestCase {
    func testEveryLevelTakesRawNHWCPixels() throws {
        for level in 0...2 {
            let b = ModelBuilder(seed: 8)
            let x = b.input("x", [1, 3, 5, 4])
            b.output(b.node("Conv", [x, b.random("w", [2, 3, 3, 3]), b.random("b", [2])], [ints("pads", [1, 1, 1, 1])]))
            let model = try b.model()
            var rng = SeededGenerator(seed: 3)
            let raw = rng.tensor([1, 3, 5, 4], in: 0...255)
            let mean: [Float] = [127.5], scale: [Float] = [58]
            let expected = try evaluate(model, [NormalizationFoldingTests.normalize(raw, axis: 1, mean: mean, scale: scale, reverse: true)])
            var options = PassOptions()
            options.normalization = ["x": InputNormalization(mean: mean, scale: scale, encodingFrom: "BGR", encodingTo: "RGB")]
            options.inputLayouts = ["x": "NHWC"]
            var manager = PassManager(verifyEach: true)
            try manager.run(Pipelines.level(level), on: model, context: PassContext(opset: 17, options: options))
            let nhwc = try XCTUnwrap(transposedForTest(raw, perm: [0, 2, 3, 1]))
            assertClose(try evaluate(model, [nhwc]), expected, "-O\(level)")
            XCTAssertEqual(opCounts(model)["Gather"] != nil, level == 0, "-O\(level): explicit reversal only at -O0")
        }
    }
}
