import Foundation

/// Running sums that give SQNR and cosine similarity of a candidate against a reference over many tensors,
/// exactly as `quant_score.py` defines them over the concatenation: SQNR = 10·log10(Σref² / Σ(ref − q)²),
/// cosine = Σ ref·q / (‖ref‖·‖q‖).
public struct ErrorAccumulator: Sendable, Codable, Equatable {
    public private(set) var signal = 0.0
    public private(set) var noise = 0.0
    public private(set) var dot = 0.0
    public private(set) var candidate = 0.0
    public private(set) var maxAbsError = 0.0
    public private(set) var count = 0

    public init() {}

    public mutating func add(reference r: UnsafeBufferPointer<Float>, candidate q: UnsafeBufferPointer<Float>) {
        precondition(r.count == q.count)
        typealias V = SIMD8<Float>
        var s = 0.0, n = 0.0, d = 0.0, c = 0.0, m: Float = 0
        let total = r.count
        var i = 0
        if let rb = r.baseAddress, let qb = q.baseAddress {
            let rr = UnsafeRawPointer(rb), qr = UnsafeRawPointer(qb)
            while i + 8 <= total {
                var vs = V.zero, vn = V.zero, vd = V.zero, vc = V.zero, vm = V.zero
                let end = Swift.min(total, i + 8 * 512)
                while i + 8 <= end {
                    let a = rr.loadUnaligned(fromByteOffset: i * 4, as: V.self)
                    let b = qr.loadUnaligned(fromByteOffset: i * 4, as: V.self)
                    let e = a - b
                    vs += a * a; vn += e * e; vd += a * b; vc += b * b
                    let magnitude = e.replacing(with: -e, where: e .< 0)
                    vm = vm.replacing(with: magnitude, where: magnitude .> vm)
                    i += 8
                }
                s += Double(vs.sum()); n += Double(vn.sum()); d += Double(vd.sum()); c += Double(vc.sum())
                m = Swift.max(m, vm.max())
            }
        }
        while i < total {
            let a = Double(r[i]), b = Double(q[i]), e = a - b
            s += a * a; n += e * e; d += a * b; c += b * b
            m = Swift.max(m, Float(abs(e)))
            i += 1
        }
        signal += s; noise += n; dot += d; candidate += c
        maxAbsError = Swift.max(maxAbsError, Double(m))
        count += total
    }

    /// SQNR in dB (+∞ for an exact match).
    public var sqnr: Double {
        if noise == 0 { return .infinity }
        if signal == 0 { return -.infinity }
        return 10 * log10(signal / noise)
    }

    public var cosine: Double {
        if signal == 0 && candidate == 0 { return 1 }
        if signal == 0 || candidate == 0 { return 0 }
        return dot / (signal.squareRoot() * candidate.squareRoot())
    }

    /// Adds another accumulator's sums (the same as having added its tensors here).
    public mutating func merge(_ other: ErrorAccumulator) {
        signal += other.signal; noise += other.noise; dot += other.dot; candidate += other.candidate
        maxAbsError = Swift.max(maxAbsError, other.maxAbsError)
        count += other.count
    }

    /// Noise power relative to signal power (linear; 10^(-SQNR/10)).
    public var noiseToSignal: Double { signal > 0 ? noise / signal : (noise > 0 ? .infinity : 0) }
}
