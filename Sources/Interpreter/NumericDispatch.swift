import IR

/// Typed access for ops that compare or combine elements (scatter reductions, CumSum, TopK, ArgMax, NonZero...):
/// `dispatchNumeric` calls a visitor's generic `visit` with the Swift type that stores an ONNX element type, so one
/// generic implementation covers every numeric dtype. Integer arithmetic wraps, as numpy's does.
protocol NumericElement: BitwiseCopyable, Comparable {
    static func plus(_ a: Self, _ b: Self) -> Self
    static func times(_ a: Self, _ b: Self) -> Self
    static var zeroValue: Self { get }
    var isNaNValue: Bool { get }
    /// The value as Double (exact for floats, rounded for 64-bit integers beyond 2^53).
    var doubleValue: Double { get }
    /// `d` converted as Cast does (integers truncate and saturate; NaN becomes 0).
    static func fromDouble(_ d: Double) -> Self
    static var isFloatingPointElement: Bool { get }
    /// Integers: the value sign- or zero-extended (UInt64 by bit pattern); floats: truncated like `fromDouble`.
    var int64Value: Int64 { get }
    /// Integers: the low bits of `v` (two's complement wrap, as numpy's astype); floats: the nearest value.
    static func wrapping(_ v: Int64) -> Self
}

extension Float: NumericElement {
    static func plus(_ a: Float, _ b: Float) -> Float { a + b }
    static func times(_ a: Float, _ b: Float) -> Float { a * b }
    static var zeroValue: Float { 0 }
    static var isFloatingPointElement: Bool { true }
    var int64Value: Int64 { Int64.fromDouble(doubleValue) }
    static func wrapping(_ v: Int64) -> Float { Float(v) }
    var isNaNValue: Bool { isNaN }
    var doubleValue: Double { Double(self) }
    static func fromDouble(_ d: Double) -> Float { Float(d) }
}

extension Double: NumericElement {
    static func plus(_ a: Double, _ b: Double) -> Double { a + b }
    static func times(_ a: Double, _ b: Double) -> Double { a * b }
    static var zeroValue: Double { 0 }
    static var isFloatingPointElement: Bool { true }
    var int64Value: Int64 { Int64.fromDouble(doubleValue) }
    static func wrapping(_ v: Int64) -> Double { Double(v) }
    var isNaNValue: Bool { isNaN }
    var doubleValue: Double { self }
    static func fromDouble(_ d: Double) -> Double { d }
}

extension Float16: NumericElement {
    static func plus(_ a: Float16, _ b: Float16) -> Float16 { a + b }
    static func times(_ a: Float16, _ b: Float16) -> Float16 { a * b }
    static var zeroValue: Float16 { 0 }
    static var isFloatingPointElement: Bool { true }
    var int64Value: Int64 { Int64.fromDouble(doubleValue) }
    static func wrapping(_ v: Int64) -> Float16 { Float16(Float(v)) }
    var isNaNValue: Bool { isNaN }
    var doubleValue: Double { Double(Float(self)) }
    static func fromDouble(_ d: Double) -> Float16 { Float16(d) }
}

/// Wrapping integer arithmetic shared by every fixed-width integer.
protocol WrappingInteger: FixedWidthInteger {}

extension WrappingInteger {
    static func plus(_ a: Self, _ b: Self) -> Self { a &+ b }
    static func times(_ a: Self, _ b: Self) -> Self { a &* b }
    static var zeroValue: Self { 0 }
    static var isFloatingPointElement: Bool { false }
    var int64Value: Int64 { Int64(truncatingIfNeeded: self) }
    static func wrapping(_ v: Int64) -> Self { Self(truncatingIfNeeded: v) }
    var isNaNValue: Bool { false }
    var doubleValue: Double { Double(self) }

    static func fromDouble(_ d: Double) -> Self {
        if d.isNaN { return 0 }
        if d <= Double(Self.min) { return Self.min }
        if d >= Double(Self.max) { return Self.max }
        return Self(d.rounded(.towardZero))
    }
}

