import CKernels
import XCTest

/// Float32 → binary16 conversion of Sources/CKernels/half.c (F16C and scalar paths) against `Float16(v).bitPattern`,
/// Swift's own round-to-nearest-even conversion: bit-exact, no tolerance (weights written by FP16Casting and the
/// OpenVINO emitter must not change with the CPU the compiler runs on).
final class HalfConversionTests: XCTestCase {
    /// Binary16 bits the conversions must produce: `Float16(v)` for every non-NaN, the payload-free quiet NaN else.
    private static func expectedBits(_ v: Float) -> UInt16 {
        if v.isNaN { return UInt16(truncatingIfNeeded: v.bitPattern >> 16) & 0x8000 | 0x7E00 }
        return Float16(v).bitPattern
    }

    /// Accepted by `mcc_half_from_float_exact_range`: finite, fits f16, and does not vanish to ±0.
    private static func keepsExactRange(_ v: Float) -> Bool {
        v.isFinite && abs(v) <= 65504 && (v == 0 || Float16(v) != 0)
    }

    /// Floats spread over all bit patterns, plus every rounding tie (and its neighbours) of normal and subnormal
    /// f16 results, plus the edges: ±0, subnormal floats, 2⁻²⁵ (rounds to 0), 65504, 65520 (rounds to inf), inf, NaNs.
    private static func samples() -> [Float] {
        var bits: [UInt32] = []
        var pattern: UInt64 = 0
        while pattern < 1 << 32 { bits.append(UInt32(pattern)); pattern += 1021 }
        for sign: UInt32 in [0, 0x8000_0000] {
            for exponent: UInt32 in 98...144 {
                // Bits below the kept f16 mantissa: 13 for normal f16 results, more for subnormal ones.
                let dropped = exponent >= 113 ? 13 : min(24, 13 + Int(113 - exponent))
                let tie: UInt32 = 1 << (dropped - 1)
                let steps = UInt32(1) << max(0, 23 - dropped)
                for upper in 0..<steps {
                    let kept = upper << UInt32(dropped)
                    for low in [0, 1, tie - 1, tie, tie + 1, (tie << 1) - 1] where low < 1 << 23 {
                        bits.append(sign | exponent << 23 | ((kept | low) & 0x7F_FFFF))
                    }
                }
            }
        }
        let edges: [Float] = [0, 1, 0x1p-25, 0x1p-24, 0x1p-14, 65504, 65504.5, 65519.996, 65520, 65536,
                              .greatestFiniteMagnitude, .leastNonzeroMagnitude, .leastNormalMagnitude, .infinity,
                              Float(bitPattern: 0x7FC0_0000), Float(bitPattern: 0x7F80_0001),
                              Float(bitPattern: 0x7FFF_FFFF), Float(bitPattern: 0x7FA0_1234)]
        for e in edges { bits += [e.bitPattern, e.bitPattern | 0x8000_0000, e.nextUp.bitPattern, e.nextDown.bitPattern] }
        return bits.map(Float.init(bitPattern:))
    }

    /// Runs `body` once per instruction-set level this CPU has (scalar and F16C), restoring the level afterwards.
    private func forEachLevel(_ body: (Int32) throws -> Void) rethrows {
        let original = mcc_isa()
        defer { _ = mcc_set_isa(original) }
        for level in [Int32(MCC_ISA_BASELINE), Int32(MCC_ISA_AVX2)] {
            let used = mcc_set_isa(level)
            if used != level && level != Int32(MCC_ISA_BASELINE) { continue }
            try body(level)
        }
    }

