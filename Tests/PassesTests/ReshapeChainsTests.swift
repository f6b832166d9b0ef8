import IR
import Interpreter
import Passes
import XCTest

/// ReshapeChains: chains of order-preserving shape ops become one Reshape, Transpose pairs one Transpose (or none).
/// Data is only moved, so outputs compare exactly.
final class ReshapeChainsTests: XCTestCase {
    private let input = Tensor(floats: testFloats(24, seed: 5), shape: [2, 3, 4])

    /// Runs ReshapeChains, then the cleanups that remove what it leaves behind.
    private func simplify(_ model: Model, inputs: [Tensor]) throws -> Bool {
        let changed = try checkPass(ReshapeChains(), on: model, inputs: inputs).changed
        try checkPass(IdentityElimination(), on: model, inputs: inputs)
        try checkPass(DeadCodeElimination(), on: model, inputs: inputs)
        try checkPass(UnusedInitializerRemoval(), on: model, inputs: inputs)
        return changed
    }

    func testReshapeOfReshapeBecomesOneReshape() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2, 3, 4])
        let flat = b.node("Reshape", [x, b.constant("s1", int64s: [6, 4])])
        b.output(b.node("Reshape", [flat, b.constant("s2", int64s: [4, -1])], named: "y"))
        let model = try b.model()
        XCTAssertTrue(try simplify(model, inputs: [input]))
        XCTAssertEqual(opTypes(model), ["Reshape"])
        XCTAssertTrue(model.graph.nodes[0].input(0) === x)
        XCTAssertEqual(model.graph.nodes[0].input(1)?.initializer?.int64Values(), [4, 6])
    }

    func testSqueezeUnsqueezeFlattenChainsCollapse() throws {
        let b = GraphBuilder()
        let x = b.input("x", [1, 6, 4])
        let squeezed = b.node("Squeeze", [x, b.constant("axes0", int64s: [0])])
        let unsqueezed = b.node("Unsqueeze", [squeezed, b.constant("axes1", int64s: [0])])  // back to x's shape
        let flat = b.node("Flatten", [b.node("Relu", [unsqueezed])], attributes: [Attribute("axis", .int(2))])
        b.output(b.node("Reshape", [flat, b.constant("s", int64s: [24])], named: "y"))
        let model = try b.model()
        XCTAssertTrue(try simplify(model, inputs: [Tensor(floats: testFloats(24), shape: [1, 6, 4])]))
        XCTAssertEqual(opTypes(model), ["Relu", "Reshape"])
        XCTAssertTrue(model.graph.nodes[0].input(0) === x, "Unsqueeze(Squeeze(x)) is x")
    }

    func testTransposePairsCompose() throws {
        let b = GraphBuilder()
        let x = b.input("x", [2, 3, 4])
        let t1 = b.node("Transpose", [x], attributes: [Attribute("perm", .ints([0, 2, 1]))])
        let back = b.node("Transpose", [t1], attributes: [Attribute("perm", .ints([0, 2, 1]))])
        let t2 = b.node("Transpose", [x], attributes: [Attribute("perm", .ints([1, 0, 2]))])
        let moved = b.node("Transpose", [t2], attributes: [Attribute("perm", .ints([0, 2, 1]))])
        b.output(b.node("Relu", [back], named: "y"), b.node("Transpose", [moved], named: "z"))  // no perm: reverse
        let model = try b.model()
        XCTAssertTrue(try simplify(model, inputs: [input]))
        XCTAssertEqual(opTypes(model), ["Relu", "Transpose"])
        XCTAssertTrue(model.graph.nodes[0].input(0) === x, "the inverse pair vanished")
        // [1,0,2] then [0,2,1] is q = [1,2,0]; then the reversal [2,1,0] gives [q[2], q[1], q[0]] = [0,2,1].
        XCTAssertTrue(model.graph.nodes[1].input(0) === x)
        XCTAssertEqual(model.graph.nodes[1].attribute("perm")?.ints, [0, 2, 1])
    }

    func testLeavesOtherProducersAndDimCopyingTargetsAlone() throws {
        let b = GraphBuilder()
        let x = Value(name: "x", type: .tensor(.float, Shape([.symbolic("n"), .known(3), .known(4)])))
        b.graph.inputs = [x]
        let relu = b.node("Relu", [x])
        let viaRelu = b.node("Reshape", [relu, b.constant("s0", int64s: [-1, 4])])
        let first = b.node("Reshape", [x, b.constant("s1", int64s: [-1, 12])])
        let copiesDim = b.node("Reshape", [first, b.constant("s2", int64s: [0, 3, 4])])  // 0 copies the *input's* dim 0
        b.output(b.node("Abs", [viaRelu], named: "y"), b.node("Abs", [copiesDim], named: "z"))
        let model = try b.model()
        XCTAssertFalse(try checkPass(ReshapeChains(), on: model, inputs: [input]).changed)
        XCTAssertEqual(opTypes(model), ["Relu", "Reshape", "Reshape", "Reshape", "Abs", "Abs"])
    }
}
