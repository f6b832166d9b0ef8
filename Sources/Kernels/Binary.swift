import Foundation

/// Elementwise binary float operations (ONNX Add, Sub, Mul, Div, Pow, Max, Min, PRelu).
public enum BinaryOp: Sendable, Equatable {
    case add, sub, mul, div, pow, max, min
    /// `a < 0 ? a * b : a` (b is the slope).
    case prelu
}

/// Element strides of a tensor of `shape` broadcast (numpy rules, right-aligned) to `outShape`: 0 on broadcast axes.
public func broadcastStrides(shape: [Int], to outShape: [Int]) -> [Int] {
    precondition(shape.count <= outShape.count, "broadcastStrides: input rank exceeds output rank")
    var strides = [Int](repeating: 0, count: outShape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        let o = outShape.count - shape.count + i
        precondition(shape[i] == outShape[o] || shape[i] == 1, "broadcastStrides: \(shape) vs \(outShape)")
        strides[o] = shape[i] == 1 ? 0 : s
        s *= shape[i]
    }
    return strides
}

/// `y = op(a, b)` with full numpy broadcasting. `outShape` is the output shape; `aStrides`/`bStrides` give each
/// input's element stride per output axis (0 where it broadcasts, see `broadcastStrides`). `y` is contiguous.
///
/// Axes are folded (size-1 axes dropped, contiguous runs merged) so the innermost loop is as long as possible; the
/// inner loop then runs one of vector⊕vector, vector⊕scalar, scalar⊕vector (per-channel bias/scale hits this),
/// or a strided fallback. Rows are split over threads for large outputs.
public func binary(
    _ op: BinaryOp, a: UnsafePointer<Float>, aStrides: [Int], b: UnsafePointer<Float>, bStrides: [Int],
    outShape: [Int], y: UnsafeMutablePointer<Float>
) {
    precondition(aStrides.count == outShape.count && bStrides.count == outShape.count, "binary: rank mismatch")
    let total = outShape.reduce(1, *)
    guard total > 0 else { return }
    let (dims, sa, sb) = foldAxes(outShape, aStrides, bStrides)
    let rank = dims.count
    let inner = rank == 0 ? 1 : dims[rank - 1]
    let ia = rank == 0 ? 0 : sa[rank - 1], ib = rank == 0 ? 0 : sb[rank - 1]
    let rows = total / inner
    parallelFor(rows, minChunk: max(1, 32_768 / inner)) { range in
        // Odometer over the outer axes, started at row range.lowerBound.
        var index = [Int](repeating: 0, count: max(0, rank - 1))
        var offA = 0, offB = 0
        var rem = range.lowerBound
        for axis in stride(from: rank - 2, through: 0, by: -1) {
            index[axis] = rem % dims[axis]
            rem /= dims[axis]
            offA += index[axis] * sa[axis]
            offB += index[axis] * sb[axis]
        }
        for row in range {
            binaryRow(op, a + offA, ia, b + offB, ib, y + row * inner, inner)
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                offA += sa[axis]
                offB += sb[axis]
                if index[axis] < dims[axis] { break }
                offA -= dims[axis] * sa[axis]
                offB -= dims[axis] * sb[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}

/// Drops size-1 axes and merges axis i into i+1 when both inputs are contiguous across them.
func foldAxes(_ shape: [Int], _ s1: [Int], _ s2: [Int]) -> ([Int], [Int], [Int]) {
    var d = [Int](), a = [Int](), b = [Int]()
    for i in 0..<shape.count where shape[i] != 1 {
        if let last = d.last, a.last! == s1[i] * shape[i], b.last! == s2[i] * shape[i] {
            d[d.count - 1] = last * shape[i]
            a[a.count - 1] = s1[i]
            b[b.count - 1] = s2[i]
        } else {
            d.append(shape[i])
            a.append(s1[i])
            b.append(s2[i])
        }
    }
    return (d, a, b)
}

@inline(__always)
func scalarBinary(_ op: BinaryOp, _ x: Float, _ z: Float) -> Float {
    switch op {
    case .add: return x + z
    case .sub: return x - z
    case .mul: return x * z
    case .div: return x / z
    case .pow: return Foundation.pow(x, z)
    case .max: return x.isNaN || z.isNaN ? .nan : Swift.max(x, z)
    case .min: return x.isNaN || z.isNaN ? .nan : Swift.min(x, z)
    case .prelu: return x < 0 ? x * z : x
    }
}

/// A binary vector function as a type, so `binaryLoop` inlines it (see `VectorFunction`).
protocol VectorBinaryFunction {
    static func vector(_ a: FloatVector, _ b: FloatVector) -> FloatVector
    static func scalar(_ a: Float, _ b: Float) -> Float
}

enum AddFunction: VectorBinaryFunction {
    @inline(__always) static func vector(_ a: FloatVector, _ b: FloatVector) -> FloatVector { a + b }
    @inline(__always) static func scalar(_ a: Float, _ b: Float) -> Float { a + b }
}

enum SubFunction: VectorBinaryFunction {
    @inline(__always) static func vector(_ a: FloatVector, _ b: FloatVector) -> FloatVector { a - b }
    @inline(__always) static func scalar(_ a: Float, _ b: Float) -> Float { a - b }
}

enum MulFunction: VectorBinaryFunction {
    @inline(__always) static func vector(_ a: FloatVector, _ b: FloatVector) -> FloatVector { a * b }
    @inline(__always) static func scalar(_ a: Float, _ b: Float) -> Float { a * b }
}

enum DivFunction: VectorBinaryFunction {
    @inline(__always) static func vector(_ a: FloatVector, _ b: FloatVector) -> FloatVector { a / b }
    @inline(__always) static func scalar(_ a: Float, _ b: Float) -> Float { a / b }
}

/// NaN in either operand gives NaN (numpy's maximum).
enum MaxFunction: VectorBinaryFunction {
    @inline(__always) static func vector(_ a: FloatVector, _ b: FloatVector) -> FloatVector {
        a.replacing(with: b, where: b .> a).replacing(with: b, where: b .!= b)
    }
    @inline(__always) static func scalar(_ a: Float, _ b: Float) -> Float { scalarBinary(.max, a, b) }
}

enum MinFunction: VectorBinaryFunction {
    @inline(__always) static func vector(_ a: FloatVector, _ b: FloatVector) -> FloatVector {
        a.replacing(with: b, where: b .< a).replacing(with: b, where: b .!= b)
    }
    @inline(__always) static func scalar(_ a: Float, _ b: Float) -> Float { scalarBinary(.min, a, b) }
}

enum PReluFunction: VectorBinaryFunction {
    @inline(__always) static func vector(_ a: FloatVector, _ b: FloatVector) -> FloatVector {
        a.replacing(with: a * b, where: a .< 0)
    }
    @inline(__always) static func scalar(_ a: Float, _ b: Float) -> Float { a < 0 ? a * b : a }
}

/// One output row of `n` elements: switch on op once, then a loop specialised for op and stride pattern.
func binaryRow(
    _ op: BinaryOp, _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
    _ y: UnsafeMutablePointer<Float>, _ n: Int
) {
    typealias V = FloatVector
    switch op {
    case .add: binaryLoop(a, sa, b, sb, y, n, AddFunction.self)
    case .sub: binaryLoop(a, sa, b, sb, y, n, SubFunction.self)
    case .mul: binaryLoop(a, sa, b, sb, y, n, MulFunction.self)
    case .div: binaryLoop(a, sa, b, sb, y, n, DivFunction.self)
    case .max: binaryLoop(a, sa, b, sb, y, n, MaxFunction.self)
    case .min: binaryLoop(a, sa, b, sb, y, n, MinFunction.self)
    case .prelu: binaryLoop(a, sa, b, sb, y, n, PReluFunction.self)
    case .pow:
        if sb == 0 && (b[0] == 2 || b[0] == 1 || b[0] == 0.5) {
            // Common constant exponents get exact-enough vector forms (x*x is correctly rounded; sqrt too).
            let e = b[0]
            if e == 2 {
                binaryLoop(a, sa, b, sb, y, n, { u, _ in u * u }, { u, _ in u * u })
            } else if e == 1 {
                binaryLoop(a, sa, b, sb, y, n, { u, _ in u }, { u, _ in u })
            } else {
                binaryLoop(a, sa, b, sb, y, n, { u, _ in u.squareRoot() }, { u, _ in Foundation.pow(u, 0.5) })
            }
        } else {
            binaryLoop(a, sa, b, sb, y, n, { u, v in
                var r = V()
                for l in 0..<V.scalarCount { r[l] = Foundation.pow(u[l], v[l]) }
                return r
            }, { Foundation.pow($0, $1) })
        }
    }
}

/// `y[i] = F(a[i·sa], b[i·sb])` with vector loops for the contiguous and scalar-operand stride patterns.
@inline(__always)
func binaryLoop<F: VectorBinaryFunction>(
    _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
    _ y: UnsafeMutablePointer<Float>, _ n: Int, _: F.Type
) {
    let w = FloatVector.scalarCount
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b), ry = UnsafeMutableRawPointer(y)
    var i = 0
    switch (sa, sb) {
    case (1, 1):
        while i + w <= n {
            let r = F.vector(ra.loadUnaligned(fromByteOffset: i * 4, as: FloatVector.self),
                             rb.loadUnaligned(fromByteOffset: i * 4, as: FloatVector.self))
            ry.storeBytes(of: r, toByteOffset: i * 4, as: FloatVector.self)
            i += w
        }
        while i < n { y[i] = F.scalar(a[i], b[i]); i += 1 }
    case (1, 0):
        let bv = b[0], bb = FloatVector(repeating: bv)
        while i + w <= n {
            let r = F.vector(ra.loadUnaligned(fromByteOffset: i * 4, as: FloatVector.self), bb)
            ry.storeBytes(of: r, toByteOffset: i * 4, as: FloatVector.self)
            i += w
        }
        while i < n { y[i] = F.scalar(a[i], bv); i += 1 }
    case (0, 1):
        let av = a[0], aa = FloatVector(repeating: av)
        while i + w <= n {
            let r = F.vector(aa, rb.loadUnaligned(fromByteOffset: i * 4, as: FloatVector.self))
            ry.storeBytes(of: r, toByteOffset: i * 4, as: FloatVector.self)
            i += w
        }
        while i < n { y[i] = F.scalar(av, b[i]); i += 1 }
    case (0, 0):
        y.update(repeating: F.scalar(a[0], b[0]), count: n)
    default:
        for j in 0..<n { y[j] = F.scalar(a[j * sa], b[j * sb]) }
    }
}

/// `binaryLoop` with closures (for other kernels' one-off loops).
@inline(__always)
func binaryLoop(
    _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
    _ y: UnsafeMutablePointer<Float>, _ n: Int,
    _ vf: (FloatVector, FloatVector) -> FloatVector, _ sf: (Float, Float) -> Float
) {
    let w = FloatVector.scalarCount
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b), ry = UnsafeMutableRawPointer(y)
    var i = 0
    switch (sa, sb) {
    case (1, 1):
        while i + w <= n {
            let r = vf(ra.loadUnaligned(fromByteOffset: i * 4, as: FloatVector.self),
                       rb.loadUnaligned(fromByteOffset: i * 4, as: FloatVector.self))
            ry.storeBytes(of: r, toByteOffset: i * 4, as: FloatVector.self)
            i += w
        }
        while i < n { y[i] = sf(a[i], b[i]); i += 1 }
    case (1, 0):
        let bv = b[0], bb = FloatVector(repeating: bv)
        while i + w <= n {
            let r = vf(ra.loadUnaligned(fromByteOffset: i * 4, as: FloatVector.self), bb)
            ry.storeBytes(of: r, toByteOffset: i * 4, as: FloatVector.self)
            i += w
        }
        while i < n { y[i] = sf(a[i], bv); i += 1 }
    case (0, 1):
        let av = a[0], aa = FloatVector(repeating: av)
        while i + w <= n {
            let r = vf(aa, rb.loadUnaligned(fromByteOffset: i * 4, as: FloatVector.self))
            ry.storeBytes(of: r, toByteOffset: i * 4, as: FloatVector.self)
            i += w
        }
        while i < n { y[i] = sf(av, b[i]); i += 1 }
    case (0, 0):
        y.update(repeating: sf(a[0], b[0]), count: n)
    default:
        for j in 0..<n { y[j] = sf(a[j * sa], b[j * sb]) }
    }
}
