import IR
import XCTest

final class ElementwiseInferenceTests: XCTestCase {
    func testNumpyBroadcasting() throws {
        let b = GraphBuilder()
        let a = b.input("a", .float, [sym("N"), .known(1), .known(5)])
        let c = b.input("c", .float, [4, 1])
        let add = b.op("Add", [a, c])
        let scalar = b.op("Mul", [add, b.floats([2], shape: [])])
        try b.infer()
        XCTAssertShape(add, [sym("N"), .known(4), .known(5)])
        XCTAssertShape(scalar, [sym("N"), .known(4), .known(5)])
        XCTAssertEqual(add.elementType, .float)
    }

    func testIncompatibleBroadcastNamesNode() {
        let b = GraphBuilder()
        let a = b.input("a", .float, [2, 3])
        let c = b.input("c", .float, [4, 3])
        _ = b.op("Add", [a, c], name: "sum")
        XCTAssertMCCError(.failure, ["Add node 'sum'", "broadcast", "2 vs 4"]) { try b.infer() }
    }

    func testComparisonsAndLogicGiveBool() throws {
        let b = GraphBuilder()
        let a = b.input("a", .float, [2, 3])
        let eq = b.op("Less", [a, b.floats([0], shape: [])])
        let not = b.op("Not", [eq])
        let w = b.op("Where", [not, a, b.floats([1], shape: [1])])
        try b.infer()
        XCTAssertEqual(eq.elementType, .bool)
        XCTAssertEqual(not.elementType, .bool)
        XCTAssertShape(w, [2, 3])
        XCTAssertEqual(w.elementType, .float)
    }

    func testVariadicMaxAndUnaryFamily() throws {
        let b = GraphBuilder()
        let a = b.input("a", .float, [3, 1])
        let c = b.input("c", .float, [1, 4])
        let m = b.op("Max", [a, c, b.floats([0], shape: [])])
        var last = m
        for op in ["Relu", "Sigmoid", "Erf", "Gelu", "HardSwish", "Sqrt", "Softmax", "LogSoftmax", "Clip", "CumSum", "Trilu"] {
            last = b.op(op, op == "CumSum" ? [last, b.ints([1], shape: [])] : [last])
        }
        try b.infer()
        XCTAssertShape(m, [3, 4])
        XCTAssertShape(last, [3, 4])
    }

    func testCastQuantizeAndPRelu() throws {
        let b = GraphBuilder()
        let a = b.input("a", .float, [1, 8, 4, 4])
        let cast = b.op("Cast", [a], [attr("to", Int64(ElementType.float16.rawValue))])
        let q = b.op("QuantizeLinear", [a, b.floats([0.1], shape: []), nil])
        let dq = b.op("DequantizeLinear", [q, b.floats([0.1], shape: [])])
        let pr = b.op("PRelu", [a, b.weights([8, 1, 1])])
        let (drop, mask) = { let o = b.node("Dropout", [a], outputs: 2); return (o[0], o[1]) }()
        try b.infer()
        XCTAssertEqual(cast.elementType, .float16)
        XCTAssertEqual(q.elementType, .uint8)
        XCTAssertEqual(dq.elementType, .float)
        XCTAssertShape(pr, [1, 8, 4, 4])
        XCTAssertShape(drop, [1, 8, 4, 4])
        XCTAssertEqual(mask.elementType, .bool)
    }

    func testCastWithoutToNamesNode() {
        let b = GraphBuilder()
        let a = b.input("a", .float, [1])
        _ = b.op("Cast", [a], name: "bad_cast")
        XCTAssertMCCError(.failure, ["Cast node 'bad_cast'", "'to'"]) { try b.infer() }
    }
}
