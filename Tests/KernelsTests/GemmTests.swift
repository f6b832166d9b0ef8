import XCTest
import Kernels

final class GemmTests: XCTestCase {
    /// Naive Double-accumulating reference for op(A)·op(B).
    func reference(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, tA: Bool, tB: Bool) -> [Double] {
        var out = [Double](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = tA ? a[p * m + i] : a[i * k + p]
                    let bv = tB ? b[j * k + p] : b[p * n + j]
                    s += Double(av) * Double(bv)
                }
                out[i * n + j] = s
            }
        }
        return out
    }

    func testGemmAllTransposesAndBiases() {
        let (m, n, k) = (7, 13, 19)
        let a = randomFloats(m * k, seed: 1), b = randomFloats(k * n, seed: 2)
        for tA in [false, true] {
            for tB in [false, true] {
                let ref = reference(a, b, m: m, n: n, k: k, tA: tA, tB: tB)
                let cases: [(GemmBias, [Float])] = [
                    (.none, []), (.scalar, [0.5]), (.row, randomFloats(n, seed: 3)),
                    (.column, randomFloats(m, seed: 4)), (.full, randomFloats(m * n, seed: 5)),
                ]
                for (bias, c) in cases {
                    var y = [Float](repeating: .nan, count: m * n)
                    let (alpha, beta): (Float, Float) = (1.5, 0.25)
                    c.withUnsafeBufferPointer { cp in
                        gemm(transA: tA, transB: tB, m: m, n: n, k: k, alpha: alpha, beta: beta,
                             a: a, b: b, c: cp.baseAddress, bias: bias, y: &y)
                    }
                    var expected = [Float](repeating: 0, count: m * n)
                    for i in 0..<m {
                        for j in 0..<n {
                            var cv = 0.0
                            switch bias {
                            case .none: cv = 0
                            case .scalar: cv = Double(c[0])
                            case .row: cv = Double(c[j])
                            case .column: cv = Double(c[i])
                            case .full: cv = Double(c[i * n + j])
                            }
                            expected[i * n + j] = Float(Double(alpha) * ref[i * n + j] + Double(beta) * cv)
                        }
                    }
                    // Float accumulation over k=19 terms of magnitude ≤1: error ≪ 1e-5 relative.
                    assertClose(y, expected, tol: 1e-5, "tA=\(tA) tB=\(tB) bias=\(bias)")
                }
            }
        }
    }

    func testSgemmStridedAndBeta() {
        // A 3x2 sub-block of a 3x4 matrix, C with ld 5 and beta=1 accumulation.
        let a: [Float] = [1, 2, 9, 9, 3, 4, 9, 9, 5, 6, 9, 9]
        let b: [Float] = [1, 0, 0, 1]
        var c = [Float](repeating: 1, count: 15)
        sgemm(transA: false, transB: false, m: 3, n: 2, k: 2, a: a, lda: 4, b: b, ldb: 2, beta: 1, c: &c, ldc: 5)
        XCTAssertEqual(Array(c[0..<2]), [2, 3])
        XCTAssertEqual(Array(c[5..<7]), [4, 5])
        XCTAssertEqual(Array(c[10..<12]), [6, 7])
        XCTAssertEqual(c[2], 1)
    }

    func testSingleRowOrColumnUsesStridesAndBeta() {
        // m == 1 or n == 1 (the sgemv paths) in every transpose, with padded leading dimensions and C rows.
        let k = 6
        for (m, n) in [(1, 5), (4, 1), (1, 1)] {
            for tA in [false, true] {
                for tB in [false, true] {
                    let (aRows, aCols) = tA ? (k, m) : (m, k), (bRows, bCols) = tB ? (n, k) : (k, n)
                    let (lda, ldb, ldc) = (aCols + 2, bCols + 3, n + 1)
                    let a = randomFloats(aRows * lda, seed: 7), b = randomFloats(bRows * ldb, seed: 8)
                    let dense = { (x: [Float], rows: Int, cols: Int, ld: Int) in
                        (0..<rows).flatMap { r in x[(r * ld)..<(r * ld + cols)] }
                    }
                    let ref = reference(dense(a, aRows, aCols, lda), dense(b, bRows, bCols, ldb),
                                        m: m, n: n, k: k, tA: tA, tB: tB)
                    for beta: Float in [0, 0.5] {
                        var c = [Float](repeating: beta == 0 ? .nan : 2, count: m * ldc)
                        sgemm(transA: tA, transB: tB, m: m, n: n, k: k, alpha: 1.5, a: a, lda: lda, b: b, ldb: ldb,
                              beta: beta, c: &c, ldc: ldc)
                        for i in 0..<m {
                            for j in 0..<n {
                                let want = Float(1.5 * ref[i * n + j] + Double(beta) * 2)
                                XCTAssertEqual(c[i * ldc + j], want, accuracy: 1e-5, "m=\(m) n=\(n) tA=\(tA) tB=\(tB)")
                            }
                            // The padding column past n is untouched.
                            XCTAssertEqual(c[i * ldc + n].isNaN, beta == 0, "m=\(m) n=\(n)")
                        }
                    }
                }
            }
        }
    }
}
