import IR
import Interpreter
import Passes
import XCTest

/// CommonSubexpressionElimination: equal nodes and byte-identical initializers merge; anything that differs in op,
/// attributes, inputs, bytes, shape or scope stays. Merged values were equal, so outputs compare exactly.
final class CommonSubexpressionEliminationTests: XCTestCase {
    private let input = Tensor(floats: testFloats(6, seed: 3), shape: [2, 3])

    func testMergesEqualNodesAndTheirConsumers() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2, 3])
        let a1 = b.node("LeakyRelu", [x], attributes: [Attribute("alpha", .float(0.1))])
        let a2 = b.node("LeakyRelu", [x], attributes: [Attribute("alpha", .float(0.1))])
        let e1 = b.node("Exp", [a1]), e2 = b.node("Exp", [a2])  // equal once a1/a2 merged
        b.output(b.node("Add", [e1, e2], named: "y"))
        let model = try b.model()
        XCTAssertTrue(try checkPass(CommonSubexpressionElimination(), on: model, inputs: [input]).changed)
        XCTAssertEqual(opTypes(model), ["LeakyRelu", "Exp", "Add"])
        XCTAssertTrue(model.graph.nodes[2].input(0) === model.graph.nodes[2].input(1))
    }

    func testKeepsNodesThatDiffer() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2, 3])
        let other = b.input("w", [2, 3])
        let a = b.node("LeakyRelu", [x], attributes: [Attribute("alpha", .float(0.1))])
        let c = b.node("LeakyRelu", [x], attributes: [Attribute("alpha", .float(0.2))])
        let d = b.node("Sub", [x, other])
        let e = b.node("Sub", [other, x])
        b.output(b.node("Sum", [a, c, d, e], named: "y"))
        let model = try b.model()
        XCTAssertFalse(try checkPass(CommonSubexpressionElimination(), on: model, inputs: [input, input]).changed)
        XCTAssertEqual(opTypes(model), ["LeakyRelu", "LeakyRelu", "Sub", "Sub", "Sum"])
    }

    func testDeduplicatesIdenticalInitializersByBytes() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2, 3])
        let w1 = b.constant("w1", floats: [1, 2, 3], shape: [3])
        let w2 = b.constant("w2", floats: [1, 2, 3], shape: [3])
        let w3 = b.constant("w3", floats: [1, 2, 4], shape: [3])  // same shape, other bytes
        let w4 = b.constant("w4", floats: [1, 2, 3], shape: [1, 3])  // same bytes, other shape
        let sum = b.node("Sum", [b.node("Mul", [x, w1]), b.node("Mul", [x, w2]), b.node("Mul", [x, w3]), b.node("Mul", [x, w4])])
        b.output(sum)
        let model = try b.model()
        XCTAssertTrue(try checkPass(CommonSubexpressionElimination(), on: model, inputs: [input]).changed)
        XCTAssertEqual(model.graph.initializers.map(\.name), ["w1", "w3", "w4"])
        // x*w1 and x*w2 became the same node and merged too.
        XCTAssertEqual(opTypes(model), ["Mul", "Mul", "Mul", "Sum"])
    }

    func testMergesLargeGroupsOfEqualShapeInitializersIntoTheirFirstCopies() throws {
        // Forty scalars of one shape holding seven distinct values (the group is looked up by digest, not
        // scanned): each merges into the first initializer with its bytes, and those stay in file order.
        let b = GraphBuilder()
        let x = b.input("x", [2, 3])
        let products = (0..<40).map { i in
            b.node("Mul", [x, b.constant("c\(i)", floats: [Float(i % 7) - 3], shape: [])])
        }
        b.output(b.node("Sum", products, named: "y"))
        let model = try b.model()
        XCTAssertTrue(try checkPass(CommonSubexpressionElimination(), on: model, inputs: [input]).changed)
        XCTAssertEqual(model.graph.initializers.map(\.name), (0..<7).map { "c\($0)" })
        // Products of equal constants became equal nodes and merged: one Mul per distinct value.
        XCTAssertEqual(opTypes(model), Array(repeating: "Mul", count: 7) + ["Sum"])
    }

    func testDoesNotMergeAcrossScopesOrTwoGraphOutputs() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2, 3])
        let cond = b.input("cond", [], .bool)
        let outer = b.node("Neg", [x])
        let thenBranch = GraphBuilder(name: "then")
        thenBranch.output(thenBranch.node("Neg", [x], named: "then_out"))
        let elseBranch = GraphBuilder(name: "else")
        elseBranch.output(elseBranch.node("Identity", [outer], named: "else_out"))
        let chosen = b.node("If", [cond], attributes: [Attribute("then_branch", .graph(thenBranch.graph)),
                                                        Attribute("else_branch", .graph(elseBranch.graph))])
        b.output(b.node("Abs", [chosen], named: "y1"), b.node("Abs", [chosen], named: "y2"))
        let model = try b.model()
        for flag: UInt8 in [0, 1] {
            let inputs = [input, Tensor(.bool, shape: [], values: [flag])]
            XCTAssertFalse(try checkPass(CommonSubexpressionElimination(), on: model, inputs: inputs).changed)
        }
        XCTAssertEqual(opTypes(model), ["Neg", "If", "Abs", "Abs"])
        XCTAssertEqual(thenBranch.graph.nodes.map(\.opType), ["Neg"])
    }

    func testLaterGraphOutputTakesOverEarlierValue() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2, 3])
        let inner = b.node("Exp", [x])
        let outer = b.node("Exp", [x], named: "y")
        b.output(b.node("Neg", [inner], named: "z"), outer)
        let model = try b.model()
        XCTAssertTrue(try checkPass(CommonSubexpressionElimination(), on: model, inputs: [input]).changed)
        XCTAssertEqual(opTypes(model), ["Exp", "Neg"])
        XCTAssertEqual(model.graph.outputs.map(\.name), ["z", "y"])
        XCTAssertTrue(model.graph.nodes[1].input(0) === model.graph.outputs[1])
    }

    /// The pass manager keeps passes idle across a change that only merged equal initializers: CSE reports such
    /// a change, and only such a change.
    func testReportsChangesThatOnlyMergedInitializers() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2, 3])
        let c1 = b.constant("c1", floats: [1, 2, 3], shape: [3])
        let c2 = b.constant("c2", floats: [1, 2, 3], shape: [3])
        b.output(b.node("Add", [b.node("Mul", [x, c1]), b.node("Sub", [x, c2])], named: "y"))
        let model = try b.model()
        let context = PassContext(opset: 17)
        XCTAssertTrue(try CommonSubexpressionElimination().run(on: model, context: context))
        XCTAssertTrue(context.changeOnlyMergedEqualConstants)

        let b2 = GraphBuilder()
        let x2 = b2.input("x", [2, 3])
        let k1 = b2.constant("k1", floats: [1, 2, 3], shape: [3])
        let k2 = b2.constant("k2", floats: [1, 2, 3], shape: [3])
        b2.output(b2.node("Add", [b2.node("Mul", [x2, k1]), b2.node("Mul", [x2, k2])], named: "y"))
        let merged = try b2.model()
        let context2 = PassContext(opset: 17)
        XCTAssertTrue(try CommonSubexpressionElimination().run(on: merged, context: context2))
        XCTAssertFalse(context2.changeOnlyMergedEqualConstants, "the two Mul nodes merged too")
        XCTAssertEqual(opTypes(merged), ["Mul", "Add"])

        // Equal bytes but another declared type: readers would see a different type, so not reported.
        let b3 = GraphBuilder()
        let x3 = b3.input("x", [2, 3])
        let d1 = b3.constant("d1", floats: [1, 2, 3], shape: [3])
        let d2 = b3.constant("d2", floats: [1, 2, 3], shape: [3])
        d2.type = .tensor(.float, nil)
        b3.output(b3.node("Add", [b3.node("Mul", [x3, d1]), b3.node("Sub", [x3, d2])], named: "y"))
        let retyped = try b3.model()
        let context3 = PassContext(opset: 17)
        XCTAssertTrue(try CommonSubexpressionElimination().run(on: retyped, context: context3))
        XCTAssertFalse(context3.changeOnlyMergedEqualConstants)
    }
}
