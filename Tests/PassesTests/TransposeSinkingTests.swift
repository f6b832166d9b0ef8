import IR
import Interpreter
import Passes
import XCTest

/// TransposeSinking: transposes move below elementwise ops and cancel; results before/after must agree (the pass
/// only moves data and permutes constants, so up to the shared `assertClose` tolerance they are identical).
final class TransposeSinkingTests: XCTestCase {
    private let toNCHW = ints("perm", [0, 3, 1, 2])
    private let toNHWC = ints("perm", [0, 2, 3, 1])

    private func check(_ b: ModelBuilder, inputs: [[Int]], file: StaticString = #filePath, line: UInt = #line) throws -> (Model, Bool) {
        let model = try b.model()
        let data = inputs.map { b.rng.tensor($0) }
        let changed = try checkEquivalent(TransposeSinking(), on: model, inputs: data, file: file, line: line)
        return (model, changed)
    }

    func testTransposeSinksThroughActivationsAndCancels() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 4, 5, 3])
        let t = b.node("Transpose", [x], [toNCHW])
        let clipped = b.node("Clip", [b.node("Relu", [t]), b.scalar("lo", 0), b.scalar("hi", 0.5)])
        b.output(b.node("Transpose", [b.node("Sigmoid", [clipped])], [toNHWC], name: "out"))
        let (model, changed) = try check(b, inputs: [[1, 4, 5, 3]])
        XCTAssertTrue(changed)
        XCTAssertEqual(opCounts(model), ["Relu": 1, "Clip": 1, "Sigmoid": 1])
        XCTAssertEqual(model.graph.outputs[0].name, "out")
        XCTAssertEqual(model.graph.outputs[0].shape, Shape([1, 4, 5, 3]))
    }

    func testConstantOperandsArePermuted() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 4, 5, 3])
        let t = b.node("Transpose", [x], [toNCHW])
        let biased = b.node("Add", [b.random("bias", [3, 1, 1]), t])
        let scaled = b.node("Mul", [biased, b.random("rows", [4, 1])])
        b.output(b.node("Transpose", [b.node("PRelu", [scaled, b.random("slope", [3, 1, 1])])], [toNHWC]))
        let (model, changed) = try check(b, inputs: [[1, 4, 5, 3]])
        XCTAssertTrue(changed)
        XCTAssertEqual(opCounts(model), ["Add": 1, "Mul": 1, "PRelu": 1])
    }

    func testTwoTransposedOperandsAndConcat() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 2, 3, 4])
        let y = b.input("y", [1, 2, 3, 4])
        let sum = b.node("Add", [b.node("Transpose", [x], [toNCHW]), b.node("Transpose", [y], [toNCHW])])
        let joined = b.node("Concat", [sum, b.node("Transpose", [y], [toNCHW])], [int("axis", 1)])
        b.output(b.node("Relu", [joined]))
        let (model, changed) = try check(b, inputs: [[1, 2, 3, 4], [1, 2, 3, 4]])
        XCTAssertTrue(changed)
        XCTAssertEqual(opCounts(model), ["Add": 1, "Concat": 1, "Relu": 1, "Transpose": 1])
        XCTAssertEqual(model.graph.nodes.first { $0.opType == "Concat" }?.attribute("axis")?.int, 3)
        XCTAssertEqual(model.graph.nodes.last?.opType, "Transpose", "the one transpose left sits at the end")
    }

    func testChainsComposeAndConstantsFold() throws {
        let b = ModelBuilder()
        let x = b.input("x", [2, 3, 4, 5])
        let twice = b.node("Transpose", [b.node("Transpose", [x], [ints("perm", [0, 2, 3, 1])])], [ints("perm", [1, 0, 2, 3])])
        let constant = b.node("Transpose", [b.random("c", [4, 5])])  // no perm: reversed axes
        b.output(b.node("Conv", [twice, b.random("w", [2, 2, 1, 1])]), b.node("MatMul", [b.input("m", [3, 5]), constant]))
        let (model, changed) = try check(b, inputs: [[2, 3, 4, 5], [3, 5]])
        XCTAssertTrue(changed)
        XCTAssertEqual(opCounts(model), ["Transpose": 1, "Conv": 1, "MatMul": 1])
        XCTAssertEqual(model.graph.nodes[0].attribute("perm")?.ints, [2, 0, 3, 1])
    }

    func testTransposesThatCannotMoveStay() throws {
        let b = ModelBuilder()
        let x = b.input("x", [1, 4, 5, 3])
        let t = b.node("Transpose", [x], [toNCHW])
        let conv = b.node("Conv", [t, b.random("w", [2, 3, 1, 1])])
        let shared = b.node("Transpose", [conv], [toNHWC])
        let a = b.node("Relu", [shared])
        let c = b.node("Sigmoid", [shared])
        let nonConstant = b.node("Add", [b.node("Transpose", [x], [toNCHW]), b.input("other", [1, 3, 4, 5])])
        b.output(a, c, nonConstant, b.node("Transpose", [x], [toNCHW], name: "visible"))
        let (model, changed) = try check(b, inputs: [[1, 4, 5, 3], [1, 3, 4, 5]])
        XCTAssertFalse(changed)
        XCTAssertEqual(opCounts(model)["Transpose"], 4)
    }
}
