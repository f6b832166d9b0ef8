import IR
import Interpreter
import Passes
import XCTest

/// FP16Casting: weights become float16 initializers + Cast(to FLOAT); precision-sensitive and non-weight constants
/// stay float32.
///
/// Numerics, two checks: (1) against the same model with its cast weights rounded to f16 by hand: the Cast yields
/// exactly those float32 values, so outputs agree to float rounding (`assertClose`); (2) against the original:
/// each weight moves by ≤ 2⁻¹¹ relative (half an f16 ulp), so a K-term dot product moves by ≤ 2⁻¹¹·Σ|w·x|; with
/// K ≤ 27 products of magnitude ≤ 1 here that is ≤ 0.014, hence |a − b| ≤ 2e-2·max(1, max|ref|).
final class FP16CastingTests: XCTestCase {
    private var enabled: PassContext {
        var options = PassOptions()
        options.castToFP16 = true
        return PassContext(opset: 17, options: options)
    }

    /// Conv(W, B) → BN(scale, B cast; mean, var kept) → Mul by a [C,1,1] constant → decomposed-LayerNorm-style
    /// Add(eps) → Sqrt, Pow(exponent), Resize(scales), a tiny and a huge constant, and an int64 shape.
    private func buildModel() throws -> (Model, ModelBuilder) {
        let b = ModelBuilder(seed: 11)
        let x = b.input("x", [1, 3, 6, 6])
        let conv = b.node("Conv", [x, b.random("w", [4, 3, 3, 3]), b.random("b", [4])], [ints("pads", [1, 1, 1, 1])])
        let bn = b.node("BatchNormalization", [conv, b.random("gamma", [4]), b.random("beta", [4]), b.random("mean", [4]),
                                               b.random("var", [4], in: 0.5...1)])
        let scaled = b.node("Mul", [bn, b.random("channel_scale", [4, 1, 1])])
        let squared = b.node("Pow", [scaled, b.scalar("exponent", 2)])
        let root = b.node("Sqrt", [b.node("Add", [squared, b.scalar("eps", 1e-5)])])
        let tiny = b.node("Add", [root, b.constant("tiny", [1e-9, 0, 1e-9, 0], [4, 1, 1])])
        let huge = b.node("Div", [tiny, b.constant("huge", [1e5], [1])])
        let empty = Value(name: "")
        let resized = b.node("Resize", [huge, empty, b.constant("scales", [1, 1, 2, 2], [4])], [string("mode", "nearest")])
        b.output(b.node("Reshape", [resized, b.int64s("shape", [1, -1])]))
        return (try b.model(), b)
    }

    func testWeightsAreCastAndSensitiveConstantsStayFloat32() throws {
        let (model, _) = try buildModel()
        XCTAssertTrue(try FP16Casting().run(on: model, context: enabled))
        try Verifier.verify(model)
        let compressed = Set(model.graph.initializers.filter { $0.initializer?.elementType == .float16 }.map(\.name))
        XCTAssertEqual(compressed, ["w_compressed", "b_compressed", "gamma_compressed", "beta_compressed",
                                    "channel_scale_compressed"])
        let float32 = Set(model.graph.initializers.filter { $0.initializer?.elementType == .float }.map(\.name))
        XCTAssertEqual(float32, ["mean", "var", "exponent", "eps", "tiny", "huge", "scales"])
        XCTAssertEqual(opCounts(model)["Cast"], 5)
        for cast in model.graph.nodes.prefix(5) {
            XCTAssertEqual(cast.opType, "Cast")
            XCTAssertEqual(cast.attribute("to")?.int, Int64(ElementType.float.rawValue))
        }
        let conv = try XCTUnwrap(model.graph.nodes.first { $0.opType == "Conv" })
        XCTAssertEqual(conv.input(1)?.name, "w", "the cast output keeps the weight's name")
        XCTAssertEqual(conv.input(1)?.type, .tensor(.float, Shape([4, 3, 3, 3])))
        XCTAssertFalse(try FP16Casting().run(on: model, context: enabled), "a second run finds nothing left to cast")
    }

    func testOutputsMatchHandRoundedWeightsAndStayNearTheOriginal() throws {
        let (model, b) = try buildModel()
        let input = b.rng.tensor([1, 3, 6, 6])
        let original = try evaluate(model, [input])
        // Reference: the same graph with the five weight tensors rounded through Float16 in place.
        let (rounded, _) = try buildModel()
        for value in rounded.graph.initializers where ["w", "b", "gamma", "beta", "channel_scale"].contains(value.name) {
            guard let t = value.initializer else { continue }
            value.initializer = Tensor(floats: t.floatValues().map { Float(Float16($0)) }, shape: t.shape)
        }
        let expected = try evaluate(rounded, [input])
        XCTAssertTrue(try FP16Casting().run(on: model, context: enabled))
        let cast = try evaluate(model, [input])
        assertClose(cast, expected)
        assertClose(cast, original, rtol: 0, atolScale: 2e-2)
        XCTAssertNotEqual(cast[0].floatValues(), original[0].floatValues(), "the weights really changed")
    }

