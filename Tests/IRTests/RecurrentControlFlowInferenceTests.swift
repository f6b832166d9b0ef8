import IR
import XCTest

final class RecurrentControlFlowInferenceTests: XCTestCase {
    func testLSTMLayouts() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [7, 2, 16])
        let lstm = b.node("LSTM", [x, b.weights([1, 128, 16]), b.weights([1, 128, 32])], outputs: 3, [attr("hidden_size", 32)])
        let y = b.input("y", .float, [2, 7, 16])
        let gru = b.node("GRU", [y, b.weights([2, 96, 16]), b.weights([2, 96, 32])], outputs: 2,
                         [attr("layout", 1), attr("direction", "bidirectional")])
        try b.infer()
        XCTAssertShape(lstm[0], [7, 1, 2, 32])
        XCTAssertShape(lstm[1], [1, 2, 32])
        XCTAssertShape(lstm[2], [1, 2, 32])
        XCTAssertShape(gru[0], [2, 7, 2, 32])
        XCTAssertShape(gru[1], [2, 2, 32])
    }

    func testLSTMWeightMismatchNamesNode() {
        let b = GraphBuilder()
        let x = b.input("x", .float, [7, 2, 16])
        _ = b.node("LSTM", [x, b.weights([1, 128, 16]), b.weights([1, 100, 32])], outputs: 1, name: "rnn")
        XCTAssertMCCError(.failure, ["LSTM node 'rnn'", "128 rows"]) { try b.infer() }
    }

    /// A branch whose outputs read `x` through an op, producing `dims`.
    private func branch(_ name: String, _ x: Value, reshapeTo dims: [Int64]) -> Graph {
        let g = Graph(name: name)
        let shape = Value(name: "\(name)_shape", initializer: Tensor(int64s: dims, shape: [dims.count]))
        g.initializers.append(shape)
        let out = Value(name: "\(name)_out")
        g.append(Node("Reshape", name: "\(name)_reshape", inputs: [x, shape], outputs: [out]))
        g.outputs = [out]
        return g
    }

    func testIfMergesBranchesWhenConditionUnknown() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [2, 6])
        let cond = b.input("cond", .bool, [])
        let out = b.op("If", [cond], [Attribute("then_branch", .graph(branch("t", x, reshapeTo: [3, 4]))),
                                      Attribute("else_branch", .graph(branch("e", x, reshapeTo: [3, 2, 2])))])
        let same = b.op("If", [cond], [Attribute("then_branch", .graph(branch("t2", x, reshapeTo: [3, 4]))),
                                       Attribute("else_branch", .graph(branch("e2", x, reshapeTo: [4, 3])))])
        try b.infer()
        XCTAssertShape(out, nil)
        XCTAssertEqual(out.elementType, .float)
        XCTAssertShape(same, [.unknown, .unknown])
    }

    func testIfTakesKnownBranchAndSkipsInvalidOne() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [2, 6])
        let shape = b.op("Shape", [x])
        let first = b.op("Gather", [shape, b.ints([0], shape: [])])
        let cond = b.op("Equal", [first, b.ints([2], shape: [])])
        // The else branch is invalid for these shapes (12 elements into 5), but is never taken.
        let out = b.op("If", [cond], [Attribute("then_branch", .graph(branch("t", x, reshapeTo: [3, 4]))),
                                      Attribute("else_branch", .graph(branch("e", x, reshapeTo: [5])))])
        try b.infer()
        XCTAssertShape(out, [3, 4])
    }

    func testIfErrorInBothBranchesNamesNodes() {
        let b = GraphBuilder()
        let x = b.input("x", .float, [2, 6])
        let cond = b.input("cond", .bool, [])
        _ = b.op("If", [cond], name: "choose", [Attribute("then_branch", .graph(branch("t", x, reshapeTo: [5]))),
                                                Attribute("else_branch", .graph(branch("e", x, reshapeTo: [7])))])
        XCTAssertMCCError(.failure, ["If node 'choose'", "Reshape node 't_reshape'"]) { try b.infer() }
    }

    func testLoopCarriedAndScanOutputs() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [4, 3])
        let body = Graph(name: "body")
        let iter = Value(name: "iter"), condIn = Value(name: "cond_in"), carried = Value(name: "v_in")
        body.inputs = [iter, condIn, carried]
        let next = Value(name: "v_out"), condOut = Value(name: "cond_out"), scanned = Value(name: "scan")
        body.append(Node("Identity", name: "keep", inputs: [condIn], outputs: [condOut]))
        body.append(Node("Relu", name: "step", inputs: [carried], outputs: [next]))
        body.append(Node("ReduceSum", name: "emit", inputs: [carried], outputs: [scanned], attributes: [attr("keepdims", 0)]))
        body.outputs = [condOut, next, scanned]
        let outs = b.node("Loop", [b.ints([5], shape: []), nil, x], outputs: 2, [Attribute("body", .graph(body))])
        try b.infer(opset: 11)
        XCTAssertShape(outs[0], [4, 3])
        XCTAssertShape(outs[1], [5])
    }
}
