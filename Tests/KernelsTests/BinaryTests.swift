import Foundation
import XCTest
import Kernels

final class BinaryTests: XCTestCase {
    /// Index-by-index broadcasting reference.
    func reference(_ op: BinaryOp, _ a: [Float], _ aShape: [Int], _ b: [Float], _ bShape: [Int], _ out: [Int])
        -> [Float]
    {
        let total = out.reduce(1, *)
        let sa = broadcastStrides(shape: aShape, to: out), sb = broadcastStrides(shape: bShape, to: out)
        var y = [Float](repeating: 0, count: total)
        for flat in 0..<total {
            var rem = flat, ia = 0, ib = 0
            for axis in stride(from: out.count - 1, through: 0, by: -1) {
                let i = rem % out[axis]
                rem /= out[axis]
                ia += i * sa[axis]
                ib += i * sb[axis]
            }
            let x = Double(a[ia]), z = Double(b[ib])
            let r: Double
            switch op {
            case .add: r = x + z
            case .sub: r = x - z
            case .mul: r = x * z
            case .div: r = x / z
            case .pow: r = Foundation.pow(x, z)
            case .max: r = max(x, z)
            case .min: r = min(x, z)
            case .prelu: r = x < 0 ? x * z : x
            }
            y[flat] = Float(r)
        }
        return y
    }

    func testBroadcastPatterns() {
        let patterns: [([Int], [Int])] = [
            ([2, 3, 5, 7], [2, 3, 5, 7]),      // same shape, odd length
            ([2, 3, 5, 7], []),                // scalar
            ([], [4, 37]),                     // scalar on the left
            ([2, 3, 5, 7], [1, 3, 1, 1]),      // per-channel NCHW
            ([2, 3, 5, 7], [3, 1, 1]),         // per-channel, lower rank
            ([2, 3, 5, 7], [7]),               // last axis
            ([2, 1, 5, 1], [1, 3, 1, 7]),      // both broadcast
            ([4, 1, 6], [4, 5, 1]),            // outer product pattern
            ([1, 2, 3, 4, 5, 6], [2, 1, 4, 1, 6]), // rank 6, interleaved
            ([300, 129], [129]),               // large enough to go parallel
        ]
        for (pi, (sa, sb)) in patterns.enumerated() {
            let rank = max(sa.count, sb.count)
            let pa = [Int](repeating: 1, count: rank - sa.count) + sa
            let pb = [Int](repeating: 1, count: rank - sb.count) + sb
            let out = (0..<rank).map { max(pa[$0], pb[$0]) }
            let a = randomFloats(max(1, sa.reduce(1, *)), in: 0.1...2, seed: UInt64(pi))
            let b = randomFloats(max(1, sb.reduce(1, *)), in: -2...2, seed: UInt64(pi + 50))
            for op in [BinaryOp.add, .sub, .mul, .div, .pow, .max, .min, .prelu] {
                var y = [Float](repeating: .nan, count: out.reduce(1, *))
                binary(op, a: a, aStrides: broadcastStrides(shape: sa, to: out), b: b,
                       bStrides: broadcastStrides(shape: sb, to: out), outShape: out, y: &y)
                // One correctly-rounded op each (pow via libm): within 1e-6 relative.
                assertClose(y, reference(op, a, sa, b, sb, out), tol: 1e-6, "\(op) \(sa) \(sb)")
            }
        }
    }

    func testPowFastPathsAndHandValues() {
        var y = [Float](repeating: 0, count: 3)
        let x: [Float] = [4, 9, 0.25]
        binary(.pow, a: x, aStrides: [1], b: [2], bStrides: [0], outShape: [3], y: &y)
        XCTAssertEqual(y, [16, 81, 0.0625])
        binary(.pow, a: x, aStrides: [1], b: [0.5], bStrides: [0], outShape: [3], y: &y)
        XCTAssertEqual(y, [2, 3, 0.5])
        binary(.pow, a: x, aStrides: [1], b: [1], bStrides: [0], outShape: [3], y: &y)
        XCTAssertEqual(y, x)
        binary(.max, a: [1, .nan, 3], aStrides: [1], b: [2], bStrides: [0], outShape: [3], y: &y)
        XCTAssertEqual(y[0], 2)
        XCTAssertTrue(y[1].isNaN)
        XCTAssertEqual(y[2], 3)
    }
}
