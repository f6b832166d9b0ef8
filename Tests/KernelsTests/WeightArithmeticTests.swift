import CKernels
import TestSupport
import XCTest

/// The weight arithmetic kernels of Sources/CKernels/scale.c (used by the folding passes through LinearWeights)
/// against the scalar definitions in CKernelsScale.h written in Swift: bit-exact, no tolerance, in every
/// instruction-set variant. The passes' outputs must not depend on the CPU, and these kernels replaced Swift loops
/// whose results (and so the .onnx/.bin mcc writes) must stay byte-identical. NaNs compare as NaN (which NaN an
/// operation on two NaNs returns depends on operand order, which the compiler may commute).
final class WeightArithmeticTests: XCTestCase {
    private static func bits(_ values: [Float]) -> [UInt32] { values.map { $0.isNaN ? 0x7FC0_0000 : $0.bitPattern } }
    private static func bits(_ values: [Double]) -> [UInt64] { values.map { $0.isNaN ? 0x7FF8_0000_0000_0000 : $0.bitPattern } }

    /// Seeded values with a wide exponent range, negative zeros, subnormals and a NaN, so roundings and signs of
    /// zero are exercised.
    private static func floats(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix(seed)
        return (0..<count).map { i in
            switch i % 53 {
            case 7: return -0.0
            case 19: return Float.leastNonzeroMagnitude * Float(i % 5 + 1)
            case 31: return i % 2 == 0 ? .nan : -.infinity
            default: return Float(rng.unit() * 2 - 1) * Float(sign: .plus, exponent: Int(rng.next() % 24) - 12, significand: 1)
            }
        }
    }

    private static func doubles(_ count: Int, seed: UInt64) -> [Double] {
        var rng = SplitMix(seed)
        return (0..<count).map { _ in (rng.unit() * 4 - 2) * 1.000_000_123_456_7 }
    }

    /// `mcc_batch_norm_affine` against BatchNormFolding's former Swift loop: same a and b bits, and the same
    /// verdict (a zero, negative, NaN or infinite denominator anywhere rejects the BN).
    func testBatchNormAffineMatchesScalarDefinition() {
        let n = 1031
        let scale = Self.floats(n, seed: 11), bias = Self.floats(n, seed: 12), mean = Self.floats(n, seed: 13)
        let positive = Self.floats(n, seed: 14).map { $0.isNaN || $0 == -.infinity ? 0.5 : abs($0) }
        func expected(_ variance: [Float], _ epsilon: Double) -> (a: [Double], b: [Double], valid: Bool) {
            var a: [Double] = [], b: [Double] = [], valid = true
            for i in 0..<n {
                let d = (Double(variance[i]) + epsilon).squareRoot()
                if !(d > 0 && d.isFinite) { valid = false }
                a.append(Double(scale[i]) / d)
                b.append(Double(bias[i]) - Double(mean[i]) * a[i])
            }
            return (a, b, valid)
        }
        var negative = positive
        negative[517] = -1
        var infinite = positive
        infinite[3] = .infinity
        var zero = positive.map { _ in Float(0) }
        zero[0] = 1
        // (variance, epsilon, whether every denominator is valid)
        let cases: [([Float], Double, Bool)] = [(positive, 1e-5, true), (positive, 1e-3, true), (negative, 1e-5, false),
                                                (infinite, 1e-5, false), (zero, 0, false), (zero, 1e-5, true)]
        for (variance, epsilon, valid) in cases {
            let reference = expected(variance, epsilon)
            XCTAssertEqual(reference.valid, valid, "the case's own expectation")
            forEachISA { isa in
                var a = [Double](repeating: 7, count: n), b = a
                let ok = mcc_batch_norm_affine(scale, bias, mean, variance, epsilon, n, &a, &b)
                XCTAssertEqual(ok != 0, valid, "\(isa) epsilon=\(epsilon)")
                if valid {
                    XCTAssertEqual(Self.bits(a), Self.bits(reference.a), "\(isa) a")
                    XCTAssertEqual(Self.bits(b), Self.bits(reference.b), "\(isa) b")
                }
            }
        }
    }

    func testScaleMatchesScalarDefinition() {
        let x = Self.floats(1037, seed: 1)
        let factors = Self.doubles(x.count, seed: 2)
        for f in [0.1, -3.7e-3, 1.0 / 3.0, 1e30] {
            let expected = x.map { Float(Double($0) * f) }
            forEachISA { isa in
                var y = [Float](repeating: 1, count: x.count)
                mcc_scale_float_by_double(x, &y, x.count, f)
                XCTAssertEqual(Self.bits(y), Self.bits(expected), "\(isa) f=\(f)")
            }
        }
        let expected = zip(x, factors).map { Float(Double($0) * $1) }
        forEachISA { isa in
            var y = [Float](repeating: 1, count: x.count)
            mcc_scale_float_by_doubles(x, factors, &y, x.count)
            XCTAssertEqual(Self.bits(y), Self.bits(expected), isa)
        }
    }