    func testDisabledOrConstantNodesAndSharedUses() throws {
        let (model, _) = try buildModel()
        XCTAssertFalse(try FP16Casting().run(on: model, context: PassContext(opset: 17)), "off unless castToFP16")

        // A Constant-node weight is cast; a constant read both as a weight and as a Clip bound is not.
        let b = ModelBuilder()
        let x = b.input("x", [2, 3])
        let shared = b.scalar("shared", 0.5)
        let gemm = b.node("Gemm", [x, b.constantNode("w", [3, 4])])
        b.output(b.node("Clip", [b.node("Mul", [gemm, shared]), shared]))
        let m = try b.model()
        let input = b.rng.tensor([2, 3])
        XCTAssertTrue(try FP16Casting().run(on: m, context: enabled))
        try Verifier.verify(m)
        XCTAssertEqual(opCounts(m), ["Cast": 1, "Gemm": 1, "Mul": 1, "Clip": 1])
        XCTAssertEqual(m.graph.initializer(named: "shared")?.initializer?.elementType, .float)
        XCTAssertEqual(m.graph.initializer(named: "w_compressed")?.initializer?.elementType, .float16)
        XCTAssertEqual(try evaluate(m, [input])[0].shape, [2, 4])
    }
}

extension FP16CastingTests {
    /// A float32 buffer only its initializer references is converted where it lies (the float16 tensor views its
    /// first half); one that two initializers share is not overwritten while the other still reads it: the first
    /// gets a copy, after which the second holds the buffer alone and is converted in place. Every compressed
    /// tensor holds exactly `Float16(v)` of its original values. A Constant node's weight is converted in place too.
    func testUnsharedBuffersAreConvertedInPlaceAndSharedOnesAreNotOverwritten() throws {
        let b = ModelBuilder(seed: 7)
        let x = b.input("x", [2, 3])
        let w = b.random("w", [3, 4])
        let wAddress = try XCTUnwrap(w.initializer).storage.baseAddress
        let wValues = try XCTUnwrap(w.initializer).floatValues()
        let sharedValues: [Float] = b.rng.floats(12, in: -1...1)
        let first: Value, second: Value
        let sharedAddress: UnsafeRawPointer
        do {
            let shared = Tensor(floats: sharedValues, shape: [3, 4])
            sharedAddress = shared.storage.baseAddress
            first = Value(name: "first", initializer: shared)
            second = Value(name: "second", initializer: shared)
        }
        b.graph.initializers += [first, second]
        let constant = b.constantNode("constant", [3, 4])
        let constantAddress: UnsafeRawPointer, constantValues: [Float]
        do {  // the test's own reference ends here
            let constantTensor = try XCTUnwrap(constant.producer?.attribute("value")?.tensor)
            constantAddress = constantTensor.storage.baseAddress
            constantValues = constantTensor.floatValues()
        }
        b.output(b.node("Gemm", [x, w]), b.node("Gemm", [x, first]), b.node("MatMul", [x, second]),
                 b.node("Gemm", [x, constant]))
        let model = try b.model()
        XCTAssertTrue(try FP16Casting().run(on: model, context: enabled))
        try Verifier.verify(model)
        func compressed(_ name: String) throws -> Tensor {
            let tensor = try XCTUnwrap(model.graph.initializer(named: name)?.initializer)
            XCTAssertEqual(tensor.elementType, .float16)
            XCTAssertEqual(tensor.shape, [3, 4])
            return tensor
        }
        func bits(_ t: Tensor) -> [UInt16] { t.scalars(as: UInt16.self) }
        let wHalf = try compressed("w_compressed"), firstHalf = try compressed("first_compressed")
        let secondHalf = try compressed("second_compressed")
        XCTAssertEqual(wHalf.storage.baseAddress, wAddress, "an unshared buffer is converted in place")
        XCTAssertNotEqual(firstHalf.storage.baseAddress, sharedAddress, "a shared buffer is not overwritten")
        XCTAssertEqual(secondHalf.storage.baseAddress, sharedAddress, "once unshared, it is converted in place")
        let constantHalf = try compressed("constant_compressed")
        XCTAssertEqual(constantHalf.storage.baseAddress, constantAddress, "a Constant node's buffer too")
        XCTAssertEqual(bits(constantHalf), constantValues.map { Float16($0).bitPattern })
        XCTAssertEqual(bits(wHalf), wValues.map { Float16($0).bitPattern })
        XCTAssertEqual(bits(firstHalf), sharedValues.map { Float16($0).bitPattern })
        XCTAssertEqual(bits(secondHalf), sharedValues.map { Float16($0).bitPattern })
    }
}

/// FP16 weights survive the whole -O2 pipeline: its trailing constant folding must not fold the decompression
/// Casts back into float32 initializers.
final class FP16PipelineTests: XCTestCase {
    func testCastsSurviveTheO2Pipeline() throws {
        let b = ModelBuilder(seed: 4)
        let x = b.input("x", [1, 3, 5, 5])
        let conv = b.node("Conv", [x, b.random("w", [4, 3, 3, 3]), b.random("b", [4])], [ints("pads", [1, 1, 1, 1])])
        b.output(b.node("PRelu", [conv, b.random("slope", [4, 1, 1])]))
        let model = try b.model()
        var options = PassOptions()
        options.castToFP16 = true
        var manager = PassManager(verifyEach: true)
        try manager.run(Pipelines.o2, on: model, context: PassContext(opset: 17, options: options))
        XCTAssertEqual(opCounts(model), ["Cast": 3, "Conv": 1, "PRelu": 1])
        XCTAssertEqual(model.graph.initializers.map { $0.initializer?.elementType }, [.float16, .float16, .float16])
        XCTAssertFalse(manager.timings.last { $0.pass == "constant-folding" }?.changed ?? true)
    }
}
