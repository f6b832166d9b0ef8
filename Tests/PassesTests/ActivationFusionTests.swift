import IR
import Interpreter
import Passes
import XCTest

/// ActivationFusion: decomposed hard-swish / hard-sigmoid / relu6 become single ONNX ops. Inputs span [-8, 8] so
/// every linear piece and both kinks (x = −3, 3 and 0, 6) are exercised; outputs before/after agree to float
/// rounding (`assertClose`).
final class ActivationFusionTests: XCTestCase {
    private let shape = [2, 3, 5, 7]

    private func check(_ b: ModelBuilder, file: StaticString = #filePath, line: UInt = #line) throws -> (Model, Bool) {
        let model = try b.model()
        let changed = try checkEquivalent(ActivationFusion(), on: model, inputs: [b.rng.tensor(shape, in: -8...8)],
                                          file: file, line: line)
        return (model, changed)
    }

    /// x · Clip(x + 3, 0, 6) / 6 as Paddle exports it (ppocr, picodet).
    private func paddleHardSwish(_ b: ModelBuilder, _ x: Value, divide: Bool = true) -> Value {
        let relu6 = b.node("Clip", [b.node("Add", [x, b.scalar("three", 3)]), b.scalar("zero", 0), b.scalar("six", 6)])
        let product = b.node("Mul", [x, relu6])
        return divide ? b.node("Div", [product, b.scalar("six_d", 6)], name: "hs")
            : b.node("Mul", [b.scalar("sixth", 0.16666667), product], name: "hs")
    }

    func testHardSwishAtOpset14() throws {
        let b = ModelBuilder(opset: 17)
        b.output(paddleHardSwish(b, b.input("x", shape)))
        let (model, changed) = try check(b)
        XCTAssertTrue(changed)
        XCTAssertEqual(opCounts(model), ["HardSwish": 1])
        XCTAssertEqual(model.graph.outputs[0].name, "hs")
        XCTAssertTrue(model.graph.initializers.isEmpty, "the pattern's constants are gone")
    }

    func testHardSwishBelowOpset14IsHardSigmoidTimesX() throws {
        for divide in [true, false] {
            let b = ModelBuilder(opset: 12)
            let x = b.input("x", shape)
            b.output(b.node("Relu", [paddleHardSwish(b, x, divide: divide)]))
            let (model, changed) = try check(b)
            XCTAssertTrue(changed)
            XCTAssertEqual(opCounts(model), ["HardSigmoid": 1, "Mul": 1, "Relu": 1])
            let gate = try XCTUnwrap(model.graph.nodes.first { $0.opType == "HardSigmoid" })
            XCTAssertEqual(gate.attribute("alpha")?.float, Float(1.0 / 6.0))
            XCTAssertEqual(gate.attribute("beta")?.float, 0.5)
        }
    }

    func testXTimesHardSigmoidBecomesHardSwishOnlyFromOpset14() throws {
        for opset: Int64 in [13, 14] {
            let b = ModelBuilder(opset: opset)
            let x = b.input("x", shape)
            let gate = b.node("HardSigmoid", [x], [float("alpha", 0.1666667), float("beta", 0.5)])
            b.output(b.node("Mul", [gate, x]))
            let (model, changed) = try check(b)
            XCTAssertEqual(changed, opset >= 14)
            XCTAssertEqual(opCounts(model), opset >= 14 ? ["HardSwish": 1] : ["HardSigmoid": 1, "Mul": 1])
        }
    }

    /// Rule 4 asks x not to be a constant, as every rule does (so merging equal constants can never create a
    /// match, which lets the pass manager skip the pass after such a merge).
    func testConstantTimesItsHardSigmoidIsLeftAlone() throws {
        let b = ModelBuilder(opset: 17)
        let x = b.input("x", shape)
        let c = b.random("c", shape)
        let gate = b.node("HardSigmoid", [c], [float("alpha", 0.1666667), float("beta", 0.5)])
        b.output(b.node("Add", [b.node("Mul", [gate, c]), x]))
        let (model, changed) = try check(b)
        XCTAssertFalse(changed)
        XCTAssertEqual(opCounts(model), ["HardSigmoid": 1, "Mul": 1, "Add": 1])
    }

    func testRelu6OverSixIsHardSigmoidAndMinMaxIsClip() throws {
        let b = ModelBuilder(opset: 13)
        let x = b.input("x", shape)
        let relu6 = b.node("Min", [b.node("Max", [b.node("Add", [b.scalar("three", 3), x]), b.scalar("zero", 0)]), b.scalar("six", 6)])
        let sigmoid = b.node("Mul", [relu6, b.scalar("sixth", 0.1666667)])
        let clipped = b.node("Clip", [b.node("Relu", [x]), b.scalar("lo", -1), b.scalar("hi", 4)])
        let relu = b.node("Relu", [b.node("Clip", [x, b.scalar("lo2", -2), b.scalar("hi2", 1)])])
        b.output(sigmoid, clipped, relu)
        let (model, changed) = try check(b)
        XCTAssertTrue(changed)
        XCTAssertEqual(opCounts(model), ["HardSigmoid": 1, "Clip": 2])
        let bounds = model.graph.nodes.filter { $0.opType == "Clip" }.map { c in
            [c.input(1), c.input(2)].map { $0?.initializer?.floatValues().first }
        }
        XCTAssertEqual(bounds, [[0, 4], [0, 1]])
    }

    func testOpset10ClipAttributes() throws {
        let b = ModelBuilder(opset: 10)
        let x = b.input("x", shape)
        b.output(b.node("Clip", [b.node("Relu", [x])], [float("max", 6)]))
        let (model, changed) = try check(b)
        XCTAssertTrue(changed)
        XCTAssertEqual(opCounts(model), ["Clip": 1])
        XCTAssertEqual(model.graph.nodes[0].attribute("min")?.float, 0)
        XCTAssertEqual(model.graph.nodes[0].attribute("max")?.float, 6)
    }

    func testNearMissesAreLeftAlone() throws {
        let b = ModelBuilder(opset: 17)
        let x = b.input("x", shape)
        let y = b.input("y", shape)
        // Shift 2.9 instead of 3.
        let offShift = b.node("Div", [b.node("Clip", [b.node("Add", [x, b.scalar("c29", 2.9)]), b.scalar("z", 0), b.scalar("s", 6)]),
                                      b.scalar("d6", 6)])
        // Different tensors in the product: y · Relu6(x + 3) / 6 is neither a hard-swish nor a hard-sigmoid.
        let relu6 = b.node("Clip", [b.node("Add", [x, b.scalar("c3", 3)]), b.scalar("z2", 0), b.scalar("s2", 6)])
        let mixed = b.node("Div", [b.node("Mul", [y, relu6]), b.scalar("d6b", 6)])
        // Clip output also read elsewhere.
        let shared = b.node("Clip", [b.node("Add", [x, b.scalar("c3b", 3)]), b.scalar("z3", 0), b.scalar("s3", 6)])
        let swishLike = b.node("Div", [b.node("Mul", [x, shared]), b.scalar("d6c", 6)])
        // Swish has no ONNX op.
        let swish = b.node("Mul", [x, b.node("Sigmoid", [x])])
        b.output(offShift, mixed, swishLike, shared, swish)
        let model = try b.model()
        let before = opCounts(model)
        XCTAssertFalse(try checkEquivalent(ActivationFusion(), on: model, inputs: [b.rng.tensor(shape, in: -8...8), b.rng.tensor(shape)]))
        XCTAssertEqual(opCounts(model), before)
    }
}
