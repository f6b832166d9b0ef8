import Foundation
import IR

// Shared machinery of the elementwise op families: numpy broadcasting, folded strided loops that are generic over the
// element type (the optimizer specializes them per type and per op closure, so no per-element dynamic dispatch),
// element-type dispatch, and float16/bfloat16 widening. float32 arithmetic goes through the Kernels library instead.

/// Numpy broadcast of `shapes`: right-aligned, each dim equal to the output dim or 1.
func broadcastShape(_ shapes: [[Int]], ctx: OpContext) throws -> [Int] {
    let rank = shapes.map(\.count).max() ?? 0
    var out = [Int](repeating: 1, count: rank)
    for shape in shapes {
        for (i, d) in shape.enumerated() {
            let o = rank - shape.count + i
            if out[o] == 1 {
                out[o] = d
            } else if d != 1 && d != out[o] {
                throw ctx.failure("cannot broadcast shapes \(shapes.map { "\($0)" }.joined(separator: ", "))")
            }
        }
    }
    return out
}

/// A broadcast iteration over an output shape with some inputs: size-1 axes dropped and axes merged where every
/// input is contiguous across them, so the innermost run is as long as possible.
struct BroadcastLoop {
    /// Folded output dims (at least one; the last is the inner run).
    private(set) var dims: [Int] = []
    /// Element strides per input per folded dim (0 where the input broadcasts).
    private(set) var strides: [[Int]]
    let count: Int

    /// `inputShapes` must broadcast to `outShape` (see `broadcastShape`).
    init(outShape: [Int], inputShapes: [[Int]]) {
        count = outShape.reduce(1, *)
        let full = inputShapes.map { Self.elementStrides($0, outShape) }
        strides = Array(repeating: [], count: inputShapes.count)
        for axis in outShape.indices where outShape[axis] != 1 {
            let d = outShape[axis]
            let mergeable = !dims.isEmpty && full.indices.allSatisfy { k in strides[k][strides[k].count - 1] == full[k][axis] * d }
            if mergeable {
                dims[dims.count - 1] *= d
                for k in full.indices { strides[k][strides[k].count - 1] = full[k][axis] }
            } else {
                dims.append(d)
                for k in full.indices { strides[k].append(full[k][axis]) }
            }
        }
        if dims.isEmpty {
            dims = [1]
            for k in strides.indices { strides[k] = [0] }
        }
    }

    private static func elementStrides(_ shape: [Int], _ outShape: [Int]) -> [Int] {
        var result = [Int](repeating: 0, count: outShape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            result[outShape.count - shape.count + i] = shape[i] == 1 ? 0 : s
            s *= shape[i]
        }
        return result
    }

    var inner: Int { dims[dims.count - 1] }
    func innerStride(_ input: Int) -> Int { strides[input][dims.count - 1] }

    /// Calls `body(row, offsets)` for every inner run in order; `offsets[k]` is input k's element offset.
    @inline(__always)
    func forEachRow(_ body: (Int, [Int]) -> Void) {
        guard count > 0 else { return }
        let rank = dims.count
        let rows = count / inner
        var index = [Int](repeating: 0, count: rank)
        var offsets = [Int](repeating: 0, count: strides.count)
        for row in 0..<rows {
            body(row, offsets)
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                for k in offsets.indices { offsets[k] += strides[k][axis] }
                if index[axis] < dims[axis] { break }
                for k in offsets.indices { offsets[k] -= dims[axis] * strides[k][axis] }
                index[axis] = 0
                axis -= 1
            }
        }
    }
}

/// `y = f(a, b)` over a two-input broadcast loop; contiguous and scalar-operand inner runs get their own loops.
@inline(__always)
func broadcastMap<A, B, R>(
    _ a: UnsafePointer<A>, _ b: UnsafePointer<B>, _ y: UnsafeMutablePointer<R>, _ loop: BroadcastLoop,
    _ f: (A, B) -> R
) {
    let n = loop.inner, sa = loop.innerStride(0), sb = loop.innerStride(1)
    loop.forEachRow { row, offsets in
        let pa = a + offsets[0], pb = b + offsets[1], py = y + row * n
        switch (sa, sb) {
        case (1, 1): for i in 0..<n { py[i] = f(pa[i], pb[i]) }
        case (1, 0): let v = pb[0]; for i in 0..<n { py[i] = f(pa[i], v) }
        case (0, 1): let v = pa[0]; for i in 0..<n { py[i] = f(v, pb[i]) }
        default: for i in 0..<n { py[i] = f(pa[i * sa], pb[i * sb]) }
        }
    }
}

