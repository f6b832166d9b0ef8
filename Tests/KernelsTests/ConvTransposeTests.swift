import XCTest
import Kernels

final class ConvTransposeTests: XCTestCase {
    /// Scatter-form definition with Double accumulation.
    func reference(_ p: ConvTranspose2DParams, _ x: [Float], _ w: [Float], _ bias: [Float]?) -> [Float] {
        let oh = p.outHeight, ow = p.outWidth
        let cg = p.inChannels / p.groups, mg = p.outChannels / p.groups
        var y = [Double](repeating: 0, count: p.batch * p.outChannels * oh * ow)
        for n in 0..<p.batch {
            for m in 0..<p.outChannels {
                for i in 0..<(oh * ow) { y[(n * p.outChannels + m) * oh * ow + i] = Double(bias?[m] ?? 0) }
            }
            for c in 0..<p.inChannels {
                let g = c / cg
                for iy in 0..<p.inHeight {
                    for ix in 0..<p.inWidth {
                        let xv = Double(x[((n * p.inChannels + c) * p.inHeight + iy) * p.inWidth + ix])
                        for mm in 0..<mg {
                            let m = g * mg + mm
                            for i in 0..<p.kernelHeight {
                                let oy = iy * p.strideH - p.padTop + i * p.dilationH
                                if oy < 0 || oy >= oh { continue }
                                for j in 0..<p.kernelWidth {
                                    let ox = ix * p.strideW - p.padLeft + j * p.dilationW
                                    if ox < 0 || ox >= ow { continue }
                                    let wv = Double(w[((c * mg + mm) * p.kernelHeight + i) * p.kernelWidth + j])
                                    y[((n * p.outChannels + m) * oh + oy) * ow + ox] += xv * wv
                                }
                            }
                        }
                    }
                }
            }
        }
        return y.map { Float($0) }
    }

    func check(_ p: ConvTranspose2DParams, file: StaticString = #filePath, line: UInt = #line) {
        let x = randomFloats(p.batch * p.inChannels * p.inHeight * p.inWidth, seed: 21)
        let w = randomFloats(p.inChannels * (p.outChannels / p.groups) * p.kernelHeight * p.kernelWidth, seed: 22)
        let b = randomFloats(p.outChannels, seed: 23)
        var y = [Float](repeating: .nan, count: p.batch * p.outChannels * p.outHeight * p.outWidth)
        convTranspose2d(p, x: x, weight: w, bias: b, y: &y)
        // Short Float sums (≤ C·kH·kW/stride² terms of magnitude ≤ 1): error well under 1e-5·max(1,|ref|).
        assertClose(y, reference(p, x, w, b), tol: 1e-5, "\(p)", file: file, line: line)
    }

    func testShapes() {
        check(ConvTranspose2DParams(batch: 2, inChannels: 3, inHeight: 5, inWidth: 7, outChannels: 4,
                                    kernelHeight: 3, kernelWidth: 3))
        check(ConvTranspose2DParams(batch: 1, inChannels: 4, inHeight: 6, inWidth: 5, outChannels: 6,
                                    kernelHeight: 4, kernelWidth: 4, strides: (2, 2), pads: (1, 1, 1, 1)))
        check(ConvTranspose2DParams(batch: 1, inChannels: 4, inHeight: 5, inWidth: 6, outChannels: 2,
                                    kernelHeight: 3, kernelWidth: 2, strides: (3, 2), dilations: (2, 1),
                                    pads: (1, 0, 2, 1), outputPadding: (1, 1), groups: 2))
        check(ConvTranspose2DParams(batch: 1, inChannels: 2, inHeight: 1, inWidth: 9, outChannels: 3,
                                    kernelHeight: 1, kernelWidth: 5, strides: (1, 3)))
    }

    func testTwoWideStrideTwo() {
        // The paired-tap col2im path: odd widths, output padding (ow > 2w), a top pad, and (rows 64·4 = 256 →
        // tile = 1 MB / (4·256) = 1024 < 37·41 positions) a column tile boundary mid-row.
        check(ConvTranspose2DParams(batch: 2, inChannels: 3, inHeight: 5, inWidth: 11, outChannels: 2,
                                    kernelHeight: 2, kernelWidth: 2, strides: (2, 2)))
        check(ConvTranspose2DParams(batch: 1, inChannels: 2, inHeight: 4, inWidth: 7, outChannels: 3,
                                    kernelHeight: 3, kernelWidth: 2, strides: (2, 2), pads: (1, 0, 0, 0),
                                    outputPadding: (1, 1)))
        check(ConvTranspose2DParams(batch: 1, inChannels: 8, inHeight: 37, inWidth: 41, outChannels: 64,
                                    kernelHeight: 2, kernelWidth: 2, strides: (2, 2)))
    }

    func testHandComputed() {
        // 2×2 input, 2×2 ones kernel, stride 2: each input value is copied into its own 2×2 block.
        let p = ConvTranspose2DParams(batch: 1, inChannels: 1, inHeight: 2, inWidth: 2, outChannels: 1,
                                      kernelHeight: 2, kernelWidth: 2, strides: (2, 2))
        var y = [Float](repeating: 0, count: 16)
        convTranspose2d(p, x: [1, 2, 3, 4], weight: [1, 1, 1, 1], bias: nil, y: &y)
        XCTAssertEqual(y, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
    }
}
