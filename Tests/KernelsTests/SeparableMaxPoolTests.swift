import TestSupport
import XCTest
import Kernels

/// `separableMaxPool2d` (C kernel `mcc_max_pool`, one variant per ISA) against `pool2d(.max)`, the direct tap loop.
/// Max pooling only compares, so the results must be bit-identical (tolerance 0).
final class SeparableMaxPoolTests: XCTestCase {
    func check(_ p0: Pool2DParams, ceil: Bool, isa: String, file: StaticString = #filePath, line: UInt = #line) {
        var p = p0
        p.outHeight = poolOutputSize(input: p.inHeight, kernel: p.kernelHeight, stride: p.strideH,
                                     padBegin: p.padTop, padEnd: p.padBottom, ceilMode: ceil)
        p.outWidth = poolOutputSize(input: p.inWidth, kernel: p.kernelWidth, stride: p.strideW,
                                    padBegin: p.padLeft, padEnd: p.padRight, ceilMode: ceil)
        let x = randomFloats(p.batch * p.channels * p.inHeight * p.inWidth, seed: 7)
        var expected = [Float](repeating: .nan, count: p.batch * p.channels * p.outHeight * p.outWidth)
        pool2d(.max, p, x: x, y: &expected)
        var actual = [Float](repeating: .nan, count: expected.count)
        x.withUnsafeBufferPointer { xp in
            actual.withUnsafeMutableBufferPointer { yp in
                guard let xb = xp.baseAddress, let yb = yp.baseAddress else { return }
                separableMaxPool2d(p, x: xb, y: yb)
            }
        }
        XCTAssertEqual(actual, expected, "\(isa) ceil=\(ceil) \(p)", file: file, line: line)
    }

    func testMatchesDirectPoolingOnEveryISA() {
        // Widths past 2×16 lanes reach the vector column pass; the odd widths, pads and ceil mode its scalar edges.
        let cases: [(h: Int, w: Int, kh: Int, kw: Int, sh: Int, sw: Int, pads: (Int, Int, Int, Int))] = [
            (12, 70, 2, 2, 2, 2, (0, 0, 0, 0)),
            (13, 67, 3, 3, 2, 2, (1, 1, 1, 1)),
            (9, 81, 1, 2, 1, 2, (0, 0, 0, 0)),
            (10, 53, 3, 3, 1, 1, (1, 1, 1, 1)),
            (8, 75, 2, 4, 2, 3, (0, 2, 1, 1)),
            (5, 40, 5, 5, 1, 1, (2, 2, 2, 2)),
            (4, 3, 3, 3, 2, 2, (1, 1, 1, 1)),
            (1, 100, 1, 3, 1, 1, (0, 1, 0, 1)),
        ]
        forEachISA { isa in
            for ceil in [false, true] {
                for c in cases {
                    check(Pool2DParams(batch: 2, channels: 3, inHeight: c.h, inWidth: c.w, outHeight: 0, outWidth: 0,
                                       kernelHeight: c.kh, kernelWidth: c.kw, strides: (c.sh, c.sw), pads: c.pads),
                          ceil: ceil, isa: isa)
                }
            }
        }
    }
}
