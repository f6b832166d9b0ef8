import IR
import XCTest

final class ConvPoolInferenceTests: XCTestCase {
    func testConvPadsStridesDilationsGroups() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [sym("N"), .known(8), .known(32), .known(30)])
        let c1 = b.op("Conv", [x, b.weights([16, 8, 3, 3]), b.weights([16])],
                      [attr("pads", [1, 1, 1, 1]), attr("strides", [2, 2])])
        let c2 = b.op("Conv", [x, b.weights([8, 2, 3, 3])], [attr("group", 4), attr("dilations", [2, 2])])
        let c3 = b.op("Conv", [x, b.weights([4, 8, 3, 3])], [attr("auto_pad", "SAME_UPPER"), attr("strides", [2, 2])])
        let c4 = b.op("Conv", [x, b.weights([4, 8, 1, 1])], [attr("auto_pad", "VALID")])
        try b.infer()
        XCTAssertShape(c1, [sym("N"), .known(16), .known(16), .known(15)])
        XCTAssertShape(c2, [sym("N"), .known(8), .known(28), .known(26)])
        XCTAssertShape(c3, [sym("N"), .known(4), .known(16), .known(15)])
        XCTAssertShape(c4, [sym("N"), .known(4), .known(32), .known(30)])
    }

    func testConv1D() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [1, 129, 4])
        let c = b.op("Conv", [x, b.weights([128, 129, 3]), b.weights([128])], [attr("pads", [1, 1])])
        try b.infer()
        XCTAssertShape(c, [1, 128, 4])
    }

    func testConvChannelMismatchNamesNode() {
        let b = GraphBuilder()
        let x = b.input("x", .float, [1, 3, 8, 8])
        _ = b.op("Conv", [x, b.weights([16, 4, 3, 3])], name: "stem")
        XCTAssertMCCError(.failure, ["Conv node 'stem'", "3 channels", "expect 4"]) { try b.infer() }
    }

    func testConvKernelLargerThanInputAndBadAttributes() {
        let b = GraphBuilder()
        let x = b.input("x", .float, [1, 3, 2, 2])
        _ = b.op("Conv", [x, b.weights([4, 3, 5, 5])], name: "big")
        XCTAssertMCCError(.failure, ["Conv node 'big'", "does not fit"]) { try b.infer() }
        let b2 = GraphBuilder()
        let y = b2.input("y", .float, [1, 3, 8, 8])
        _ = b2.op("Conv", [y, b2.weights([4, 3, 3, 3])], name: "odd", [attr("strides", [1])])
        XCTAssertMCCError(.failure, ["Conv node 'odd'", "strides has 1 values, expected 2"]) { try b2.infer() }
        let b3 = GraphBuilder()
        let z = b3.input("z", .float, [1, 3, 8, 8])
        _ = b3.op("Conv", [z, b3.weights([4, 3, 3, 3])], name: "zero", [attr("strides", [0, 1])])
        XCTAssertMCCError(.failure, ["Conv node 'zero'", "stride 0"]) { try b3.infer() }
    }

    func testConvTransposeOutputPaddingAndOutputShape() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [1, 16, 10, 12])
        let t1 = b.op("ConvTranspose", [x, b.weights([16, 8, 4, 4])],
                      [attr("strides", [2, 2]), attr("pads", [1, 1, 1, 1])])
        let t2 = b.op("ConvTranspose", [x, b.weights([16, 8, 3, 3])],
                      [attr("strides", [2, 2]), attr("pads", [1, 1, 1, 1]), attr("output_padding", [1, 1])])
        let t3 = b.op("ConvTranspose", [x, b.weights([16, 4, 2, 2])],
                      [attr("strides", [2, 2]), attr("output_shape", [21, 25]), attr("group", 2)])
        try b.infer()
        XCTAssertShape(t1, [1, 8, 20, 24])
        XCTAssertShape(t2, [1, 8, 20, 24])
        XCTAssertShape(t3, [1, 8, 21, 25])
    }

    func testPoolsCeilModeAndGlobal() throws {
        let b = GraphBuilder()
        let x = b.input("x", .float, [1, 4, 7, 7])
        let floorPool = b.op("MaxPool", [x], [attr("kernel_shape", [2, 2]), attr("strides", [2, 2])])
        let ceilPool = b.op("MaxPool", [x], [attr("kernel_shape", [2, 2]), attr("strides", [2, 2]), attr("ceil_mode", 1)])
        let avg = b.op("AveragePool", [x], [attr("kernel_shape", [3, 3]), attr("pads", [1, 1, 1, 1])])
        let global = b.op("GlobalAveragePool", [x])
        try b.infer()
        XCTAssertShape(floorPool, [1, 4, 3, 3])
        XCTAssertShape(ceilPool, [1, 4, 4, 4])
        XCTAssertShape(avg, [1, 4, 7, 7])
        XCTAssertShape(global, [1, 4, 1, 1])
    }

    func testPoolWithoutKernelShapeNamesNode() {
        let b = GraphBuilder()
        let x = b.input("x", .float, [1, 4, 7, 7])
        _ = b.op("MaxPool", [x], name: "pool")
        XCTAssertMCCError(.failure, ["MaxPool node 'pool'", "kernel_shape"]) { try b.infer() }
    }

    func testConvAttributesResolveSamePads() throws {
        let node = Node("Conv", name: "c", attributes: [attr("auto_pad", "SAME_LOWER"), attr("strides", [2])])
        let a = try ConvAttributes(node: node, spatialRank: 1, kernelShape: [4])
        XCTAssertEqual(a.resolvedPads(inputSizes: [7]), [2, 1])
        XCTAssertEqual(a.outputSize(inputSize: 7, axis: 0), 4)
        let upper = try ConvAttributes(node: Node("Conv", attributes: [attr("auto_pad", "SAME_UPPER")]), spatialRank: 1, kernelShape: [4])
        XCTAssertEqual(upper.resolvedPads(inputSizes: [7]), [1, 2])
    }
}