    /// `count` copies of 1.0 with `value` at `position`, converted by `convert`.
    private func converts(_ value: Float, at position: Int, count: Int,
                          _ convert: (UnsafePointer<Float>, UnsafeMutablePointer<UInt16>, Int) -> Int32) -> Bool {
        var block = [Float](repeating: 1, count: count)
        block[position] = value
        var out = [UInt16](repeating: 0, count: count)
        return block.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in convert(src.baseAddress!, dst.baseAddress!, count) != 0 }
        }
    }

    func testExactRangeConversionMatchesFloat16() {
        let all = Self.samples()
        let kept = all.filter(Self.keepsExactRange)
        let rejected = all.filter { !Self.keepsExactRange($0) }
        XCTAssertGreaterThan(kept.count, 1_000_000)
        forEachLevel { level in
            // Odd lengths and offsets exercise the vector body and the scalar tail.
            for offset in [0, 3] {
                let input = Array(kept[offset...])
                var out = [UInt16](repeating: 0, count: input.count)
                XCTAssertEqual(mcc_half_from_float_exact_range(input, &out, input.count), 1, "level \(level)")
                let mismatch = input.indices.first { out[$0] != Self.expectedBits(input[$0]) }
                XCTAssertNil(mismatch.map { "\(input[$0]) → \(out[$0])" }, "level \(level)")
            }
            var rng = SystemRandomNumberGenerator()
            let sampled = rejected.count > 20_000 ? (0..<20_000).map { _ in rejected.randomElement(using: &rng)! }
                                                  : rejected
            for (i, v) in (sampled + rejected.filter { $0.isNaN || $0.isInfinite || abs($0) < 1e-7 }).enumerated() {
                let count = 9 + i % 31
                XCTAssertFalse(converts(v, at: i % count, count: count) { mcc_half_from_float_exact_range($0, $1, $2) },
                               "\(v) (bits \(String(v.bitPattern, radix: 16))) accepted at level \(level)")
            }
        }
    }

    func testConversionMatchesHalfBitsIncludingInfAndNaN() {
        let all = Self.samples()
        let fits = all.filter { !$0.isFinite || abs($0) <= 65504 }
        let overflows = all.filter { $0.isFinite && abs($0) > 65504 }
        XCTAssertTrue(fits.contains { $0.isNaN } && fits.contains { $0.isInfinite } && fits.contains { $0 == 0 })
        forEachLevel { level in
            for offset in [0, 5] {
                let input = Array(fits[offset...])
                var out = [UInt16](repeating: 0, count: input.count)
                XCTAssertEqual(mcc_half_from_float(input, &out, input.count), 1, "level \(level)")
                let mismatch = input.indices.first { out[$0] != Self.expectedBits(input[$0]) }
                XCTAssertNil(mismatch.map { "\(input[$0]) → \(out[$0])" }, "level \(level)")
            }
            for (i, v) in overflows.prefix(20_000).enumerated() {
                let count = 9 + i % 31
                XCTAssertFalse(converts(v, at: i % count, count: count) { mcc_half_from_float($0, $1, $2) }, "\(v) at level \(level)")
            }
        }
    }

    /// The in-place form: the same bits as the two-buffer conversion in the first half of the float buffer, for
    /// lengths that exercise the vector body and every tail length; a rejected value anywhere leaves the buffer
    /// unchanged (it is tested before anything is written).
    func testInPlaceConversionMatchesAndLeavesRejectedBuffersUntouched() {
        let kept = Self.samples().filter(Self.keepsExactRange)
        forEachLevel { level in
            for count in Array(0...40) + [1021, kept.count - 7] {
                let input = Array(kept.prefix(count))
                var expected = [UInt16](repeating: 0, count: count)
                XCTAssertEqual(mcc_half_from_float_exact_range(input, &expected, count), 1)
                var buffer = input
                XCTAssertEqual(buffer.withUnsafeMutableBufferPointer { mcc_half_from_float_exact_range_in_place($0.baseAddress, count) }, 1)
                let out = buffer.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self).prefix(count)) }
                XCTAssertEqual(out, expected, "count \(count) at level \(level)")
            }
            for (i, v) in [Float.nan, .infinity, -65520, 70000, 1e-9, -0x1p-26].enumerated() {
                for count in [1, 7, 8, 9, 40, 5000] {
                    var buffer = (0..<count).map { Float($0 % 17) * 0.25 - 1 }
                    buffer[(i * 7919) % count] = v
                    let before = buffer.map(\.bitPattern)
                    XCTAssertEqual(buffer.withUnsafeMutableBufferPointer { mcc_half_from_float_exact_range_in_place($0.baseAddress, count) }, 0,
                                   "\(v) accepted at level \(level)")
                    XCTAssertEqual(buffer.map(\.bitPattern), before, "\(v): buffer changed at level \(level)")
                }
            }
        }
    }
}
