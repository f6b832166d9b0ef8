import Foundation
import IR

/// User-level quantization choices (the target's preset fills most of them).
public struct QuantizationOptions: Sendable, Equatable {
    /// Range estimator for activations.
    public var observer: ObserverKind = .mse
    /// Percentile for `.percentile`.
    public var percentile: Double = 99.99
    /// Default activation bitwidth (8 or 16); mixed precision may raise single points to 16.
    public var activationBits = 8
    /// Default weight bitwidth (8 or 16).
    public var weightBits = 8
    /// Symmetric activation grids (SNPE `--act_quantizer symmetric`) instead of asymmetric.
    public var symmetricActivations = false
    public var weightMethod: WeightQuantizer.Method = .minmax
    public var perChannelWeights = true
    /// Shift biases by the mean output change that weight rounding causes (from calibration input means).
    public var biasCorrection = true
    /// Bounds on the stretch of 16-bit activation ranges. Unseen inputs exceed the calibration set's extremes, and
    /// clipping then costs far more than rounding, while a 16-bit grid loses little to a wider range. Each side of
    /// the range grows by the factor its extreme still grew by between the first half of the calibration samples
    /// and all of them (a range that stopped growing is trusted; one still growing is extrapolated), within these
    /// bounds. Small tensors (at most `sparseTensorElements` values per sample: pooled vectors, fully connected
    /// outputs) rest on a handful of values per sample, so neither clipping nor their growth can be trusted: at any
    /// bitwidth they get their full observed range stretched by `sparseHeadroom`.
    public var minimumHeadroom: Float = 1.5
    public var maximumHeadroom: Float = 4
    public var sparseHeadroom: Float = 2
    public var sparseTensorElements = 4096

    public init() {}
}

/// Encodings for every quantization point of a model (indices follow `QuantizationPoints`): what the QDQ
/// builder, the simulator, the AIMET encodings writer and the report all read.
public struct QuantizationPlan: Sendable {
    public var activationBits: [Int]
    public var activationEncodings: [QuantEncoding]
    public var weightBits: [Int]
    public var weightEncodings: [QuantEncoding]
    public var constantEncodings: [QuantEncoding]
    /// Corrected bias values (bias correction), nil where the original stands.
    public var biasValues: [[Float]?]

    /// Number of 16-bit activation and weight encodings.
    public var highPrecisionCounts: (activations: Int, weights: Int) {
        (activationBits.filter { $0 > 8 }.count, weightBits.filter { $0 > 8 }.count)
    }
}

/// Builds plans from calibration statistics. Encodings and corrected biases are cached per bitwidth, so the
/// many candidate plans of a mixed-precision search cost next to nothing to assemble.
public final class PlanBuilder {
    public let points: QuantizationPoints
    public let statistics: CalibrationStatistics
    public let options: QuantizationOptions
    private var activationCache: [Int: [Int: QuantEncoding]] = [:]
    private var weightCache: [Int: [Int: QuantEncoding]] = [:]
    private var biasCache: [Int: [Int: [Float]?]] = [:]
    private var constantCache: [QuantEncoding]?

    public init(points: QuantizationPoints, statistics: CalibrationStatistics, options: QuantizationOptions) {
        self.points = points
        self.statistics = statistics
        self.options = options
    }

    /// Activation encoding of point `i` at `bits`.
    public func activationEncoding(_ i: Int, bits: Int) -> QuantEncoding {
        if let e = activationCache[i]?[bits] { return e }
        let e = computeActivationEncoding(i, bits: bits)
        activationCache[i, default: [:]][bits] = e
        return e
    }

