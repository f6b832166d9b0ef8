import Foundation
import TestSupport
import XCTest
import Kernels

final class UnaryTests: XCTestCase {
    func run(_ op: UnaryOp, _ x: [Float]) -> [Float] {
        var y = [Float](repeating: .nan, count: x.count)
        unary(op, x: x, y: &y, count: x.count)
        return y
    }

    func sigmoid(_ v: Double) -> Double { 1 / (1 + Foundation.exp(-v)) }
    func softplus(_ v: Double) -> Double { max(v, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(v))) }

    /// (op, input range, Double reference, relative tolerance).
    func cases() -> [(UnaryOp, ClosedRange<Float>, (Double) -> Double, Float)] {
        [
            (.relu, -3...3, { max($0, 0) }, 0),
            (.leakyRelu(alpha: 0.1), -3...3, { $0 < 0 ? 0.1 * $0 : $0 }, 1e-7),
            (.leakyReluFloor(alpha: 0.2, floor: -0.4), -3...3, { max($0 < 0 ? 0.2 * $0 : $0, -0.4) }, 1e-7),
            (.clip(min: -0.5, max: 0.7), -3...3, { min(max($0, -0.5), 0.7) }, 0),
            // Vectorised transcendental functions: ~2 ulp (1.2e-7 each) relative.
            (.sigmoid, -30...30, sigmoid, 1e-6),
            (.tanh, -10...10, { Foundation.tanh($0) }, 1e-6),
            (.tanh, -0.7...0.7, { Foundation.tanh($0) }, 1e-6),
            (.exp, -100...88, { Foundation.exp($0) }, 1e-6),
            (.log, 1e-30...1e30, { Foundation.log($0) }, 1e-6),
            (.log, 0.5...2, { Foundation.log($0) }, 1e-6),
            (.hardSigmoid(alpha: 0.2, beta: 0.5), -5...5, { min(max(0.2 * $0 + 0.5, 0), 1) }, 1e-6),
            (.hardSwish, -5...5, { $0 * min(max($0 / 6 + 0.5, 0), 1) }, 1e-6),
            (.sqrt, 0...100, { $0.squareRoot() }, 0),
            (.abs, -3...3, { Swift.abs($0) }, 0),
            (.neg, -3...3, { -$0 }, 0),
            (.reciprocal, 0.1...3, { 1 / $0 }, 1e-7),
            (.erf, -4...4, { Foundation.erf($0) }, 1e-6),
            (.gelu(tanhApproximation: false), -5...5, { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) }, 1e-6),
            (.gelu(tanhApproximation: true), -5...5,
             { 0.5 * $0 * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) }, 1e-6),
            (.softplus, -30...30, softplus, 2e-6),
            (.softsign, -5...5, { $0 / (1 + Swift.abs($0)) }, 1e-6),
            (.elu(alpha: 1.5), -5...5, { $0 < 0 ? 1.5 * (Foundation.exp($0) - 1) : $0 }, 1e-6),
            (.selu(alpha: 1.67326, gamma: 1.0507), -5...5,
             { 1.0507 * ($0 <= 0 ? 1.67326 * (Foundation.exp($0) - 1) : $0) }, 1e-6),
            (.celu(alpha: 2), -5...5, { max(0, $0) + min(0, 2 * (Foundation.exp($0 / 2) - 1)) }, 1e-6),
            (.thresholdedRelu(alpha: 1), -3...3, { $0 > 1 ? $0 : 0 }, 0),
            (.mish, -20...20, { $0 * Foundation.tanh(self.softplus($0)) }, 2e-6),
            (.swish(alpha: 1), -20...20, { $0 * self.sigmoid($0) }, 1e-6),
            (.floor, -5...5, { Foundation.floor($0) }, 0),
            (.ceil, -5...5, { Foundation.ceil($0) }, 0),
            (.sign, -5...5, { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }, 0),
            (.sin, -10...10, { Foundation.sin($0) }, 1e-6),
            (.cos, -10...10, { Foundation.cos($0) }, 1e-6),
            (.atan, -10...10, { Foundation.atan($0) }, 1e-6),
            (.shrink(bias: 0.5, lambd: 1), -3...3, { $0 < -1 ? $0 + 0.5 : ($0 > 1 ? $0 - 0.5 : 0) }, 1e-7),
        ]
    }

    func testAgainstDoubleReference() {
        // Every C kernel variant (baseline, AVX2+FMA, AVX-512) meets the same tolerances.
        forEachISA { isa in checkAgainstDoubleReference(isa) }
    }

    func checkAgainstDoubleReference(_ isa: String) {
        for (idx, (op, range, ref, tol)) in cases().enumerated() {
            // 1037 elements: not a multiple of 16, so the tail path runs too.
            var x = randomFloats(1037, in: range, seed: UInt64(100 + idx))
            if case .log = op, range.lowerBound < 1e-20 {
                // Log-uniform over 60 decades.
                x = randomFloats(1037, in: -69...69, seed: 7).map { Float(Foundation.exp(Double($0))) }
            }
            let y = run(op, x)
            let expected = x.map { Float(ref(Double($0))) }
            // Relative error here is against |ref| itself (not max(1,|ref|)), the stricter test for tiny outputs;
            // the absolute floor 1e-30 lets exact zeros compare.
            for i in 0..<x.count {
                let err = Swift.abs(y[i] - expected[i]) / max(Swift.abs(expected[i]), 1e-30)
                if !(err <= max(tol, 2e-7)) && Swift.abs(y[i] - expected[i]) > 1e-7 {
                    XCTFail("\(op) [\(isa)]: x=\(x[i]) got \(y[i]) want \(expected[i]) rel \(err)")
                    break
                }
            }
        }
    }

    func testRoundHalfToEvenAndSpecials() {
        XCTAssertEqual(run(.round, [0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6]), [0, 2, 2, -0, -2, 2, 3])
        let e = run(.exp, [.nan, .infinity, -.infinity, 89, -104, 0, -88])
        XCTAssertTrue(e[0].isNaN)
        XCTAssertEqual(Array(e[1...5]), [.infinity, 0, .infinity, 0, 1])
        XCTAssertEqual(e[6], Foundation.exp(Float(-88)), accuracy: Float.leastNonzeroMagnitude * 4)  // denormal result
        let l = run(.log, [0, -1, .infinity, 1, Float(bitPattern: 0x0001_0000)])
        XCTAssertEqual(l[0], -.infinity)
        XCTAssertTrue(l[1].isNaN)
        XCTAssertEqual(Array(l[2...3]), [.infinity, 0])
        XCTAssertEqual(l[4], Foundation.log(Float(bitPattern: 0x0001_0000)), accuracy: 1e-4)  // denormal input
        let s = run(.sigmoid, [-200, 200, .nan, 0])
        XCTAssertEqual(s[0], 0)
        XCTAssertEqual(s[1], 1)
        XCTAssertTrue(s[2].isNaN)
        XCTAssertEqual(s[3], 0.5)
        XCTAssertEqual(run(.tanh, [-100, 100, 0]), [-1, 1, 0])
        XCTAssertEqual(run(.relu, [-1, 2]), [0, 2])
    }

    func testInPlaceAndLargeParallel() {
        var x = randomFloats(100_003, in: -5...5, seed: 9)
        let expected = x.map { 1 / (1 + Foundation.exp(-$0)) }
        let n = x.count
        x.withUnsafeMutableBufferPointer { unary(.sigmoid, x: $0.baseAddress!, y: $0.baseAddress!, count: n) }
        assertClose(x, expected, tol: 1e-6)
    }

    /// LeakyRelu then Max(·, floor) exactly as the two float32 kernels compute it (NaN stays NaN), in the vector body
    /// and the tail. Fusion only uses nonzero floors: Max's vector and scalar paths differ on max(-0, 0).
    func testLeakyReluFloorMatchesLeakyReluThenMax() {
        let x: [Float] = [-3, -2, -1.5, -0.5, -0, 0, 0.25, 7, .nan, -.infinity, .infinity, -2.5] + (0..<37).map { Float($0) * 0.17 - 3 }
        for floor: Float in [-0.4, 0.3] {
            let fused = run(.leakyReluFloor(alpha: 0.2, floor: floor), x)
            var expected = [Float](repeating: 0, count: x.count)
            binary(.max, a: run(.leakyRelu(alpha: 0.2), x), aStrides: [1], b: [floor], bStrides: [0], outShape: [x.count], y: &expected)
            XCTAssertEqual(fused.map(\.bitPattern), expected.map(\.bitPattern), "floor \(floor)")
        }
    }
}
