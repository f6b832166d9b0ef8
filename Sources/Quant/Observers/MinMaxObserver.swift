/// The observed extremes: no clipping (SNPE's default `tf` quantizer, onnxruntime MinMax).
public struct MinMaxObserver: RangeObserver {
    var extremes = Extremes()

    public init() {}

    public mutating func observe(_ values: UnsafeBufferPointer<Float>, minimum: Float, maximum: Float) {
        extremes.add(minimum, maximum)
    }

    public func range(bits: Int, symmetric: Bool) -> CalibrationRange { extremes.full(symmetric: symmetric) }

    public var observedRange: CalibrationRange? { extremes.range }

    public var valuesRead: Int { 0 }
}
