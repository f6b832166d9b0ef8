import XCTest
import Kernels

/// Zero-sized and degenerate shapes must run without touching memory out of bounds.
final class EdgeCaseTests: XCTestCase {
    func testEmptyShapes() {
        var y = [Float](repeating: 7, count: 4)
        let x: [Float] = [1, 2, 3, 4]
        conv2d(Conv2DParams(batch: 0, inChannels: 1, inHeight: 3, inWidth: 3, outChannels: 1, kernelHeight: 3,
                            kernelWidth: 3), x: x, weight: x, bias: nil, y: &y)
        conv2d(Conv2DParams(batch: 1, inChannels: 1, inHeight: 2, inWidth: 2, outChannels: 1, kernelHeight: 3,
                            kernelWidth: 3), x: x, weight: x, bias: nil, y: &y)  // output 0×0
        pool2d(.max, Pool2DParams(batch: 1, channels: 0, inHeight: 2, inWidth: 2, outHeight: 1, outWidth: 1,
                                  kernelHeight: 2, kernelWidth: 2), x: x, y: &y)
        binary(.add, a: x, aStrides: [1, 0], b: x, bStrides: [0, 1], outShape: [0, 4], y: &y)
        unary(.sigmoid, x: x, y: &y, count: 0)
        softmax(x: x, y: &y, outer: 0, axisLength: 4, inner: 1)
        reduce(.sum, x: x, shape: [0, 4], axes: [1], y: &y)
        transpose(src: x, shape: [0, 4], perm: [1, 0], elementSize: 4, dst: &y)
        resize(x: x, shape: [0, 2], axes: [ResizeAxis(inSize: 0, outSize: 0), ResizeAxis(inSize: 2, outSize: 4)],
               interpolation: .linear, transform: .halfPixel, y: &y)
        XCTAssertEqual(y, [7, 7, 7, 7])
        // Scalar (rank 0) binary and copy.
        binary(.mul, a: [3], aStrides: [], b: [4], bStrides: [], outShape: [], y: &y)
        XCTAssertEqual(y[0], 12)
        var z: Float = 0
        transpose(src: [5] as [Float], shape: [], perm: [], elementSize: 4, dst: &z)
        XCTAssertEqual(z, 5)
        // Zero-length sequence LSTM: Y_h is the initial state.
        var yH = [Float](repeating: 0, count: 2)
        lstm(LSTMParams(sequenceLength: 0, batch: 1, inputSize: 1, hiddenSize: 2), x: [], w: [Float](repeating: 0, count: 8),
             r: [Float](repeating: 0, count: 16), b: nil, sequenceLengths: nil, initialH: [0.5, -0.5], initialC: nil,
             peepholes: nil, y: nil, yH: &yH, yC: nil)
        XCTAssertEqual(yH, [0.5, -0.5])
    }
}
