import CKernels

/// A fixed-size histogram over a range that grows as data arrives, so calibration never stores tensors and needs
/// no second pass: when a batch falls outside the range, bin width doubles (pairs of bins merge exactly, the old
/// range landing on whole new bins) until it fits. With `binCount` bins the final histogram spends at least a
/// quarter of them on the observed data range.
///
/// Large tensors are sampled with a fixed odd stride (at most `maxSamples` elements per call) — deterministic, and
/// ample for the range searches (percentile, KL, MSE) that read the histogram; exact extremes come from the caller.
public struct StreamingHistogram: Sendable {
    public let binCount: Int
    public let maxSamples: Int
    /// Lower edge of bin 0 and the bin width; `width == 0` until data arrives.
    public private(set) var lower: Double = 0
    public private(set) var width: Double = 0
    public private(set) var counts: [Double]
    /// Sampled elements that were exactly 0 (ReLU outputs); they are exact on every grid that contains 0.
    public private(set) var exactZeros: Double = 0
    public private(set) var total: Double = 0

    public init(binCount: Int = 2048, maxSamples: Int = 1 << 15) {
        precondition(binCount >= 16 && binCount % 2 == 0)
        self.binCount = binCount
        self.maxSamples = max(1, maxSamples)
        counts = Array(repeating: 0, count: binCount)
    }

    public var isEmpty: Bool { total == 0 }
    public var upper: Double { lower + width * Double(binCount) }

    /// Center of bin `k`.
    @inline(__always) public func center(_ k: Int) -> Double { lower + (Double(k) + 0.5) * width }

    /// Adds (a sample of) `values`, whose exact extremes are `minimum` and `maximum` (non-finite values skipped).
    public mutating func add(_ values: UnsafeBufferPointer<Float>, minimum: Float, maximum: Float) {
        guard !values.isEmpty, minimum.isFinite, maximum.isFinite else { return }
        cover(Double(minimum), Double(maximum))
        let stride = Self.sampleStride(count: values.count, maxSamples: maxSamples)
        // Float index math and integer counts keep the per-element cost to a few instructions (this loop sits on
        // every activation of every calibration sample); the bins themselves stay Double for exact merging.
        let inverse = Float(1 / width), lo = Float(lower), last = Float(binCount - 1)
        // Four copies of the bins: the C loop spreads consecutive values over them and sums them into the first
        // (plus one spare entry where it counts what no bin takes).
        var local = [UInt32](repeating: 0, count: 4 * binCount + 1)
        var zeros: UInt32 = 0, added: UInt32 = 0
        local.withUnsafeMutableBufferPointer { bins in
            guard let base = values.baseAddress, let counts = bins.baseAddress else { return }
            // Vector index math in C (AVX-512 / AVX2 / baseline, same bins).
            mcc_histogram_bin(base, (values.count + stride - 1) / stride, stride, lo, inverse, last, counts, &zeros, &added)
        }
        for k in 0..<binCount where local[k] != 0 { counts[k] += Double(local[k]) }
        exactZeros += Double(zeros)
        total += Double(added)
    }

    /// The stride `add` reads a tensor of `count` values at (elements 0, stride, 2·stride, ...): odd, and at most
    /// `maxSamples` elements read. A tensor of at most `maxSamples` values is read whole (stride 1), so adding only
    /// the strided elements gives the same histogram as adding the tensor.
    public static func sampleStride(count: Int, maxSamples: Int) -> Int {
        let limit = max(1, maxSamples)
        var stride = max(1, (count + limit - 1) / limit)
        if stride > 1 && stride % 2 == 0 { stride += 1 }
        return stride
    }

    /// Grows the range to contain `[lo, hi]`.
    mutating func cover(_ lo: Double, _ hi: Double) {
        if width == 0 {
            let span = hi - lo
            // A constant tensor still needs a non-empty range; a tiny one around the value.
            width = span > 0 ? span / Double(binCount) : max(abs(lo), 1e-12) * 1e-6
            lower = span > 0 ? lo : lo - width * Double(binCount / 2)
            if lower + width * Double(binCount) < hi { width = nextUp(width) }
            return
        }
        while lo < lower || hi > upper {
            // Merge pairs and re-anchor: the old range occupies new bins [j, j + binCount/2).
            let newWidth = width * 2
            let half = binCount / 2
            let roomBelow = lower - lo, roomAbove = hi - upper
            var j: Int
            if roomBelow > 0 && roomAbove <= 0 {
                j = min(half, Int((roomBelow / newWidth).rounded(.up)))
            } else if roomAbove > 0 && roomBelow <= 0 {
                j = 0
            } else {
                j = half / 2
            }
            j = min(max(j, 0), half)
            var merged = [Double](repeating: 0, count: binCount)
            for k in 0..<binCount { merged[j + k / 2] += counts[k] }
            counts = merged
            lower -= Double(j) * newWidth
            width = newWidth
        }
    }

    private func nextUp(_ w: Double) -> Double { w * (1 + 1e-12) }

    /// Prefix sums of count, count·center and count·center² (`[0]` = 0, `[k]` covers bins `0..<k`), excluding
    /// the exact zeros when `excludingZeros` (they are subtracted from the bin holding 0).
    func moments(excludingZeros: Bool) -> (n: [Double], s1: [Double], s2: [Double]) {
        var n = [Double](repeating: 0, count: binCount + 1), s1 = n, s2 = n
        let zeroBin = excludingZeros && exactZeros > 0 ? Int(((0 - lower) / width).rounded(.down)) : -1
        for k in 0..<binCount {
            var c = counts[k]
            if k == zeroBin { c = max(0, c - exactZeros) }
            let x = center(k)
            n[k + 1] = n[k] + c
            s1[k + 1] = s1[k] + c * x
            s2[k + 1] = s2[k] + c * x * x
        }
        return (n, s1, s2)
    }

    /// The value below which `fraction` of the samples lie (linear within a bin).
    public func quantile(_ fraction: Double) -> Double {
        guard total > 0 else { return 0 }
        let target = min(max(fraction, 0), 1) * total
        var seen = 0.0
        for k in 0..<binCount {
            let c = counts[k]
            if seen + c >= target && c > 0 {
                let t = (target - seen) / c
                return lower + (Double(k) + t) * width
            }
            seen += c
        }
        return upper
    }
}
