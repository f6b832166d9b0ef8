import IR
import Interpreter
import XCTest

/// Hand-computed cases for the elementwise, logical, unary, activation and softmax op families.
final class ElementwiseOpsTests: XCTestCase {
    /// Runs a one-node model of `op`; nil inputs are absent optional inputs.
    private func run(
        _ op: String, _ inputs: [Tensor?], attributes: [Attribute] = [], opset: Int64 = 18, outputs: Int = 1
    ) throws -> [Tensor] {
        try runSingleNode(op, inputs, attributes: attributes, outputs: outputs, opset: opset)
    }

    private func floats(_ values: [Float], _ shape: [Int]) -> Tensor { Tensor(floats: values, shape: shape) }
    private func int32s(_ values: [Int32], _ shape: [Int]) -> Tensor { Tensor(.int32, shape: shape, values: values) }
    private func first(_ op: String, _ inputs: [Tensor?], attributes: [Attribute] = [], opset: Int64 = 18) throws -> Tensor {
        let outputs = try run(op, inputs, attributes: attributes, opset: opset)
        return try XCTUnwrap(outputs.first)
    }

    // MARK: arithmetic

    func testBroadcastingAdd() throws {
        let y = try first("Add", [floats([1, 2, 3, 4, 5, 6], [2, 3, 1]), floats([10, 20], [1, 2])])
        XCTAssertEqual(y.shape, [2, 3, 2])
        XCTAssertEqual(y.floatValues(), [11, 21, 12, 22, 13, 23, 14, 24, 15, 25, 16, 26])
        let i = try first("Mul", [int32s([1, -2, 3], [3]), int32s([5], [])])
        XCTAssertEqual(i.scalars(as: Int32.self), [5, -10, 15])
    }

    func testMismatchedShapesFailWithShapes() {
        XCTAssertThrowsError(try first("Sub", [floats([1, 2, 3], [3]), floats([1, 2], [2])])) { error in
            XCTAssertTrue("\(error)".contains("[3], [2]"), "\(error)")
        }
    }

    func testIntegerDivisionTruncatesTowardZero() throws {
        let y = try first("Div", [int32s([7, -7, 7, -7, 5], [5]), int32s([2, 2, -2, -2, 0], [5])])
        XCTAssertEqual(y.scalars(as: Int32.self), [3, -3, -3, 3, 0])
    }

    func testModSignRules() throws {
        let a = int32s([7, -7, 7, -7], [4]), b = int32s([3, 3, -3, -3], [4])
        XCTAssertEqual(try first("Mod", [a, b]).scalars(as: Int32.self), [1, 2, -2, -1])
        let c = try first("Mod", [a, b], attributes: [Attribute("fmod", .int(1))])
        XCTAssertEqual(c.scalars(as: Int32.self), [1, -1, 1, -1])
        let f = try first("Mod", [floats([5.5, -5.5], [2]), floats([2, 2], [2])], attributes: [Attribute("fmod", .int(1))])
        XCTAssertEqual(f.floatValues(), [1.5, -1.5])
    }

    func testPowMixedTypes() throws {
        let f = try first("Pow", [floats([2, 3, -2], [3]), Tensor(int64s: [3, 2, 3], shape: [3])])
        XCTAssertEqual(f.elementType, .float)
        XCTAssertEqual(f.floatValues(), [8, 9, -8])
        let i = try first("Pow", [int32s([2, 3, 4], [3]), floats([2, 0.5, 0.5], [3])])
        XCTAssertEqual(i.scalars(as: Int32.self), [4, 1, 2])
    }

    func testPowHalfExponentMatchesLibm() throws {
        let y = try first("Pow", [floats([-.infinity, 4, -1], [3]), floats([0.5], [])]).floatValues()
        XCTAssertEqual(y[0], .infinity)
        XCTAssertEqual(y[1], 2)
        XCTAssertTrue(y[2].isNaN)
    }

    func testVariadicMaxMinPropagateNaN() throws {
        let a = floats([1, .nan, 3], [3]), b = floats([2, 0, .nan], [3]), c = floats([0], [1])
        let mx = try first("Max", [a, b, c]).floatValues()
        XCTAssertEqual(mx[0], 2)
        XCTAssertTrue(mx[1].isNaN && mx[2].isNaN)
        let mn = try first("Min", [a, b]).floatValues()
        XCTAssertEqual(mn[0], 1)
        XCTAssertTrue(mn[1].isNaN && mn[2].isNaN)
        XCTAssertEqual(try first("Mean", [floats([1, 2], [2]), floats([3], [1]), floats([5, 7], [2])]).floatValues(), [3, 4])
        XCTAssertEqual(try first("Sum", [floats([1, 2], [2]), floats([3], [1])]).floatValues(), [4, 5])
    }

