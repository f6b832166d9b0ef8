import Foundation

/// TensorRT-style entropy calibration: among thresholds t, pick the one whose quantized distribution (values
/// beyond t folded into the last bin, the rest merged into as many groups as the grid has levels and spread back
/// over their non-empty bins) has the least KL divergence from the observed one. Works on magnitudes; a one-sided
/// (non-negative) tensor uses the whole unsigned grid, a two-sided one half of it per side. 16-bit grids keep the
/// full range.
public struct EntropyObserver: RangeObserver {
    var extremes = Extremes()
    var histogram: StreamingHistogram
    /// Bins of the magnitude histogram the search runs on (TensorRT uses 2048).
    let searchBins = 2048

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
        guard let full = extremes.range, bits <= 8, !histogram.isEmpty, full.absMax > 0 else {
            return extremes.full(symmetric: symmetric)
        }
        let oneSided = full.min >= 0 && !symmetric
        let levels = oneSided ? (1 << bits) - 1 : (1 << (bits - 1))
        let absMax = Double(full.absMax)
        // Magnitude histogram over [0, absMax].
        var magnitudes = [Double](repeating: 0, count: searchBins)
        let scale = Double(searchBins) / absMax
        for k in 0..<histogram.binCount where histogram.counts[k] > 0 {
            let m = abs(histogram.center(k))
            magnitudes[min(Int(m * scale), searchBins - 1)] += histogram.counts[k]
        }
        let t = Double(Self.threshold(magnitudes, levels: levels)) / scale
        let a = Float(min(t, absMax))
        if symmetric { return CalibrationRange(min: -a, max: a) }
        return CalibrationRange(min: max(full.min, -a), max: min(full.max, a))
    }

    /// Index-space threshold (in bins, upper edge) minimizing KL(P || Q).
    public static func threshold(_ hist: [Double], levels: Int) -> Int {
        let n = hist.count
        guard levels < n else { return n }
        var suffix = [Double](repeating: 0, count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) { suffix[i] = suffix[i + 1] + hist[i] }
        let step = max(1, (n - levels) / 256)
        var best = (kl: Double.infinity, index: n)
        var p = [Double](repeating: 0, count: n), q = [Double](repeating: 0, count: n)
        for i in stride(from: levels, through: n, by: step) {
            for k in 0..<i { p[k] = hist[k] }
            p[i - 1] += suffix[i]
            // Q: merge hist[0..<i] into `levels` groups, spread each group's mass over its non-empty bins.
            for g in 0..<levels {
                let start = g * i / levels, end = (g + 1) * i / levels
                var mass = 0.0, nonEmpty = 0
                for k in start..<end where hist[k] > 0 { mass += hist[k]; nonEmpty += 1 }
                let share = nonEmpty > 0 ? mass / Double(nonEmpty) : 0
                for k in start..<end { q[k] = hist[k] > 0 ? share : 0 }
            }
            let kl = divergence(p, q, count: i)
            if kl < best.kl { best = (kl, i) }
        }
        return best.index
    }

    /// KL(P || Q) over the first `count` bins, both normalized; bins where Q is 0 but P is not get a small floor.
    static func divergence(_ p: [Double], _ q: [Double], count: Int) -> Double {
        var sp = 0.0, sq = 0.0
        for k in 0..<count { sp += p[k]; sq += q[k] }
        guard sp > 0, sq > 0 else { return .infinity }
        var kl = 0.0
        for k in 0..<count where p[k] > 0 {
            let pk = p[k] / sp
            let qk = max(q[k] / sq, 1e-12)
            kl += pk * log(pk / qk)
        }
        return kl
    }
}
