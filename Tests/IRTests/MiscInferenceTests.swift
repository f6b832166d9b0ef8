import IR
import XCTest

final class MiscInferenceTests: XCTestCase {
    func testResizeScalesAndSizesByOpset() throws {
        let b10 = GraphBuilder()
        let x10 = b10.input("x", .float, [1, 3, 10, 15])
        let r10 = b10.op("Resize", [x10, b10.floats([1, 1, 2, 0.5])])
        try b10.infer(opset: 10)
        XCTAssertShape(r10, [1, 3, 20, 7])

        let b11 = GraphBuilder()
        let x11 = b11.input("x", .float, [1, 3, 10, 15])
        let empty = b11.floats([], shape: [0])
        let scaled = b11.op("Resize", [x11, empty, b11.floats([1, 1, 2, 2])])
        let sized = b11.op("Resize", [x11, empty, empty, b11.ints([1, 3, 32, 48])])
        try b11.infer(opset: 11)
        XCTAssertShape(scaled, [1, 3, 20, 30])
        XCTAssertShape(sized, [1, 3, 32, 48])

        let b13 = GraphBuilder()
        let x13 = b13.input("x", .float, [1, 3, 10, 15])
        let r13 = b13.op("Resize", [x13, nil, b13.floats([1, 1, 3, 3])])
        let dyn = b13.op("Resize", [x13, nil, nil, b13.input("sizes", .int64, [4])])
        let axes = b13.op("Resize", [x13, nil, nil, b13.ints([5, 5])], [attr("axes", [2, 3])])
        try b13.infer(opset: 18)
        XCTAssertShape(r13, [1, 3, 30, 45])
        XCTAssertShape(dyn, [Dim](repeating: .unknown, count: 4))
        XCTAssertShape(axes, [1, 3, 5, 5])
    }

    func testResizeBadScaleNamesNode() {
        let b = GraphBuilder()
        let x = b.input("x", .float, [1, 3, 10, 15])
        _ = b.op("Resize", [x, nil, b.floats([1, 1, 2])], name: "up")
        XCTAssertMCCError(.failure, ["Resize node 'up'", "3 values for 4 axes"]) { try b.infer(opset: 13) }
    }

    func testGatherFamilyScatterOneHot() throws {
        let b = GraphBuilder()
        let data = b.input("data", .float, [5, 4, 3])
        let idx = b.input("idx", .int64, [2, 6])
        let g = b.op("Gather", [data, idx], [attr("axis", 1)])
        let ge = b.op("GatherElements", [data, b.input("ei", .int64, [5, 4, 1])], [attr("axis", 2)])
        let gnd = b.op("GatherND", [data, b.input("ni", .int64, [7, 2])])
        let snd = b.op("ScatterND", [data, b.input("si", .int64, [2, 1]), b.input("su", .float, [2, 4, 3])])
        let oh = b.op("OneHot", [idx, b.ints([10], shape: []), b.floats([0, 1])], [attr("axis", 1)])
        let nms = b.op("NonMaxSuppression", [b.input("boxes", .float, [1, 100, 4]), b.input("scores", .float, [1, 2, 100])])
        try b.infer()
        XCTAssertShape(g, [5, 2, 6, 3])
        XCTAssertShape(ge, [5, 4, 1])
        XCTAssertShape(gnd, [7, 3])
        XCTAssertShape(snd, [5, 4, 3])
        XCTAssertShape(oh, [2, 10, 6])
        XCTAssertEqual(oh.elementType, .float)
        XCTAssertShape(nms, [.unknown, .known(3)])
    }

    func testGatherConstantIndexOutOfRangeNamesNode() {
        let b = GraphBuilder()
        let data = b.input("data", .float, [5, 4])
        _ = b.op("Gather", [data, b.ints([4])], name: "pick", [attr("axis", 1)])
        XCTAssertMCCError(.failure, ["Gather node 'pick'", "index 4"]) { try b.infer() }
    }

    func testNormalizations() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [2, 8, 5, 5])
        let bn = b.op("BatchNormalization", [x, b.weights([8]), b.weights([8]), b.weights([8]), b.weights([8])])
        let inorm = b.op("InstanceNormalization", [x, b.weights([8]), b.weights([8])])
        let ln = b.node("LayerNormalization", [x, b.weights([5, 5])], outputs: 3, [attr("axis", -2)])
        try b.infer()
        XCTAssertShape(bn, [2, 8, 5, 5])
        XCTAssertShape(inorm, [2, 8, 5, 5])
        XCTAssertShape(ln[0], [2, 8, 5, 5])
        XCTAssertShape(ln[1], [2, 8, 1, 1])
    }

    func testBatchNormParameterMismatchNamesNode() {
        let b = GraphBuilder()
        let x = b.input("x", .float, [2, 8, 5, 5])
        _ = b.op("BatchNormalization", [x, b.weights([4]), b.weights([8]), b.weights([8]), b.weights([8])], name: "bn")
        XCTAssertMCCError(.failure, ["BatchNormalization node 'bn'", "scale has 4 elements for 8 channels"]) { try b.infer() }
    }

    func testConstantNodesFeedShapeOps() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [2, 3, 4])
        let shapeValue = b.op("Constant", [], [Attribute("value", .tensor(Tensor(int64s: [4, 6], shape: [2])))])
        let ints = b.op("Constant", [], [attr("value_ints", [24])])
        let r = b.op("Reshape", [x, shapeValue])
        let flat = b.op("Reshape", [x, ints])
        try b.infer()
        XCTAssertShape(shapeValue, [2])
        XCTAssertShape(r, [4, 6])
        XCTAssertShape(flat, [24])
    }
}
