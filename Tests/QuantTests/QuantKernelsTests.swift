import CKernels
import Quant
import TestSupport
import XCTest

/// The quantizer's C loops (Sources/CKernels/quant.c) against scalar Swift definitions, in every instruction-set
/// variant this CPU has: fake quantization and histogram bins must match exactly; the summary's extremes exactly and
/// its sum of squares to float accumulation error (relative 1e-5 over ≤ 4096-element float blocks), with every
/// variant giving the same bits.
final class QuantKernelsTests: XCTestCase {
    /// Deterministic values in [-scale, scale) with NaN, ±inf, zeros, exact ties and the grid's ends mixed in.
    func values(_ count: Int, scale: Float = 40) -> [Float] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var x = (0..<count).map { _ -> Float in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
        let specials: [Float] = [.nan, .infinity, -.infinity, 0, -0.0, 0.5, 1.5, 2.5, -2.5, 127.5, -128.5, 1e30, -1e30]
        for (k, s) in specials.enumerated() where k * 7 < count { x[k * 7] = s }
        return x
    }

    func testFakeQuantizeMatchesScalarDefinition() {
        for count in [0, 1, 15, 16, 17, 100, 1000] {
            let x = values(count)
            for (scale, lo, hi) in [(Float(1), Float(-128), Float(127)), (0.37, -3, 252), (0.001, -32768, 32767)] {
                let expected = x.map { v -> Float in
                    let q = v / scale
                    guard q >= lo else { return lo * scale }
                    guard q <= hi else { return hi * scale }
                    return q.rounded(.toNearestOrEven) * scale
                }
                forEachISA { isa in
                    var y = [Float](repeating: .nan, count: count)
                    x.withUnsafeBufferPointer { src in
                        y.withUnsafeMutableBufferPointer { dst in
                            guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                            mcc_fake_quantize(s, d, count, scale, lo, hi)
                        }
                    }
                    // Equal as numbers (rounding may give +0 where the library rounding gives -0).
                    XCTAssertEqual(y, expected, "\(isa) n=\(count) scale=\(scale)")
                }
            }
        }
    }

    /// The element-wise variant (a scale and bounds per element) gives the bits of the per-call one, element by
    /// element, and FakeQuantize's short-channel path (a Gemm weight quantized along its 3-element columns) the bits
    /// of one call per channel run.
    func testElementwiseFakeQuantizeMatchesPerCall() {
        let count = 3 * 37
        let x = values(count)
        let scales = (0..<count).map { Float(0.05) + Float($0 % 3) * 0.4 }
        let los = (0..<count).map { Float(-127 - ($0 % 2)) }, his = (0..<count).map { _ in Float(127) }
        var expected = [Float](repeating: 0, count: count)
        for e in 0..<count {
            var out: Float = 0
            x.withUnsafeBufferPointer { src in mcc_fake_quantize(src.baseAddress! + e, &out, 1, scales[e], los[e], his[e]) }
            expected[e] = out
        }
        forEachISA { isa in
            var y = [Float](repeating: .nan, count: count)
            x.withUnsafeBufferPointer { src in
                y.withUnsafeMutableBufferPointer { mcc_fake_quantize_elementwise(src.baseAddress!, $0.baseAddress!, count, scales, los, his) }
            }
            XCTAssertEqual(y.map(\.bitPattern), expected.map(\.bitPattern), isa)
        }
        // Shape [37, 3] quantized along axis 1 (runs of 1 element) against the same encoding on the transposed [3, 37].
        let encoding = QuantEncoding.symmetricWeights(absMax: [3, 17, 40], bits: 8, axis: 1)
        var short = [Float](repeating: 0, count: count), long = [Float](repeating: 0, count: count)
        let transposed = (0..<count).map { x[($0 % 37) * 3 + $0 / 37] }
        var columns = encoding
        columns.axis = 0
        x.withUnsafeBufferPointer { src in
            FakeQuantize.apply(encoding, shape: [37, 3], input: src.baseAddress!, output: &short)
        }
        transposed.withUnsafeBufferPointer { src in
            FakeQuantize.apply(columns, shape: [3, 37], input: src.baseAddress!, output: &long)
        }
        let back = (0..<count).map { long[($0 % 3) * 37 + $0 / 3] }
        XCTAssertEqual(short.map(\.bitPattern), back.map(\.bitPattern))
    }

    func testTensorSummaryAgreesAcrossVariants() {
        for count in [15, 16, 17, 5000, 9001] {
            var x = values(count)
            for k in x.indices where !x[k].isFinite || abs(x[k]) > 1e3 { x[k] = Float(k % 5) }  // finite sums
            x[count / 2] = .nan
            let finite = x.filter { !$0.isNaN }
            let exact = finite.reduce(0.0) { $0 + Double($1) * Double($1) }
            forEachISA { isa in
                var mn: Float = 0, mx: Float = 0, sum = 0.0
                x.withUnsafeBufferPointer { mcc_tensor_summary($0.baseAddress!, count, &mn, &mx, &sum) }
                XCTAssertEqual(mn, finite.min(), isa)
                XCTAssertEqual(mx, finite.max(), isa)
                XCTAssertTrue(sum.isNaN, "\(isa): NaN reaches the sum (the caller discards it)")
            }
            // Without the NaN: the sum of squares.
            x[count / 2] = 1
            let withOne = exact + 1
            var sums: [UInt64] = []
            forEachISA { isa in
                var mn: Float = 0, mx: Float = 0, sum = 0.0
                x.withUnsafeBufferPointer { mcc_tensor_summary($0.baseAddress!, count, &mn, &mx, &sum) }
                XCTAssertEqual(sum, withOne, accuracy: withOne * 1e-5, isa)
                sums.append(sum.bitPattern)
            }
            XCTAssertEqual(Set(sums).count, 1, "variants differ in the sum's bits")
        }
    }

    func testHistogramBinsMatchScalarDefinition() {
        let bins = 64
        for (count, stride) in [(1000, 1), (17, 1), (3001, 3), (0, 1)] {
            var x = values(count, scale: 2)
            for k in x.indices where k % 3 == 0 { x[k] = 0 }  // runs of zeros, like ReLU outputs
            let lower: Float = -1.5, inverse: Float = 20, last = Float(bins - 1)
            var expected = [UInt32](repeating: 0, count: bins)
            var expectedZeros: UInt32 = 0, expectedAdded: UInt32 = 0
            var i = 0
            while i < count {
                let v = x[i]
                i += stride
                var k = (v - lower) * inverse
                guard k == k, v.isFinite else { continue }
                k = k < 0 ? 0 : (k > last ? last : k)
                expected[Int(k)] += 1
                expectedAdded += 1
                if v == 0 { expectedZeros += 1 }
            }
            forEachISA { isa in
                var counts = [UInt32](repeating: 0, count: 4 * bins + 1)
                var zeros: UInt32 = 0, added: UInt32 = 0
                x.withUnsafeBufferPointer { src in
                    counts.withUnsafeMutableBufferPointer { dst in
                        mcc_histogram_bin(src.baseAddress ?? UnsafePointer(bitPattern: 16)!, (count + stride - 1) / stride, stride,
                                          lower, inverse, last, dst.baseAddress!, &zeros, &added)
                    }
                }
                XCTAssertEqual(Array(counts.prefix(bins)), expected, "\(isa) n=\(count) stride=\(stride)")
                XCTAssertEqual(zeros, expectedZeros, isa)
                XCTAssertEqual(added, expectedAdded, isa)
            }
        }
    }
}
