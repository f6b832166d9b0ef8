import Foundation
import XCTest
import Kernels

final class ReduceNormTests: XCTestCase {
    func referenceReduce(_ op: ReduceOp, _ x: [Float], _ shape: [Int], _ axes: Set<Int>) -> [Float] {
        let outShape = shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
        var groups = [[Double]](repeating: [], count: outShape.reduce(1, *))
        for flat in 0..<x.count {
            var rem = flat, o = 0, mul = 1
            var idx = [Int](repeating: 0, count: shape.count)
            for a in stride(from: shape.count - 1, through: 0, by: -1) {
                idx[a] = rem % shape[a]
                rem /= shape[a]
            }
            for a in stride(from: shape.count - 1, through: 0, by: -1) {
                o += (axes.contains(a) ? 0 : idx[a]) * mul
                mul *= outShape[a]
            }
            groups[o].append(Double(x[flat]))
        }
        return groups.map { g in
            let r: Double
            switch op {
            case .sum: r = g.reduce(0, +)
            case .mean: r = g.reduce(0, +) / Double(g.count)
            case .max: r = g.max()!
            case .min: r = g.min()!
            case .prod: r = g.reduce(1, *)
            case .l1: r = g.reduce(0) { $0 + abs($1) }
            case .l2: r = g.reduce(0) { $0 + $1 * $1 }.squareRoot()
            case .sumSquare: r = g.reduce(0) { $0 + $1 * $1 }
            case .logSum: r = Foundation.log(g.reduce(0, +))
            case .logSumExp:
                let m = g.max()!
                r = m + Foundation.log(g.reduce(0) { $0 + Foundation.exp($1 - m) })
            }
            return Float(r)
        }
    }

    func testReduceAxisSets() {
        let shape = [3, 4, 5, 17]
        // Positive data (0.5…1.5) so logSum is defined and prod stays in range.
        let x = randomFloats(shape.reduce(1, *), in: 0.5...1.5, seed: 41)
        let axisSets: [[Int]] = [[3], [0], [1, 2], [2], [0, 2], [1, 3], [0, 1, 2, 3], [], [2, 0]]
        for axes in axisSets {
            for op in [ReduceOp.sum, .mean, .max, .min, .prod, .l1, .l2, .sumSquare, .logSum, .logSumExp] {
                let expected = referenceReduce(op, x, shape, Set(axes))
                var y = [Float](repeating: .nan, count: expected.count)
                reduce(op, x: x, shape: shape, axes: axes, y: &y)
                // Sums over ≤ 1020 terms: Float accumulation (32 partial sums or row-wise) stays within 1e-5 relative.
                assertClose(y, expected, tol: 1e-5, "\(op) \(axes)")
            }
        }
        // Empty reduced axis yields the identity.
        var y = [Float](repeating: 7, count: 3)
        reduce(.sum, x: x, shape: [3, 0], axes: [1], y: &y)
        XCTAssertEqual(y, [0, 0, 0])
        reduce(.prod, x: x, shape: [3, 0], axes: [1], y: &y)
        XCTAssertEqual(y, [1, 1, 1])
    }

    func testBatchInstanceLayerNorm() {
        let (n, c, s) = (2, 3, 29)
        let x = randomFloats(n * c * s, in: -3...3, seed: 42)
        let scale = randomFloats(c, seed: 43), bias = randomFloats(c, seed: 44)
        let mean = randomFloats(c, seed: 45), variance = randomFloats(c, in: 0.1...2, seed: 46)
        var y = [Float](repeating: .nan, count: x.count)
        batchNormalization(x: x, y: &y, batch: n, channels: c, spatial: s, scale: scale, bias: bias, mean: mean,
                           variance: variance, epsilon: 1e-5)
        let bn = (0..<x.count).map { i -> Float in
            let ch = (i / s) % c
            return Float((Double(x[i]) - Double(mean[ch])) / (Double(variance[ch]) + 1e-5).squareRoot()
                         * Double(scale[ch]) + Double(bias[ch]))
        }
        // One fused multiply-add per element after folding: a few ulp of |x·a|.
        assertClose(y, bn, tol: 1e-5)

        instanceNormalization(x: x, y: &y, batch: n, channels: c, spatial: s, scale: scale, bias: bias, epsilon: 1e-5)
        var inorm = [Float](repeating: 0, count: x.count)
        for p in 0..<(n * c) {
            let v = x[(p * s)..<((p + 1) * s)].map(Double.init)
            let m = v.reduce(0, +) / Double(s)
            let va = v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(s)
            for i in 0..<s {
                inorm[p * s + i] = Float((v[i] - m) / (va + 1e-5).squareRoot() * Double(scale[p % c])
                                         + Double(bias[p % c]))
            }
        }
        assertClose(y, inorm, tol: 1e-5)

        // LayerNorm over the last 29 of [6, 29] with per-element scale/bias.
        let lscale = randomFloats(s, seed: 47), lbias = randomFloats(s, seed: 48)
        var means = [Float](repeating: 0, count: n * c), invs = means
        layerNormalization(x: x, y: &y, rows: n * c, size: s, scale: lscale, bias: lbias, epsilon: 1e-5,
                           meanOut: &means, invStdDevOut: &invs)
        var lnorm = [Float](repeating: 0, count: x.count)
        for r in 0..<(n * c) {
            let v = x[(r * s)..<((r + 1) * s)].map(Double.init)
            let m = v.reduce(0, +) / Double(s)
            let inv = 1 / (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(s) + 1e-5).squareRoot()
            XCTAssertEqual(means[r], Float(m), accuracy: 1e-6)
            XCTAssertEqual(invs[r], Float(inv), accuracy: 1e-5 * Float(inv))
            for i in 0..<s { lnorm[r * s + i] = Float((v[i] - m) * inv * Double(lscale[i]) + Double(lbias[i])) }
        }
        assertClose(y, lnorm, tol: 1e-5)
    }
}
