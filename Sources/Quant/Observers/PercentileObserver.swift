/// Clips the tails: the range spans the `(100 - p)`-th to `p`-th percentiles of the observed values (for a
/// symmetric grid, the larger magnitude of the two). For 16-bit grids the tails cost nothing, so the full range
/// is kept.
public struct PercentileObserver: RangeObserver {
    public let percentile: Double
    var extremes = Extremes()
    var histogram: StreamingHistogram

    public init(percentile: Double = 99.99, binCount: Int = 2048) {
        self.percentile = min(max(percentile, 50), 100)
        histogram = StreamingHistogram(binCount: binCount)
    }

    public mutating func observe(_ values: UnsafeBufferPointer<Float>, minimum: Float, maximum: Float) {
        extremes.add(minimum, maximum)
        histogram.add(values, minimum: minimum, maximum: maximum)
    }

    public var valuesRead: Int { histogram.maxSamples }

    public func range(bits: Int, symmetric: Bool) -> CalibrationRange {
        guard let full = extremes.range, bits <= 8, !histogram.isEmpty else { return extremes.full(symmetric: symmetric) }
        let tail = (100 - percentile) / 100
        let lo = Float(histogram.quantile(tail)), hi = Float(histogram.quantile(1 - tail))
        let clipped = CalibrationRange(min: Swift.max(full.min, lo), max: Swift.min(full.max, hi))
        if symmetric { let a = clipped.absMax; return CalibrationRange(min: -a, max: a) }
        return clipped
    }

    public var observedRange: CalibrationRange? { extremes.range }
}
