import Dispatch
import IR
import Interpreter

/// What one calibration pass learns about a model: a range observer and the signal power per activation point,
/// and per-channel means of the inputs of weighted ops (for bias correction).
public struct CalibrationStatistics: Sendable {
    public var observers: [any RangeObserver]
    /// Mean of x² over every element seen, per activation point.
    public var meanSquares: [Double]
    /// Elements per sample of each activation point.
    public var elementsPerSample: [Int] = []
    /// Extremes of each activation point over the first half of the samples: how much they still grew over the
    /// second half says how far unseen inputs may reach beyond the calibrated range.
    public var halfwayRanges: [CalibrationRange?] = []
    /// Per-channel input means of weighted ops, keyed by the input value's identity.
    public var channelMeans: [ObjectIdentifier: [Double]]
    public var sampleCount: Int
    /// Time spent reading and preprocessing samples (decoding, resizing), inside the calibration pass.
    public var loadMilliseconds: Double = 0
    /// Inputs and float outputs of the samples the caller asked to keep (the mixed-precision probe), by sample index.
    public var kept: [Int: KeptSample] = [:]
}

/// One calibration sample's inputs and float outputs, kept so later stages need not load and run it again.
public struct KeptSample: Sendable {
    public var inputs: [Tensor]
    public var outputs: [Tensor]
}

/// Runs the FP32 model over calibration samples with the interpreter's value hook, feeding each activation point's
/// tensor to its observer as it is produced. Nothing is stored per sample, so memory does not depend on how many
/// samples there are.
public final class Calibrator {
    public let model: Model
    public let points: QuantizationPoints
    public let options: QuantizationOptions
    let interpreter: Interpreter

    public init(model: Model, points: QuantizationPoints, options: QuantizationOptions, threads: Int? = nil) throws {
        self.model = model
        self.points = points
        self.options = options
        interpreter = try Interpreter(model: model, threads: threads)
    }

    /// Observes `indices` of `dataset`, keeping the inputs and float outputs of those in `keeping`;
    /// `progress(done, total)` is called after each sample.
    public func run(_ dataset: CalibrationDataset, indices: [Int], keeping: Set<Int> = [],
                    progress: ((Int, Int) -> Void)? = nil) throws -> CalibrationStatistics {
        var pointIndex: [ObjectIdentifier: Int] = [:]
        for (i, v) in points.activations.enumerated() { pointIndex[ObjectIdentifier(v)] = i }
        // Inputs of weighted ops whose channel means bias correction needs, with their channel axis.
        var meanAxes: [ObjectIdentifier: Int] = [:]
        if options.biasCorrection {
            for w in points.weights {
                guard let input = w.node.inputs.first.flatMap({ $0 }) else { continue }
                switch w.node.opType {
                case "Conv": meanAxes[ObjectIdentifier(input)] = 1
                case "Gemm": meanAxes[ObjectIdentifier(input)] = (w.node.attribute("transA")?.int ?? 0) != 0 ? 0 : 1
                default: break
                }
            }
        }
        var observers = points.activations.map { _ in options.observer.make(percentile: options.percentile) }
        var sumSquares = [Double](repeating: 0, count: observers.count)
        var counts = [Double](repeating: 0, count: observers.count)
        var channelSums: [ObjectIdentifier: [Double]] = [:]
        var channelCounts: [ObjectIdentifier: Double] = [:]

        interpreter.observer = { value, tensor in
            guard tensor.elementType == .float else { return }
            let id = ObjectIdentifier(value)
            let point = pointIndex[id]
            let axis = meanAxes[id]
            guard point != nil || axis != nil else { return }
            tensor.withUnsafeBufferPointer(as: Float.self) { all in
                let buffer = UnsafeBufferPointer(rebasing: all.prefix(tensor.elementCount))
                if let point {
                    let s = TensorSummary(buffer)
                    observers[point].observe(buffer, minimum: s.min, maximum: s.max)
                    sumSquares[point] += s.sumOfSquares
                    counts[point] += Double(buffer.count)
                }
                if let axis, tensor.rank > axis {
                    let sums = TensorSummary.channelSums(buffer, shape: tensor.shape, axis: axis)
                    if var acc = channelSums[id], acc.count == sums.count {
                        for c in acc.indices { acc[c] += sums[c] }
                        channelSums[id] = acc
                    } else {
                        channelSums[id] = sums
                    }
                    channelCounts[id, default: 0] += Double(buffer.count / max(tensor.shape[axis], 1))
                }
            }
        }
        defer { interpreter.observer = nil }
        var loadNanoseconds: UInt64 = 0
        var halfway: [CalibrationRange?] = Array(repeating: nil, count: observers.count)
        var kept: [Int: KeptSample] = [:]
        for (done, index) in indices.enumerated() {
            if done == (indices.count + 1) / 2 { halfway = observers.map(\.observedRange) }
            let started = DispatchTime.now().uptimeNanoseconds
            let inputs = try dataset.load(index)
            loadNanoseconds += DispatchTime.now().uptimeNanoseconds - started
            let outputs = try interpreter.run(inputs)
            if keeping.contains(index) { kept[index] = KeptSample(inputs: inputs, outputs: outputs) }
            progress?(done + 1, indices.count)
        }
        var means: [ObjectIdentifier: [Double]] = [:]
        for (id, sums) in channelSums {
            let n = max(channelCounts[id] ?? 1, 1)
            means[id] = sums.map { $0 / n }
        }
        var statistics = CalibrationStatistics(observers: observers,
                                               meanSquares: zip(sumSquares, counts).map { $1 > 0 ? $0 / $1 : 0 },
                                               channelMeans: means, sampleCount: indices.count,
                                               loadMilliseconds: Double(loadNanoseconds) / 1e6)
        statistics.elementsPerSample = counts.map { Int($0) / max(indices.count, 1) }
        statistics.kept = kept
        statistics.halfwayRanges = indices.count >= 2 ? halfway : Array(repeating: nil, count: observers.count)
        return statistics
    }
}