    func computeActivationEncoding(_ i: Int, bits: Int) -> QuantEncoding {
        let symmetric = options.symmetricActivations
        var range = statistics.observers[i].range(bits: bits, symmetric: symmetric)
        let sparse = i < statistics.elementsPerSample.count && statistics.elementsPerSample[i] <= options.sparseTensorElements
        if sparse, let full = statistics.observers[i].observedRange {
            // A few values per sample: no clipping at any width, and room beyond the observed extremes.
            let wide = symmetric ? CalibrationRange(min: -full.absMax, max: full.absMax) : full
            range = CalibrationRange(min: wide.min * options.sparseHeadroom, max: wide.max * options.sparseHeadroom)
        } else if bits > 8 {
            let half = i < statistics.halfwayRanges.count ? statistics.halfwayRanges[i] : nil
            func growth(_ full: Float, _ early: Float?) -> Float {
                guard let early, abs(early) > 0 else { return options.maximumHeadroom }
                return min(max(abs(full) / abs(early), options.minimumHeadroom), options.maximumHeadroom)
            }
            range = CalibrationRange(min: range.min * growth(range.min, half?.min), max: range.max * growth(range.max, half?.max))
        }
        if symmetric { return .symmetricActivation(absMax: range.absMax, bits: bits) }
        return .asymmetric(min: range.min, max: range.max, bits: bits)
    }

    /// Weight encoding of weight `j` at `bits`.
    public func weightEncoding(_ j: Int, bits: Int) -> QuantEncoding {
        if let e = weightCache[j]?[bits] { return e }
        let e = computeWeightEncoding(j, bits: bits)
        weightCache[j, default: [:]][bits] = e
        return e
    }

    func computeWeightEncoding(_ j: Int, bits: Int) -> QuantEncoding {
        let w = points.weights[j]
        guard let tensor = w.node.inputs[w.inputIndex]?.initializer else {
            return .symmetricWeights(absMax: [0], bits: bits, axis: nil)
        }
        return WeightQuantizer.encoding(for: tensor, axis: w.axis, bits: bits, method: options.weightMethod,
                                        perChannel: options.perChannelWeights)
    }

    /// Per-tensor asymmetric 8-bit encoding of constant operand `k`.
    public func constantEncoding(_ k: Int) -> QuantEncoding {
        let c = points.constants[k]
        let values = c.node.inputs[c.inputIndex]?.initializer?.floatValues() ?? [0]
        let lo = values.min() ?? 0, hi = values.max() ?? 0
        return .asymmetric(min: lo, max: hi, bits: 8)
    }

    /// Computes the default plan's encodings (and corrected biases) on `threads` cores (nil: all) ahead of
    /// `plan()`: each point's encoding depends on its own statistics only, so the result is the same.
    public func prepare(threads: Int?) {
        let width = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let aBits = options.activationBits, wBits = options.weightBits
        let activations = (0..<points.activations.count).filter { activationCache[$0]?[aBits] == nil }
        let weights = (0..<points.weights.count).filter { weightCache[$0]?[wBits] == nil }
        var a = [QuantEncoding?](repeating: nil, count: activations.count)
        var w = [QuantEncoding?](repeating: nil, count: weights.count)
        a.withUnsafeMutableBufferPointer { aSlots in
            w.withUnsafeMutableBufferPointer { wSlots in
                let slots = UncheckedBox((aSlots, wSlots))
                concurrently(min(width, activations.count + weights.count)) { part in
                    for k in stride(from: part, to: activations.count, by: width) {
                        slots.value.0[k] = computeActivationEncoding(activations[k], bits: aBits)
                    }
                    for k in stride(from: part, to: weights.count, by: width) {
                        slots.value.1[k] = computeWeightEncoding(weights[k], bits: wBits)
                    }
                }
            }
        }
        for (k, i) in activations.enumerated() { if let e = a[k] { activationCache[i, default: [:]][aBits] = e } }
        for (k, j) in weights.enumerated() { if let e = w[k] { weightCache[j, default: [:]][wBits] = e } }
        guard options.biasCorrection else { return }
        let plan = plan(activationBits: nil, weightBits: nil, correctingBiases: false)
        let biases = (0..<points.biases.count).filter { biasCache[$0]?[plan.weightBits[points.biases[$0].weight]] == nil }
        var corrected = [[Float]??](repeating: nil, count: biases.count)
        corrected.withUnsafeMutableBufferPointer { slots in
            let box = UncheckedBox(slots)
            concurrently(min(width, biases.count)) { part in
                for k in stride(from: part, to: biases.count, by: width) { box.value[k] = .some(correctedBias(biases[k], plan)) }
            }
        }
        for (k, l) in biases.enumerated() {
            if let value = corrected[k] { biasCache[l, default: [:]][plan.weightBits[points.biases[l].weight]] = value }
        }
    }

