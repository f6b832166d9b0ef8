import Dispatch
import CKernels
import Foundation
import IR
import Interpreter
import Kernels

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
/// tensor to its observer as it is produced. Nothing is stored per sample beyond what the observers read (at most
/// `valuesRead` values per point), so memory does not depend on how many samples there are.
///
/// Samples run concurrently, one interpreter per core (each on its own structural copy of the model, weights
/// shared, one kernel thread): whole inferences in parallel scale better than splitting each kernel. Each sample's
/// observations are recorded, then fed to the observers in sample order, so the statistics are exactly those of
/// a sequential pass whatever the timing.
public final class Calibrator {
    public let model: Model
    public let points: QuantizationPoints
    public let options: QuantizationOptions
    /// Cores to use (at least 1).
    public let concurrency: Int
    /// Concurrent sample runners: all cores when a sample's activations are small enough to hold once per core,
    /// otherwise 1 (with `concurrency` kernel threads).
    public let runners: Int
    private var workers: [CalibrationWorker] = []

    /// `threads`: cores to use (nil: all).
    public init(model: Model, points: QuantizationPoints, options: QuantizationOptions, threads: Int? = nil) throws {
        self.model = model
        self.points = points
        self.options = options
        concurrency = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        runners = concurrentRunners(cores: concurrency, model: model,
                                    recordBytes: CalibrationWorker.recordBytes(points: points, valuesRead: options.observer.make().valuesRead))
        // Fail early on unsupported ops.
        workers = [try CalibrationWorker(model: model, copy: false, points: points, meanAxes: meanAxes())]
    }

    /// Inputs of weighted ops whose channel means bias correction needs, with their channel axis.
    private func meanAxes() -> [ObjectIdentifier: Int] {
        var axes: [ObjectIdentifier: Int] = [:]
        guard options.biasCorrection else { return axes }
        for w in points.weights {
            guard let input = w.node.inputs.first.flatMap({ $0 }) else { continue }
            switch w.node.opType {
            case "Conv": axes[ObjectIdentifier(input)] = 1
            case "Gemm": axes[ObjectIdentifier(input)] = (w.node.attribute("transA")?.int ?? 0) != 0 ? 0 : 1
            default: break
            }
        }
        return axes
    }

