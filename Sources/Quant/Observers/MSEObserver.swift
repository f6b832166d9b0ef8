/// Chooses the clipping range that minimizes the expected squared quantization error over the observed
/// distribution: values outside `[a, b]` cost their distance to the bound squared, values inside cost the rounding
/// noise Δ²/12 (Δ = step of the grid), except exact zeros, which every grid containing 0 represents exactly.
/// Candidates shrink each bound from the observed extreme in 2% steps (a 2-D grid for two-sided data).
/// 16-bit grids keep the full range (their rounding noise is negligible next to any clipping).
public struct MSEObserver: RangeObserver {
    var extremes = Extremes()
    var histogram: StreamingHistogram

    public init(binCount: Int = 2048) {
        histogram = StreamingHistogram(binCount: binCount)
    }

    public mutating func observe(_ values: UnsafeBufferPointer<Float>, minimum: Float, maximum: Float) {
        extremes.add(minimum, maximum)
        histogram.add(values, minimum: minimum, maximum: maximum)
    }

    public var valuesRead: Int { histogram.maxSamples }

    public var observedRange: CalibrationRange? { extremes.range }

    public func range(bits: Int, symmetric: Bool) -> CalibrationRange {
        guard let full = extremes.range, bits <= 8, !histogram.isEmpty, full.max > full.min else {
            return extremes.full(symmetric: symmetric)
        }
        return MSESearch(histogram: histogram, bits: bits).best(full: full, symmetric: symmetric)
    }
}

/// The error model of `MSEObserver` evaluated in O(1) per candidate from prefix sums of the histogram.
public struct MSESearch {
    let histogram: StreamingHistogram
    let bits: Int
    let all: (n: [Double], s1: [Double], s2: [Double])
    let nonZero: [Double]

    public init(histogram: StreamingHistogram, bits: Int) {
        self.histogram = histogram
        self.bits = bits
        all = histogram.moments(excludingZeros: false)
        nonZero = histogram.moments(excludingZeros: true).n
    }

    /// Number of bins whose center lies below `x`.
    func binsBelow(_ x: Double) -> Int {
        let k = ((x - histogram.lower) / histogram.width - 0.5).rounded(.up)
        return Int(min(max(k, 0), Double(histogram.binCount)))
    }

    /// Expected total squared error of quantizing to `[a, b]` with `levels` steps.
    public func error(_ a: Double, _ b: Double, levels: Double) -> Double {
        let B = histogram.binCount
        let iA = binsBelow(a), iB = max(iA, binsBelow(b.nextUp))
        let below = all.s2[iA] - 2 * a * all.s1[iA] + a * a * all.n[iA]
        let nAbove = all.n[B] - all.n[iB], s1Above = all.s1[B] - all.s1[iB], s2Above = all.s2[B] - all.s2[iB]
        let above = s2Above - 2 * b * s1Above + b * b * nAbove
        let step = (b - a) / levels
        let inside = (nonZero[iB] - nonZero[iA]) * step * step / 12
        return max(below, 0) + max(above, 0) + inside
    }

    public func best(full: CalibrationRange, symmetric: Bool) -> CalibrationRange {
        let fractions = stride(from: 1.0, through: 0.02, by: -0.02).map { $0 }
        let lo = Double(min(full.min, 0)), hi = Double(max(full.max, 0))
        if symmetric {
            let a = max(-lo, hi), levels = Double((1 << (bits - 1)) - 1)
            var best = (error: Double.infinity, t: a)
            for f in fractions {
                let t = a * f
                let e = error(-t, t, levels: levels)
                if e < best.error { best = (e, t) }
            }
            return CalibrationRange(min: -Float(best.t), max: Float(best.t))
        }
        let levels = Double((1 << bits) - 1)
        let lowers = lo < 0 ? fractions.map { lo * $0 } : [0.0]
        let uppers = hi > 0 ? fractions.map { hi * $0 } : [0.0]
        var best = (error: Double.infinity, a: lo, b: hi)
        for a in lowers {
            for b in uppers where b > a {
                let e = error(a, b, levels: levels)
                if e < best.error { best = (e, a, b) }
            }
        }
        return CalibrationRange(min: Float(best.a), max: Float(best.b))
    }
}