/// Extremes and power of a float buffer in one vectorized pass (non-finite values skipped for the extremes).
struct TensorSummary {
    var min: Float
    var max: Float
    var sumOfSquares: Double

    init(_ x: UnsafeBufferPointer<Float>) {
        typealias V = SIMD8<Float>
        var lo = V(repeating: .infinity), hi = V(repeating: -.infinity)
        var total = 0.0
        var i = 0
        let n = x.count
        if let base = x.baseAddress {
            let raw = UnsafeRawPointer(base)
            while i + 8 <= n {
                // Blocks of up to 4096 values accumulate squares in float, then flush into double.
                var sq = V.zero
                let end = Swift.min(n, i + 4096)
                while i + 8 <= end {
                    let v = raw.loadUnaligned(fromByteOffset: i * 4, as: V.self)
                    // NaN compares false and never replaces a bound.
                    lo = v.replacing(with: lo, where: lo .<= v)
                    hi = v.replacing(with: hi, where: hi .>= v)
                    sq += v * v
                    i += 8
                }
                total += Double(sq.sum())
            }
        }
        var mn = lo.min(), mx = hi.max()
        while i < n {
            let v = x[i]
            if v < mn { mn = v }
            if v > mx { mx = v }
            total += Double(v * v)
            i += 1
        }
        if mn == .infinity { mn = 0; mx = 0 }
        if mn == -.infinity || mx == .infinity {
            // Infinite values: extremes of the finite ones.
            var fmn = Float.infinity, fmx = -Float.infinity
            for v in x where v.isFinite { fmn = Swift.min(fmn, v); fmx = Swift.max(fmx, v) }
            mn = fmn.isFinite ? fmn : 0
            mx = fmx.isFinite ? fmx : 0
        }
        min = mn
        max = mx
        sumOfSquares = total.isFinite ? total : 0
    }

    /// Sum over every axis but `axis`.
    static func channelSums(_ x: UnsafeBufferPointer<Float>, shape: [Int], axis: Int) -> [Double] {
        let channels = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *), outer = shape[..<axis].reduce(1, *)
        var sums = [Double](repeating: 0, count: channels)
        guard let base = x.baseAddress else { return sums }
        let raw = UnsafeRawPointer(base)
        for o in 0..<outer {
            for c in 0..<channels {
                let start = (o * channels + c) * inner
                var acc = SIMD8<Float>.zero
                var k = 0
                while k + 8 <= inner {
                    acc += raw.loadUnaligned(fromByteOffset: (start + k) * 4, as: SIMD8<Float>.self)
                    k += 8
                }
                var s = acc.sum()
                while k < inner { s += x[start + k]; k += 1 }
                sums[c] += Double(s)
            }
        }
        return sums
    }
}
