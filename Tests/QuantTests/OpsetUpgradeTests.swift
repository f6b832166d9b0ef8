import IR
import Interpreter
import Quant
import XCTest

/// Opset upgrades keep numerics: each rewritten op is run before (old opset) and after (new opset).
final class OpsetUpgradeTests: XCTestCase {
    func single(_ op: String, input: Tensor, attributes: [Attribute], opset: Int64, outputs: Int = 1) -> Model {
        let g = Graph(name: op)
        let x = Value(name: "x", type: input.valueType)
        g.inputs = [x]
        let outs = (0..<outputs).map { Value(name: "y\($0)") }
        g.append(Node(op, name: op.lowercased(), inputs: [x], outputs: outs, attributes: attributes))
        g.outputs = outs
        let m = Model(graph: g)
        m.opsetImports = [OpsetImport(domain: "", version: opset)]
        return m
    }

    func assertUpgradeKeepsOutputs(_ model: Model, input: Tensor, to target: Int64, file: StaticString = #filePath, line: UInt = #line) throws {
        let before = try Interpreter(model: model, threads: 1).run([input]).map { $0.floatValues() }
        try OpsetUpgrade.run(on: model, to: target)
        XCTAssertEqual(model.defaultOpset, target, file: file, line: line)
        try Verifier.verify(model)
        let after = try Interpreter(model: model, threads: 1).run([input]).map { $0.floatValues() }
        XCTAssertEqual(before.count, after.count, file: file, line: line)
        for (a, b) in zip(before, after) {
            XCTAssertEqual(a.count, b.count, file: file, line: line)
            for (u, v) in zip(a, b) { XCTAssertEqual(u, v, accuracy: 1e-6, file: file, line: line) }
        }
    }

    let x = Tensor(floats: (0..<24).map { Float($0) / 7 - 1 }, shape: [2, 3, 4])

    func testSoftmaxOverInnerAxisBecomesFlattenSoftmaxReshape() throws {
        let m = single("Softmax", input: x, attributes: [Attribute("axis", .int(1))], opset: 11)
        try assertUpgradeKeepsOutputs(m, input: x, to: 13)
        XCTAssertEqual(m.graph.nodes.map(\.opType), ["Flatten", "Softmax", "Reshape"])
    }

    func testSoftmaxOverLastAxisStaysOneNode() throws {
        let m = single("Softmax", input: x, attributes: [Attribute("axis", .int(2))], opset: 12)
        try assertUpgradeKeepsOutputs(m, input: x, to: 21)
        XCTAssertEqual(m.graph.nodes.map(\.opType), ["Softmax"])
    }

    func testSplitSqueezeUnsqueezeAndReduceMoveAxesToInputs() throws {
        try assertUpgradeKeepsOutputs(single("Split", input: x, attributes: [Attribute("axis", .int(2)), Attribute("split", .ints([1, 3]))],
                                             opset: 11, outputs: 2), input: x, to: 21)
        let even = single("Split", input: x, attributes: [Attribute("axis", .int(2))], opset: 12, outputs: 2)
        try assertUpgradeKeepsOutputs(even, input: x, to: 21)
        XCTAssertEqual(even.graph.nodes[0].attribute("num_outputs")?.int, 2)
        try assertUpgradeKeepsOutputs(single("Unsqueeze", input: x, attributes: [Attribute("axes", .ints([0, 3]))], opset: 11), input: x, to: 13)
        let one = Tensor(floats: [1, 2, 3], shape: [1, 3, 1])
        try assertUpgradeKeepsOutputs(single("Squeeze", input: one, attributes: [Attribute("axes", .ints([0, 2]))], opset: 12), input: one, to: 21)
        try assertUpgradeKeepsOutputs(single("ReduceMean", input: x, attributes: [Attribute("axes", .ints([1])), Attribute("keepdims", .int(1))],
                                             opset: 12), input: x, to: 21)
        try assertUpgradeKeepsOutputs(single("ReduceSum", input: x, attributes: [Attribute("axes", .ints([2])), Attribute("keepdims", .int(0))],
                                             opset: 11), input: x, to: 13)
    }

    func testOldOpsetsAndRemovedOpsAreRefused() {
        XCTAssertThrowsError(try OpsetUpgrade.run(on: single("Relu", input: x, attributes: [], opset: 9), to: 13))
        XCTAssertThrowsError(try OpsetUpgrade.run(on: single("Upsample", input: x, attributes: [], opset: 11), to: 13))
    }
}