extension Int8: WrappingInteger, NumericElement {}
extension UInt8: WrappingInteger, NumericElement {}
extension Int16: WrappingInteger, NumericElement {}
extension UInt16: WrappingInteger, NumericElement {}
extension Int32: WrappingInteger, NumericElement {}
extension UInt32: WrappingInteger, NumericElement {}
extension Int64: WrappingInteger, NumericElement {}
extension UInt64: WrappingInteger, NumericElement {}

/// A computation generic over the element's Swift type.
protocol NumericVisitor {
    associatedtype Result
    func visit<T: NumericElement>(_ type: T.Type) throws -> Result
}

/// Calls `visitor.visit` with the storage type of `type` (bool as UInt8). Other types are unsupported.
func dispatchNumeric<V: NumericVisitor>(_ type: ElementType, _ visitor: V, ctx: OpContext) throws -> V.Result {
    switch type {
    case .float: try visitor.visit(Float.self)
    case .double: try visitor.visit(Double.self)
    case .float16: try visitor.visit(Float16.self)
    case .int8: try visitor.visit(Int8.self)
    case .uint8, .bool: try visitor.visit(UInt8.self)
    case .int16: try visitor.visit(Int16.self)
    case .uint16: try visitor.visit(UInt16.self)
    case .int32: try visitor.visit(Int32.self)
    case .uint32: try visitor.visit(UInt32.self)
    case .int64: try visitor.visit(Int64.self)
    case .uint64: try visitor.visit(UInt64.self)
    default: throw ctx.unsupported("element type \(type) for \(ctx.node.opType)")
    }
}

/// `dispatchNumeric` for the plain numeric types (bool excluded), nil for any other type.
func dispatchNumericIfPossible<V: NumericVisitor>(_ type: ElementType, _ visitor: V) throws -> V.Result? {
    switch type {
    case .float: try visitor.visit(Float.self)
    case .double: try visitor.visit(Double.self)
    case .float16: try visitor.visit(Float16.self)
    case .int8: try visitor.visit(Int8.self)
    case .uint8: try visitor.visit(UInt8.self)
    case .int16: try visitor.visit(Int16.self)
    case .uint16: try visitor.visit(UInt16.self)
    case .int32: try visitor.visit(Int32.self)
    case .uint32: try visitor.visit(UInt32.self)
    case .int64: try visitor.visit(Int64.self)
    case .uint64: try visitor.visit(UInt64.self)
    default: nil
    }
}

/// Typed pointers of a tensor's storage (read-only) and of an output (writable).
@inline(__always)
func elements<T>(_ t: Tensor, _: T.Type) -> UnsafePointer<T> { t.storage.baseAddress.assumingMemoryBound(to: T.self) }

@inline(__always)
func mutableElements<T>(_ t: Tensor, _: T.Type) -> UnsafeMutablePointer<T> {
    t.storage.mutableBaseAddress.assumingMemoryBound(to: T.self)
}

/// Copies `length`-element runs from `src + offsets[k]` to consecutive positions of `dst` (offsets in elements).
func gatherRuns(_ src: UnsafeRawPointer, offsets: [Int], length: Int, elementSize es: Int, dst: UnsafeMutableRawPointer) {
    func run<T>(_: T.Type) {
        let s = src.assumingMemoryBound(to: T.self), d = dst.assumingMemoryBound(to: T.self)
        for (k, o) in offsets.enumerated() { d[k] = s[o] }
    }
    if length == 1 {
        switch es {
        case 1: return run(UInt8.self)
        case 2: return run(UInt16.self)
        case 4: return run(UInt32.self)
        case 8: return run(UInt64.self)
        default: break
        }
    }
    let bytes = length * es
    for (k, o) in offsets.enumerated() { (dst + k * bytes).copyMemory(from: src + o * es, byteCount: bytes) }
}

/// A contiguous copy of `t` in a fresh pool buffer (for ops that update in place).
func copied(_ t: Tensor, ctx: OpContext) throws -> Tensor {
    let out = try ctx.allocate(t.elementType, t.shape)
    if t.byteCount > 0 { out.storage.mutableBaseAddress.copyMemory(from: t.storage.baseAddress, byteCount: t.byteCount) }
    return out
}
