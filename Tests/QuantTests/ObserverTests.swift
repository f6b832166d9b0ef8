import Quant
import XCTest

/// Observers and the streaming histogram against hand-computed values.
final class ObserverTests: XCTestCase {
    func observe(_ observer: inout some RangeObserver, _ values: [Float]) {
        values.withUnsafeBufferPointer { observer.observe($0, minimum: values.min() ?? 0, maximum: values.max() ?? 0) }
    }

    func testMinMaxTracksExtremesAcrossCalls() {
        var o = MinMaxObserver()
        observe(&o, [0.5, -1, 2])
        observe(&o, [3, 0])
        XCTAssertEqual(o.range(bits: 8, symmetric: false), CalibrationRange(min: -1, max: 3))
        XCTAssertEqual(o.range(bits: 8, symmetric: true), CalibrationRange(min: -3, max: 3))
    }

    func testHistogramGrowsWithoutLosingCounts() {
        var h = StreamingHistogram(binCount: 16)
        // Extremes 0 and 1 (bins of width 1/16) and one value at each bin center.
        let first: [Float] = (0..<16).map { Float($0) / 16 + 1 / 32 } + [0, 1]
        first.withUnsafeBufferPointer { h.add($0, minimum: 0, maximum: 1) }
        XCTAssertEqual(h.total, 18)
        let second: [Float] = [3.9, -0.9]
        second.withUnsafeBufferPointer { h.add($0, minimum: -0.9, maximum: 3.9) }
        XCTAssertEqual(h.total, 20)
        XCTAssertEqual(h.counts.reduce(0, +), 20)
        XCTAssertLessThanOrEqual(h.lower, -0.9)
        XCTAssertGreaterThanOrEqual(h.upper, 3.9)
        // Bins still line up with the first data: every original value is in a bin whose range contains it.
        for v in first.prefix(16) {
            let k = Int((Double(v) - h.lower) / h.width)
            XCTAssertGreaterThan(h.counts[k], 0, "value \(v)")
        }
    }

    func testPercentileClipsTheTails() {
        // 0, 1, ..., 9999: the 1st and 99th percentiles are 100 and 9900 (within a histogram bin, 10000/2048).
        var o = PercentileObserver(percentile: 99)
        observe(&o, (0..<10000).map(Float.init))
        let r = o.range(bits: 8, symmetric: false)
        XCTAssertEqual(r.min, 100, accuracy: 5)
        XCTAssertEqual(r.max, 9900, accuracy: 5)
        // 16-bit grids keep the full range.
        XCTAssertEqual(o.range(bits: 16, symmetric: false), CalibrationRange(min: 0, max: 9999))
    }

    func testMSEKeepsAUniformRangeAndClipsALoneOutlierRegion() {
        // Uniform data: any clipping costs more than it saves.
        var uniform = MSEObserver()
        observe(&uniform, (0..<20000).map { Float($0) / 10000 - 1 })
        let u = uniform.range(bits: 8, symmetric: false)
        XCTAssertEqual(u.min, -1, accuracy: 0.03)
        XCTAssertEqual(u.max, 1, accuracy: 0.03)
        // 20000 values in [0, 1] and 2 at 100: keeping [0, 100] costs 20002·(100/255)²/12 ≈ 256, clipping near 1
        // costs about 2·99² ≈ 19600, so the outliers stay in range (a 2% trim to 98 costs 2·2² = 8 and saves
        // 20002·((100² − 98²)/255²)/12 ≈ 10, so that is where it lands).
        var sparse = MSEObserver()
        observe(&sparse, (0..<20000).map { Float($0) / 20000 } + [100, 100])
        XCTAssertEqual(sparse.range(bits: 8, symmetric: false).max, 98, accuracy: 0.5)
    }

    func testMSEErrorModelMatchesDirectComputation() {
        // Two-point histogram: 1000 values at 0.5 and 10 at 8. For [0, 2] at 8 bits the model's error is
        // 10·(8 − 2)² (clipped) + 1000·(2/255)²/12 (rounding inside).
        var h = StreamingHistogram(binCount: 1024)
        let values: [Float] = Array(repeating: 0.5, count: 1000) + Array(repeating: 8, count: 10)
        values.withUnsafeBufferPointer { h.add($0, minimum: 0.5, maximum: 8) }
        let search = MSESearch(histogram: h, bits: 8)
        let expected = 10 * 36.0 + 1000 * (2.0 / 255) * (2.0 / 255) / 12
        XCTAssertEqual(search.error(0, 2, levels: 255), expected, accuracy: expected * 0.02)
    }

    func testEntropyThresholdStopsAtTheOccupiedRange() {
        // All mass in the first 100 of 2048 bins, 128 levels: at 128 bins every group is one bin, Q equals P and
        // KL is 0 — the first (smallest) such threshold wins.
        var hist = [Double](repeating: 0, count: 2048)
        for k in 0..<100 { hist[k] = Double(1 + k % 7) }
        XCTAssertEqual(EntropyObserver.threshold(hist, levels: 128), 128)
    }

    func testSixteenBitRangesAreNeverClipped() {
        for kind in ObserverKind.allCases {
            var o = kind.make()
            observe(&o, [-3, 0, 1, 2, 50])
            XCTAssertEqual(o.range(bits: 16, symmetric: false), CalibrationRange(min: -3, max: 50), kind.rawValue)
        }
    }
}
