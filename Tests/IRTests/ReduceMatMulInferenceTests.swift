import IR
import XCTest

final class ReduceMatMulInferenceTests: XCTestCase {
    func testReduceAxesAttributeAndInputByOpset() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [2, 3, 4])
        let mean = b.op("ReduceMean", [x], [attr("axes", [-1])])
        let flat = b.op("ReduceMax", [x], [attr("keepdims", 0)])
        let sum = b.op("ReduceSum", [x, b.ints([1])], [attr("keepdims", 0)])
        try b.infer(opset: 13)
        XCTAssertShape(mean, [2, 3, 1])
        XCTAssertShape(flat, [])
        XCTAssertShape(sum, [2, 4])

        let b18 = GraphBuilder()
        let y = b18.input("y", .float, [2, 3, 4])
        let m18 = b18.op("ReduceMean", [y, b18.ints([0, 2])])
        let noop = b18.op("ReduceL2", [y], [attr("noop_with_empty_axes", 1)])
        let dyn = b18.op("ReduceMin", [y, b18.input("axes", .int64, [1])])
        try b18.infer(opset: 18)
        XCTAssertShape(m18, [1, 3, 1])
        XCTAssertShape(noop, [2, 3, 4])
        XCTAssertShape(dyn, [.unknown, .unknown, .unknown])
    }

    func testReduceBadAxisNamesNode() {
        let b = GraphBuilder()
        let x = b.input("x", .float, [2, 3])
        _ = b.op("ReduceMean", [x], name: "rm", [attr("axes", [2])])
        XCTAssertMCCError(.failure, ["ReduceMean node 'rm'", "axis 2 is out of range for rank 2"]) { try b.infer(opset: 13) }
    }

    func testArgMaxAndTopK() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [2, 10])
        let am = b.op("ArgMax", [x], [attr("axis", 1), attr("keepdims", 0)])
        let top = b.node("TopK", [x, b.ints([3])], outputs: 2)
        try b.infer()
        XCTAssertShape(am, [2])
        XCTAssertEqual(am.elementType, .int64)
        XCTAssertShape(top[0], [2, 3])
        XCTAssertEqual(top[1].elementType, .int64)
    }

    func testTopKLargerThanAxisNamesNode() {
        let b = GraphBuilder()
        let x = b.input("x", .float, [2, 10])
        _ = b.node("TopK", [x, b.ints([11])], outputs: 2, name: "top")
        XCTAssertMCCError(.failure, ["TopK node 'top'", "k 11"]) { try b.infer() }
    }

    func testMatMulPromotionAndBatching() throws {
        let b = GraphBuilder()
        let a = b.input("a", .float, [sym("B"), .known(1), .known(5), .known(6)])
        let m = b.op("MatMul", [a, b.weights([3, 6, 7])])
        let v = b.op("MatMul", [a, b.weights([6])])
        let w = b.op("MatMul", [b.weights([5]), b.weights([5, 2])])
        try b.infer()
        XCTAssertShape(m, [sym("B"), .known(3), .known(5), .known(7)])
        XCTAssertShape(v, [sym("B"), .known(1), .known(5)])
        XCTAssertShape(w, [2])
    }

    func testMatMulInnerMismatchNamesNode() {
        let b = GraphBuilder()
        let a = b.input("a", .float, [4, 5])
        _ = b.op("MatMul", [a, b.weights([6, 2])], name: "mm")
        XCTAssertMCCError(.failure, ["MatMul node 'mm'", "5 vs 6"]) { try b.infer() }
    }

    func testGemmTransposes() throws {
        let b = GraphBuilder()
        let a = b.input("a", .float, [3, 8])
        let g = b.op("Gemm", [a, b.weights([10, 8]), b.weights([10])], [attr("transB", 1)])
        let g2 = b.op("Gemm", [b.weights([8, 3]), b.weights([8, 4])], [attr("transA", 1)])
        try b.infer()
        XCTAssertShape(g, [3, 10])
        XCTAssertShape(g2, [3, 4])
    }

    func testEinsum() throws {
        let b = GraphBuilder()
        let a = b.input("a", .float, [2, 3, 4])
        let c = b.input("c", .float, [2, 4, 5])
        let batched = b.op("Einsum", [a, c], [attr("equation", "bij,bjk->bik")])
        let implicit = b.op("Einsum", [b.weights([3, 4]), b.weights([4, 5])], [attr("equation", "ij,jk")])
        let ellipsis = b.op("Einsum", [a], [attr("equation", "...ij->...ji")])
        try b.infer()
        XCTAssertShape(batched, [2, 3, 5])
        XCTAssertShape(implicit, [3, 5])
        XCTAssertShape(ellipsis, [2, 4, 3])
    }
}
