import IR
import Interpreter
import Passes
import XCTest

/// LayoutTransform: the input takes the requested layout; the model on the permuted data must equal the original
/// model on the original data exactly (only data movement is added, so the comparison is bit-exact up to the
/// shared `assertClose` tolerance). With TransposeSinking, a channels-last model asked for NCHW loses its own
/// Transpose.
final class LayoutTransformTests: XCTestCase {
    private func context(_ layouts: [String: String]) -> PassContext {
        var options = PassOptions()
        options.inputLayouts = layouts
        return PassContext(opset: 17, options: options)
    }

    func testNCHWModelTakesNHWC() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 3, 5, 4])
        b.output(b.node("Conv", [x, b.random("w", [2, 3, 3, 3])], [ints("pads", [1, 1, 1, 1])]))
        let model = try b.model()
        let data = b.rng.tensor([1, 3, 5, 4])
        let expected = try evaluate(model, [data])
        let ctx = context(["x": "nhwc"])
        XCTAssertTrue(try LayoutTransform().run(on: model, context: ctx))
        XCTAssertTrue(ctx.options.inputLayouts.isEmpty, "the option is consumed")
        try Verifier.verify(model)
        XCTAssertEqual(model.graph.inputs[0].name, "x")
        XCTAssertEqual(model.graph.inputs[0].shape, Shape([1, 5, 4, 3]))
        XCTAssertEqual(opCounts(model), ["Transpose": 1, "Conv": 1])
        XCTAssertEqual(model.graph.nodes[0].attribute("perm")?.ints, [0, 3, 1, 2])
        let nhwc = try XCTUnwrap(transposedForTest(data, perm: [0, 2, 3, 1]))
        assertClose(try evaluate(model, [nhwc]), expected)
    }

    func testChannelsLastModelAskedForNCHWLosesItsTranspose() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 7, 6, 3])
        let nchw = b.node("Transpose", [x], [ints("perm", [0, 3, 1, 2])])
        b.output(b.node("Conv", [nchw, b.random("w", [2, 3, 3, 3])]))
        let model = try b.model()
        let data = b.rng.tensor([1, 7, 6, 3])
        let expected = try evaluate(model, [data])
        XCTAssertTrue(try LayoutTransform().run(on: model, context: context(["x": "NCHW"])))
        XCTAssertTrue(try TransposeSinking().run(on: model, context: PassContext(opset: 17)))
        try Verifier.verify(model)
        XCTAssertEqual(opCounts(model), ["Conv": 1])
        XCTAssertEqual(model.graph.inputs[0].shape, Shape([1, 3, 7, 6]))
        let planar = try XCTUnwrap(transposedForTest(data, perm: [0, 3, 1, 2]))
        assertClose(try evaluate(model, [planar]), expected)
    }

    func testOwnLayoutChangesNothing() throws {
        let b = ModelBuilder()
        b.output(b.node("Relu", [b.input("x", [1, 3, 8, 8])]))
        let model = try b.model()
        XCTAssertFalse(try LayoutTransform().run(on: model, context: context(["x": "NCHW"])))
        XCTAssertEqual(opCounts(model), ["Relu": 1])
    }

    func testGuessedLayouts() {
        XCTAssertEqual(LayoutTransform.guessLayout(Shape([1, 3, 224, 224])), "NCHW")
        XCTAssertEqual(LayoutTransform.guessLayout(Shape([1, 387, 268, 3])), "NHWC")
        XCTAssertEqual(LayoutTransform.guessLayout(Shape([16, 48, 48, 3])), "NHWC")
        XCTAssertEqual(LayoutTransform.guessLayout(Shape([Dim.symbolic("n"), .known(3), .symbolic("h"), .symbolic("w")])), "NCHW")
        XCTAssertEqual(LayoutTransform.guessLayout(Shape([224, 224, 3])), "HWC")
        XCTAssertNil(LayoutTransform.guessLayout(Shape([1, 576])))
    }

    func testBadLayoutsAreErrors() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 3, 4, 4])
        let y = b.input("y", [1, 576])
        b.output(b.node("Relu", [x]), b.node("Relu", [y]))
        let model = try b.model()
        for (name, layout, kind) in [("x", "NCHX", MCCError.Kind.usage), ("x", "NHW", .usage), ("z", "NHWC", .usage),
                                     ("y", "NC", .unsupported)] {
            XCTAssertThrowsError(try LayoutTransform().run(on: model, context: context([name: layout]))) { error in
                XCTAssertEqual((error as? MCCError)?.kind, kind, "\(name)=\(layout): \(error)")
            }
        }
    }
}

/// Reference transpose for tests (independent of the pass's helper): output axis j = input axis perm[j].
func transposedForTest(_ t: Tensor, perm: [Int]) -> Tensor? {
    let shape = t.shape
    guard perm.count == shape.count else { return nil }
    let outShape = perm.map { shape[$0] }
    let values = t.floatValues()
    var strides = Array(repeating: 1, count: shape.count)
    for a in stride(from: shape.count - 2, through: 0, by: -1) { strides[a] = strides[a + 1] * shape[a + 1] }
    var out = [Float](repeating: 0, count: values.count)
    for k in 0..<values.count {
        var rest = k, source = 0
        for j in stride(from: outShape.count - 1, through: 0, by: -1) {
            source += (rest % outShape[j]) * strides[perm[j]]
            rest /= outShape[j]
        }
        out[k] = values[source]
    }
    return Tensor(floats: out, shape: outShape)
}
