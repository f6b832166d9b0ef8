import XCTest
import Kernels

final class PoolingTests: XCTestCase {
    func reference(_ kind: PoolKind, _ p: Pool2DParams, _ x: [Float]) -> [Float] {
        var y = [Float]()
        for plane in 0..<(p.batch * p.channels) {
            for oy in 0..<p.outHeight {
                for ox in 0..<p.outWidth {
                    var m = -Float.greatestFiniteMagnitude
                    var s = 0.0, n = 0, padded = 0
                    for i in 0..<p.kernelHeight {
                        let iy = oy * p.strideH - p.padTop + i * p.dilationH
                        for j in 0..<p.kernelWidth {
                            let ix = ox * p.strideW - p.padLeft + j * p.dilationW
                            if iy >= -p.padTop && iy < p.inHeight + p.padBottom
                                && ix >= -p.padLeft && ix < p.inWidth + p.padRight { padded += 1 }
                            guard iy >= 0, iy < p.inHeight, ix >= 0, ix < p.inWidth else { continue }
                            let v = x[(plane * p.inHeight + iy) * p.inWidth + ix]
                            m = max(m, v)
                            s += Double(v)
                            n += 1
                        }
                    }
                    switch kind {
                    case .max: y.append(m)
                    case .average(let includePad): y.append(Float(s / Double(includePad ? padded : n)))
                    }
                }
            }
        }
        return y
    }

    func check(_ p0: Pool2DParams, ceil: Bool, file: StaticString = #filePath, line: UInt = #line) {
        var p = p0
        p.outHeight = poolOutputSize(input: p.inHeight, kernel: p.kernelHeight, stride: p.strideH,
                                     padBegin: p.padTop, padEnd: p.padBottom, dilation: p.dilationH, ceilMode: ceil)
        p.outWidth = poolOutputSize(input: p.inWidth, kernel: p.kernelWidth, stride: p.strideW,
                                    padBegin: p.padLeft, padEnd: p.padRight, dilation: p.dilationW, ceilMode: ceil)
        let x = randomFloats(p.batch * p.channels * p.inHeight * p.inWidth, seed: 31)
        for kind in [PoolKind.max, .average(countIncludePad: false), .average(countIncludePad: true)] {
            var y = [Float](repeating: .nan, count: p.batch * p.channels * p.outHeight * p.outWidth)
            pool2d(kind, p, x: x, y: &y)
            // Max is exact; averages are short Float sums (≤ 49 terms), far inside 1e-6.
            assertClose(y, reference(kind, p, x), tol: 1e-6, "\(kind) \(p)", file: file, line: line)
        }
    }

    func testShapes() {
        for ceil in [false, true] {
            check(Pool2DParams(batch: 2, channels: 3, inHeight: 9, inWidth: 11, outHeight: 0, outWidth: 0,
                               kernelHeight: 3, kernelWidth: 3, strides: (2, 2)), ceil: ceil)
            check(Pool2DParams(batch: 1, channels: 2, inHeight: 10, inWidth: 13, outHeight: 0, outWidth: 0,
                               kernelHeight: 3, kernelWidth: 2, strides: (2, 3), pads: (1, 0, 1, 1)), ceil: ceil)
            check(Pool2DParams(batch: 1, channels: 2, inHeight: 12, inWidth: 12, outHeight: 0, outWidth: 0,
                               kernelHeight: 3, kernelWidth: 3, strides: (2, 2), dilations: (2, 2),
                               pads: (1, 1, 2, 2)), ceil: ceil)
            check(Pool2DParams(batch: 1, channels: 2, inHeight: 7, inWidth: 7, outHeight: 0, outWidth: 0,
                               kernelHeight: 7, kernelWidth: 7, strides: (1, 1), pads: (3, 3, 3, 3)), ceil: ceil)
            check(Pool2DParams(batch: 1, channels: 3, inHeight: 1, inWidth: 20, outHeight: 0, outWidth: 0,
                               kernelHeight: 1, kernelWidth: 4, strides: (1, 3)), ceil: ceil)
        }
    }

    func testCeilModeHandComputed() {
        // 1×4 row, kernel 2, stride 2, ceil mode, pad end 1: windows [0,1] [2,3] → 2 outputs; with input 5 → 3.
        XCTAssertEqual(poolOutputSize(input: 4, kernel: 2, stride: 2, padBegin: 0, padEnd: 0, ceilMode: true), 2)
        XCTAssertEqual(poolOutputSize(input: 5, kernel: 2, stride: 2, padBegin: 0, padEnd: 0, ceilMode: true), 3)
        XCTAssertEqual(poolOutputSize(input: 5, kernel: 2, stride: 2, padBegin: 0, padEnd: 0, ceilMode: false), 2)
        // Last window [4,5] runs past the input: max sees only x[4]; average divides by 1.
        let p = Pool2DParams(batch: 1, channels: 1, inHeight: 1, inWidth: 5, outHeight: 1, outWidth: 3,
                             kernelHeight: 1, kernelWidth: 2, strides: (1, 2))
        var y = [Float](repeating: 0, count: 3)
        pool2d(.average(countIncludePad: true), p, x: [1, 2, 3, 4, 5], y: &y)
        XCTAssertEqual(y, [1.5, 3.5, 5])
        pool2d(.max, p, x: [1, 2, 3, 4, 5], y: &y)
        XCTAssertEqual(y, [2, 4, 5])
    }

    func testGlobal() {
        let planes = 5, spatial = 7 * 7 + 3
        let x = randomFloats(planes * spatial, seed: 33)
        var avg = [Float](repeating: 0, count: planes), mx = avg
        globalPool(.average(countIncludePad: false), planes: planes, spatial: spatial, x: x, y: &avg)
        globalPool(.max, planes: planes, spatial: spatial, x: x, y: &mx)
        for c in 0..<planes {
            let s = x[(c * spatial)..<((c + 1) * spatial)]
            XCTAssertEqual(avg[c], Float(s.reduce(0.0) { $0 + Double($1) } / Double(spatial)), accuracy: 1e-6)
            XCTAssertEqual(mx[c], s.max()!)
        }
    }
}
