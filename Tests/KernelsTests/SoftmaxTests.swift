import Foundation
import XCTest
import Kernels

final class SoftmaxTests: XCTestCase {
    func testSoftmaxAndLogSoftmax() {
        for (outer, len, inner) in [(3, 37, 1), (2, 5, 19), (1, 1, 7), (4, 16, 1), (2, 1000, 1), (1, 3, 300)] {
            let x = randomFloats(outer * len * inner, in: -20...20, seed: UInt64(len))
            for log in [false, true] {
                var y = [Float](repeating: .nan, count: x.count)
                softmax(x: x, y: &y, outer: outer, axisLength: len, inner: inner, log: log)
                var expected = [Float](repeating: 0, count: x.count)
                for o in 0..<outer {
                    for i in 0..<inner {
                        let idx = (0..<len).map { (o * len + $0) * inner + i }
                        let m = idx.map { Double(x[$0]) }.max()!
                        let s = idx.reduce(0.0) { $0 + Foundation.exp(Double(x[$1]) - m) }
                        for j in idx {
                            let e = Double(x[j]) - m
                            expected[j] = Float(log ? e - Foundation.log(s) : Foundation.exp(e) / s)
                        }
                    }
                }
                // exp is ~2 ulp and the sum of ≤1000 positive terms adds ~len·eps/32 relative: 1e-5 covers it.
                assertClose(y, expected, tol: 1e-5, "\(outer) \(len) \(inner) log=\(log)")
            }
        }
    }
}
