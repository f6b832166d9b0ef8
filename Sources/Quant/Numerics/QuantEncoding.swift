import IR

/// Integer storage of a quantized tensor. The unsigned 8/16-bit grids are what SNPE/QNN use for activations
/// (asymmetric, `float = (q - zeroPoint) * scale`); signed grids hold symmetric weights; int32 holds biases.
public enum QuantStorage: String, Sendable, Codable, CaseIterable {
    case uint8, int8, uint16, int16, int32

    public var bits: Int {
        switch self {
        case .uint8, .int8: 8
        case .uint16, .int16: 16
        case .int32: 32
        }
    }

    public var isSigned: Bool { self == .int8 || self == .int16 || self == .int32 }

    /// ONNX element type of QuantizeLinear's output / DequantizeLinear's input.
    public var elementType: ElementType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .int32: .int32
        }
    }

    /// Full representable range.
    public var range: ClosedRange<Int64> {
        isSigned ? -(Int64(1) << (bits - 1))...((Int64(1) << (bits - 1)) - 1) : 0...((Int64(1) << bits) - 1)
    }

    /// Unsigned activation grid of `bits` (8 or 16).
    public static func activation(bits: Int) -> QuantStorage { bits == 16 ? .uint16 : .uint8 }
    /// Signed weight grid of `bits` (8 or 16).
    public static func weight(bits: Int) -> QuantStorage { bits == 16 ? .int16 : .int8 }
}

/// Scale, zero point and clamp range of one quantized tensor, per tensor or per channel along `axis`:
/// `q = clamp(roundHalfEven(x / scale) + zeroPoint, qmin, qmax)`, `x̂ = (q - zeroPoint) * scale` — exactly
/// ONNX QuantizeLinear followed by DequantizeLinear when `qmin...qmax` is the storage range.
public struct QuantEncoding: Equatable, Sendable {
    public var storage: QuantStorage
    public var scales: [Float]
    public var zeroPoints: [Int64]
    /// Channel axis for per-channel encodings; nil when `scales` has one entry.
    public var axis: Int?
    /// Symmetric around zero (weights: zero point 0 and ±qmax; activations: zero point at mid-grid).
    public var symmetric: Bool
    /// Clamp bounds; narrower than the storage range for symmetric weights ([-127, 127] for int8).
    public var qmin: Int64
    public var qmax: Int64

    public init(storage: QuantStorage, scales: [Float], zeroPoints: [Int64], axis: Int?, symmetric: Bool,
                qmin: Int64? = nil, qmax: Int64? = nil) {
        precondition(scales.count == zeroPoints.count && !scales.isEmpty)
        self.storage = storage
        self.scales = scales
        self.zeroPoints = zeroPoints
        self.axis = axis
        self.symmetric = symmetric
        self.qmin = qmin ?? storage.range.lowerBound
        self.qmax = qmax ?? storage.range.upperBound
    }

    public var bits: Int { storage.bits }
    public var isPerChannel: Bool { scales.count > 1 || axis != nil }

    /// Asymmetric unsigned encoding covering `[min, max]` (widened to include 0 so zero is exact, as SNPE's `tf`
    /// quantizer and onnxruntime do): scale = (max - min) / (2^bits - 1), zeroPoint = round(-min / scale).
    public static func asymmetric(min: Float, max: Float, bits: Int) -> QuantEncoding {
        let storage = QuantStorage.activation(bits: bits)
        let lo = Swift.min(min.isFinite ? min : 0, 0), hi = Swift.max(max.isFinite ? max : 0, 0)
        let levels = Float(storage.range.upperBound)
        var scale = (hi - lo) / levels
        if !(scale > Float.leastNormalMagnitude) { scale = 1 }
        let zero = Int64(Swift.min(Swift.max((-lo / scale).rounded(.toNearestOrEven), 0), levels))
        return QuantEncoding(storage: storage, scales: [scale], zeroPoints: [zero], axis: nil, symmetric: false)
    }

    /// Symmetric unsigned activation encoding for `[-absMax, absMax]`: zero point at mid-grid (128 for 8 bits,
    /// SNPE's symmetric offset -128) and scale = absMax / (2^(bits-1) - 1), so +absMax is the top code.
    public static func symmetricActivation(absMax: Float, bits: Int) -> QuantEncoding {
        let storage = QuantStorage.activation(bits: bits)
        let half = Int64(1) << (bits - 1)
        var scale = absMax / Float(half - 1)
        if !(scale > Float.leastNormalMagnitude) { scale = 1 }
        return QuantEncoding(storage: storage, scales: [scale], zeroPoints: [half], axis: nil, symmetric: true)
    }

    /// Symmetric signed weight encoding with one scale per entry of `absMax` (per channel along `axis`, or per
    /// tensor when `axis` is nil): q in [-(2^(bits-1) - 1), 2^(bits-1) - 1], zero point 0. An all-zero channel gets
    /// scale 1 so it stays exactly zero.
    public static func symmetricWeights(absMax: [Float], bits: Int, axis: Int?) -> QuantEncoding {
        let storage = QuantStorage.weight(bits: bits)
        let qmax = (Int64(1) << (bits - 1)) - 1
        let scales = absMax.map { a -> Float in
            let s = a / Float(qmax)
            return s > Float.leastNormalMagnitude && s.isFinite ? s : 1
        }
        return QuantEncoding(storage: storage, scales: scales, zeroPoints: Array(repeating: 0, count: scales.count),
                             axis: axis, symmetric: true, qmin: -qmax, qmax: qmax)
    }

    /// Dequantized value of code `q` in channel `c`.
    @inline(__always)
    public func dequantize(_ q: Int64, channel c: Int = 0) -> Float { Float(q - zeroPoints[c]) * scales[c] }

    /// Code of `x` in channel `c` (ONNX QuantizeLinear rounding: half to even, then saturate).
    @inline(__always)
    public func quantize(_ x: Float, channel c: Int = 0) -> Int64 {
        let r = (x / scales[c]).rounded(.toNearestOrEven)
        guard !r.isNaN else { return Swift.min(Swift.max(zeroPoints[c], qmin), qmax) }
        let shifted = Double(r) + Double(zeroPoints[c])
        return Int64(Swift.min(Swift.max(shifted, Double(qmin)), Double(qmax)))
    }

    /// Smallest and largest representable values of channel `c`.
    public func representableRange(channel c: Int = 0) -> (min: Float, max: Float) {
        (dequantize(qmin, channel: c), dequantize(qmax, channel: c))
    }
}