    /// A plan with the given bitwidths (defaults from the options).
    public func plan(activationBits: [Int]? = nil, weightBits: [Int]? = nil) -> QuantizationPlan {
        plan(activationBits: activationBits, weightBits: weightBits, correctingBiases: options.biasCorrection)
    }

    func plan(activationBits: [Int]?, weightBits: [Int]?, correctingBiases: Bool) -> QuantizationPlan {
        let aBits = activationBits ?? Array(repeating: options.activationBits, count: points.activations.count)
        let wBits = weightBits ?? Array(repeating: options.weightBits, count: points.weights.count)
        let activations = aBits.indices.map { activationEncoding($0, bits: aBits[$0]) }
        let weights = wBits.indices.map { weightEncoding($0, bits: wBits[$0]) }
        let constants = constantCache ?? points.constants.indices.map(constantEncoding)
        constantCache = constants
        var plan = QuantizationPlan(activationBits: aBits, activationEncodings: activations, weightBits: wBits,
                                    weightEncodings: weights, constantEncodings: constants,
                                    biasValues: Array(repeating: nil, count: points.biases.count))
        if correctingBiases {
            plan.biasValues = points.biases.indices.map { l in
                let bits = wBits[points.biases[l].weight]
                if let cached = biasCache[l]?[bits] { return cached }
                let value = correctedBias(l, plan)
                biasCache[l, default: [:]][bits] = value
                return value
            }
        }
        return plan
    }

    /// Bias correction: for a weighted op y = W x + b, rounding W to Ŵ shifts E[y] by (Ŵ - W) E[x]; subtracting that
    /// shift from b keeps each output channel's mean. E[x] per input channel comes from calibration (spatial means,
    /// zero padding ignored).
    func correctedBias(_ l: Int, _ plan: QuantizationPlan) -> [Float]? {
        let bias = points.biases[l]
        return { () -> [Float]? in
            let w = points.weights[bias.weight]
            guard let weight = w.node.inputs[w.inputIndex]?.initializer,
                  let b = bias.node.inputs[bias.inputIndex]?.initializer,
                  let input = w.node.inputs.first.flatMap({ $0 }),
                  let means = statistics.channelMeans[ObjectIdentifier(input)] else { return nil }
            let encoding = plan.weightEncodings[bias.weight]
            let values = weight.floatValues()
            // Dequantized codes, elementwise equal to dequantize(quantize(x)) (FakeQuantize's contract).
            let rounded = FakeQuantize.apply(encoding, to: weight).floatValues()
            let shape = weight.shape
            var shift = [Double](repeating: 0, count: b.elementCount)
            switch w.node.opType {
            case "Conv":
                let outC = shape[0], inPerGroup = shape[1], kernel = shape[2...].reduce(1, *)
                let group = max(1, Int(w.node.attribute("group")?.int ?? 1)), perGroupOut = outC / group
                guard means.count == inPerGroup * group, shift.count == outC else { return nil }
                for o in 0..<outC {
                    let g = o / perGroupOut
                    var s = 0.0
                    for i in 0..<inPerGroup {
                        let m = means[g * inPerGroup + i]
                        guard m != 0 else { continue }
                        var d = 0.0
                        for k in 0..<kernel {
                            let e = (o * inPerGroup + i) * kernel + k
                            d += Double(rounded[e]) - Double(values[e])
                        }
                        s += d * m
                    }
                    shift[o] = s
                }
            case "Gemm":
                let transB = (w.node.attribute("transB")?.int ?? 0) != 0
                let (k, n) = transB ? (shape[1], shape[0]) : (shape[0], shape[1])
                guard means.count == k, shift.count == n else { return nil }
                for o in 0..<n {
                    var s = 0.0
                    for i in 0..<k {
                        let e = transB ? o * k + i : i * n + o
                        s += (Double(rounded[e]) - Double(values[e])) * means[i]
                    }
                    shift[o] = s
                }
            default:
                return nil
            }
            let original = b.floatValues()
            return original.indices.map { original[$0] - Float(shift[$0]) }
        }()
    }
}
