import IR

/// Symmetric per-channel weight encodings. The scale of each output channel comes from its largest magnitude
/// (`minmax`), or from the clipping of that magnitude (100% down to 50% in 2% steps) that minimizes the channel's
/// squared rounding error (`mse`) — clipping a lone outlier can halve the step for every other weight.
public enum WeightQuantizer {
    public enum Method: String, Sendable, CaseIterable, Codable { case minmax, mse }

    /// Encoding of `weight` per channel along `axis` (per tensor when `perChannel` is false).
    public static func encoding(for weight: Tensor, axis: Int, bits: Int, method: Method, perChannel: Bool = true) -> QuantEncoding {
        let values = weight.floatValues()
        let shape = weight.shape
        guard perChannel, shape.indices.contains(axis) else {
            let absMax = values.reduce(Float(0)) { max($0, abs($1)) }
            let best = method == .mse ? clippedAbsMax(values[...], absMax: absMax, bits: bits) : absMax
            return .symmetricWeights(absMax: [best], bits: bits, axis: nil)
        }
        let channels = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        let outer = shape[..<axis].reduce(1, *)
        guard method == .mse else {
            // Each channel's largest magnitude in place, without gathering the channels (max is order-free here).
            var absMax = [Float](repeating: 0, count: channels)
            values.withUnsafeBufferPointer { v in
                for o in 0..<outer {
                    for c in 0..<channels {
                        let base = (o * channels + c) * inner
                        var m = absMax[c]
                        for k in base..<(base + inner) { m = max(m, abs(v[k])) }
                        absMax[c] = m
                    }
                }
            }
            return .symmetricWeights(absMax: absMax, bits: bits, axis: axis)
        }
        var groups = [[Float]](repeating: [], count: channels)
        for c in 0..<channels { groups[c].reserveCapacity(outer * inner) }
        for o in 0..<outer {
            for c in 0..<channels {
                let base = (o * channels + c) * inner
                groups[c].append(contentsOf: values[base..<(base + inner)])
            }
        }
        let absMax = groups.map { g in g.reduce(Float(0)) { max($0, abs($1)) } }
        let chosen = method == .mse
            ? zip(groups, absMax).map { clippedAbsMax($0[...], absMax: $1, bits: bits) }
            : absMax
        return .symmetricWeights(absMax: chosen, bits: bits, axis: axis)
    }

    /// The clipped magnitude with the least squared rounding + clipping error for one channel.
    static func clippedAbsMax(_ values: ArraySlice<Float>, absMax: Float, bits: Int) -> Float {
        guard absMax > 0 else { return absMax }
        let qmax = Float((1 << (bits - 1)) - 1)
        var best = (error: Float.infinity, a: absMax)
        for step in 0...25 {
            let a = absMax * (1 - Float(step) * 0.02)
            let s = a / qmax
            var e: Float = 0
            for v in values {
                let q = min(max((v / s).rounded(.toNearestOrEven), -qmax), qmax)
                let d = q * s - v
                e += d * d
            }
            if e < best.error { best = (e, a) }
        }
        return best.a
    }

    /// Integer codes of `weight` under `encoding` (for QDQ emission), as Int64.
    public static func codes(_ weight: Tensor, _ encoding: QuantEncoding) -> [Int64] {
        let values = weight.floatValues()
        guard encoding.scales.count > 1, let axis = encoding.axis else {
            return values.map { encoding.quantize($0) }
        }
        let shape = weight.shape
        let channels = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
        return values.indices.map { e in encoding.quantize(values[e], channel: (e / inner) % channels) }
    }
}
