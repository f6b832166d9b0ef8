import XCTest
import IR
import Quant

/// Encodings and fake quantization against hand-computed values.
final class QuantEncodingTests: XCTestCase {
    func testAsymmetricEncodingCoversRangeAndZero() {
        // [-1, 3] on uint8: scale 4/255, zero point round(1 / (4/255)) = round(63.75) = 64.
        let e = QuantEncoding.asymmetric(min: -1, max: 3, bits: 8)
        XCTAssertEqual(e.storage, .uint8)
        XCTAssertEqual(e.scales[0], 4 / 255, accuracy: 1e-9)
        XCTAssertEqual(e.zeroPoints, [64])
        XCTAssertEqual(e.quantize(0), 64)
        XCTAssertEqual(e.dequantize(64), 0)
    }

    func testRangeIsWidenedToContainZero() {
        // [2, 10] quantizes as [0, 10]: zero must be exact.
        let e = QuantEncoding.asymmetric(min: 2, max: 10, bits: 8)
        XCTAssertEqual(e.zeroPoints, [0])
        XCTAssertEqual(e.scales[0], 10 / 255, accuracy: 1e-9)
    }

    func testSymmetricWeightsUseRestrictedRange() {
        let e = QuantEncoding.symmetricWeights(absMax: [1.27, 0], bits: 8, axis: 0)
        XCTAssertEqual(e.qmin, -127)
        XCTAssertEqual(e.qmax, 127)
        XCTAssertEqual(e.scales[0], 0.01, accuracy: 1e-9)
        // An all-zero channel gets scale 1 and stays exactly zero.
        XCTAssertEqual(e.scales[1], 1)
        XCTAssertEqual(e.quantize(-5, channel: 0), -127)  // saturates
    }

    func testFakeQuantizeRoundsHalfToEvenAndSaturates() {
        // scale 0.5, zero point 10, uint8: x/s = 1.25 → 1 (+10 = 11) → 0.5; 0.75/0.5 = 1.5 → 2 (even) → 1.0;
        // 1.25/0.5 = 2.5 → 2 (even) → 1.0; -10/0.5 + 10 = -10 → clamps to 0 → -5.0; 200/0.5 + 10 → 255 → 122.5.
        let e = QuantEncoding(storage: .uint8, scales: [0.5], zeroPoints: [10], axis: nil, symmetric: false)
        let x: [Float] = [0.625, 0.75, 1.25, -10, 200, 0, 0.25, -0.25, 0.26, 1, 2, 3, 4, 5, 6, 7, 8]
        let y = FakeQuantize.apply(e, to: Tensor(floats: x, shape: [x.count])).floatValues()
        let expected: [Float] = [0.5, 1.0, 1.0, -5.0, 122.5, 0, 0, 0, 0.5, 1, 2, 3, 4, 5, 6, 7, 8]
        XCTAssertEqual(y, expected)
    }

    func testPerChannelFakeQuantize() {
        // Shape [2, 3], axis 0: channel 0 scale 1, channel 1 scale 0.1, symmetric int8.
        let e = QuantEncoding(storage: .int8, scales: [1, 0.1], zeroPoints: [0, 0], axis: 0, symmetric: true, qmin: -127, qmax: 127)
        let y = FakeQuantize.apply(e, to: Tensor(floats: [0.4, 0.6, -200, 0.04, 0.06, -200], shape: [2, 3])).floatValues()
        XCTAssertEqual(y[0], 0)
        XCTAssertEqual(y[1], 1)
        XCTAssertEqual(y[2], -127)
        XCTAssertEqual(y[3], 0, accuracy: 1e-7)
        XCTAssertEqual(y[4], 0.1, accuracy: 1e-7)
        XCTAssertEqual(y[5], -12.7, accuracy: 1e-5)
    }
}