    /// Observes `indices` of `dataset`, keeping the inputs and float outputs of those in `keeping`;
    /// `progress(done, total)` is called after each sample.
    public func run(_ dataset: CalibrationDataset, indices: [Int], keeping: Set<Int> = [],
                    progress: ((Int, Int) -> Void)? = nil) throws -> CalibrationStatistics {
        var observers = points.activations.map { _ in options.observer.make(percentile: options.percentile) }
        let valuesRead = observers.first?.valuesRead ?? 0
        let width = min(runners, max(1, indices.count))
        let axes = meanAxes()
        while workers.count < width {
            workers.append(try CalibrationWorker(model: model, copy: true, points: points, meanAxes: axes))
        }
        var sumSquares = [Double](repeating: 0, count: observers.count)
        var counts = [Double](repeating: 0, count: observers.count)
        var channelSums: [Int: [Double]] = [:]
        var channelCounts: [Int: Double] = [:]
        var loadNanoseconds: UInt64 = 0
        var halfway: [CalibrationRange?] = Array(repeating: nil, count: observers.count)
        var kept: [Int: KeptSample] = [:]
        let halfIndex = (indices.count + 1) / 2

        // Whole inferences run concurrently with one kernel thread each (restored afterwards).
        let savedThreads = KernelConfig.threads
        KernelConfig.threads = width > 1 ? 1 : concurrency
        defer { KernelConfig.threads = savedThreads }
        // Runners claim samples in turn and never wait for each other (on a busy machine a lock-step round would
        // stall on its slowest runner); finished samples are fed to the observers strictly in sample order by
        // whichever runner completes the next one. A runner stays at most two samples per runner ahead of the
        // observers, so memory does not grow with the sample count.
        let count = indices.count
        let condition = NSCondition()
        var nextToClaim = 0, nextToApply = 0
        var applying = false
        var pending: [Int: SampleRecord] = [:]
        var failures: [Int: any Error] = [:]
        func apply(_ record: SampleRecord, position: Int) {
            if position == halfIndex { halfway = observers.map(\.observedRange) }
            for event in record.points {
                event.values.withUnsafeBufferPointer {
                    observers[event.point].observe($0, minimum: event.minimum, maximum: event.maximum)
                }
                sumSquares[event.point] += event.sumOfSquares
                counts[event.point] += Double(event.count)
            }
            for event in record.channels {
                if var acc = channelSums[event.key], acc.count == event.sums.count {
                    for c in acc.indices { acc[c] += event.sums[c] }
                    channelSums[event.key] = acc
                } else {
                    channelSums[event.key] = event.sums
                }
                channelCounts[event.key, default: 0] += event.count
            }
            if let sample = record.kept { kept[indices[position]] = sample }
            loadNanoseconds += record.loadNanoseconds
            progress?(position + 1, count)
        }
        let workers = self.workers
        concurrently(width) { w in
            while true {
                condition.lock()
                while failures.isEmpty, nextToClaim < count, nextToClaim >= nextToApply + 2 * width { condition.wait() }
                guard failures.isEmpty, nextToClaim < count else {
                    condition.unlock()
                    return
                }
                let position = nextToClaim
                nextToClaim += 1
                condition.unlock()
                let index = indices[position]
                let outcome = Result {
                    try workers[w].observe(dataset, index: index, valuesRead: valuesRead, keep: keeping.contains(index))
                }
                condition.lock()
                switch outcome {
                case .success(let record): pending[position] = record
                case .failure(let error): failures[position] = error
                }
                // One runner at a time feeds the observers, outside the lock: the others meanwhile hand in their
                // records and go on with their next samples instead of waiting for the histograms.
                while !applying, let record = pending.removeValue(forKey: nextToApply) {
                    applying = true
                    let position = nextToApply
                    condition.unlock()
                    apply(record, position: position)
                    condition.lock()
                    applying = false
                    nextToApply += 1
                    condition.broadcast()
                }
                condition.broadcast()
                condition.unlock()
            }
        }
        // The earliest failing sample's error, whatever the timing.
        if let first = failures.keys.min(), let failure = failures[first] { throw failure }
        guard nextToApply == count else { throw MCCError.failure("calibration: \(count - nextToApply) samples produced no record") }
        // Loads overlap across the runners: the wall time they add is about their total over the runners.
        loadNanoseconds /= UInt64(width)
        var means: [ObjectIdentifier: [Double]] = [:]
        let keys = workers[0].meanKeys
        for (key, sums) in channelSums {
            let n = max(channelCounts[key] ?? 1, 1)
            means[keys[key]] = sums.map { $0 / n }
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

/// What one sample contributed, in the order the interpreter produced it.
struct SampleRecord {
    struct PointEvent {
        var point: Int
        var minimum: Float
        var maximum: Float
        var sumOfSquares: Double
        var count: Int
        /// The values the observers read (see `RangeObserver.valuesRead`).
        var values: [Float]
    }

    struct ChannelEvent {
        var key: Int
        var sums: [Double]
        var count: Double
    }

    var points: [PointEvent] = []
    var channels: [ChannelEvent] = []
    var kept: KeptSample?
    var loadNanoseconds: UInt64 = 0
}

/// One interpreter and the translation from its model's values to activation points and channel-mean keys.
final class CalibrationWorker {
    let interpreter: Interpreter
    let pointIndex: [ObjectIdentifier: Int]
    /// Channel-mean key → (its axis), by this model's value identity.
    let meanAxis: [ObjectIdentifier: (key: Int, axis: Int)]
    /// Channel-mean key → the original model's value identity.
    let meanKeys: [ObjectIdentifier]

    init(model: Model, copy: Bool, points: QuantizationPoints, meanAxes: [ObjectIdentifier: Int]) throws {
        var translate: (Value) -> ObjectIdentifier = { ObjectIdentifier($0) }
        var runModel = model
        if copy {
            let (copied, map) = ModelCopy.copyWithValueMap(model)
            runModel = copied
            translate = { v in map[ObjectIdentifier(v)].map(ObjectIdentifier.init) ?? ObjectIdentifier(v) }
        }
        var index: [ObjectIdentifier: Int] = [:]
        for (i, v) in points.activations.enumerated() { index[translate(v)] = i }
        pointIndex = index
        // Keys in a fixed order (by the original values' names and identities do not matter: keys only pair sums).
        var keys: [ObjectIdentifier] = []
        var axes: [ObjectIdentifier: (key: Int, axis: Int)] = [:]
        var originals: [ObjectIdentifier: Value] = [:]
        for w in points.weights { if let input = w.node.inputs.first.flatMap({ $0 }) { originals[ObjectIdentifier(input)] = input } }
        for (id, axis) in meanAxes.sorted(by: { $0.key < $1.key }) {
            guard let value = originals[id] else { continue }
            axes[translate(value)] = (keys.count, axis)
            keys.append(id)
        }
        meanAxis = axes
        meanKeys = keys
        interpreter = try Interpreter(model: runModel)
    }

    /// Loads and runs sample `index`, recording what the observers need.
    func observe(_ dataset: CalibrationDataset, index: Int, valuesRead: Int, keep: Bool) throws -> SampleRecord {
        var record = SampleRecord()
        let pointIndex = self.pointIndex, meanAxis = self.meanAxis
        interpreter.observer = { value, tensor in
            guard tensor.elementType == .float else { return }
            let id = ObjectIdentifier(value)
            let point = pointIndex[id]
            let mean = meanAxis[id]
            guard point != nil || mean != nil else { return }
            tensor.withUnsafeBufferPointer(as: Float.self) { all in
                let buffer = UnsafeBufferPointer(rebasing: all.prefix(tensor.elementCount))
                if let point {
                    let s = TensorSummary(buffer)
                    record.points.append(.init(point: point, minimum: s.min, maximum: s.max, sumOfSquares: s.sumOfSquares,
                                               count: buffer.count, values: Self.sample(buffer, limit: valuesRead)))
                }
                if let mean, tensor.rank > mean.axis {
                    let sums = TensorSummary.channelSums(buffer, shape: tensor.shape, axis: mean.axis)
                    record.channels.append(.init(key: mean.key, sums: sums,
                                                 count: Double(buffer.count / max(tensor.shape[mean.axis], 1))))
                }
            }
        }
        defer { interpreter.observer = nil }
        let started = DispatchTime.now().uptimeNanoseconds
        let inputs = try dataset.load(index)
        record.loadNanoseconds = DispatchTime.now().uptimeNanoseconds - started
        let outputs = try interpreter.run(inputs)
        if keep { record.kept = KeptSample(inputs: inputs, outputs: outputs) }
        return record
    }

    /// Bytes of one sample's record at most: the values the observers read of every point (nil: some size unknown).
    static func recordBytes(points: QuantizationPoints, valuesRead: Int) -> Int? {
        var total = 0
        for value in points.activations {
            guard let sizes = value.shape?.staticSizes else { return nil }
            let count = sizes.reduce(1, *)
            let step = StreamingHistogram.sampleStride(count: count, maxSamples: max(valuesRead, 1))
            total += valuesRead == 0 ? 0 : (count + step - 1) / step * MemoryLayout<Float>.size
        }
        return total
    }

    /// The elements an observer reading `limit` values looks at.
    static func sample(_ x: UnsafeBufferPointer<Float>, limit: Int) -> [Float] {
        guard limit > 0, !x.isEmpty else { return [] }
        if limit >= x.count { return Array(x) }
        let step = StreamingHistogram.sampleStride(count: x.count, maxSamples: limit)
        return [Float](unsafeUninitializedCapacity: (x.count + step - 1) / step) { out, n in
            var i = 0, k = 0
            while i < x.count { out[k] = x[i]; k += 1; i += step }
            n = k
        }
    }
}


/// Carries values into concurrently running closures when the caller guarantees disjoint accesses.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// Runs `body(0..<count)` concurrently (inline when `count` is 1).
func concurrently(_ count: Int, _ body: (Int) -> Void) {
    if count <= 1 {
        for i in 0..<count { body(i) }
        return
    }
    withoutActuallyEscaping(body) { body in
        let box = UncheckedBox(body)
        DispatchQueue.concurrentPerform(iterations: count) { box.value($0) }
    }
}

/// Extremes and power of a float buffer in one vectorized pass (non-finite values skipped for the extremes).
struct TensorSummary {
    var min: Float
    var max: Float
    var sumOfSquares: Double

    init(_ x: UnsafeBufferPointer<Float>) {
        // One vectorized pass in C (AVX-512 / AVX2 / baseline, same bits); NaN never replaces a bound.
        var mn = Float.infinity, mx = -Float.infinity
        var total = 0.0
        if let base = x.baseAddress { mcc_tensor_summary(base, x.count, &mn, &mx, &total) }
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