    func testPReluChannelSlope() throws {
        let y = try first("PRelu", [floats([-1, 2, -3, 4], [1, 2, 2, 1]), floats([0.5, 0.25], [2, 1, 1])])
        XCTAssertEqual(y.floatValues(), [-0.5, 2, -0.75, 4])
    }

    // MARK: logical

    func testComparisonsAndWhere() throws {
        let a = floats([1, 2, .nan], [3]), b = floats([2], [1])
        XCTAssertEqual(try first("Less", [a, b]).scalars(as: UInt8.self), [1, 0, 0])
        XCTAssertEqual(try first("GreaterOrEqual", [a, b]).scalars(as: UInt8.self), [0, 1, 0])
        let cond = Tensor(.bool, shape: [2, 1], values: [UInt8(1), 0])
        let w = try first("Where", [cond, int32s([1, 2], [2]), int32s([9], [])])
        XCTAssertEqual(w.shape, [2, 2])
        XCTAssertEqual(w.scalars(as: Int32.self), [1, 2, 9, 9])
    }

    func testBitShiftOverWidthIsZero() throws {
        let a = Tensor(.uint8, shape: [3], values: [UInt8(1), 255, 16])
        let s = Tensor(.uint8, shape: [3], values: [UInt8(7), 8, 2])
        let y = try first("BitShift", [a, s], attributes: [Attribute("direction", .string(Array("LEFT".utf8)))])
        XCTAssertEqual(y.scalars(as: UInt8.self), [128, 0, 64])
    }

    // MARK: unary and activations

    func testRoundHalfToEvenAndIntegerAbs() throws {
        XCTAssertEqual(try first("Round", [floats([0.5, 1.5, 2.5, -0.5, -1.5], [5])]).floatValues(), [0, 2, 2, -0, -2])
        XCTAssertEqual(try first("Abs", [Tensor(.int8, shape: [2], values: [Int8(-128), -3])]).scalars(as: Int8.self), [-128, 3])
    }

    func testClipBounds() throws {
        let x = floats([-2, 0, 6], [3])
        XCTAssertEqual(try first("Clip", [x, nil, floats([1], [])]).floatValues(), [-2, 0, 1])
        XCTAssertEqual(try first("Clip", [x, floats([-1], [])]).floatValues(), [-1, 0, 6])
        XCTAssertEqual(try first("Clip", [x, floats([2], []), floats([1], [])]).floatValues(), [1, 1, 1])
        let legacy = try first("Clip", [x], attributes: [Attribute("min", .float(-1)), Attribute("max", .float(1))], opset: 6)
        XCTAssertEqual(legacy.floatValues(), [-1, 0, 1])
        let i = try first("Clip", [Tensor(.int8, shape: [3], values: [Int8(-100), 5, 100]), nil, Tensor(.int8, shape: [], values: [Int8(50)])])
        XCTAssertEqual(i.scalars(as: Int8.self), [-100, 5, 50])
    }

    func testLeakyReluDefaultAlpha() throws {
        XCTAssertEqual(try first("LeakyRelu", [floats([-100, 3], [2])]).floatValues(), [-1, 3])
    }

    func testThresholdedReluZeroesNaN() throws {
        XCTAssertEqual(try first("ThresholdedRelu", [floats([.nan, 0.5, 2], [3])]).floatValues(), [0, 0, 2])
    }

    // MARK: softmax

    func testSoftmaxAxisByOpset() throws {
        let x = floats([0, 0, 0, 0, 0, 0], [1, 2, 3])
        // Opset 11 coerces to 2-D at axis 1: one row of 6.
        for v in try first("Softmax", [x], opset: 11).floatValues() { XCTAssertEqual(v, 1 / 6, accuracy: 1e-6) }
        // Opset 13 normalizes over the last axis only (default -1).
        for v in try first("Softmax", [x], opset: 13).floatValues() { XCTAssertEqual(v, 1 / 3, accuracy: 1e-6) }
        let h = try first("Hardmax", [floats([1, 3, 3, 2, 0, 1], [2, 3])], attributes: [Attribute("axis", .int(0))], opset: 13)
        XCTAssertEqual(h.floatValues(), [0, 1, 1, 1, 0, 0])
        let l = try first("LogSoftmax", [floats([1, 1], [2])], opset: 13).floatValues()
        XCTAssertEqual(l[0], -0.693_147_2, accuracy: 1e-6)
    }

    func testUnsupportedTypeIsReported() {
        XCTAssertThrowsError(try first("Sin", [int32s([1], [1])])) { error in
            XCTAssertTrue("\(error)".contains("unsupported"), "\(error)")
        }
    }
}