    /// The header's definition of `mcc_weighted_row_sums`, one row at a time: 16 partial sums in element order,
    /// lanes 0–7 and 8–15 added pairwise, then the fixed tree, then the row factor.
    private static func rowSums(_ w: [Float], rows: Int, columns: Int, k: Int, rowsPerGroup: Int, columnsPerGroup: Int,
                                rowFactors: [Double]?, columnFactors: [Double]?, x: [Double], start: [Double]) -> [Double] {
        var sums = start
        for r in 0..<rows {
            let base = (r / rowsPerGroup) * columnsPerGroup
            var p = [Double](repeating: 0, count: 16)
            for i in 0..<(columns * k) {
                let channel = base + i / k
                let h = columnFactors.map { x[channel] * $0[channel] } ?? x[channel]
                p[i % 16] += Double(w[r * columns * k + i]) * h
            }
            let q = (0..<8).map { p[$0] + p[$0 + 8] }
            let dot = ((q[0] + q[4]) + (q[2] + q[6])) + ((q[1] + q[5]) + (q[3] + q[7]))
            sums[r] += rowFactors.map { $0[r] * dot } ?? dot
        }
        return sums
    }

    func testRowKernelsMatchScalarDefinition() {
        // (rows, columns per row, taps, groups): 1×1 and 3×3 convolutions, grouped, depthwise, odd row counts and
        // row lengths (the tails after blocks of sixteen and four rows and of four elements), 5×5 taps, and groups
        // of 24 rows (a block of sixteen rows would cross a group: the kernel falls back to blocks of four).
        let layouts: [(Int, Int, Int, Int)] = [(37, 19, 1, 1), (16, 8, 9, 1), (24, 3, 9, 4), (29, 1, 9, 29),
                                               (13, 5, 25, 1), (8, 2, 1, 4), (3, 4, 1, 1), (48, 5, 1, 2),
                                               (72, 7, 9, 3), (40, 6, 9, 1)]
        for (n, (rows, columns, k, groups)) in layouts.enumerated() {
            let seed = UInt64(n * 10)
            let w = Self.floats(rows * columns * k, seed: seed + 1)
            let inputs = columns * groups
            let x = Self.doubles(inputs, seed: seed + 2)
            let start = Self.doubles(rows, seed: seed + 3).map { $0 > 0 ? $0 : 0 }
            let rowsPerGroup = rows / groups, columnsPerGroup = columns
            for (rowFactors, columnFactors) in [(nil, nil), (Self.doubles(rows, seed: seed + 4), nil),
                                                (nil, Self.doubles(inputs, seed: seed + 5)),
                                                (Self.doubles(rows, seed: seed + 6), Self.doubles(inputs, seed: seed + 7))] {
                let expected = Self.rowSums(w, rows: rows, columns: columns, k: k, rowsPerGroup: rowsPerGroup,
                                            columnsPerGroup: columnsPerGroup, rowFactors: rowFactors,
                                            columnFactors: columnFactors, x: x, start: start)
                var scaledExpected = [Float](repeating: 0, count: w.count)
                for r in 0..<rows {
                    let base = (r / rowsPerGroup) * columnsPerGroup, rf = rowFactors?[r] ?? 1
                    for c in 0..<columns {
                        let g = columnFactors.map { $0[base + c] * rf } ?? rf
                        for e in 0..<k { scaledExpected[(r * columns + c) * k + e] = Float(Double(w[(r * columns + c) * k + e]) * g) }
                    }
                }
                forEachISA { isa in
                    var scaled = [Float](repeating: 1, count: w.count)
                    let scale = { (rf: UnsafePointer<Double>?, cf: UnsafePointer<Double>?) in
                        mcc_scale_rows(w, &scaled, rows, columns, k, rowsPerGroup, columnsPerGroup, rf, cf)
                    }
                    switch (rowFactors, columnFactors) {
                    case let (r?, c?): scale(r, c)
                    case let (r?, nil): scale(r, nil)
                    case let (nil, c?): scale(nil, c)
                    case (nil, nil): scale(nil, nil)
                    }
                    XCTAssertEqual(Self.bits(scaled), Self.bits(scaledExpected),
                                   "scale rows \(isa) layout \(n) factors \(rowFactors != nil) \(columnFactors != nil)")
                    var inPlace = w
                    let scaleInPlace = { (rf: UnsafePointer<Double>?, cf: UnsafePointer<Double>?) in
                        mcc_scale_rows_in_place(&inPlace, rows, columns, k, rowsPerGroup, columnsPerGroup, rf, cf)
                    }
                    switch (rowFactors, columnFactors) {
                    case let (r?, c?): scaleInPlace(r, c)
                    case let (r?, nil): scaleInPlace(r, nil)
                    case let (nil, c?): scaleInPlace(nil, c)
                    case (nil, nil): scaleInPlace(nil, nil)
                    }
                    XCTAssertEqual(Self.bits(inPlace), Self.bits(scaledExpected),
                                   "scale rows in place \(isa) layout \(n) factors \(rowFactors != nil) \(columnFactors != nil)")
                    var sums = start
                    let call = { (rf: UnsafePointer<Double>?, cf: UnsafePointer<Double>?) in
                        mcc_weighted_row_sums(w, rows, columns, k, rowsPerGroup, columnsPerGroup, rf, cf, x, &sums)
                    }
                    switch (rowFactors, columnFactors) {
                    case let (r?, c?): call(r, c)
                    case let (r?, nil): call(r, nil)
                    case let (nil, c?): call(nil, c)
                    case (nil, nil): call(nil, nil)
                    }
                    XCTAssertEqual(Self.bits(sums), Self.bits(expected),
                                   "\(isa) layout \(n) factors \(rowFactors != nil) \(columnFactors != nil)")
                }
            }
        }
    }
}

/// splitmix64: a seeded generator, so every run tests the same values.
private struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
    mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}
