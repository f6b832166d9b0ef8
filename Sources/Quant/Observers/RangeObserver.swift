/// A calibration range: the `[min, max]` an encoding is fitted to.
public struct CalibrationRange: Equatable, Sendable, Codable {
    public var min: Float
    public var max: Float

    public init(min: Float, max: Float) {
        self.min = min
        self.max = max
    }

    /// Absolute extent, for symmetric grids.
    public var absMax: Float { Swift.max(abs(min), abs(max)) }
}

/// Streams a tensor's values during calibration and proposes the clipping range of its encoding.
///
/// The calibrator computes each tensor's exact extremes once (vectorized) and hands them in with the values, so
/// observers never rescan for them. Memory per observer is fixed, whatever the number of images.
public protocol RangeObserver: Sendable {
    /// Adds one tensor's values; `minimum`/`maximum` are their exact finite extremes.
    mutating func observe(_ values: UnsafeBufferPointer<Float>, minimum: Float, maximum: Float)
    /// Range for a grid of `bits`; `symmetric` grids get `[-a, a]`.
    func range(bits: Int, symmetric: Bool) -> CalibrationRange
    /// Extremes seen so far (nil before any data).
    var observedRange: CalibrationRange? { get }
    /// How many of a tensor's values `observe` reads: 0 when only the extremes matter, otherwise it reads the
    /// elements `StreamingHistogram.sampleStride` picks for this limit, so observing just those (in order) gives
    /// the same result as observing the whole tensor. `Int.max`: every value.
    var valuesRead: Int { get }
}

/// Calibration methods selectable from the command line.
public enum ObserverKind: String, Sendable, CaseIterable, Codable {
    case minmax, percentile, entropy, mse

    /// A fresh observer of this kind.
    public func make(percentile: Double = 99.99) -> any RangeObserver {
        switch self {
        case .minmax: MinMaxObserver()
        case .percentile: PercentileObserver(percentile: percentile)
        case .entropy: EntropyObserver()
        case .mse: MSEObserver()
        }
    }
}

/// Tracks the running extremes (shared by every observer).
struct Extremes: Sendable {
    var min = Float.infinity
    var max = -Float.infinity

    var range: CalibrationRange? { min <= max ? CalibrationRange(min: min, max: max) : nil }

    mutating func add(_ lo: Float, _ hi: Float) {
        guard lo.isFinite, hi.isFinite else { return }
        min = Swift.min(min, lo)
        max = Swift.max(max, hi)
    }

    /// The full observed range, made symmetric when asked.
    func full(symmetric: Bool) -> CalibrationRange {
        guard let r = range else { return CalibrationRange(min: 0, max: 0) }
        if symmetric { let a = r.absMax; return CalibrationRange(min: -a, max: a) }
        return r
    }
}
