import IR
import XCTest

/// The IR core's structural checks and topological sort.
final class VerifierTests: XCTestCase {
    private func chain() -> (Graph, Value, [Node]) {
        let g = Graph(name: "g")
        let x = Value(name: "x", type: .tensor(.float, Shape([1])))
        g.inputs = [x]
        let a = Value(name: "a"), b = Value(name: "b")
        let n1 = Node("Relu", name: "n1", inputs: [x], outputs: [a])
        let n2 = Node("Neg", name: "n2", inputs: [a], outputs: [b])
        g.append(n1)
        g.append(n2)
        g.outputs = [b]
        return (g, x, [n1, n2])
    }

    func testValidGraphVerifies() throws {
        let (g, _, _) = chain()
        try Verifier.verify(Model(graph: g))
    }

    func testUndefinedInputNamesNode() {
        let (g, _, _) = chain()
        g.append(Node("Add", name: "n3", inputs: [Value(name: "ghost")], outputs: [Value(name: "c")]))
        XCTAssertMCCError(.failure, ["Add node 'n3'", "'ghost' is not defined"]) { try Verifier.verify(Model(graph: g)) }
    }

    func testDuplicateNamesAreRejected() {
        let (g, _, nodes) = chain()
        g.append(Node("Relu", name: "dup", inputs: [nodes[0].outputs[0]], outputs: [Value(name: "b")]))
        XCTAssertMCCError(.failure, ["'b' is defined twice"]) { try Verifier.verify(Model(graph: g)) }
    }

    func testUnsortedGraphIsRejectedThenSorted() throws {
        let (g, _, nodes) = chain()
        g.setNodes([nodes[1], nodes[0]])
        XCTAssertMCCError(.failure, ["Neg node 'n2'", "before it is produced"]) { try Verifier.verify(Model(graph: g)) }
        try g.sortTopologically()
        XCTAssertEqual(g.nodes.map(\.name), ["n1", "n2"])
        try Verifier.verify(Model(graph: g))
    }

    func testCycleIsDetected() {
        let g = Graph(name: "g")
        let a = Value(name: "a"), b = Value(name: "b")
        let n1 = Node("Relu", name: "n1", inputs: [b], outputs: [a])
        let n2 = Node("Neg", name: "n2", inputs: [a], outputs: [b])
        g.append(n1)
        g.append(n2)
        XCTAssertMCCError(.failure, ["cycle"]) { try g.sortTopologically() }
        let self1 = Graph()
        let v = Value(name: "v")
        self1.append(Node("Relu", name: "loop", inputs: [v], outputs: [v]))
        XCTAssertMCCError(.failure, ["Relu node 'loop'", "cycle"]) { try self1.sortTopologically() }
    }

    func testUseListsStayConsistent() throws {
        let (g, x, nodes) = chain()
        XCTAssertEqual(x.uses.count, 1)
        let y = Value(name: "y", type: .tensor(.float, Shape([1])))
        g.inputs.append(y)
        x.replaceAllUses(with: y)
        XCTAssertEqual(x.uses.count, 0)
        XCTAssertTrue(y.uses.contains { $0.node === nodes[0] && $0.index == 0 })
        try Verifier.verify(Model(graph: g))
        nodes[1].setInputs([y, nodes[0].outputs[0]])
        XCTAssertEqual(nodes[0].outputs[0].uses.map(\.index), [1])
        try Verifier.verify(Model(graph: g))
    }

    /// replaceAllUses moves every use at once: the same lists as `setInput` per use in list order (the new value
    /// gains them in that order after its own), including a node reading the old value at two inputs.
    func testReplaceAllUsesKeepsUseListsInOrder() throws {
        let g = Graph(name: "g")
        let a = Value(name: "a", type: .tensor(.float, Shape([1])))
        let b = Value(name: "b", type: .tensor(.float, Shape([1])))
        g.inputs = [a, b]
        let n1 = Node("Add", name: "n1", inputs: [a, a], outputs: [Value(name: "s")])
        let n2 = Node("Neg", name: "n2", inputs: [b], outputs: [Value(name: "t")])
        let n3 = Node("Mul", name: "n3", inputs: [n1.outputs[0], a], outputs: [Value(name: "u")])
        for n in [n1, n2, n3] { g.append(n) }
        g.outputs = [n2.outputs[0], n3.outputs[0]]
        a.replaceAllUses(with: b)
        XCTAssertTrue(a.uses.isEmpty)
        XCTAssertEqual(b.uses.map(\.node.name), ["n2", "n1", "n1", "n3"])
        XCTAssertEqual(b.uses.map(\.index), [0, 0, 1, 1])
        XCTAssertTrue(n1.inputs.allSatisfy { $0 === b } && n3.inputs[1] === b)
        try Verifier.verify(Model(graph: g))
        // One use: the single-reader path.
        let s = n1.outputs[0]
        s.replaceAllUses(with: b)
        XCTAssertTrue(s.uses.isEmpty)
        XCTAssertTrue(n3.inputs[0] === b)
        XCTAssertEqual(b.uses.map(\.node.name), ["n2", "n1", "n1", "n3", "n3"])
        XCTAssertEqual(b.uses.map(\.index), [0, 0, 1, 1, 0])
        b.replaceAllUses(with: b)
        XCTAssertEqual(b.uses.count, 5)
    }

    func testSubgraphMayReadOuterValues() throws {
        let (g, x, _) = chain()
        let body = Graph(name: "then")
        let out = Value(name: "t")
        body.append(Node("Identity", name: "inner", inputs: [x], outputs: [out]))
        body.outputs = [out]
        let cond = Value(name: "cond", type: .tensor(.bool, Shape([Int]())))
        g.inputs.append(cond)
        let ifOut = Value(name: "r")
        g.append(Node("If", name: "branch", inputs: [cond], outputs: [ifOut],
                      attributes: [Attribute("then_branch", .graph(body)), Attribute("else_branch", .graph(body))]))
        try Verifier.verify(Model(graph: g))
        XCTAssertTrue(g.nodes.last?.transitiveInputs().contains { $0 === x } ?? false)
    }
}
