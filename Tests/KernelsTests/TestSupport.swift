import CKernels
import XCTest

/// SplitMix64: a tiny seeded generator so test data is reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Uniform random floats in `range`.
func randomFloats(_ count: Int, in range: ClosedRange<Float> = -1...1, seed: UInt64 = 1) -> [Float] {
    var g = SplitMix64(seed: seed)
    return (0..<count).map { _ in Float.random(in: range, using: &g) }
}

/// Checks |a-b| <= tol * max(1, |ref|) elementwise.
func assertClose(
    _ actual: [Float], _ expected: [Float], tol: Float = 1e-5, _ message: String = "",
    file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(actual.count, expected.count, "count \(message)", file: file, line: line)
    var worst = 0
    var worstErr: Float = 0
    for i in 0..<min(actual.count, expected.count) {
        let a = actual[i], e = expected[i]
        if a.isNaN && e.isNaN { continue }
        if a == e { continue }
        let err = abs(a - e) / max(1, abs(e))
        if !(err <= worstErr) || err.isNaN { worstErr = err.isNaN ? .infinity : err; worst = i }
    }
    if worstErr > tol {
        XCTFail("max rel err \(worstErr) at \(worst): got \(actual[worst]) want \(expected[worst]) \(message)",
                file: file, line: line)
    }
}