/// `y = f(a, b, c)` over a three-input broadcast loop (Where).
@inline(__always)
func broadcastMap<A, B, C, R>(
    _ a: UnsafePointer<A>, _ b: UnsafePointer<B>, _ c: UnsafePointer<C>, _ y: UnsafeMutablePointer<R>,
    _ loop: BroadcastLoop, _ f: (A, B, C) -> R
) {
    let n = loop.inner, sa = loop.innerStride(0), sb = loop.innerStride(1), sc = loop.innerStride(2)
    loop.forEachRow { row, offsets in
        let pa = a + offsets[0], pb = b + offsets[1], pc = c + offsets[2], py = y + row * n
        if sa == 1 && sb == 1 && sc == 1 {
            for i in 0..<n { py[i] = f(pa[i], pb[i], pc[i]) }
        } else {
            for i in 0..<n { py[i] = f(pa[i * sa], pb[i * sb], pc[i * sc]) }
        }
    }
}

/// `y[i] = f(x[i])` over `n` contiguous elements.
@inline(__always)
func mapElements<T, R>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<R>, _ n: Int, _ f: (T) -> R) {
    for i in 0..<n { y[i] = f(x[i]) }
}

extension Tensor {
    /// Calls `body` with the elements as `T` (the storage type of `elementType`; bool is UInt8).
    func withElements<T: BitwiseCopyable, R>(_ type: T.Type, _ body: (UnsafePointer<T>) throws -> R) rethrows -> R {
        if storage.isAligned(for: T.self) { return try body(storage.baseAddress.assumingMemoryBound(to: T.self)) }
        // Unaligned views (external data at odd offsets) are copied once.
        let aligned = TensorStorage(copying: storage.bytes)
        return try withExtendedLifetime(aligned) { try body(aligned.baseAddress.assumingMemoryBound(to: T.self)) }
    }

    /// Writable elements of a tensor freshly allocated by the kernel.
    func mutableElements<T: BitwiseCopyable>(_ type: T.Type) -> UnsafeMutablePointer<T> {
        storage.mutableBaseAddress.assumingMemoryBound(to: T.self)
    }
}

/// Float element types computed natively (float16/bfloat16 are widened to Float instead).
protocol FloatElement: BinaryFloatingPoint, BitwiseCopyable {
    static func power(_ x: Self, _ y: Self) -> Self
    /// C fmod: truncated remainder with the sign of the dividend.
    static func truncatedRemainder(_ x: Self, _ y: Self) -> Self
}

extension Float: FloatElement {
    static func power(_ x: Float, _ y: Float) -> Float { Foundation.pow(x, y) }
    static func truncatedRemainder(_ x: Float, _ y: Float) -> Float { x.truncatingRemainder(dividingBy: y) }
}

extension Double: FloatElement {
    static func power(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
    static func truncatedRemainder(_ x: Double, _ y: Double) -> Double { x.truncatingRemainder(dividingBy: y) }
}

/// Integer element types (bool is UInt8 where an op allows it).
typealias IntegerElement = FixedWidthInteger & BitwiseCopyable

/// An operation generic over the element type, called once per tensor with the concrete Swift type.
protocol ElementTypeVisitor {
    associatedtype Result
    func integer<T: IntegerElement>(_ type: T.Type) throws -> Result
    func floating<T: FloatElement>(_ type: T.Type) throws -> Result
}

extension ElementType {
    /// Runs `visitor` with this type's Swift element type: integers, float32, float64, and bool as UInt8 when
    /// `bool` is set. nil for other types (float16/bfloat16 are widened by callers first).
    func visit<V: ElementTypeVisitor>(_ visitor: V, bool: Bool = false) throws -> V.Result? {
        switch self {
        case .int8: try visitor.integer(Int8.self)
        case .uint8: try visitor.integer(UInt8.self)
        case .int16: try visitor.integer(Int16.self)
        case .uint16: try visitor.integer(UInt16.self)
        case .int32: try visitor.integer(Int32.self)
        case .uint32: try visitor.integer(UInt32.self)
        case .int64: try visitor.integer(Int64.self)
        case .uint64: try visitor.integer(UInt64.self)
        case .float: try visitor.floating(Float.self)
        case .double: try visitor.floating(Double.self)
        case .bool where bool: try visitor.integer(UInt8.self)
        default: nil
        }
    }

    /// float16 and bfloat16: computed in float32 and rounded back once per op, as numpy's half ops do.
    var isWidenedToFloat: Bool { self == .float16 || self == .bfloat16 }
}

/// The float32 version of a float16/bfloat16 tensor (others unchanged).
func widened(_ t: Tensor, ctx: OpContext) throws -> Tensor {
    t.elementType.isWidenedToFloat ? try convert(t, to: .float, ctx: ctx) : t
}

/// Integer value of a float, truncated toward zero and saturated (NaN → 0), as numpy's float → int cast on x86.
@inline(__always)
func truncatedInteger<T: IntegerElement>(_ v: Double, as _: T.Type) -> T {
    guard !v.isNaN else { return 0 }
    if v <= Double(T.min) { return T.min }
    if v >= Double(T.max) { return T.max }
    return T(v.rounded(.towardZero))
}
