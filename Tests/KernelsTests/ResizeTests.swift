import Foundation
import XCTest
import Kernels

final class ResizeTests: XCTestCase {
    /// Independent per-axis coordinate + tap computation (ONNX reference formulas), combined non-separably.
    func taps(_ o: Int, _ a: ResizeAxis, _ mode: ResizeInterpolation, _ tr: CoordinateTransform) -> [(Int, Double)]? {
        let inS = Float(a.inSize), outS = Float(a.outSize), x = Float(o)
        let xo: Float
        switch tr {
        case .halfPixel: xo = (x + 0.5) / a.scale - 0.5
        case .halfPixelSymmetric:
            let adj = outS / (a.scale * inS)
            xo = inS / 2 * (1 - adj) + (x + 0.5) / a.scale - 0.5
        case .pytorchHalfPixel: xo = a.outSize > 1 ? (x + 0.5) / a.scale - 0.5 : 0
        case .alignCorners: xo = a.outSize == 1 ? 0 : x * (inS - 1) / (outS - 1)
        case .asymmetric: xo = x / a.scale
        case .tfCropAndResize:
            xo = a.outSize > 1 ? a.roiStart * (inS - 1) + x * (a.roiEnd - a.roiStart) * (inS - 1) / (outS - 1)
                : 0.5 * (a.roiStart + a.roiEnd) * (inS - 1)
            if xo < 0 || xo > inS - 1 { return nil }
        }
        let clampI = { (i: Int) in min(max(i, 0), a.inSize - 1) }
        switch mode {
        case .nearest(let r):
            let f = xo.rounded(.down), frac = xo - f
            let i: Float
            switch r {
            case .floor: i = f
            case .ceil: i = xo.rounded(.up)
            case .roundPreferFloor: i = frac <= 0.5 ? f : f + 1
            case .roundPreferCeil: i = frac < 0.5 ? f : f + 1
            }
            return [(clampI(Int(i)), 1)]
        case .linear:
            let xc = min(max(xo, 0), inS - 1)
            let f = xc.rounded(.down), t = Double(xc - f)
            return [(clampI(Int(f)), 1 - t), (clampI(Int(f) + 1), t)]
        case .cubic(let A, let exclude):
            let f = xo.rounded(.down), t = Double(xo - f), aa = Double(A)
            func k(_ d: Double) -> Double {
                let d = abs(d)
                if d <= 1 { return ((aa + 2) * d - (aa + 3)) * d * d + 1 }
                if d < 2 { return ((aa * d - 5 * aa) * d + 8 * aa) * d - 4 * aa }
                return 0
            }
            var out = (0..<4).map { j -> (Int, Double, Bool) in
                let i = Int(f) - 1 + j
                return (clampI(i), k(t + 1 - Double(j)), i >= 0 && i < a.inSize)
            }
            if exclude {
                out = out.map { ($0.0, $0.2 ? $0.1 : 0, $0.2) }
                let s = out.reduce(0) { $0 + $1.1 }
                out = out.map { ($0.0, $0.1 / s, $0.2) }
            }
            return out.map { ($0.0, $0.1) }
        }
    }

    func reference(_ x: [Float], _ shape: [Int], _ axes: [ResizeAxis], _ mode: ResizeInterpolation,
                   _ tr: CoordinateTransform, _ extrap: Float) -> [Float] {
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        let oh = axes[2].outSize, ow = axes[3].outSize
        var y = [Float]()
        for p in 0..<(n * c) {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    guard let ty = taps(oy, axes[2], mode, tr), let tx = taps(ox, axes[3], mode, tr) else {
                        y.append(extrap)
                        continue
                    }
                    var s = 0.0
                    for (iy, wy) in ty { for (ix, wx) in tx { s += wy * wx * Double(x[(p * h + iy) * w + ix]) } }
                    y.append(Float(s))
                }
            }
        }
        return y
    }

    func testModesAndTransforms() {
        let shape = [1, 2, 5, 7]
        let x = randomFloats(shape.reduce(1, *), seed: 51)
        let modes: [ResizeInterpolation] = [
            .nearest(.roundPreferFloor), .nearest(.roundPreferCeil), .nearest(.floor), .nearest(.ceil), .linear,
            .cubic(coefficientA: -0.75, excludeOutside: false), .cubic(coefficientA: -0.5, excludeOutside: true),
        ]
        let transforms: [CoordinateTransform] = [
            .halfPixel, .halfPixelSymmetric, .pytorchHalfPixel, .alignCorners, .asymmetric, .tfCropAndResize,
        ]
        for (oh, ow, sh, sw) in [(10, 14, Float(2), Float(2)), (3, 4, 0.6, 0.6), (8, 1, 1.7, 0.2)] {
            let axes = [ResizeAxis(inSize: 1, outSize: 1), ResizeAxis(inSize: 2, outSize: 2),
                        ResizeAxis(inSize: 5, outSize: oh, scale: sh, roiStart: 0.1, roiEnd: 1.2),
                        ResizeAxis(inSize: 7, outSize: ow, scale: sw, roiStart: -0.1, roiEnd: 0.8)]
            for mode in modes {
                for tr in transforms {
                    var y = [Float](repeating: .nan, count: 2 * oh * ow)
                    resize(x: x, shape: shape, axes: axes, interpolation: mode, transform: tr,
                           extrapolationValue: -7, y: &y)
                    // ≤ 16 weighted terms; separable Float blending vs Double: within 1e-5.
                    assertClose(y, reference(x, shape, axes, mode, tr, -7), tol: 1e-5, "\(mode) \(tr) \(oh)x\(ow)")
                }
            }
        }
    }

    func testHandValues() {
        // ONNX resize_upsample_scales_linear (half_pixel, scale 2).
        var y = [Float](repeating: 0, count: 16)
        let axes = [ResizeAxis(inSize: 2, outSize: 4, scale: 2), ResizeAxis(inSize: 2, outSize: 4, scale: 2)]
        resize(x: [1, 2, 3, 4], shape: [2, 2], axes: axes, interpolation: .linear, transform: .halfPixel, y: &y)
        XCTAssertEqual(y, [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4])
        // Nearest ×2, asymmetric floor: pixel replication.
        resize(x: [1, 2, 3, 4], shape: [2, 2], axes: axes, interpolation: .nearest(.floor), transform: .asymmetric,
               y: &y)
        XCTAssertEqual(y, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
    }
}
