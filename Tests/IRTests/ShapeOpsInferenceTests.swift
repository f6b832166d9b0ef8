import IR
import XCTest

final class ShapeOpsInferenceTests: XCTestCase {
    func testReshapeZeroAndMinusOne() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [2, 3, 4])
        let r1 = b.op("Reshape", [x, b.ints([0, -1])])
        let r2 = b.op("Reshape", [x, b.ints([-1, 2, 2])])
        try b.infer()
        XCTAssertShape(r1, [2, 12])
        XCTAssertShape(r2, [6, 2, 2])
    }

    func testReshapeAllowZeroAndSymbolicMinusOne() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [sym("N"), .known(3), .known(4)])
        let r = b.op("Reshape", [x, b.ints([0, -1])])
        let e = b.input("e", .float, [0, 4])
        let z = b.op("Reshape", [e, b.ints([4, 0])], [attr("allowzero", 1)])
        try b.infer(opset: 14)
        XCTAssertShape(r, [sym("N"), .known(12)])
        XCTAssertShape(z, [4, 0])
    }

    func testReshapeElementCountMismatchNamesNode() {
        let b = GraphBuilder()
        let x = b.input("x", .float, [2, 3, 4])
        _ = b.op("Reshape", [x, b.ints([5, -1])], name: "flat")
        XCTAssertMCCError(.failure, ["Reshape node 'flat'", "24 elements"]) { try b.infer() }
        let b2 = GraphBuilder()
        let y = b2.input("y", .float, [2, 3])
        _ = b2.op("Reshape", [y, b2.ints([4, 2])], name: "r")
        XCTAssertMCCError(.failure, ["Reshape node 'r'", "6 elements", "8 elements"]) { try b2.infer() }
    }

    /// The yolov8 head pattern: Shape → Gather → arithmetic → Concat → Reshape / Expand / Range.
    func testShapeSubgraphPropagation() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [sym("batch"), .known(64), sym("h"), sym("w")])
        let shape = b.op("Shape", [x])
        let h = b.op("Gather", [shape, b.ints([2], shape: [])])
        let w = b.op("Gather", [shape, b.ints([3], shape: [])])
        let hw = b.op("Mul", [h, w])
        let batch = b.op("Gather", [shape, b.ints([0])])
        let target = b.op("Concat", [batch, b.ints([4, 16]), b.op("Unsqueeze", [hw, b.ints([0])])], [attr("axis", 0)])
        let reshaped = b.op("Reshape", [x, target])
        let hf = b.op("Cast", [h], [attr("to", Int64(ElementType.float.rawValue))])
        let range = b.op("Range", [b.floats([0], shape: []), hf, b.floats([1], shape: [])])
        let tail = b.op("Shape", [x], [attr("start", -2)])
        let grid = b.op("ConstantOfShape", [tail])
        let ex = b.op("Expand", [b.floats([1], shape: [1, 1]), tail])
        try b.infer(fixed: ["x": [1, 64, 40, 30]])
        XCTAssertShape(reshaped, [1, 4, 16, 1200])
        XCTAssertShape(range, [40])
        XCTAssertShape(grid, [40, 30])
        XCTAssertShape(ex, [40, 30])
    }

    func testSymbolicShapesFlowWithoutFixing() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [sym("N"), .known(3), .known(8), .known(8)])
        let shape = b.op("Shape", [x])
        let n = b.op("Slice", [shape, b.ints([0]), b.ints([1])])
        let target = b.op("Concat", [n, b.ints([-1])], [attr("axis", 0)])
        let flat = b.op("Reshape", [x, target])
        let size = b.op("Size", [x])
        try b.infer()
        XCTAssertShape(flat, [sym("N"), .known(192)])
        XCTAssertShape(size, [])
    }

    func testSqueezeUnsqueezeByOpset() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [1, 3, 1, 5])
        let s11 = b.op("Squeeze", [x], [attr("axes", [0, -2])])
        let u11 = b.op("Unsqueeze", [s11], [attr("axes", [0, 3])])
        let all = b.op("Squeeze", [x])
        try b.infer(opset: 11)
        XCTAssertShape(s11, [3, 5])
        XCTAssertShape(u11, [1, 3, 5, 1])
        XCTAssertShape(all, [3, 5])

        let b13 = GraphBuilder()
        let y = b13.input("y", .float, [1, 3, 1, 5])
        let s13 = b13.op("Squeeze", [y, b13.ints([2])])
        let u13 = b13.op("Unsqueeze", [s13, b13.ints([-1])])
        try b13.infer(opset: 13)
        XCTAssertShape(s13, [1, 3, 5])
        XCTAssertShape(u13, [1, 3, 5, 1])
    }

    func testSqueezeNonUnitAndBadAxisNameNode() {
        let b = GraphBuilder()
        let x = b.input("x", .float, [1, 3])
        _ = b.op("Squeeze", [x, b.ints([1])], name: "sq")
        XCTAssertMCCError(.failure, ["Squeeze node 'sq'", "size 3"]) { try b.infer(opset: 13) }
        let b2 = GraphBuilder()
        let y = b2.input("y", .float, [1, 3])
        _ = b2.op("Unsqueeze", [y, b2.ints([7])], name: "us")
        XCTAssertMCCError(.failure, ["Unsqueeze node 'us'", "axis 7 is out of range"]) { try b2.infer(opset: 13) }
    }

    func testSliceAttributesAndInputs() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [10, 20, 30])
        let s9 = b.op("Slice", [x], [attr("starts", [2, -5]), attr("ends", [100, -1]), attr("axes", [0, 2])])
        try b.infer(opset: 9)
        XCTAssertShape(s9, [8, 20, 4])

        let b2 = GraphBuilder()
        let y = b2.input("y", .float, [10, 20, 30])
        let stepped = b2.op("Slice", [y, b2.ints([0, -1]), b2.ints([Int64.max, Int64.min]), b2.ints([1, 2]), b2.ints([3, -2])])
        let empty = b2.op("Slice", [y, b2.ints([5]), b2.ints([2]), b2.ints([0])])
        try b2.infer(opset: 13)
        XCTAssertShape(stepped, [10, 7, 15])
        XCTAssertShape(empty, [0, 20, 30])
    }

    func testSliceZeroStepNamesNode() {
        let b = GraphBuilder()
        let x = b.input("x", .float, [10])
        _ = b.op("Slice", [x, b.ints([0]), b.ints([5]), b.ints([0]), b.ints([0])], name: "sl")
        XCTAssertMCCError(.failure, ["Slice node 'sl'", "step 0"]) { try b.infer() }
    }

    func testSplitVariants() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [6, 4])
        let attrSplit = b.node("Split", [x], outputs: 2, [attr("split", [2, 4])])
        let equal = b.node("Split", [x], outputs: 3)
        try b.infer(opset: 11)
        XCTAssertShape(attrSplit[0], [2, 4])
        XCTAssertShape(attrSplit[1], [4, 4])
        XCTAssertShape(equal[2], [2, 4])

        let b2 = GraphBuilder()
        let y = b2.input("y", .float, [7, 4])
        let input = b2.node("Split", [y, b2.ints([3, 4])], outputs: 2)
        let uneven = b2.node("Split", [y], outputs: 2, [attr("num_outputs", 2)])
        try b2.infer(opset: 18)
        XCTAssertShape(input[1], [4, 4])
        XCTAssertShape(uneven[0], [4, 4])
        XCTAssertShape(uneven[1], [3, 4])
    }

    func testConcatTransposeFlattenTileDepthToSpace() throws {
        let b = GraphBuilder()
        let a = b.input("a", .float, [1, 8, 4, 6])
        let c = b.input("c", .float, [1, 4, 4, 6])
        let cat = b.op("Concat", [a, c], [attr("axis", -3)])
        let t = b.op("Transpose", [cat], [attr("perm", [0, 2, 3, 1])])
        let rev = b.op("Transpose", [cat])
        let flat = b.op("Flatten", [cat], [attr("axis", 2)])
        let tile = b.op("Tile", [a, b.ints([2, 1, 1, 3])])
        let d2s = b.op("DepthToSpace", [a], [attr("blocksize", 2)])
        let s2d = b.op("SpaceToDepth", [a], [attr("blocksize", 2)])
        try b.infer()
        XCTAssertShape(cat, [1, 12, 4, 6])
        XCTAssertShape(t, [1, 4, 6, 12])
        XCTAssertShape(rev, [6, 4, 12, 1])
        XCTAssertShape(flat, [12, 24])
        XCTAssertShape(tile, [2, 8, 4, 18])
        XCTAssertShape(d2s, [1, 2, 8, 12])
        XCTAssertShape(s2d, [1, 32, 2, 3])
    }

    func testConcatMismatchAndBadPermNameNode() {
        let b = GraphBuilder()
        let a = b.input("a", .float, [1, 8])
        let c = b.input("c", .float, [2, 8])
        _ = b.op("Concat", [a, c], name: "cat", [attr("axis", 1)])
        XCTAssertMCCError(.failure, ["Concat node 'cat'", "dim 0"]) { try b.infer() }
        let b2 = GraphBuilder()
        let x = b2.input("x", .float, [1, 8])
        _ = b2.op("Transpose", [x], name: "tp", [attr("perm", [0, 0])])
        XCTAssertMCCError(.failure, ["Transpose node 'tp'", "not a permutation"]) { try b2.infer() }
    }

    func testPadByOpset() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [1, 3, 4, 4])
        let p2 = b.op("Pad", [x], [attr("pads", [0, 0, 1, 2, 0, 0, 3, 4])])
        try b.infer(opset: 2)
        XCTAssertShape(p2, [1, 3, 8, 10])
        let b2 = GraphBuilder()
        let y = b2.input("y", .float, [1, 3, 4, 4])
        let p11 = b2.op("Pad", [y, b2.ints([0, 0, 1, 1, 0, 0, 1, -1])])
        let p18 = b2.op("Pad", [y, b2.ints([2, 2]), nil, b2.ints([-1])])
        try b2.infer(opset: 18)
        XCTAssertShape(p11, [1, 3, 6, 4])
        XCTAssertShape(p18, [1, 3, 4, 8])
    }

    func testRangeConstantOfShapeAndDynamicShapes() throws {
        let b = GraphBuilder()
        let r = b.op("Range", [b.ints([10], shape: []), b.ints([0], shape: []), b.ints([-3], shape: [])])
        let cos = b.op("ConstantOfShape", [b.ints([2, 3])], [Attribute("value", .tensor(Tensor(int64s: [7], shape: [1])))])
        let d = b.input("d", .int64, [3])
        let dyn = b.op("ConstantOfShape", [d])
        try b.infer()
        XCTAssertShape(r, [4])
        XCTAssertShape(cos, [2, 3])
        XCTAssertEqual(cos.elementType, .int64)
        XCTAssertShape(dyn, [.unknown, .unknown, .unknown])
    }
}
